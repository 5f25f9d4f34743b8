"""/health/ (portal.health): 200 when the database, broker, storage, index and beat all work,
503 naming the failing part otherwise; never a path, host or driver message in the answer."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone
from kombu import Connection

from portal.celery import app
from rights.models import JobCursor
from rights.upkeep.deadlines import SWEEP_CURSOR, deadlines_sweep

pytestmark = pytest.mark.django_db


def health(client: Client) -> tuple[int, dict]:
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def test_everything_working_answers_200(client: Client) -> None:
    deadlines_sweep()
    status, body = health(client)
    assert status == 200, body
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "broker", "storage", "index", "beat"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["broker"]["queue_depth"] >= 0
    assert 0 <= body["checks"]["beat"]["last_sweep_age_s"] < 60


def test_the_sweep_records_when_it_ran() -> None:
    assert not JobCursor.objects.filter(name=SWEEP_CURSOR).exists()
    deadlines_sweep()
    first = JobCursor.objects.get(name=SWEEP_CURSOR).updated_at
    with time_machine.travel(timezone.now() + timedelta(hours=3)):
        deadlines_sweep()
    assert JobCursor.objects.get(name=SWEEP_CURSOR).updated_at - first > timedelta(hours=2)
    assert JobCursor.objects.filter(name=SWEEP_CURSOR).count() == 1


def test_beat_is_down_when_the_daily_sweep_is_too_old(client: Client, settings) -> None:
    settings.HEALTH_SWEEP_MAX_AGE_HOURS = 26
    deadlines_sweep()
    with time_machine.travel(timezone.now() + timedelta(hours=20)):
        assert health(client)[0] == 200
    with time_machine.travel(timezone.now() + timedelta(hours=30)):
        status, body = health(client)
    assert status == 503 and body["ok"] is False
    assert body["checks"]["beat"] == {
        "ok": False,
        "error": "last deadline sweep 30 h ago",
        "ms": body["checks"]["beat"]["ms"],
    }
    assert all(body["checks"][name]["ok"] for name in ("database", "broker", "storage", "index"))


def test_a_new_portal_has_a_day_before_its_first_sweep(client: Client) -> None:
    # Never swept: alive while the portal is younger than the limit (its first migration), then down.
    assert health(client)[1]["checks"]["beat"] == {
        "ok": True,
        "last_sweep_age_s": None,
        "ms": pytest.approx(0, abs=5000),
    }
    MigrationRecorder.Migration.objects.update(applied=timezone.now() - timedelta(days=3))
    status, body = health(client)
    assert status == 503
    assert body["checks"]["beat"]["error"] == "no deadline sweep recorded"


def test_unreachable_broker_is_named_and_the_rest_still_checked(client: Client, monkeypatch) -> None:
    deadlines_sweep()
    # A real connection attempt to a port nothing listens on.
    monkeypatch.setattr(app, "connection_for_read", lambda: Connection("redis://127.0.0.1:9/0"))
    status, body = health(client)
    assert status == 503
    assert body["checks"]["broker"]["ok"] is False
    assert "127.0.0.1" not in json.dumps(body)
    assert all(body["checks"][name]["ok"] for name in ("database", "storage", "index", "beat"))


def test_storage_and_index_that_cannot_be_written_fail(client: Client, settings, tmp_path: Path) -> None:
    deadlines_sweep()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = blocker / "media"
    settings.INDEX_DIR = blocker / "index"
    status, body = health(client)
    assert status == 503
    assert body["checks"]["storage"] == {
        "ok": False,
        "error": "NotADirectoryError",
        "ms": body["checks"]["storage"]["ms"],
    }
    assert body["checks"]["index"]["ok"] is False
    assert str(tmp_path) not in json.dumps(body)  # no path in a public answer


def test_database_failure_gives_the_error_type_only(client: Client, monkeypatch) -> None:
    # Isolates the database check: the driver's message names the host, the answer must not.
    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "db.internal" (10.0.0.5) failed')

    monkeypatch.setattr(connection, "cursor", refuse)
    from portal.health import health_report

    report = health_report()
    assert report["ok"] is False
    assert report["checks"]["database"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": report["checks"]["database"]["ms"],
    }
    assert "db.internal" not in json.dumps(report)


def test_health_is_get_only_and_exempt_from_the_https_redirect(client: Client, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    deadlines_sweep()
    assert client.get("/health/").status_code == 200  # the containers' healthcheck speaks plain HTTP
    assert client.get("/").status_code == 301  # everything else goes to https
    assert client.post("/health/").status_code == 405
