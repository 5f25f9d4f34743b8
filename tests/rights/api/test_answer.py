"""GET /api/v1/requests/<reference>/answer/ and .../answer/archive/: the answer, and its file."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from rights.models import Answer, RequestStatus
from tests.rights.staff_helpers import make_request


@pytest.mark.django_db
def test_answer_and_its_archive(owner, outsider):
    request = make_request(status=RequestStatus.ANSWERED)
    answer = Answer.objects.create(request=request, kind=Answer.Kind.ACCESS_REPORT, payload={"images": []})
    answer.archive.save("report.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18))
    base = f"/api/v1/requests/{request.reference}/answer/"
    body = owner.client.get(base).json()
    assert body["kind"] == "access_report" and body["has_archive"] is True
    download = owner.client.get(base + "archive/")
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"PK")
    assert outsider.client.get(base).status_code == 403


@pytest.mark.django_db
def test_no_answer_yet_is_404(owner):
    request = make_request()
    assert owner.client.get(f"/api/v1/requests/{request.reference}/answer/").status_code == 404
    assert owner.client.get(f"/api/v1/requests/{request.reference}/answer/archive/").status_code == 404
