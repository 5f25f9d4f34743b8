"""The language of the emails only staff receive (reminders, escalations, pipeline alerts).

Each staff member chooses theirs (one of settings.LANGUAGES; until they do, settings.LANGUAGE_CODE)
on their account page. Mail to an address no single staff account owns (a team mailbox, an alias)
is written in settings.STAFF_LANGUAGE.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from portal.models import StaffPreference


class StaffLanguageInvalid(ValueError):
    """The language asked for is not one of the portal's (the message names the five)."""


def staff_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def staff_language_stored(*, user: AbstractBaseUser) -> str | None:
    """The language this staff member chose on their account page (their emails and admin pages);
    None until they choose (or for a code no longer in settings.LANGUAGES)."""
    chosen = StaffPreference.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
    return chosen if chosen in staff_languages() else None


def staff_language_get(*, user: AbstractBaseUser) -> str:
    """The language this staff member chose for their emails; settings.LANGUAGE_CODE until they do."""
    return staff_language_stored(user=user) or settings.LANGUAGE_CODE


def staff_language_set(*, user: AbstractBaseUser, language: str) -> str:
    """Store the staff member's own choice; raises StaffLanguageInvalid (nothing stored) for a code
    that is not one of settings.LANGUAGES."""
    code = (language or "").strip().lower().replace("_", "-")
    if code not in staff_languages():
        raise StaffLanguageInvalid(
            f"{language!r} is not one of the portal's languages: {', '.join(staff_languages())}."
        )
    StaffPreference.objects.update_or_create(user_id=user.pk, defaults={"language": code})
    return code


def staff_language_for_address(*, address: str) -> str:
    """The language of a staff email sent to ``address``: the choice of the active staff account(s)
    with that address when they agree; else settings.STAFF_LANGUAGE (a team address, or accounts
    sharing one address that chose different languages)."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True, email__iexact=address.strip())
    user_ids = list(users.values_list("pk", flat=True)) if address.strip() else []
    if not user_ids:
        return settings.STAFF_LANGUAGE
    chosen = dict(StaffPreference.objects.filter(user_id__in=user_ids).values_list("user_id", "language"))
    languages = {chosen.get(user_id, settings.LANGUAGE_CODE) for user_id in user_ids}
    return languages.pop() if len(languages) == 1 else settings.STAFF_LANGUAGE
