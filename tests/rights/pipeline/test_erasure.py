"""rights.pipeline.erasure: delete through matching, ledger, verify by searching again, certify.

Real models and faces. The "worker killed between steps" tests make one inner function raise once
(a unit test of this one service: the only mock in this file).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.utils import timezone

from matching.models import Face, Image
from matching.services.ingestion import image_ingest
from matching.services.search import faces_search
from rights import tasks
from rights.lifecycle.clock import request_due_in_force
from rights.lifecycle.transitions import request_transition
from rights.models import (
    Answer,
    AuditEvent,
    DataRequest,
    ErasureRecord,
    Match,
    Recipient,
    RecipientNotice,
    Release,
    RequestKind,
    RequestStatus,
)
from rights.pipeline import erasure as erasure_service
from rights.pipeline.erasure import ErasureVerificationFailed, erasure_run
from rights.pipeline.failures import fulfil_failed
from rights.pipeline.fulfil import request_fulfil_run
from rights.pipeline.search import request_search_run
from rights.queries import selfies_usable_vectors
from tests.rights.pipeline_helpers import (
    Collection,
    collection_ingest,
    request_make,
    searched_and_decided,
    selfie_bytes,
)

pytestmark = pytest.mark.models
WHO = "George_Robertson"


@pytest.fixture
def collection(db, lfw_identities):
    return collection_ingest(lfw_identities=lfw_identities)


def _files_of(image_ids: list[int]) -> list[Path]:
    return [
        Path(default_storage.path(name))
        for name in Image.objects.filter(pk__in=image_ids).values_list("file", flat=True)
    ]


def _assert_erased_completely(
    request: DataRequest, collection: Collection, who: str, files: list[Path], others
):
    """Their images gone everywhere; one complete ledger row each; everyone else untouched."""
    theirs = collection.images[who]
    assert not Image.objects.filter(pk__in=theirs).exists()
    assert not Face.objects.filter(image_id__in=theirs).exists()
    assert files and not any(path.exists() for path in files)
    hits = faces_search(vectors=selfies_usable_vectors(request=request))[0]
    assert hits == []  # nothing at or above REVIEW_THRESHOLD: gone from the index too
    records = ErasureRecord.objects.filter(request=request)
    assert records.count() == len(theirs)
    assert {r.image_sha256 for r in records} == set(request.matches.values_list("image_sha256", flat=True))
    for record in records:
        assert {"file", "faces", "embeddings", "image", "index"} <= set(record.removed_from)
        assert record.source_url.startswith("https://photos.example.org/")
    assert dict(Image.objects.values_list("pk", "sha256")) == others
    assert all(Path(default_storage.path(i.file.name)).exists() for i in Image.objects.all())


def test_erasure_deletes_verifies_and_certifies(collection, mailoutbox):
    recipient = Recipient.objects.create(name="Partner Analytics", contact_email="dpo@partner.example")
    shared = Image.objects.get(pk=collection.images[WHO][0])
    Release.objects.create(
        recipient=recipient, image=shared, image_sha256=shared.sha256, released_at=timezone.now()
    )
    others = collection.others_hashes(WHO)
    files = _files_of(collection.images[WHO])
    theirs_hashes = set(Image.objects.filter(pk__in=collection.images[WHO]).values_list("sha256", flat=True))
    request = searched_and_decided(collection=collection, who=WHO, kind=RequestKind.ERASURE)

    certificate = erasure_run(request_id=request.id)

    request.refresh_from_db()
    assert request.status == RequestStatus.ANSWERED
    _assert_erased_completely(request, collection, WHO, files, others)
    assert certificate.kind == Answer.Kind.ERASURE_CERTIFICATE
    payload = certificate.payload
    assert payload["erased_count"] == len(theirs_hashes)
    assert {row["image_sha256"] for row in payload["erased"]} == theirs_hashes
    assert all(row["erased_at"] for row in payload["erased"])
    assert payload["verification"]["images_found_after"] == 0
    assert payload["verification"]["collection_size_after"] == len(others)
    html = certificate.archive.read().decode()
    assert (
        all(sha in html for sha in theirs_hashes)
        and f"{len(theirs_hashes)} image(s) of you were erased" in html
    )
    # The recipient that held one of the images is told (jobs' notice service).
    notice = RecipientNotice.objects.get(request=request, recipient=recipient)
    assert notice.image_hashes == [shared.sha256]
    # One audit row per image deleted, with its hash, beside its ledger row (before the fix: none).
    erased_events = AuditEvent.objects.filter(request=request, action="image_erased")
    assert sorted(e.detail["image_sha256"] for e in erased_events) == sorted(theirs_hashes)
    ledger = dict(ErasureRecord.objects.filter(request=request).values_list("image_sha256", "id"))
    assert all(ledger[e.detail["image_sha256"]] == e.detail["ledger_id"] for e in erased_events)
    # The Match rows stay as the record of what was found, with their hashes.
    assert request.matches.count() == len(theirs_hashes)
    assert not request.matches.filter(image__isnull=False).exists()
    answer_mail = [m for m in mailoutbox if m.to == [request.email]]
    assert len(answer_mail) == 1 and certificate.download_token in answer_mail[0].body


def test_the_verification_reports_the_bands_it_searched_with(collection, settings):
    """Planned for ten million faces, the bands are stricter than the REVIEW_THRESHOLD floor: the
    verification (and the certificate) must name the review threshold it searched down to, as the
    search records its bands (before: settings.REVIEW_THRESHOLD, a band it never used)."""
    from matching.services.thresholds import thresholds_current

    request = searched_and_decided(collection=collection, who=WHO, kind=RequestKind.ERASURE)
    settings.THRESHOLDS_FOR_FACES = 10_000_000
    bands = thresholds_current(selfies=1)
    assert bands.review > django_settings.REVIEW_THRESHOLD + 0.01  # precondition, checked

    verification = erasure_service.erasure_verify(request=request)

    assert verification["selfies_used"] == 1
    assert verification["threshold"] == bands.review
    recorded = verification["thresholds"]
    assert (recorded["match"], recorded["review"]) == (bands.match, bands.review)
    assert recorded["faces_planned_for"] == 10_000_000 and recorded["why"] == bands.why
    # Same shape as the search's own record of its bands (its search_done audit row).
    assert set(recorded) == set(request.events.get(action="search_done").detail["thresholds"])


def test_erasure_killed_between_images_then_retried_completes(collection):
    others = collection.others_hashes(WHO)
    files = _files_of(collection.images[WHO])
    request = searched_and_decided(collection=collection, who=WHO, kind=RequestKind.ERASURE)
    real = erasure_service._image_erase
    calls = {"n": 0}

    def dies_on_the_third_image(*, record):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(record=record)

    with (
        mock.patch.object(erasure_service, "_image_erase", side_effect=dies_on_the_third_image),
        pytest.raises(RuntimeError, match="worker killed"),
    ):
        erasure_run(request_id=request.id)

    # Half-way: two images gone with complete ledger rows, the third's row opened, the rest untouched.
    assert Image.objects.filter(pk__in=collection.images[WHO]).count() == len(collection.images[WHO]) - 2
    assert ErasureRecord.objects.filter(request=request).count() == 3
    assert ErasureRecord.objects.filter(request=request, removed_from=[]).count() == 1
    request.refresh_from_db()
    assert request.status == RequestStatus.FULFILLING

    fulfil_failed(request_id=request.id, error=RuntimeError("worker killed"), final=False)  # the task's retry
    assert request_fulfil_run(request_id=request.id) == RequestStatus.ANSWERED

    request.refresh_from_db()
    assert request.attempts == 1
    _assert_erased_completely(request, collection, WHO, files, others)
    assert request.answers.get().payload["erased_count"] == len(collection.images[WHO])


def test_erasure_killed_after_a_deletion_before_its_ledger_row_is_completed(collection):
    """The tricky gap: matching deleted the image, the ledger row still says nothing was removed."""
    others = collection.others_hashes(WHO)
    files = _files_of(collection.images[WHO])
    request = searched_and_decided(collection=collection, who=WHO, kind=RequestKind.ERASURE)
    real = erasure_service.image_delete
    calls = {"n": 0}

    def deletes_then_dies(*, image_id, **kwargs):
        result = real(image_id=image_id, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return result

    with (
        mock.patch.object(erasure_service, "image_delete", side_effect=deletes_then_dies),
        pytest.raises(RuntimeError, match="worker killed"),
    ):
        erasure_run(request_id=request.id)
    assert ErasureRecord.objects.filter(request=request, removed_from=[]).count() == 1

    # The worker died for good: its claim is stale after STUCK_AFTER and the next run takes it over.
    with time_machine.travel(timezone.now() + django_settings.STUCK_AFTER + timezone.timedelta(minutes=1)):
        assert request_fulfil_run(request_id=request.id) == RequestStatus.ANSWERED

    request.refresh_from_db()
    _assert_erased_completely(request, collection, WHO, files, others)
    assert AuditEvent.objects.filter(request_id=request.id, action="fulfilment_resumed").count() == 1


def test_erasure_run_twice_changes_nothing_the_second_time(collection):
    request = searched_and_decided(collection=collection, who="Edward_Lu", kind=RequestKind.ERASURE)
    erasure_run(request_id=request.id)
    before = list(ErasureRecord.objects.filter(request=request).values_list("image_sha256", "erased_at"))
    assert erasure_run(request_id=request.id) is None  # ANSWERED: not FULFILLING any more
    assert (
        list(ErasureRecord.objects.filter(request=request).values_list("image_sha256", "erased_at")) == before
    )
    assert request.answers.count() == 1


def test_image_left_behind_fails_the_erasure_loudly_then_holds_it(collection, lfw_identities, mailoutbox):
    who = "Hans_Blix"
    request = searched_and_decided(collection=collection, who=who, kind=RequestKind.ERASURE)
    # Collected after the search: the erasure does not know it; the verification must.
    late = image_ingest(
        data=lfw_identities[who][-1].read_bytes(), name="late.jpg", source_url="https://late.example/1"
    )
    assert late.status == "added"

    with pytest.raises(
        ErasureVerificationFailed, match=rf"request {request.id}: 1 image\(s\) still match"
    ) as caught:
        erasure_run(request_id=request.id)

    assert caught.value.image_ids == [late.image_id]
    assert Image.objects.filter(pk=late.image_id).exists()  # only the confirmed images are deleted
    assert not Image.objects.filter(pk__in=collection.images[who]).exists()
    event = AuditEvent.objects.get(request_id=request.id, action="erasure_verification_failed")
    assert event.detail["remaining_image_ids"] == [late.image_id]
    assert request.answers.count() == 0

    fulfil_failed(request_id=request.id, error=caught.value, final=True)  # after the task's last retry
    request.refresh_from_db()
    assert request.status == RequestStatus.HELD and request.attempts == 1
    assert "still match the requester after erasure" in request.hold_reason
    assert [m.to for m in mailoutbox] == [[django_settings.PRIVACY_OFFICER_EMAIL]]


def test_images_staff_rejected_as_not_them_stay_and_do_not_fail_verification(collection):
    who = "Anna_Kournikova"
    request = request_make(kind=RequestKind.ERASURE, selfies=[selfie_bytes(collection.selfies[who])])
    request_search_run(request_id=request.id)
    kept = list(request.matches.filter(band=Match.Band.REVIEW).values_list("image_id", flat=True))
    assert kept
    Match.objects.filter(request=request, band=Match.Band.REVIEW).update(decision=Match.Decision.REJECTED)
    DataRequest.objects.filter(pk=request.pk).update(status=RequestStatus.FULFILLING)

    certificate = erasure_run(request_id=request.id)

    assert Image.objects.filter(pk__in=kept).count() == len(kept)
    assert certificate.payload["erased_count"] == len(collection.images[who]) - len(kept)
    assert certificate.payload["verification"]["kept_as_not_you"] == len(kept)


def test_erasure_waits_while_the_same_persons_access_request_is_open(collection):
    access = request_make(kind=RequestKind.ACCESS, status=RequestStatus.REVIEW, email="Same@Example.org")
    request = request_make(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED, email="same@example.org")
    Match.objects.create(
        request=request, image_id=collection.images[WHO][0], image_sha256="x" * 64, band="match"
    )

    assert request_fulfil_run(request_id=request.id) == "waiting"
    assert request_fulfil_run(request_id=request.id) == "waiting"

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert Image.objects.filter(pk=collection.images[WHO][0]).exists()
    events = AuditEvent.objects.filter(request_id=request.id, action="erasure_waiting_for_access")
    assert events.count() == 1 and events.get().detail == {"access_request_ids": [access.id]}

    DataRequest.objects.filter(pk=access.pk).update(status=RequestStatus.ANSWERED)
    assert request_fulfil_run(request_id=request.id) != "waiting"


def _wait_case(*, access_email: str, erasure_email: str = "victim@example.org", **access_fields):
    access = request_make(
        kind=RequestKind.ACCESS, status=RequestStatus.NEEDS_SELFIE, email=access_email, **access_fields
    )
    erasure = request_make(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED, email=erasure_email)
    return access, erasure


def test_an_erasure_waits_for_the_same_verified_email_only_until_the_cutoff(db, settings):
    settings.ERASURE_ACCESS_WAIT_CUTOFF_DAYS = 7
    access, erasure = _wait_case(access_email="Victim@Example.org")
    assert erasure_service.erasure_waits_for(request=erasure) == [access.id]
    # The access request waits on the person (a new photo) for ever: within 7 days of the erasure's
    # own due date it goes ahead anyway (before the fix it waited past its due date).
    cutoff = request_due_in_force(request=erasure) - timedelta(days=7)
    assert erasure_service.erasure_waits_for(request=erasure, now=cutoff - timedelta(minutes=1)) == [
        access.id
    ]
    assert erasure_service.erasure_waits_for(request=erasure, now=cutoff) == []
    with time_machine.travel(cutoff, tick=False):
        assert request_fulfil_run(request_id=erasure.id) != "waiting"
    erasure.refresh_from_db()
    assert erasure.status != RequestStatus.APPROVED
    # An extension moves the cut-off with the due date.
    _, extended = _wait_case(access_email="victim@example.org")
    DataRequest.objects.filter(pk=extended.pk).update(extended_until=extended.due_at + timedelta(days=30))
    extended.refresh_from_db()
    assert erasure_service.erasure_waits_for(request=extended, now=cutoff) != []


def test_a_face_only_link_from_another_email_does_not_delay_the_erasure(db):
    # Someone files an access request with the victim's photo: linked by face, another address.
    stranger, erasure = _wait_case(access_email="stranger@example.org")
    erasure.earlier_requests.add(stranger)
    assert erasure_service.erasure_waits_for(request=erasure) == []  # before the fix: [stranger.id]
    assert request_fulfil_run(request_id=erasure.id) != "waiting"


def test_an_access_request_linked_by_staff_is_waited_for_whatever_its_email(db):
    from rights.staff.actions import requests_link
    from tests.rights.staff_helpers import PRIVACY_OFFICER, staff_user

    other_address, erasure = _wait_case(access_email="old-address@example.org", received_at=_yesterday())
    assert erasure_service.erasure_waits_for(request=erasure) == []
    requests_link(request_id=erasure.id, earlier_id=other_address.id, user=staff_user(PRIVACY_OFFICER))
    assert erasure_service.erasure_waits_for(request=erasure) == [other_address.id]
    assert request_fulfil_run(request_id=erasure.id) == "waiting"


def test_an_unverified_email_does_not_make_an_erasure_wait(db):
    access, erasure = _wait_case(access_email="victim@example.org")
    DataRequest.objects.filter(pk=access.pk).update(email_verified_at=None)
    assert erasure_service.erasure_waits_for(request=erasure) == []


def _yesterday():
    return timezone.now() - timedelta(days=1)


def test_nobody_in_the_collection_gets_a_certificate_of_zero_deletions(collection, lfw_identities):
    count = Image.objects.count()
    request = searched_and_decided(
        collection=collection,
        who="JK_Rowling",
        kind=RequestKind.ERASURE,
        selfie=lfw_identities["JK_Rowling"][-1],
    )
    certificate = erasure_run(request_id=request.id)
    assert certificate.payload["erased_count"] == 0 and certificate.payload["erased"] == []
    assert "nothing to erase" in certificate.archive.read().decode()
    assert Image.objects.count() == count


# --- A large erasure goes in chunks (settings.ERASURE_CHUNK images per task run) ---------------

CHUNKED = "Edward_Lu"  # five images in the collection


@pytest.fixture
def chunked(collection, settings):
    """An erasure of five images, two per run, FULFILLING as the worker took it; and a recorder of
    the task it enqueues (the only stand-in: the next chunk's message, run by hand below)."""
    settings.ERASURE_CHUNK = 2
    assert len(collection.images[CHUNKED]) == 5
    request = searched_and_decided(collection=collection, who=CHUNKED, kind=RequestKind.ERASURE)
    assert len(erasure_service.matches_confirmed(request=request)) == 5
    enqueued: list[int] = []

    def send(*, name, args=(), kwargs=None):
        assert name == "rights.request_fulfil"
        enqueued.append(*args)

    with mock.patch("rights.lifecycle.enqueue.task_send", side_effect=send):
        yield request, enqueued


def _complete_rows(request: DataRequest) -> int:
    return ErasureRecord.objects.filter(request=request).exclude(removed_from=[]).count()


def _chunk_progress(request: DataRequest) -> list[tuple[int, int]]:
    events = AuditEvent.objects.filter(request_id=request.id, action=erasure_service.CHUNK_ACTION)
    return [(e.detail["erased_so_far"], e.detail["remaining"]) for e in events.order_by("id")]


def test_a_large_erasure_goes_in_chunks_that_re_enqueue_themselves(
    chunked, collection, django_capture_on_commit_callbacks
):
    request, enqueued = chunked
    others = collection.others_hashes(CHUNKED)
    files = _files_of(collection.images[CHUNKED])

    with django_capture_on_commit_callbacks(execute=True):
        assert erasure_run(request_id=request.id) is None
    # Before the fix the first run deleted all five and answered.
    assert Image.objects.filter(pk__in=collection.images[CHUNKED]).count() == 3
    assert _complete_rows(request) == ErasureRecord.objects.filter(request=request).count() == 2
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.answers.count() == 0
    assert _chunk_progress(request) == [(2, 3)]
    assert enqueued == [request.id]

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.request_fulfil.apply(args=[enqueued[-1]]).get() == RequestStatus.APPROVED
    assert enqueued == [request.id, request.id] and _complete_rows(request) == 4
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.request_fulfil.apply(args=[enqueued[-1]]).get() == RequestStatus.ANSWERED
    assert len(enqueued) == 2  # the last chunk enqueues nothing

    request.refresh_from_db()
    _assert_erased_completely(request, collection, CHUNKED, files, others)
    assert _chunk_progress(request) == [(2, 3), (4, 1)]
    certificate = request.answers.get()
    theirs = set(request.matches.values_list("image_sha256", flat=True))
    assert {row["image_sha256"] for row in certificate.payload["erased"]} == theirs
    assert certificate.payload["erased_count"] == len(certificate.payload["erased"]) == 5
    assert certificate.payload["verification"]["images_found_after"] == 0
    actions = [e for e in _events_of(request) if e.startswith("fulfilment_")]
    assert actions == ["fulfilment_started", "fulfilment_started"]  # each chunk claimed as usual
    assert AuditEvent.objects.filter(request_id=request.id, action="image_erased").count() == 5


def _events_of(request: DataRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(request_id=request.id).order_by("id").values_list("action", flat=True)
    )


def test_a_worker_killed_mid_chunk_still_ends_with_every_image_erased_once(chunked, collection):
    request, _enqueued = chunked
    others = collection.others_hashes(CHUNKED)
    files = _files_of(collection.images[CHUNKED])
    assert erasure_run(request_id=request.id) is None  # chunk 1: two images
    real = erasure_service.image_delete

    def deletes_then_dies(*, image_id, **kwargs):
        real(image_id=image_id, **kwargs)
        raise RuntimeError("worker killed")

    # Chunk 2 dies after deleting its first image, before completing that image's ledger row.
    with (
        mock.patch.object(erasure_service, "image_delete", side_effect=deletes_then_dies),
        pytest.raises(RuntimeError, match="worker killed"),
    ):
        request_fulfil_run(request_id=request.id)
    request.refresh_from_db()
    assert request.status == RequestStatus.FULFILLING
    assert ErasureRecord.objects.filter(request=request, removed_from=[]).count() == 1
    assert tasks.request_fulfil.apply(args=[request.id]).get() is None  # not stale: left alone

    # The worker died for good: the claim goes stale and the redelivered message takes it over.
    later = timezone.now() + django_settings.STUCK_AFTER + timedelta(minutes=1)
    with time_machine.travel(later):
        assert request_fulfil_run(request_id=request.id) == RequestStatus.APPROVED
        assert request_fulfil_run(request_id=request.id) == RequestStatus.ANSWERED

    request.refresh_from_db()
    _assert_erased_completely(request, collection, CHUNKED, files, others)
    assert request.answers.get().payload["erased_count"] == 5
    assert ErasureRecord.objects.filter(request=request).count() == 5
    assert _chunk_progress(request) == [(2, 3), (4, 1)]


def test_chunk_messages_delivered_twice_erase_each_image_once_and_answer_once(chunked, collection):
    request, _enqueued = chunked
    erasure_run(request_id=request.id)
    # The chunk's message, and a duplicate (e.g. the access answer's re-enqueue of waiting erasures).
    assert tasks.request_fulfil.apply(args=[request.id]).get() == RequestStatus.APPROVED
    assert tasks.request_fulfil.apply(args=[request.id]).get() == RequestStatus.ANSWERED
    before = list(ErasureRecord.objects.filter(request=request).values_list("image_sha256", "erased_at"))
    events = _events_of(request)
    assert tasks.request_fulfil.apply(args=[request.id]).get() is None  # ANSWERED: nothing to do
    assert (
        list(ErasureRecord.objects.filter(request=request).values_list("image_sha256", "erased_at")) == before
    )
    assert _events_of(request) == events and len(before) == 5 and request.answers.count() == 1


def test_a_chunk_run_finding_its_request_taken_or_gone_deletes_nothing(chunked, collection):
    request, enqueued = chunked
    erasure_run(request_id=request.id)
    # Another worker took the next chunk: this duplicate message leaves it alone.
    request_transition(
        request_id=request.id, from_statuses=["approved"], to_status="fulfilling", actor="system", action="t"
    )
    assert tasks.request_fulfil.apply(args=[request.id]).get() is None
    assert Image.objects.filter(pk__in=collection.images[CHUNKED]).count() == 3
    # The request left FULFILLING during a chunk (staff held it): no progress row, nothing enqueued.
    DataRequest.objects.filter(pk=request.pk).update(status=RequestStatus.HELD)
    assert erasure_service.erasure_chunk_done(request_id=request.id, remaining=1) is False
    assert enqueued == [] and _chunk_progress(request) == [(2, 3)]
    # A request that is gone.
    assert tasks.request_fulfil.apply(args=[987654]).get() is None


def test_between_chunks_an_erasure_is_not_stuck_and_does_not_wait_for_access(chunked, collection):
    from rights.upkeep.recovery import requests_recover_stuck

    request, _enqueued = chunked
    erasure_run(request_id=request.id)
    request_make(kind=RequestKind.ACCESS, status=RequestStatus.REVIEW, email=request.email)
    request.refresh_from_db()
    # Under way: half of the images are gone; it no longer waits for the same person's access answer.
    assert erasure_service.erasure_waits_for(request=request) == []
    now = timezone.now()
    # Waiting for a worker, not held by a dead one: only a lost message (hours) is re-enqueued.
    assert requests_recover_stuck(now=now + django_settings.STUCK_AFTER * 2).requeued == 0
    later = now + django_settings.STUCK_QUEUED_AFTER + timedelta(minutes=1)
    assert requests_recover_stuck(now=later).requeued == 1
    with time_machine.travel(later):
        assert request_fulfil_run(request_id=request.id) == RequestStatus.APPROVED
        assert request_fulfil_run(request_id=request.id) == RequestStatus.ANSWERED
    assert ErasureRecord.objects.filter(request=request).count() == 5


def test_match_band_images_the_collection_outgrew_wait_for_staff(collection, settings, mailoutbox):
    """Searched in the match band of a small collection; erased once the bands are for a large one."""
    from matching.services.thresholds import thresholds_for

    request = searched_and_decided(collection=collection, who=WHO, kind=RequestKind.ERASURE)
    in_match = list(request.matches.filter(band=Match.Band.MATCH, decision=Match.Decision.PENDING))
    # A size whose match threshold falls among their photos' scores (never at one of them).
    scores = sorted(m.score for m in in_match)
    sizes = [10**k for k in range(4, 13)]
    size = next(n for n in sizes if scores[0] + 0.005 < thresholds_for(faces=n).match < scores[-1] - 0.005)
    settings.THRESHOLDS_FOR_FACES = size
    below = {m.id for m in in_match if m.score < thresholds_for(faces=size).match}
    assert below and len(below) < len(in_match)

    assert erasure_run(request_id=request.id) is None

    request.refresh_from_db()
    assert request.status == RequestStatus.HELD and "back in review" in request.hold_reason
    # Nothing deleted, not even the images still in the match band: staff decide first.
    assert not ErasureRecord.objects.filter(request=request).exists()
    assert Image.objects.filter(pk__in=[m.image_id for m in in_match]).count() == len(in_match)
    demoted = request.matches.filter(band=Match.Band.REVIEW, decision=Match.Decision.PENDING)
    assert set(demoted.values_list("id", flat=True)) == below
    assert AuditEvent.objects.filter(request=request, action="erasure_band_outgrown").exists()
    assert [m.to for m in mailoutbox] == [[django_settings.PRIVACY_OFFICER_EMAIL]]
