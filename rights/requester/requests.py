"""The person's own side of a rights request: submit it, confirm the email, send another photo,
ask where the answer is (what they then read is in ``rights.requester.status``).

Everything a person sends is checked before anything is written: a request is either stored
whole (the request, its selfies, the confirmation email, the audit row) or not at all, and a
refused photo leaves no file behind. Selfies are only decoded here (the web process never loads
the face models); the worker checks their faces in ``rights.tasks.request_search``.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
from collections.abc import Sequence
from datetime import datetime, time

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from matching.services.imaging import DecodedImage, ImageRejected, selfie_image_decode
from rights.lifecycle import enqueue
from rights.lifecycle.audit import REQUESTER, audit_record
from rights.lifecycle.clock import due_at_for
from rights.lifecycle.emails import email_send, url_for
from rights.lifecycle.language import language_supported
from rights.lifecycle.linking import requests_link_earlier
from rights.lifecycle.transitions import request_transition
from rights.models import (
    CLOSED_STATUSES,
    CONFIRMED_OPEN_STATUSES,
    AuditAction,
    AuditEvent,
    DataRequest,
    RequestKind,
    RequestStatus,
    Selfie,
)
from rights.requester.intake import WEB_FORM, Intake, intake_evidence_store

logger = logging.getLogger(__name__)

# A new salt with the nonce: links signed the old way (the status token) no longer verify.
CONFIRM_SALT = "rights.request.confirm.nonce"
FORM_SALT = "rights.request.form"
IDENTIFIERS_MAX = 50
IDENTIFIER_MAX_LENGTH = 2000


class RequestInvalid(ValueError):
    """What the person sent cannot be accepted. ``errors`` maps a form field to messages for people."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(message for messages in errors.values() for message in messages))


FORM_ALREADY_SENT = gettext_noop(
    "This form was already sent; start a new request. What you changed has not been sent: "
    "check the details, attach your photos again and send the form to make a new request."
)


class FormAlreadySent(RequestInvalid):
    """The form's one-time key was used by a different submission (another kind, email or photos)."""

    def __init__(self) -> None:
        super().__init__({"__all__": [gettext(FORM_ALREADY_SENT)]})


def _same_submission(*, existing: DataRequest, kind: str, email: str, selfie_hashes: list[str]) -> bool:
    """A second post of the same form is the same submission only with the same kind, email and photos."""
    return (
        existing.kind == kind
        and existing.email.strip().lower() == email.strip().lower()
        and sorted(existing.selfies.values_list("sha256", flat=True)) == sorted(selfie_hashes)
    )


class RequestStateError(ValueError):
    """The request is not in a state that allows this action (e.g. a photo when none is needed)."""


class ConfirmationInvalid(ValueError):
    """A confirmation link that is forged, expired, or points at no request."""


# --- Submission ----------------------------------------------------------------------------


def form_key_new() -> str:
    """A signed one-time key for a fresh request form (its hidden field)."""
    return signing.dumps(secrets.token_urlsafe(24), salt=FORM_SALT)


def form_key_unsign(*, key: str) -> str | None:
    """The nonce inside a form key, or None if the key is forged.

    No age limit: a form left open overnight must still submit once, and only once.
    """
    try:
        return signing.loads(key, salt=FORM_SALT)
    except signing.BadSignature:
        return None


