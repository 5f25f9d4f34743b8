"""rights.pipeline.objection.objection_suppress: the list covers every face staff confirmed.

Unit test with built vectors (the real-model objection path is in tests/rights/pipeline/test_objection.py):
the scores are chosen well away from the thresholds, so no summation order can move a band.
"""

from __future__ import annotations

import numpy as np
import pytest

from matching.models import Face
from matching.services.suppression import suppression_match
from rights.models import Match, RequestKind, RequestStatus, Selfie
from rights.pipeline.objection import objection_suppress
from tests.rights.jobs_helpers import make_image, make_request

pytestmark = pytest.mark.django_db


def _unit(*parts: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(512, dtype=np.float32)
    for axis, value in parts:
        vector[axis] = value
    return vector / np.linalg.norm(vector)


SELFIE = _unit((0, 1.0))
# A photo of the person staff confirmed in the review band: 0.30 against the selfie.
CONFIRMED = _unit((0, 0.30), (1, float(np.sqrt(1 - 0.30**2))))
# A new copy of that photo (recompressed): 0.95 against the confirmed face, 0.285 against the selfie.
NEW_COPY = _unit((0, 0.95 * 0.30), (1, 0.95 * float(np.sqrt(1 - 0.30**2))), (2, float(np.sqrt(1 - 0.95**2))))
# Someone else: close to nothing kept.
STRANGER = _unit((3, 1.0))


def _objection(*, consent: bool, decision: str = Match.Decision.CONFIRMED):
    request = make_request(
        kind=RequestKind.OBJECTION, status=RequestStatus.FULFILLING, suppression_consent=consent
    )
    Selfie.objects.create(
        request=request, sha256="1" * 64, status=Selfie.Status.USABLE, embedding=SELFIE.tobytes()
    )
    image = make_image("confirmed")
    face = Face.objects.create(
        image=image, x1=0, y1=0, x2=5, y2=5, det_score=0.9, embedding=CONFIRMED.astype("<f4").tobytes()
    )
    Match.objects.create(
        request=request,
        image=image,
        image_sha256=image.sha256,
        face_id=face.id,
        score=0.30,
        band=Match.Band.REVIEW,
        decision=decision,
    )
    return request


def test_a_new_copy_of_an_image_staff_confirmed_is_suppressed(settings):
    settings.MATCH_THRESHOLD, settings.REVIEW_THRESHOLD = 0.6, 0.2
    request = _objection(consent=True)

    kept = objection_suppress(request=request)

    assert kept == 2  # the selfie and the confirmed face
    found = suppression_match(vectors=NEW_COPY)
    # Before the fix only the selfie was kept: 0.285, far below the match threshold, not suppressed.
    assert found is not None and found[1] > 0.9
    assert suppression_match(vectors=STRANGER) is None


def test_a_face_staff_rejected_is_never_put_on_the_list(settings):
    settings.MATCH_THRESHOLD, settings.REVIEW_THRESHOLD = 0.6, 0.2
    request = _objection(consent=True, decision=Match.Decision.REJECTED)

    assert objection_suppress(request=request) == 1
    assert suppression_match(vectors=NEW_COPY) is None


def test_without_consent_no_face_is_kept(settings):
    request = _objection(consent=False)

    assert objection_suppress(request=request) == 0
    assert suppression_match(vectors=CONFIRMED) is None
