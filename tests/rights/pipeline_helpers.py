"""A small real collection for the pipeline tests: people from ../shared/faces/lfw-dev, ingested
through matching's own ingestion service, each with one photo held back to be their selfie.

The face models memoise their results per process, so ingesting the same files again in the next
test costs database and index writes only.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.utils import timezone

from matching.models import Face, Image
from matching.services.imaging import image_decode
from matching.services.ingestion import IngestItem, images_ingest
from rights.models import DataRequest, RequestKind, RequestStatus
from tests.factories import request_make as _request_make

# People with 4+ images whose held-back (last) photo is a usable selfie. Condoleezza_Rice has
# photos with other people in them (to check their faces are blurred in her access report);
# Anna_Kournikova's photos are hard to match (some land in the `review` band).
PEOPLE = [
    "Condoleezza_Rice",
    "Charles_Moose",
    "Al_Sharpton",
    "Clay_Aiken",
    "Frank_Solich",
    "Fujio_Cho",
    "George_Robertson",
    "Edward_Lu",
    "Hans_Blix",
    "Anna_Kournikova",
]
DISTRACTORS = 16
PLATFORMS = ["instagram", "flickr", "twitter"]
SIX_YEARS = timedelta(days=6 * 365 + 2)


@dataclass
class Collection:
    images: dict[str, list[int]] = field(default_factory=dict)  # identity -> Image ids
    selfies: dict[str, Path] = field(default_factory=dict)  # identity -> held-back photo
    identity_of: dict[int, str] = field(default_factory=dict)  # Image id -> identity
    old_image_id: int = 0  # an image of PEOPLE[0] collected six years ago
    new_image_id: int = 0  # one of PEOPLE[0] collected yesterday

    def account(self, identity: str) -> str:
        return identity.lower()

    def others_hashes(self, identity: str) -> dict[int, str]:
        """sha256 of every image NOT of ``identity`` (to prove they were not touched)."""
        return dict(Image.objects.exclude(pk__in=self.images.get(identity, [])).values_list("pk", "sha256"))


def source_url_for(identity: str, path: Path) -> str:
    return f"https://photos.example.org/{identity.lower()}/{path.stem.lower()}.jpg"


def collection_ingest(
    *, lfw_identities: dict[str, list[Path]], people: list[str] | None = None, distractors: int = DISTRACTORS
) -> Collection:
    people = people or PEOPLE
    now = timezone.now()
    items: list[IngestItem] = []
    owners: list[str] = []
    result = Collection()
    for p_index, identity in enumerate(people):
        paths = lfw_identities[identity]
        result.selfies[identity] = paths[-1]
        for i_index, path in enumerate(paths[:-1]):
            collected = now - timedelta(days=1 + 97 * i_index + 13 * p_index)
            if p_index == 0 and i_index == 0:
                collected = now - SIX_YEARS
            items.append(
                IngestItem(
                    name=path.name,
                    path=str(path),
                    source_url=source_url_for(identity, path),
                    collected_at=collected,
                    platform=PLATFORMS[(p_index + i_index) % len(PLATFORMS)],
                    account=identity.lower(),
                )
            )
            owners.append(identity)
    singles = sorted(name for name, paths in lfw_identities.items() if len(paths) == 1)[:distractors]
    for d_index, identity in enumerate(singles):
        path = lfw_identities[identity][0]
        items.append(
            IngestItem(
                name=path.name,
                path=str(path),
                source_url=source_url_for(identity, path),
                collected_at=now - timedelta(days=30 * d_index + 5),
                platform="flickr",
                account=identity.lower(),
            )
        )
        owners.append(identity)
    outcomes = images_ingest(items=items)
    for outcome, identity in zip(outcomes, owners, strict=True):
        assert outcome.status == "added", (outcome.name, outcome.status, outcome.message)
        result.images.setdefault(identity, []).append(outcome.image_id)
        result.identity_of[outcome.image_id] = identity
    result.old_image_id = result.images[people[0]][0]
    result.new_image_id = result.images[people[0]][-1]
    # The yesterday image is the latest of PEOPLE[0]: make it so whatever the spread above gave.
    Image.objects.filter(pk=result.new_image_id).update(collected_at=now - timedelta(days=1))
    return result


def selfie_bytes(path: Path) -> bytes:
    """A selfie as the public side stores it: decoded safely and re-encoded without metadata."""
    return image_decode(data=path.read_bytes()).clean_bytes


def request_make(*, status: str = RequestStatus.QUEUED, **fields: Any) -> DataRequest:
    """tests.factories.request_make, QUEUED unless told otherwise: confirmed, selfies PENDING, as
    request_confirm leaves it."""
    return _request_make(status=status, **fields)


def zip_open(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def other_face_boxes(*, image_id: int, own_face_id: int | None) -> list[list[float]]:
    return [f.bbox for f in Face.objects.filter(image_id=image_id).exclude(pk=own_face_id)]


def region(rgb: np.ndarray, box: list[float]) -> np.ndarray:
    x1, y1, x2, y2 = (round(v) for v in box)
    return rgb[max(0, y1) : y2, max(0, x1) : x2].astype(np.float64)


def reviewer_user():
    """A member of staff who may review matches and approve requests (the services check it)."""
    from django.contrib.auth.models import Permission, User

    user, created = User.objects.get_or_create(username="pipeline_reviewer", defaults={"is_staff": True})
    if created:
        user.user_permissions.add(
            *Permission.objects.filter(codename__in=["review_match", "approve_request"])
        )
    return User.objects.get(pk=user.pk)  # fresh: permissions are cached on the instance


def searched_and_decided(
    *, collection: Collection, who: str, kind: str = RequestKind.ACCESS, selfie: Path | None = None, **fields
) -> DataRequest:
    """Search for ``who``, let "staff" decide every candidate by the ground truth, approve, and take
    the request for fulfilment (FULFILLING), as the worker would."""
    from rights.lifecycle.transitions import request_transition
    from rights.pipeline.search import request_search_run
    from rights.staff.review import matches_decide, request_approve

    request = request_make(kind=kind, selfies=[selfie_bytes(selfie or collection.selfies[who])], **fields)
    request_search_run(request_id=request.id)
    pending = request.matches.filter(decision="pending").exclude(band="match")
    theirs = [m.id for m in pending if collection.identity_of.get(m.image_id) == who]
    others = [m.id for m in pending if collection.identity_of.get(m.image_id) != who]
    staff = reviewer_user()
    if theirs:
        matches_decide(match_ids=theirs, decision="confirmed", user=staff)
    if others:
        matches_decide(match_ids=others, decision="rejected", user=staff)
    request.refresh_from_db()
    if request.status == RequestStatus.REVIEW:
        request_approve(request_id=request.id, user=staff)
    taken = request_transition(
        request_id=request.id, from_statuses=["approved"], to_status="fulfilling", actor="system", action="t"
    )
    assert taken
    request.refresh_from_db()
    return request
