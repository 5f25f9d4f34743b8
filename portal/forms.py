"""Forms of the public pages. They only read what was posted; the rules live in rights.services.requests."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from matching.services.imaging import ImageRejected, selfie_image_decode, size_text
from rights.models import RequestKind

EU_COUNTRIES = [
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BG", "Bulgaria"),
    ("HR", "Croatia"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DK", "Denmark"),
    ("EE", "Estonia"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("GR", "Greece"),
    ("HU", "Hungary"),
    ("IE", "Ireland"),
    ("IT", "Italy"),
    ("LV", "Latvia"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("MT", "Malta"),
    ("NL", "Netherlands"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("SK", "Slovakia"),
    ("SI", "Slovenia"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
]
EEA_COUNTRIES = [("IS", "Iceland"), ("LI", "Liechtenstein"), ("NO", "Norway")]
EUROPE_OTHER = [("GB", "United Kingdom"), ("CH", "Switzerland")]
OTHER_COUNTRIES = [
    ("AR", "Argentina"),
    ("AU", "Australia"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("CN", "China"),
    ("IN", "India"),
    ("ID", "Indonesia"),
    ("IL", "Israel"),
    ("JP", "Japan"),
    ("KR", "Korea, Republic of"),
    ("MX", "Mexico"),
    ("MA", "Morocco"),
    ("NZ", "New Zealand"),
    ("NG", "Nigeria"),
    ("RU", "Russian Federation"),
    ("SG", "Singapore"),
    ("ZA", "South Africa"),
    ("TN", "Tunisia"),
    ("TR", "Türkiye"),
    ("UA", "Ukraine"),
    ("US", "United States"),
    # ISO 3166 leaves ZZ for user assignment: here, a country not in this list.
    ("ZZ", "Another country"),
]
COUNTRY_CHOICES = [
    ("", "Choose a country (optional)"),
    ("European Union", EU_COUNTRIES),
    ("European Economic Area", EEA_COUNTRIES),
    ("Other European countries", EUROPE_OTHER),
    ("Elsewhere", OTHER_COUNTRIES),
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
            prefix = f"Photo {number}: " if len(files) > 1 else ""
            errors.append(
                f"{prefix}This file is {size_text(size=upload.size)}; the limit is {size_text(size=limit)}. "
                "Please send a smaller version."
            )
            continue
        try:
            # Its bytes are dropped before the next upload is read: one full-size photo at a time.
            contents.append(selfie_image_decode(data=upload.read()).clean_bytes)
        except ImageRejected as exc:
            prefix = f"Photo {number}: " if len(files) > 1 else ""
            errors.append(f"{prefix}{exc.message}")
    return contents, errors


class RequestForm(forms.Form):
    kind = forms.ChoiceField(
        label="What are you asking for?",
        choices=RequestKind.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Please choose what you are asking for: access, erasure or objection."},
    )
    email = forms.CharField(
        label="Your email address",
        max_length=254,
        help_text="We send a link to this address to confirm it is yours, then your answer.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}),
        error_messages={"required": "Please enter your email address."},
    )
    selfies = MultipleFileField(
        label="Photos of your face (one to three)",
        error_messages={"required": "Please add a photo of your face (one to three photos)."},
    )
    identifiers = forms.CharField(
        label="Where your photos may appear (optional)",
        required=False,
        help_text="One per line: profile addresses, account names, addresses of images. "
        "We search for these as well as for your face.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "off"}),
    )
    country = forms.ChoiceField(
        label="Country where you live (optional)",
        required=False,
        choices=COUNTRY_CHOICES,
        help_text="It tells us which data protection authority you can complain to.",
    )
    suppression_consent = forms.BooleanField(
        label="Keep a template of my face only to stop you collecting my photos again",
        required=False,
    )
    form_key = forms.CharField(widget=forms.HiddenInput, required=False)


class SelfieForm(forms.Form):
    selfie = forms.FileField(
        label="Another photo of your face",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT_IMAGES}),
        error_messages={"required": "Please choose a photo of your face."},
    )
