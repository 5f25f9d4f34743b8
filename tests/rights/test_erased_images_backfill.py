"""rights migration 0009: every completed erasure-ledger row is recorded in matching.ErasedImage,
so that bytes erased before that record existed are refused at ingestion too.

The migration's function is called with the live app registry on rows made here. What each row
gets: a completed row, a record named by its request's id; a row still "being erased" (removed_from
empty), nothing; a hash already recorded, its first record unchanged; a second run, nothing new.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as live_apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from matching.models import ErasedImage, Image
from matching.services.ingestion import image_ingest
from rights.models import ErasureRecord, RequestKind, RequestStatus
from tests.factories import request_make

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("rights.migrations.0009_erased_images_backfill").erased_images_backfill


def _ledger(request, sha256: str, removed_from: list[str], erased_at) -> ErasureRecord:
    return ErasureRecord.objects.create(
        request=request, image_id=1, image_sha256=sha256, removed_from=removed_from, erased_at=erased_at
    )


def test_completed_ledger_rows_are_recorded_once_named_by_their_request():
    first = request_make(kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED)
    second = request_make(kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED)
    day = timezone.now() - timedelta(days=400)
    _ledger(first, "a" * 64, ["file", "faces", "embeddings", "image", "index"], day)
    _ledger(second, "a" * 64, ["already erased before this request"], day + timedelta(days=3))
    _ledger(first, "b" * 64, [], day)  # being erased: not recorded (its deletion records it)
    _ledger(second, "c" * 64, ["file", "image"], day + timedelta(days=1))
    kept = ErasedImage.objects.create(sha256="c" * 64, erased_at=day, reference="retention period ended")

    backfill(live_apps, None)
    backfill(live_apps, None)  # run again: nothing new, nothing changed

    records = {r.sha256: r for r in ErasedImage.objects.all()}
    assert set(records) == {"a" * 64, "c" * 64}
    assert (records["a" * 64].reference, records["a" * 64].erased_at) == (str(first.id), day)
    assert records["c" * 64].reference == kept.reference and records["c" * 64].erased_at == day
    assert records["a" * 64].refusals == 0


@pytest.mark.models
def test_bytes_erased_before_the_record_existed_are_refused_after_the_backfill(lfw_identities):
    path = next(iter(lfw_identities.values()))[0]
    added = image_ingest(data=path.read_bytes(), name="old.jpg")
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED)
    sha256 = Image.objects.get(pk=added.image_id).sha256
    # An erasure of an earlier round: the ledger row, the image gone, no ErasedImage.
    Image.objects.filter(pk=added.image_id).delete()
    _ledger(request, sha256, ["file", "faces", "embeddings", "image", "index"], timezone.now())
    assert image_ingest(data=path.read_bytes(), name="back.jpg").status == "added"  # before: collected again
    Image.objects.filter(sha256=sha256).delete()

    backfill(live_apps, None)

    again = image_ingest(data=path.read_bytes(), name="again.jpg")
    assert again.status == "erased" and again.image_id is None
    assert f"by request {request.id}" in again.message
    assert not Image.objects.filter(sha256=sha256).exists()


def test_the_backfill_follows_both_tables_with_no_parallel_branch():
    """Applied after the ErasedImage table and the rights migration before it; one rights leaf."""
    graph = MigrationLoader(connection).graph
    mine = ("rights", "0009_erased_images_backfill")
    assert {("matching", "0002_erasedimage"), ("rights", "0008_casework")} <= graph.node_map[mine].parents
    (leaf,) = graph.leaf_nodes("rights")
    assert mine in graph.forwards_plan(leaf)