def identifiers_normalise(*, text: str) -> list[str]:
    """One identifier per line; blank lines and repeats dropped, order kept."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        item = line.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def selfie_decode(*, data: bytes) -> DecodedImage:
    """Decode a selfie with the foundation's safe decoder: its own pixel limit, reduced, no pixel array
    kept (the worker decodes the small copy). Raises ImageRejected with a message for people."""
    return selfie_image_decode(data=data)


def _selfie_errors(selfies: Sequence[bytes]) -> tuple[list[DecodedImage], list[str]]:
    decoded: list[DecodedImage] = []
    errors: list[str] = []
    for number, data in enumerate(selfies, start=1):
        try:
            decoded.append(selfie_decode(data=data))
        except ImageRejected as exc:
            message = exc.message
            if len(selfies) > 1:
                message = gettext("Photo %(number)s: %(message)s") % {"number": number, "message": message}
            errors.append(message)
    return decoded, errors


def _submission_validate(
    *, kind: str, email: str, selfies: Sequence[bytes], identifiers: str, country: str
) -> tuple[list[DecodedImage], list[str]]:
    errors: dict[str, list[str]] = {}
    if kind not in RequestKind.values:
        errors["kind"] = [gettext("Please choose what you are asking for: access, erasure or objection.")]
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [
            gettext("This is not a valid email address. Please check it (for example name@example.com).")
        ]
    items = identifiers_normalise(text=identifiers)
    if len(items) > IDENTIFIERS_MAX:
        errors["identifiers"] = [
            gettext("Please give at most %(most)s identifiers, one per line.") % {"most": IDENTIFIERS_MAX}
        ]
    elif any(len(item) > IDENTIFIER_MAX_LENGTH for item in items):
        errors["identifiers"] = [
            gettext("Each line may be at most %(most)s characters long.") % {"most": IDENTIFIER_MAX_LENGTH}
        ]
    if country and not (len(country) == 2 and country.isalpha() and country.isupper()):
        errors["country"] = [gettext("Please choose a country from the list.")]
    decoded: list[DecodedImage] = []
    if not selfies:
        errors["selfies"] = [gettext("Please add a photo of your face (one to three photos).")]
    elif len(selfies) > settings.SELFIES_MAX:
        errors["selfies"] = [
            gettext(
                "You sent %(count)s photos; please send at most %(most)s. "
                "One clear photo of your face is enough."
            )
            % {"count": len(selfies), "most": settings.SELFIES_MAX}
        ]
    else:
        decoded, selfie_errors = _selfie_errors(selfies)
        if selfie_errors:
            errors["selfies"] = selfie_errors
    if errors:
        raise RequestInvalid(errors)
    return decoded, items


def _selfie_store(*, request: DataRequest, decoded: DecodedImage, saved: list[str]) -> Selfie:
    selfie = Selfie(request=request, extension=decoded.clean_extension, sha256=decoded.sha256)
    # The stored copy is the decoder's re-encoding: no EXIF position, camera serial or comment survives.
    selfie.file.save(f"selfie.{decoded.clean_extension}", ContentFile(decoded.clean_bytes), save=False)
    saved.append(selfie.file.name)
    selfie.save()
    return selfie


def _files_remove(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("could not remove a selfie file left by a failed submission")


def confirm_token_make(*, request: DataRequest) -> str:
    # The signed value is the request's own opaque nonce: a confirmation link read from a log opens
    # no status page (it used to sign the status token, readable in its base64).
    return signing.dumps(request.confirm_nonce, salt=CONFIRM_SALT)


def request_submit(
    *,
    kind: str,
    email: str,
    selfies: Sequence[bytes],
    identifiers: str = "",
    country: str = "",
    suppression_consent: bool = False,
    submission_key: str | None = None,
    language: str = "",
    intake: Intake = WEB_FORM,
) -> DataRequest:
    """Store a new, unconfirmed request with its selfies and send the confirmation email.

    Raises RequestInvalid (nothing written) when anything sent cannot be accepted. With a
    ``submission_key`` (the nonce of the form's one-time key), a second submission of the same
    form (same kind, email and photos: a double click, a reload) returns the request the first one
    created, and sends nothing; a different one under the same key (the person went back and changed
    the form) raises FormAlreadySent rather than silently answering with the earlier request.
    The request is answered in ``language`` (default: the active one, the page's language).
    ``intake``: how it came in, when (the clock starts then) and by whom (rights.requester.intake).
    """
    email = email.strip()
    country = country.strip().upper()
    try:
        decoded, items = _submission_validate(
            kind=kind, email=email, selfies=selfies, identifiers=identifiers, country=country
        )
    except RequestInvalid as exc:
        raise RequestInvalid({**intake.errors(), **exc.errors}) from None
    if errors := intake.errors():
        raise RequestInvalid(errors)
    hashes = [item.sha256 for item in decoded]
    if submission_key:
        existing = DataRequest.objects.filter(submission_key=submission_key).first()
        if existing is not None:
            if not _same_submission(existing=existing, kind=kind, email=email, selfie_hashes=hashes):
                raise FormAlreadySent()
            return existing
    received_at = intake.received_at or timezone.now()
    saved: list[str] = []
    try:
        with transaction.atomic():
            request = DataRequest.objects.create(
                kind=kind,
                email=email,
                country=country,
                identifiers="\n".join(items),
                # The consent only means something for an objection: it is what the template is kept for.
                suppression_consent=bool(suppression_consent) and kind == RequestKind.OBJECTION,
                received_at=received_at,
                due_at=due_at_for(received_at=received_at),
                submission_key=submission_key or None,
                language=language_supported(code=language or translation.get_language()),
                channel=intake.channel,
                agent_name=intake.agent_name.strip(),
                recorded_by=intake.recorded_by,
            )
            intake_evidence_store(intake=intake, request=request, saved=saved)
            for item in decoded:
                _selfie_store(request=request, decoded=item, saved=saved)
            # Sent inside the transaction: if the mail server refuses it, no request is left that the
            # person could never confirm. The audit row comes last so its chain lock is held briefly.
            _confirmation_send(request=request)
            audit_record(
                actor=REQUESTER,
                action=AuditAction.SUBMITTED,
                request_id=request.id,
                to_status=RequestStatus.UNCONFIRMED,
                detail={"kind": kind, "selfies": len(decoded), "identifiers": len(items), **intake.detail()},
            )
            enqueue.event_webhooks_enqueue(event="request.received", request_id=request.id)
    except IntegrityError:
        _files_remove(saved)
        existing = None
        if submission_key:
            existing = DataRequest.objects.filter(submission_key=submission_key).first()
        if existing is None:
            raise
        if not _same_submission(existing=existing, kind=kind, email=email, selfie_hashes=hashes):
            raise FormAlreadySent() from None
        # The same form, posted twice at once: the other post won; this one changes nothing.
        logger.info("double submission resolved by the unique form key request=%s", existing.id)
        return existing
    except BaseException:
        _files_remove(saved)
        raise
    logger.info("request submitted request=%s kind=%s selfies=%s", request.id, kind, len(decoded))
    return request


def _confirmation_send(*, request: DataRequest) -> None:
    """Send the confirmation email. A refused address or an unreachable mail server is RequestInvalid
    (a sentence next to the email field; the transaction and the files are undone), never an error
    page; only the error's type is logged, never the server's message, which names the address."""
    try:
        _confirmation_email_send(request=request)
    except smtplib.SMTPRecipientsRefused:
        logger.info("confirmation email refused request=%s", request.id)
        message = "Our mail server could not send to this address. Please check it, or use another one."
        raise RequestInvalid({"email": [translation.gettext(message)]}) from None
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("confirmation email not sent request=%s error=%s", request.id, type(exc).__name__)
        message = (
            "We could not send the confirmation email just now, so nothing was kept. "
            "Please send the form again in a few minutes."
        )
        raise RequestInvalid({"email": [translation.gettext(message)]}) from None


def _confirmation_email_send(*, request: DataRequest) -> None:
    max_age = settings.CONFIRMATION_MAX_AGE
    email_send(
        to=request.email,
        template="confirm",
        context={
            "request": request,
            "kind": request.get_kind_display(),
            "confirm_url": url_for("public:confirm", token=confirm_token_make(request=request)),
            "status_url": url_for("public:status", token=request.public_token),
            "confirm_days": max_age.days or 1,
            "due_at": request.due_at,
        },
        request_id=request.id,
        language=request.language,
    )


# --- Confirmation --------------------------------------------------------------------------


def request_confirm(*, token: str) -> DataRequest:
    """Confirm the email address from the signed link: UNCONFIRMED -> QUEUED and enqueue the search.

    Following the link again returns the request unchanged. Raises ConfirmationInvalid for a
    forged or expired link, or one whose request is gone.
    """
    try:
        nonce = signing.loads(token, salt=CONFIRM_SALT, max_age=settings.CONFIRMATION_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired is a BadSignature too
        raise ConfirmationInvalid("This confirmation link is not valid or has expired.") from exc
    request = DataRequest.objects.filter(confirm_nonce=str(nonce)).first() if nonce else None
    if request is None:
        raise ConfirmationInvalid("This confirmation link points at no request.")
    with transaction.atomic():
        moved = request_transition(
            request_id=request.id,
            from_statuses=[RequestStatus.UNCONFIRMED],
            to_status=RequestStatus.QUEUED,
            actor=REQUESTER,
            action=AuditAction.CONFIRMED,
            fields={"email_verified_at": timezone.now()},
        )
        if moved:
            request.refresh_from_db()
            # Linked once the address is proven: an unconfirmed request could name anyone's address.
            requests_link_earlier(request=request)
            request_id = request.id
            enqueue.request_search_enqueue(request_id=request_id)
    if moved:
        logger.info("request confirmed request=%s", request.id)
    request.refresh_from_db()
    return request


# --- Another photo -------------------------------------------------------------------------


def selfie_not_wanted_reason(*, status: str) -> str:
    """Why a request in ``status`` takes no photo, in words for the person who sent one."""
    if status == RequestStatus.UNCONFIRMED:
        return gettext(
            "We did not add this photo: your request is waiting for you to confirm your email address. "
            "Please use the link in the email we sent you first."
        )
    if status in (RequestStatus.QUEUED, RequestStatus.SEARCHING):
        return gettext(
            "We did not add this photo: we already have a photo we can use, and we are searching the "
            "collection with it. We do not need another one."
        )
    if status in CLOSED_STATUSES:
        return gettext(
            "We did not add this photo: this request is closed. To ask us again, please send a new request."
        )
    return gettext(
        "We did not add this photo: the search with your photo is done and your request is being "
        "handled, so we do not need another one."
    )


def selfie_add(*, request: DataRequest, data: bytes) -> Selfie:
    """Add a photo to a request waiting for one: store it PENDING, NEEDS_SELFIE -> QUEUED, search again.

    Raises ImageRejected (nothing written) for a file that is not a usable image, and
    RequestStateError when the request is not waiting for a photo.
    """
    decoded = selfie_decode(data=data)
    saved: list[str] = []
    try:
        with transaction.atomic():
            locked = DataRequest.objects.select_for_update().get(id=request.id)
            if locked.status != RequestStatus.NEEDS_SELFIE:
                raise RequestStateError(selfie_not_wanted_reason(status=locked.status))
            kept = locked.selfies.exclude(status=Selfie.Status.REJECTED).count()
            if kept >= settings.SELFIES_MAX:
                raise RequestStateError(
                    gettext(
                        "This request already has %(kept)s photos waiting to be checked; "
                        "at most %(most)s are kept."
                    )
                    % {"kept": kept, "most": settings.SELFIES_MAX}
                )
            selfie = _selfie_store(request=locked, decoded=decoded, saved=saved)
            moved = request_transition(
                request_id=locked.id,
                from_statuses=[RequestStatus.NEEDS_SELFIE],
                to_status=RequestStatus.QUEUED,
                actor=REQUESTER,
                action=AuditAction.SELFIE_ADDED,
                detail={"selfie": selfie.id},
                fields={"selfie_problem": ""},
            )
            if not moved:  # cannot happen under the row lock; kept so a change there fails loudly
                raise RequestStateError(gettext("This request is not waiting for another photo."))
            request_id = locked.id
            enqueue.request_search_enqueue(request_id=request_id)
    except BaseException:
        _files_remove(saved)
        raise
    request.refresh_from_db()
    logger.info("selfie added request=%s selfie=%s", request.id, selfie.id)
    return selfie


# --- Follow-up -----------------------------------------------------------------------------


class FollowupAlreadyCounted(ValueError):
    """The person already asked today: the question is counted once a day."""


def followup_counted_today(*, request_id: int, now: datetime | None = None) -> bool:
    """Whether a follow-up of this request was already counted this (local) day. The one rule."""
    today = timezone.localdate(now or timezone.now())
    start = timezone.make_aware(datetime.combine(today, time.min))
    return AuditEvent.objects.filter(
        request_id=request_id, action=AuditAction.FOLLOWUP, created_at__gte=start
    ).exists()


def request_followup_allowed(*, request: DataRequest) -> bool:
    """Whether the person may ask "where is my answer?": confirmed and not closed. The one rule."""
    return request.status in CONFIRMED_OPEN_STATUSES


def request_followup(*, request: DataRequest) -> DataRequest:
    """The person asks "where is my answer?" before being answered: counted and audited.

    A CNIL finding was answering only after people asked again, so a follow-up is counted on the
    request and in the audit trail, where the compliance report finds it; at most one per request
    per day (``followup_counted_today``), so that pressing the button again cannot inflate the
    figures. Raises FollowupAlreadyCounted for another one the same day.
    """
    with transaction.atomic():
        # Under the row lock, two presses at once cannot both be the day's first.
        DataRequest.objects.select_for_update().filter(id=request.id).first()
        if followup_counted_today(request_id=request.id):
            raise FollowupAlreadyCounted("We already recorded your question today.")
        changed = DataRequest.objects.filter(id=request.id, status__in=CONFIRMED_OPEN_STATUSES).update(
            followups=F("followups") + 1
        )
        unconfirmed = DataRequest.objects.filter(id=request.id, status=RequestStatus.UNCONFIRMED)
        if not changed and unconfirmed.exists():
            raise RequestStateError(gettext("Please confirm your email address first."))
        if not changed:
            raise RequestStateError(gettext("This request has already been answered."))
        request.refresh_from_db()
        audit_record(
            actor=REQUESTER,
            action=AuditAction.FOLLOWUP,
            request_id=request.id,
            detail={"followups": request.followups, "status": request.status},
        )
    logger.info("request followed up request=%s followups=%s", request.id, request.followups)
    return request
