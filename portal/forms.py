"""Forms of the public pages. They only read what was posted; the rules live in rights.requester.requests."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from matching.services.imaging import ImageRejected, megabytes_text, selfie_image_decode
from rights.models import RequestKind

# The groups of the country list (ISO 3166 codes): who can complain to which authority differs.
EU_COUNTRIES = [
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
]
EEA_COUNTRIES = ["IS", "LI", "NO"]


def country_choices() -> list:
    """Every country, named in the active language (django-countries' catalogues) and sorted by that
    name: the European Union, then the rest of the European Economic Area, then the rest of the world."""
    named = list(countries)  # sorted by the translated name
    european = set(EU_COUNTRIES) | set(EEA_COUNTRIES)
    return [
        ("", _("Choose a country (optional)")),
        (_("European Union"), [(c.code, c.name) for c in named if c.code in EU_COUNTRIES]),
        (_("European Economic Area"), [(c.code, c.name) for c in named if c.code in EEA_COUNTRIES]),
        (
            _("Elsewhere"),
            [(c.code, c.name) for c in named if c.code not in european]
            # ISO 3166 leaves ZZ for user assignment: here, a place not in the list.
            + [("ZZ", _("Another country or territory"))],
        ),
    ]


# What the file picker offers; the server decides from the bytes, not from this.
ACCEPT_IMAGES = "image/jpeg,image/png,image/webp,.jpg,.jpeg,.png,.webp"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Up to settings.SELFIES_MAX files under one name (the count is checked by the service)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT_IMAGES}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        files = [f for f in files if f]
        if not files:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        return files


def uploads_read(*, files: list[UploadedFile]) -> tuple[list[bytes], list[str]]:
    """Each upload, read one at a time and decoded as a selfie (reduced, no pixel array kept): the
    small clean copies, and a sentence per photo refused (one over the size limit is never read)."""
    contents: list[bytes] = []
    errors: list[str] = []
    limit = settings.IMAGE_MAX_BYTES
    for number, upload in enumerate(files, start=1):
        if upload.size is not None and upload.size > limit:
            message = gettext(
                "This file is %(size)s MB; the limit is %(limit)s MB. Please send a smaller version."
            ) % {
                "size": megabytes_text(size=upload.size),
                "limit": megabytes_text(size=limit),
            }
            if len(files) > 1:
                message = gettext("Photo %(number)s: %(message)s") % {"number": number, "message": message}
            errors.append(message)
            continue
        try:
            # Its bytes are dropped before the next upload is read: one full-size photo at a time.
            contents.append(selfie_image_decode(data=upload.read()).clean_bytes)
        except ImageRejected as exc:
            message = exc.message
            if len(files) > 1:
                message = gettext("Photo %(number)s: %(message)s") % {"number": number, "message": message}
            errors.append(message)
    return contents, errors


class RequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What are you asking for?"),
        choices=RequestKind.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose what you are asking for: access, erasure or objection.")
        },
    )
    email = forms.CharField(
        label=_("Your email address"),
        max_length=254,
        help_text=_("We send a link to this address to confirm it is yours, then your answer."),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}),
        error_messages={"required": _("Please enter your email address.")},
    )
    selfies = MultipleFileField(
        label=_("Photos of your face (one to three)"),
        error_messages={"required": _("Please add a photo of your face (one to three photos).")},
    )
    identifiers = forms.CharField(
        label=_("Where your photos may appear (optional)"),
        required=False,
        help_text=_(
            "One per line: profile addresses, account names, addresses of images. "
            "We search for these as well as for your face."
        ),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "off"}),
    )
    country = forms.ChoiceField(
        label=_("Country where you live (optional)"),
        required=False,
        choices=country_choices,
        help_text=_("It tells us which data protection authority you can complain to."),
    )
    suppression_consent = forms.BooleanField(
        label=_("Keep a template of my face only to stop you collecting my photos again"),
        required=False,
    )
    form_key = forms.CharField(widget=forms.HiddenInput, required=False)


class SelfieForm(forms.Form):
    selfie = forms.FileField(
        label=_("Another photo of your face"),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT_IMAGES}),
        error_messages={"required": _("Please choose a photo of your face.")},
    )
