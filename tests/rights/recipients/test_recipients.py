"""Recipients and releases: the services, and releases recorded from the ingest manifest."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from matching.models import Image
from matching.signals import image_ingested
from rights.models import AuditEvent, Recipient, Release
from rights.recipients.recipients import (
    CONTACT_UNKNOWN,
    image_recipients,
    recipient_contact_missing,
    recipient_get_or_create,
    recipient_names_parse,
    releases_record,
)
from rights.signals import ReleasesNotRecorded
from tests.rights.jobs_helpers import local, make_image

pytestmark = pytest.mark.django_db


def test_names_are_split_on_semicolons_trimmed_and_deduplicated():
    assert recipient_names_parse(value=" Acme  Research ; Beta Labs;;acme research; ") == [
        "Acme Research",
        "Beta Labs",
    ]
    assert recipient_names_parse(value="") == []
    assert recipient_names_parse(value=" ; ") == []


def test_get_or_create_matches_names_case_insensitively_and_never_overwrites():
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    found, created = recipient_get_or_create(name="  acme   RESEARCH ", contact_email="other@example.org")
    assert (found.id, created) == (acme.id, False)
    found.refresh_from_db()
    assert found.contact_email == "dpo@acme.example"
    assert not AuditEvent.objects.exists()


def test_a_new_recipient_without_contact_is_flagged_and_audited():
    beta, created = recipient_get_or_create(name="Beta Labs")
    assert created and beta.contact_email == CONTACT_UNKNOWN
    assert recipient_contact_missing(recipient=beta)
    event = AuditEvent.objects.get(action="recipient_created")
    assert event.detail == {"recipient_id": beta.id, "recipient": "Beta Labs", "contact_missing": True}
    gamma, _ = recipient_get_or_create(name="Gamma", contact_email="legal@gamma.example")
    assert not recipient_contact_missing(recipient=gamma)


@pytest.mark.parametrize(
    ("name", "error"), [("", "needs a name"), ("   ", "needs a name"), ("x" * 201, "200")]
)
def test_a_bad_recipient_name_is_refused_and_nothing_is_created(name, error):
    with pytest.raises(ValueError, match=error):
        recipient_get_or_create(name=name)
    assert not Recipient.objects.exists()


def test_releases_are_recorded_once_per_image_and_recipient():
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    one, two = make_image("one"), make_image("two")
    first_day = local(2025, 6, 1, 12)
    created = releases_record(recipient=acme, image_ids=[one.id, two.id, one.id], released_at=first_day)
    assert sorted(r.image_sha256 for r in created) == sorted([one.sha256, two.sha256])
    # Again, later: the first release stands, nothing is added.
    assert releases_record(recipient=acme, image_ids=[one.id], released_at=local(2025, 7, 1, 12)) == []
    assert list(Release.objects.filter(image=one).values_list("released_at", flat=True)) == [first_day]
    assert AuditEvent.objects.filter(action="releases_recorded").count() == 1
    assert releases_record(recipient=acme, image_ids=[], released_at=first_day) == []


def test_releases_of_images_not_in_the_collection_are_refused_whole():
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    one = make_image("one")
    with pytest.raises(ValueError, match=r"image ids \[999999\]"):
        releases_record(recipient=acme, image_ids=[one.id, 999_999], released_at=timezone.now())
    assert not Release.objects.exists()


def test_a_release_outlives_its_image_and_still_names_its_recipients():
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    beta = Recipient.objects.create(name="Beta Labs", contact_email="privacy@beta.example")
    image = make_image("shared")
    for recipient in (beta, acme):
        releases_record(recipient=recipient, image_ids=[image.id], released_at=timezone.now())
    sha256 = image.sha256
    image.delete()
    assert Release.objects.filter(image_sha256=sha256, image__isnull=True).count() == 2
    assert [r.name for r in image_recipients(image_sha256s=[sha256])[sha256]] == [
        "Acme Research",
        "Beta Labs",
    ]


def test_the_receiver_records_releases_from_the_signal(caplog):
    image = make_image("signalled")
    with caplog.at_level(logging.WARNING, logger="rights.signals"):
        image_ingested.send(
            sender=Image, image_id=image.id, extra={"released_to": "New Partner", "released_at": "2025-03-04"}
        )
    release = Release.objects.get(image=image)
    assert release.recipient.name == "New Partner" and release.recipient.contact_email == CONTACT_UNKNOWN
    assert timezone.localtime(release.released_at).replace(tzinfo=None) == datetime(2025, 3, 4)
    assert f"image {image.id} released to recipient {release.recipient_id}" in caplog.text
    # Nothing to record: no column, an empty one.
    image_ingested.send(sender=Image, image_id=make_image("plain").id, extra={})
    image_ingested.send(sender=Image, image_id=make_image("empty").id, extra={"released_to": " "})
    assert Release.objects.count() == 1


def test_the_receiver_raises_a_clear_error_instead_of_losing_the_release(caplog):
    """Before the fix the receiver logged and swallowed the error: the release was lost silently.
    Now it raises (ingestion sends with send_robust and reports it) and records none of the row's
    releases, so the warning is the whole story."""
    with caplog.at_level(logging.ERROR, logger="rights.signals"), pytest.raises(ReleasesNotRecorded):
        image_ingested.send(sender=Image, image_id=424242, extra={"released_to": "Acme"})  # image gone
    assert "image 424242: recording its releases from the manifest failed" in caplog.text
    image = make_image("long-name")
    responses = image_ingested.send_robust(
        sender=Image, image_id=image.id, extra={"released_to": f"Acme; {'x' * 201}"}
    )
    (error,) = [response for _, response in responses if isinstance(response, Exception)]
    assert isinstance(error, ReleasesNotRecorded)
    assert f"image {image.id}: the releases named in released_to were not recorded" in str(error)
    assert "at most 200 characters" in str(error)
    assert not Release.objects.exists() and not Recipient.objects.exists()  # Acme not half-recorded


@pytest.mark.models
@pytest.mark.django_db(transaction=True)
def test_ingest_json_reports_a_release_that_could_not_be_recorded(tmp_path, lfw_identities):
    """A recipient name over 200 characters: the image is stored, and ``ingest --json`` says, for that
    file, that its releases were not recorded (before the fix: nothing said, nothing recorded)."""
    path = sorted(lfw_identities.items())[0][1][0]
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "released_to"])
        writer.writerow([path, "N" * 201])
    out = io.StringIO()
    call_command("ingest", str(path), "--manifest", str(manifest), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["added"] == 1 and summary["warnings"] == 1
    (entry,) = summary["images"]
    assert entry["status"] == "added" and Image.objects.filter(id=entry["image_id"]).exists()
    (warning,) = entry["warnings"]
    assert "the releases named in released_to were not recorded" in warning
    assert "at most 200 characters" in warning
    assert not Release.objects.exists()


@pytest.mark.models
def test_ingest_manifest_released_to_records_releases(
    tmp_path, lfw_identities, django_capture_on_commit_callbacks
):
    """The real path: manage.py ingest with a manifest, real faces, the signal after each commit."""
    acme = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    paths = [paths[0] for _, paths in sorted(lfw_identities.items())[:3]]
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "collected_at", "released_to", "released_at"])
        writer.writerow([paths[0], "2024-01-02", "Acme Research; Beta Labs", "2024-02-01"])
        writer.writerow([paths[1], "2024-01-03", "acme research", ""])
        writer.writerow([paths[2], "2024-01-04", "", ""])

    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest", *map(str, paths), "--manifest", str(manifest), "--json")

    images = {image.sha256: image for image in Image.objects.all()}
    assert len(images) == 3
    by_image = {
        sha256: sorted(Release.objects.filter(image_sha256=sha256).values_list("recipient__name", flat=True))
        for sha256 in images
    }
    assert sorted(by_image.values()) == [[], ["Acme Research"], ["Acme Research", "Beta Labs"]]
    beta = Recipient.objects.get(name="Beta Labs")
    assert recipient_contact_missing(recipient=beta)
    assert Release.objects.get(recipient=beta).released_at == local(2024, 2, 1)
    assert Recipient.objects.count() == 2 and Release.objects.filter(recipient=acme).count() == 2

    # Re-ingesting the same files adds nothing, so no release either.
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest", *map(str, paths), "--manifest", str(manifest), "--json")
    assert Release.objects.count() == 3
