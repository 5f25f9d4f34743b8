"""The one factory of test requests. Helpers that need other defaults call it with them.

``request_make`` stores a DataRequest as the services would have left it in ``status``: due one
month after receipt, its email verified unless still UNCONFIRMED, and (``selfies``) PENDING
selfies stored as files, as ``request_confirm`` leaves them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone

from rights.lifecycle.clock import due_at_for
from rights.models import DataRequest, RequestKind, RequestStatus, Selfie


def request_make(
    *,
    kind: str = RequestKind.ACCESS,
    status: str = RequestStatus.REVIEW,
    received_at: datetime | None = None,
    email: str = "person@example.org",
    selfies: list[bytes] | None = None,
    status_changed_at: datetime | None = None,
    **fields: Any,
) -> DataRequest:
    received_at = received_at or timezone.now()
    fields.setdefault("due_at", due_at_for(received_at=received_at))
    if status != RequestStatus.UNCONFIRMED:
        fields.setdefault("email_verified_at", received_at)
    request = DataRequest.objects.create(
        kind=kind, status=status, email=email, received_at=received_at, **fields
    )
    if status_changed_at is not None:
        # auto_now_add ignores the value given to create().
        DataRequest.objects.filter(id=request.id).update(status_changed_at=status_changed_at)
        request.refresh_from_db()
    for data in selfies or []:
        selfie = Selfie(request=request, sha256="0" * 64, extension="jpg")
        selfie.file.save("selfie.jpg", ContentFile(data), save=False)
        selfie.save()
    return request
