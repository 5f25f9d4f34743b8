"""The suppression list: add, remove, match at MATCH_THRESHOLD."""

from __future__ import annotations

import numpy as np
import pytest

from matching.models import SuppressedFace
from matching.services.suppression import suppression_add, suppression_match, suppression_remove
from tests.matching.conftest import unit_vectors, vector_near

pytestmark = pytest.mark.django_db


def test_match_only_at_or_above_the_match_threshold(settings):
    settings.MATCH_THRESHOLD = 0.4
    template_vector = unit_vectors(1, seed=2)[0]
    template = suppression_add(reference="request-17", vector=template_vector * 3)  # normalised on the way in
    assert np.linalg.norm(template.vector) == pytest.approx(1.0, abs=1e-6)
    faces = np.stack([unit_vectors(1, seed=5)[0], vector_near(template_vector, 0.45)])
    best, score = suppression_match(vectors=faces)
    assert best.pk == template.pk and score == pytest.approx(0.45, abs=1e-4)
    assert suppression_match(vectors=vector_near(template_vector, 0.35)[None, :]) is None
    assert suppression_match(vectors=np.empty((0, 512), np.float32)) is None


def test_remove_by_reference():
    suppression_add(reference="request-1", vector=unit_vectors(1, seed=1)[0])
    suppression_add(reference="request-1", vector=unit_vectors(1, seed=2)[0])
    suppression_add(reference="request-2", vector=unit_vectors(1, seed=3)[0])
    assert suppression_remove(reference="request-1") == 2
    assert suppression_remove(reference="request-1") == 0
    assert list(SuppressedFace.objects.values_list("reference", flat=True)) == ["request-2"]
    assert suppression_match(vectors=unit_vectors(1, seed=1)) is None


def test_bad_vectors_refused():
    with pytest.raises(ValueError):
        suppression_add(reference="x", vector=np.zeros(512))
    with pytest.raises(ValueError):
        suppression_add(reference="x", vector=np.ones(128))
