"""Rows made directly (no model): for tests of search, deletion and suppression logic."""

from __future__ import annotations

import io
import itertools

import numpy as np
from django.core.files.storage import default_storage
from django.utils import timezone

from matching.models import Face, Image
from matching.services.embedding import embedding_to_bytes
from matching.services.index import index_add

_counter = itertools.count(1)


def image_with_faces(
    *,
    vectors: list[np.ndarray] | np.ndarray = (),
    source_url: str = "",
    platform: str = "",
    account: str = "",
) -> Image:
    """An Image row with a real file and Face rows for the given vectors, added to the index."""
    n = next(_counter)
    sha = f"{n:064x}"
    name = f"collection/{sha[:2]}/{sha}.jpg"
    default_storage.save(name, io.BytesIO(b"\xff\xd8\xff fake jpeg"))
    image = Image.objects.create(
        file=name,
        sha256=sha,
        source_url=source_url,
        platform=platform,
        account=account,
        collected_at=timezone.now(),
        width=100,
        height=100,
    )
    faces = [
        Face.objects.create(
            image=image,
            x1=i,
            y1=i,
            x2=i + 10,
            y2=i + 10,
            det_score=0.9,
            embedding=embedding_to_bytes(vector=v),
        )
        for i, v in enumerate(vectors)
    ]
    if faces:
        index_add(ids=[f.pk for f in faces], vectors=np.stack([f.vector for f in faces]))
    return image
