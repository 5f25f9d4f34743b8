"""Removing images from the collection everywhere they live: file, faces, embeddings, index.

Order matters for a crash half-way, and every step may be re-run:
0. the hash is recorded as erased (``ErasedImage``), committed before anything is removed: an
   ingestion of the same bytes that commits after this step sees it and refuses them;
1. the file goes first: while the Image row exists, a re-run knows which file to remove, and a
   missing file is not an error; it is removed once more after step 2, for an ingestion of the
   same bytes that wrote it back meanwhile;
2. then the Face rows (with their embeddings) and the Image row, in one transaction that also
   records the faces' index removal as owed (``IndexPending``);
3. then the index ids, physically. If we crash before this step, the ids left in the index point
   at nothing (searches drop ids without a Face row) and the next search's
   ``index_sync_if_changed`` removes them from disk, before any erasure is verified.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction

from matching.models import Face, Image
from matching.services.erased import erased_image_record
from matching.services.index import index_remove_owed, pending_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageDeletion:
    image_id: int
    found: bool  # False: nothing was left to delete (an earlier run finished, or no such image)
    sha256: str = ""
    source_url: str = ""
    faces: int = 0
    removed_from: list[str] = field(
        default_factory=list
    )  # of "file", "faces", "embeddings", "image", "index"


def _file_remove(name: str) -> None:
    if name:
        with contextlib.suppress(FileNotFoundError):
            Path(default_storage.path(name)).unlink()


def images_delete(*, image_ids: list[int], erased_by: str = "") -> list[ImageDeletion]:
    """Delete many images with one index write. Idempotent: an image already gone is reported found=False.

    Every image deleted here is recorded as erased, named by ``erased_by`` (the request's reference,
    as the caller names it; "" when the deletion has none): the safe side is never to collect again
    bytes that someone had deleted."""
    results: list[ImageDeletion] = []
    all_face_ids: list[int] = []
    for image_id in image_ids:
        image = Image.objects.filter(pk=image_id).first()
        if image is None:
            results.append(ImageDeletion(image_id=image_id, found=False))
            continue
        removed: list[str] = []
        erased_image_record(sha256=image.sha256, reference=erased_by)
        # Reported even when an earlier, interrupted run already removed it: it is gone either way.
        _file_remove(image.file.name)
        removed.append("file")
        with transaction.atomic():
            face_ids = list(Face.objects.filter(image_id=image_id).values_list("pk", flat=True))
            pending_record(face_ids=face_ids, removal=True)
            Face.objects.filter(image_id=image_id).delete()
            Image.objects.filter(pk=image_id).delete()
        # Again, now that no row names it: an ingestion of the same bytes may have written the file
        # back between the first removal and the row's deletion (it then found our row and counted
        # itself a duplicate).
        _file_remove(image.file.name)
        if face_ids:
            removed += ["faces", "embeddings"]
        removed.append("image")
        all_face_ids.extend(face_ids)
        results.append(
            ImageDeletion(
                image_id=image_id,
                found=True,
                sha256=image.sha256,
                source_url=image.source_url,
                faces=len(face_ids),
                removed_from=removed,
            )
        )
        logger.info("delete: image %s removed (%s faces)", image_id, len(face_ids))
    if all_face_ids:
        index_remove_owed(ids=all_face_ids)
        for result in results:
            if result.faces:
                result.removed_from.append("index")
    return results


def image_delete(*, image_id: int, erased_by: str = "") -> ImageDeletion:
    """Delete one image's file, faces, embeddings, row and index entries. Safe to re-run."""
    return images_delete(image_ids=[image_id], erased_by=erased_by)[0]
