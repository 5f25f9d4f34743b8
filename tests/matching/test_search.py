"""faces_search (bands, completeness, deleted faces) and images_by_identifiers."""

from __future__ import annotations

import numpy as np
import pytest

from matching.models import Face
from matching.services.search import (
    MATCH,
    REVIEW,
    faces_search,
    images_by_identifiers,
    profile_from_url,
    source_url_normalise,
)
from tests.matching.conftest import unit_vectors, vector_near
from tests.matching.helpers import image_with_faces

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.MATCH_THRESHOLD = 0.40
    settings.REVIEW_THRESHOLD = 0.25


def test_bands_and_every_face_above_review():
    query = unit_vectors(1, seed=1)[0]
    strong = image_with_faces(vectors=[vector_near(query, 0.7)])
    borderline = image_with_faces(vectors=[vector_near(query, 0.3, seed=2)])
    exactly_match = image_with_faces(vectors=[vector_near(query, 0.40, seed=3)])
    image_with_faces(vectors=[vector_near(query, 0.2, seed=4)])  # below review: not returned
    background = image_with_faces(vectors=[unit_vectors(1, seed=9)[0], vector_near(query, 0.55, seed=5)])
    (hits,) = faces_search(vectors=query[None, :])
    by_image = {hit.image_id: hit for hit in hits}
    assert set(by_image) == {strong.pk, borderline.pk, exactly_match.pk, background.pk}
    assert by_image[strong.pk].band == MATCH
    assert by_image[borderline.pk].band == REVIEW
    assert by_image[exactly_match.pk].band == MATCH
    assert by_image[background.pk].bbox == (1.0, 1.0, 11.0, 11.0)  # the second face of that image
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_face_deleted_from_the_database_is_never_returned():
    query = unit_vectors(1, seed=1)[0]
    image = image_with_faces(vectors=[vector_near(query, 0.8)])
    Face.objects.filter(image=image).delete()  # the index still holds the id (a crash, say)
    (hits,) = faces_search(vectors=query[None, :], sync=False)
    assert hits == []


def test_a_face_missing_from_the_index_is_found_after_sync():
    query = unit_vectors(1, seed=1)[0]
    image = image_with_faces(vectors=[vector_near(query, 0.8)])
    from matching.services.index import index_remove

    index_remove(ids=Face.objects.filter(image=image).values_list("pk", flat=True))  # a lost index write
    (hits,) = faces_search(vectors=query[None, :])
    assert [h.image_id for h in hits] == [image.pk]


def test_a_search_syncs_the_whole_index_only_when_the_face_table_changed(monkeypatch):
    from matching.services import index as index_service
    from matching.services.embedding import embedding_to_bytes

    query = unit_vectors(1, seed=1)[0]
    first = image_with_faces(vectors=[vector_near(query, 0.8)])
    # Every full sync takes the writer lock: count the exclusive locks taken.
    full_syncs = []
    real_flock = index_service.fcntl.flock

    def flock(fd, op):
        if op == index_service.fcntl.LOCK_EX:
            full_syncs.append(1)
        return real_flock(fd, op)

    monkeypatch.setattr(index_service.fcntl, "flock", flock)

    faces_search(vectors=query[None, :])
    full_syncs.clear()
    for _ in range(3):  # nothing changed: no id list read, no writer lock (before the fix: 3 syncs)
        (hits,) = faces_search(vectors=query[None, :])
    assert full_syncs == [] and [h.image_id for h in hits] == [first.pk]

    # A face committed by an ingestion that died before its index write: the figures differ, the
    # full sync runs, and the search still finds it.
    second = image_with_faces(vectors=[])
    Face.objects.create(
        image=second,
        x1=0,
        y1=0,
        x2=10,
        y2=10,
        det_score=0.9,
        embedding=embedding_to_bytes(vector=vector_near(query, 0.9, seed=7)),
    )
    full_syncs.clear()  # saving the file above locked it too
    (hits,) = faces_search(vectors=query[None, :])
    assert full_syncs == [1]
    assert {h.image_id for h in hits} == {first.pk, second.pk}


def test_several_queries_at_once():
    queries = unit_vectors(3, seed=11)
    images = [image_with_faces(vectors=[vector_near(q, 0.6, seed=i)]) for i, q in enumerate(queries)]
    results = faces_search(vectors=queries)
    assert [[h.image_id for h in hits] for hits in results] == [[img.pk] for img in images]


def test_identifiers():
    by_url = image_with_faces(source_url="https://news.example.com/2021/05/photo.jpg")
    insta = image_with_faces(
        platform="instagram", account="jane.doe", source_url="https://instagram.com/p/abc/"
    )
    twitter = image_with_faces(platform="twitter", account="jane.doe")
    other = image_with_faces(platform="instagram", account="someone.else")

    def found(*identifiers: str) -> set[int]:
        return {image.pk for image in images_by_identifiers(identifiers=list(identifiers))}

    assert found("https://news.example.com/2021/05/photo.jpg") == {by_url.pk}
    assert found("http://www.NEWS.example.com/2021/05/photo.jpg/") == {by_url.pk}
    assert found("https://news.example.com/2021/05/PHOTO.jpg") == set()  # paths are case-sensitive
    assert found("https://www.instagram.com/Jane.Doe/") == {insta.pk}  # profile -> that platform only
    assert found("instagram.com/jane.doe") == {insta.pk}
    assert found("@Jane.Doe") == {insta.pk, twitter.pk}  # an account name alone: any platform
    assert found("jane.doe", "https://x.com/someone_else") == {insta.pk, twitter.pk}
    assert found("someone.else") == {other.pk}
    assert found("", "   ") == set()


def test_profile_urls_and_normalisation():
    assert profile_from_url(url="https://www.tiktok.com/@Some.One") == ("tiktok", "some.one")
    assert profile_from_url(url="https://instagram.com/p/Cx12/") is None  # a post, not a profile
    assert profile_from_url(url="https://example.com/jane") is None
    assert source_url_normalise(url="HTTPS://Example.COM:443/A/b?x=1#frag") == "https://example.com/A/b?x=1"


def test_vectors_shape():
    with pytest.raises(ValueError):
        faces_search(vectors=np.zeros((2, 100), dtype=np.float32))
