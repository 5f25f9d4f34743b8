"""Stop receiving a request body as soon as it is larger than any form can accept.

Django's own handlers receive a whole upload (spooling it to disk) before a view can refuse it:
a 200 MB post cost 200 MB of disk and the time to send it. This handler runs first
(``FILE_UPLOAD_HANDLERS``): once the request's declared length, or the file bytes received, pass
``UPLOAD_MAX_BYTES`` (SELFIES_MAX photos of IMAGE_MAX_BYTES each, plus the form's fields), it stops
reading (StopUpload with the connection reset: the rest is never read) and records why on the
request; the view shows that sentence next to the photo field and keeps nothing it received.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.utils.translation import gettext

from matching.services.imaging import megabytes_text

_REFUSAL = "_upload_refusal"


def upload_refusal(*, request: HttpRequest) -> str:
    """Why the upload handler stopped reading this request's body ("" when it did not)."""
    return getattr(request, _REFUSAL, "")


def upload_refusal_text() -> str:
    return gettext(
        "What you sent is larger than this form accepts (at most %(most)s photos of up to %(mb)s MB "
        "each), so we stopped receiving it and kept nothing. Please send smaller photos."
    ) % {"most": settings.SELFIES_MAX, "mb": megabytes_text(size=settings.IMAGE_MAX_BYTES)}


class FormLimitUploadHandler(FileUploadHandler):
    """Counts a request's file bytes and stops reading once it passes UPLOAD_MAX_BYTES."""

    def handle_raw_input(
        self, input_data: Any, META: dict, content_length: int, boundary: bytes, encoding: str | None = None
    ) -> None:
        self.declared = content_length or 0
        self.received = 0
        return None

    def _stop(self) -> None:
        if self.request is not None:
            setattr(self.request, _REFUSAL, upload_refusal_text())
        raise StopUpload(connection_reset=True)

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        # The fields before the first photo (the CSRF token, the email) are read; no photo is.
        if self.declared > settings.UPLOAD_MAX_BYTES:
            self._stop()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            self._stop()
        return raw_data  # the next handler (memory, then a temporary file) keeps it

    def file_complete(self, file_size: int) -> None:
        return None


def upload_refusal_show(*, request: HttpRequest, form: forms.Form, field: str) -> None:
    """When the handler stopped reading: its sentence is ``field``'s only error, and the form is invalid."""
    refusal = upload_refusal(request=request)
    if refusal:
        form.errors[field] = form.error_class([refusal])  # form.errors validates the form first
        form.cleaned_data.pop(field, None)
