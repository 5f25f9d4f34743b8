"""faces_search (bands, completeness, deleted faces), person_search, person_expand, faces_group,
images_by_identifiers."""

from __future__ import annotations

import numpy as np
import pytest

from matching.models import Face
from matching.services.search import (
    MATCH,
    REVIEW,
    band_for,
    faces_group,
    faces_search,
    images_by_identifiers,
    person_expand,
    person_search,
    profile_from_url,
    source_url_normalise,
)
from matching.services.thresholds import thresholds_current, thresholds_for
from tests.matching.conftest import unit_vectors, vector_near
from tests.matching.helpers import image_with_faces

pytestmark = pytest.mark.django_db

# Scores are built this far from a threshold: FAISS's kernels sum in a CPU-dependent order, so a
# score built exactly at a threshold may land on either side of it (issue 8).
MARGIN = 0.02


@pytest.fixture(autouse=True)
def _thresholds(settings):
    # Floors: a collection of a few faces gets exactly these bands.
    settings.MATCH_THRESHOLD = 0.40
    settings.REVIEW_THRESHOLD = 0.25
    settings.THRESHOLDS_FOR_FACES = 0


def test_bands_and_every_face_above_review():
    bands = thresholds_for(faces=10)
    assert (bands.match, bands.review) == (0.40, 0.25)
    query = unit_vectors(1, seed=1)[0]
    strong = image_with_faces(vectors=[vector_near(query, 0.7)])
    borderline = image_with_faces(vectors=[vector_near(query, (bands.match + bands.review) / 2, seed=2)])
    just_above_match = image_with_faces(vectors=[vector_near(query, bands.match + MARGIN, seed=3)])
    just_below_match = image_with_faces(vectors=[vector_near(query, bands.match - MARGIN, seed=6)])
    image_with_faces(
        vectors=[vector_near(query, bands.review - MARGIN, seed=4)]
    )  # below review: not returned
    background = image_with_faces(vectors=[unit_vectors(1, seed=9)[0], vector_near(query, 0.55, seed=5)])
    (hits,) = faces_search(vectors=query[None, :])
    by_image = {hit.image_id: hit for hit in hits}
    assert set(by_image) == {
        strong.pk,
        borderline.pk,
        just_above_match.pk,
        just_below_match.pk,
        background.pk,
    }
    assert by_image[strong.pk].band == MATCH
    assert by_image[borderline.pk].band == REVIEW
    assert by_image[just_above_match.pk].band == MATCH
    assert by_image[just_below_match.pk].band == REVIEW
    assert by_image[background.pk].bbox == (1.0, 1.0, 11.0, 11.0)  # the second face of that image
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_the_bands_follow_the_size_searched(settings):
    # The same face is a match for a small collection and goes to review for a large one.
    query = unit_vectors(1, seed=1)[0]
    large = thresholds_for(faces=1_000_000)
    score = (large.review + large.match) / 2
    assert score > 0.40 + MARGIN  # above the small collection's match band
    image = image_with_faces(vectors=[vector_near(query, score, seed=2)])
    (hits,) = faces_search(vectors=query[None, :])
    assert [(h.image_id, h.band) for h in hits] == [(image.pk, MATCH)]
    settings.THRESHOLDS_FOR_FACES = 1_000_000
    (hits,) = faces_search(vectors=query[None, :])
    assert [(h.image_id, h.band) for h in hits] == [(image.pk, REVIEW)]
    assert band_for(score=large.review - MARGIN, thresholds=large) is None


def test_person_search_fuses_the_selfies_into_one_query():
    a, b = unit_vectors(2, seed=21)
    fused_direction = (a + b) / np.linalg.norm(a + b)
    bands = thresholds_for(faces=10, selfies=2)
    # A face close to the person's mean scores higher with the fused query than with either photo.
    near_mean = image_with_faces(vectors=[vector_near(fused_direction, bands.match + 0.1, seed=3)])
    result = person_search(vectors=np.stack([a, b]))
    assert result.thresholds.selfies == 2 and result.thresholds == thresholds_current(selfies=2)
    assert [(h.image_id, h.band) for h in result.hits] == [(near_mean.pk, MATCH)]
    assert result.hits[0].score > max(float(a @ fused_direction), float(b @ fused_direction)) * (
        bands.match + 0.1
    )
    assert result.groups == {result.hits[0].face_id: 1}
    # Bad input: no photo or more than three is refused with a reason, nothing searched.
    for count in (0, 4):
        with pytest.raises(ValueError, match="1 to 3 photos"):
            person_search(vectors=unit_vectors(count, seed=3) if count else np.empty((0, 512)))


def test_person_expand_sends_only_new_faces_to_review():
    selfie = unit_vectors(1, seed=31)[0]
    bands = thresholds_for(faces=10, selfies=3)
    confirmed_image = image_with_faces(vectors=[vector_near(selfie, 0.8, seed=1)])
    confirmed = Face.objects.get(image=confirmed_image)
    # Found only through the confirmed face's help: both scores well above the match band.
    new_image = image_with_faces(vectors=[vector_near(selfie, 0.9, seed=2)])
    result = person_expand(
        vectors=selfie[None, :], confirmed=confirmed.vector[None, :], known_face_ids={confirmed.pk}
    )
    assert result.thresholds.review == result.thresholds.match >= bands.match
    assert [(h.image_id, h.band) for h in result.hits] == [(new_image.pk, REVIEW)]  # staff decide
    with pytest.raises(ValueError, match="confirmed face"):
        person_expand(vectors=selfie[None, :], confirmed=np.empty((0, 512)), known_face_ids=set())


def test_faces_group_links_only_strong_matches():
    person, stranger = unit_vectors(2, seed=41)
    images = [image_with_faces(vectors=[vector_near(person, 0.9, seed=s)]) for s in (1, 2, 3)]
    other = image_with_faces(vectors=[vector_near(stranger, 0.9, seed=4)])
    ids = [Face.objects.get(image=i).pk for i in [*images, other]]
    groups = faces_group(face_ids=ids)
    # Photos of one person (pairwise about 0.8) are one group; the stranger is a group of their own.
    assert groups == {ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[3]: 2}
    assert faces_group(face_ids=[]) == {}
    assert faces_group(face_ids=[ids[0], 10**9]) == {ids[0]: 1}  # a face gone is left out


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
    # Count the full reconciliations (index_sync_if_changed calls index_sync only on a difference).
    full_syncs = []
    real_sync = index_service.index_sync

    def index_sync(**options):
        full_syncs.append(1)
        return real_sync(**options)

    monkeypatch.setattr(index_service, "index_sync", index_sync)

    faces_search(vectors=query[None, :])
    full_syncs.clear()
    for _ in range(3):  # nothing changed: no full sync (before the fix: 3 syncs)
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
    full_syncs.clear()
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
