"""The index's outbox: faces whose index write may still be owed (``IndexPending`` rows).

A writer records the faces in the transaction that adds or deletes their Face rows and clears them
once the index holds the change. What a crash leaves behind is exactly the work still owed, so the
check every search makes (``index_sync_if_changed``) reads these few rows, never the Face table.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from matching.services.index import shards

CHUNK = 20_000  # rows read or deleted at a time


def pending_record(*, face_ids: Iterable[int], removal: bool) -> None:
    """Inside the writer's transaction: these faces' index change is owed until ``pending_clear``.

    A removal replaces an addition still owed for the same face (the face is gone either way)."""
    from matching.models import IndexPending

    rows = [IndexPending(face_id=int(i), removal=removal) for i in face_ids]
    if rows:
        IndexPending.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["face_id"], update_fields=["removal"]
        )


def pending_clear(*, face_ids: Iterable[int], removal: bool) -> None:
    """The index now holds these changes. An owed change of the other kind, recorded since, stays."""
    from matching.models import IndexPending

    ids = [int(i) for i in face_ids]
    for start in range(0, len(ids), CHUNK):
        IndexPending.objects.filter(face_id__in=ids[start : start + CHUNK], removal=removal).delete()


def pending_owed(*, limit: int | None = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(additions, removals) owed to this index (its shard's share): at most ``limit``, None for all."""
    from matching.models import IndexPending

    rows = list(
        shards.shard_faces(IndexPending.objects.all())
        .order_by("face_id")
        .values_list("face_id", "removal")[:limit]
    )
    additions = np.fromiter((i for i, removal in rows if not removal), dtype=np.int64)
    removals = np.fromiter((i for i, removal in rows if removal), dtype=np.int64)
    return additions, removals
