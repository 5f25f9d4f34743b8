"""The synthetic collection bench/scale.py measures: face-like vectors, their Image and Face rows
(or the index alone), and a stored vector looked up by id."""

from __future__ import annotations

import time

import numpy as np

DIM = 512
_BUILD_CHUNK = 25_000


def _identity_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """n face-like unit vectors: identities of 1-8 images, each its identity's direction plus noise."""
    out = np.empty((n, DIM), np.float32)
    filled = 0
    while filled < n:
        size = min(int(rng.integers(1, 9)), n - filled)
        centre = rng.standard_normal(DIM)
        centre /= np.linalg.norm(centre)
        noise = rng.standard_normal((size, DIM)) * (0.9 / np.sqrt(DIM))
        block = centre + noise
        out[filled : filled + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
        filled += size
    return out


def _faces_create(vectors: np.ndarray, tag: str) -> list[int]:
    """Image + Face rows for these vectors (one face per image); returns the face ids."""
    from django.db import transaction
    from django.utils import timezone

    from matching.models import Face, Image

    now = timezone.now()
    with transaction.atomic():
        images = Image.objects.bulk_create(
            [
                Image(
                    file=f"collection/synthetic/{tag}-{i}.jpg",
                    sha256=f"{tag}-{i}".encode().hex()[:64].ljust(64, "0"),
                    source_url=f"https://example.org/synthetic/{tag}-{i}",
                    collected_at=now,
                    width=112,
                    height=112,
                )
                for i in range(vectors.shape[0])
            ],
            batch_size=5000,
        )
        faces = Face.objects.bulk_create(
            [
                Face(
                    image=image,
                    x1=0,
                    y1=0,
                    x2=112,
                    y2=112,
                    det_score=0.9,
                    embedding=vector.astype("<f4").tobytes(),
                )
                for image, vector in zip(images, vectors, strict=True)
            ],
            batch_size=5000,
        )
    return [f.pk for f in faces]


def _rows_insert(vectors: np.ndarray, tag: str) -> None:
    """The same rows as ``_faces_create``, inserted with plain executemany (10M rows in minutes)."""
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.db.models import Max
    from django.utils import timezone

    from matching.models import Face, Image

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    first_image = (Image.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
    first_face = (Face.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
    images = [
        (
            first_image + i,
            f"collection/synthetic/{tag}-{i}.jpg",
            f"{tag}-{i}".encode().hex()[:64].ljust(64, "0"),
            f"https://example.org/synthetic/{tag}-{i}",
            "",
            "",
            now,
            now,
            112,
            112,
        )
        for i in range(vectors.shape[0])
    ]
    faces = [
        (first_face + i, first_image + i, 0.0, 0.0, 112.0, 112.0, 0.9, vectors[i].astype("<f4").tobytes())
        for i in range(vectors.shape[0])
    ]
    image_table, face_table = Image._meta.db_table, Face._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {image_table} (id, file, sha256, source_url, platform, account, collected_at, "
            "ingested_at, width, height) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            images,
        )
        cursor.executemany(
            f"INSERT INTO {face_table} (id, image_id, x1, y1, x2, y2, det_score, embedding) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            faces,
        )
        for statement in connection.ops.sequence_reset_sql(no_style(), [Image, Face]):
            cursor.execute(statement)


def _build(n: int, log, index_only: bool) -> dict[str, float]:
    from matching.models import Face
    from matching.services.index import index_folder, index_load, index_rebuild, index_sync
    from matching.services.index.store import writer_lock
    from matching.services.index.writer import segments_rebuild

    if index_only:
        # The index alone, from the same vectors in chunks (no rows: see --index-only).
        have = index_load()[1].ntotal
        start = time.perf_counter()
        if have < n:
            from matching.services.index import _layout

            def chunks():
                rng = np.random.default_rng(0)
                for first in range(0, n, _BUILD_CHUNK * 4):
                    part = min(_BUILD_CHUNK * 4, n - first)
                    yield np.arange(first + 1, first + 1 + part, dtype=np.int64), _identity_vectors(rng, part)
                    log(f"  {first + part:,} faces in the index")

            with writer_lock(index_folder()):
                segments_rebuild(folder=index_folder(), chunks=chunks(), layout=_layout())
        return {"build_rows_s": 0.0, "build_index_s": round(time.perf_counter() - start, 1)}
    have = Face.objects.count()
    rng = np.random.default_rng(have)
    start = time.perf_counter()
    while have < n:
        part = min(_BUILD_CHUNK, n - have)
        _rows_insert(_identity_vectors(rng, part), tag=f"b{have}")
        have += part
        log(f"  {have:,} faces in the database")
    rows_s = time.perf_counter() - start
    start = time.perf_counter()
    if index_load()[1].ntotal == 0:
        index_rebuild()
    else:
        index_sync()  # an earlier run's collection: only what differs
    return {"build_rows_s": round(rows_s, 1), "build_index_s": round(time.perf_counter() - start, 1)}


def _vector_of(snapshot, face_id: int) -> np.ndarray:
    for segment in snapshot.segments:
        rows = np.flatnonzero(np.asarray(segment.ids) == face_id)
        if rows.size:
            return np.array(segment.vectors[int(rows[0])])
    raise LookupError(face_id)
