"""/metrics (portal.metrics): Prometheus figures for staff or the METRICS_TOKEN bearer only,
read from the database and the broker at scrape time."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.utils import timezone

from portal.celery import app
from portal.metrics import metrics_view
from rights.lifecycle.transitions import request_transition
from rights.models import Recipient, RecipientNotice, RequestKind, RequestStatus
from tests.rights.jobs_helpers import make_request

pytestmark = pytest.mark.django_db

TOKEN = "scraper-token-" + "x" * 30


def scrape(client: Client, **headers: str):
    return client.get("/metrics", headers=headers)


def value(text: str, name: str, **labels: str) -> float:
    """The sample of ``name`` with exactly these labels."""
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + label_text + '}') if labels else ''} (\S+)$"
    found = re.findall(pattern, text, flags=re.M)
    assert len(found) == 1, f"{name} {labels} not in:\n{text}"
    return float(found[0])


def test_metrics_are_not_public(client: Client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    # Each caller that is not allowed gets 403 and a sentence saying what is needed, no figures.
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = scrape(client, **headers)
        assert response.status_code == 403
        assert b"facerights_" not in response.content and b"METRICS_TOKEN" in response.content
    assert scrape(client, Authorization=f"Bearer {TOKEN}").status_code == 200
    # A logged-in user: staff get the figures, others the same 403. (The view itself, with the user
    # the session middleware would set: no login round trip through the lockout's signals.)
    for user, status in (
        (User.objects.create_user("someone", password="a long test password 1"), 403),
        (User.objects.create_user("staffer", password="a long test password 1", is_staff=True), 200),
        (
            User.objects.create_user(
                "gone", password="a long test password 1", is_staff=True, is_active=False
            ),
            403,
        ),
    ):
        request = RequestFactory().get("/metrics")
        request.user = user
        assert metrics_view(request).status_code == status, user.username


def test_no_token_configured_means_staff_only(client: Client, settings) -> None:
    settings.METRICS_TOKEN = ""
    assert scrape(client, Authorization="Bearer ").status_code == 403


def test_request_figures(client: Client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    now = timezone.now()
    make_request(status=RequestStatus.REVIEW)
    make_request(status=RequestStatus.REVIEW, kind=RequestKind.ACCESS)
    make_request(status=RequestStatus.HELD)
    # Overdue: confirmed, open, received two months ago (due one month after receipt).
    make_request(status=RequestStatus.REVIEW, received_at=now - timedelta(days=62))
    # Not overdue: unconfirmed ones are not requests staff can act on yet; closed ones are done.
    make_request(status=RequestStatus.UNCONFIRMED, received_at=now - timedelta(days=62))
    make_request(status=RequestStatus.ANSWERED, received_at=now - timedelta(days=62))
    recipient = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    for sent_days_ago, acknowledged in ((3, False), (1, False), (10, True)):
        RecipientNotice.objects.create(
            request=make_request(status=RequestStatus.ANSWERED),
            recipient=recipient,
            sent_at=now - timedelta(days=sent_days_ago),
            acknowledged_at=now if acknowledged else None,
        )
    text = scrape(client, Authorization=f"Bearer {TOKEN}").content.decode()
    assert value(text, "facerights_requests", kind="erasure", status="review") == 2
    assert value(text, "facerights_requests", kind="access", status="review") == 1
    assert value(text, "facerights_requests", kind="objection", status="answered") == 0  # every pair shown
    assert value(text, "facerights_requests_overdue") == 1
    assert value(text, "facerights_requests_held") == 1
    age = value(text, "facerights_oldest_unacknowledged_notice_age_seconds")
    assert 3 * 86400 - 60 < age < 3 * 86400 + 600
    assert value(text, "facerights_broker_up") == 1


def test_queue_depth_counts_waiting_tasks(client: Client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    queue = f"metrics-{uuid.uuid4().hex[:12]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    try:
        for _ in range(3):
            app.send_task("rights.jobs.requests_recover_job", queue=queue)
        text = scrape(client, Authorization=f"Bearer {TOKEN}").content.decode()
        assert value(text, "facerights_queue_depth") == 3
    finally:
        with app.connection_for_write() as connection, connection.channel() as channel:
            channel.queue_purge(queue)


def _move(request_id: int, to_status: str, from_status: str, action: str) -> None:
    assert request_transition(
        request_id=request_id, from_statuses=[from_status], to_status=to_status, actor="system", action=action
    )


def test_search_and_erasure_durations(client: Client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    start = timezone.now() - timedelta(hours=2)
    searched = make_request(status=RequestStatus.QUEUED)
    erased = make_request(status=RequestStatus.APPROVED)
    with time_machine.travel(start, tick=False) as clock:
        _move(searched.id, RequestStatus.SEARCHING, RequestStatus.QUEUED, "search_started")
        _move(erased.id, RequestStatus.FULFILLING, RequestStatus.APPROVED, "fulfilment_started")
        clock.shift(timedelta(seconds=90))
        _move(searched.id, RequestStatus.REVIEW, RequestStatus.SEARCHING, "search_done")
        clock.shift(timedelta(seconds=210))
        _move(erased.id, RequestStatus.ANSWERED, RequestStatus.FULFILLING, "answered")
    text = scrape(client, Authorization=f"Bearer {TOKEN}").content.decode()
    assert value(text, "facerights_search_duration_seconds_sample") == 1
    assert 89 <= value(text, "facerights_search_duration_seconds", quantile="1.0") <= 91
    assert value(text, "facerights_erasure_duration_seconds_sample") == 1
    assert 299 <= value(text, "facerights_erasure_duration_seconds", quantile="0.5") <= 301


def test_durations_read_only_the_recent_audit_rows(client: Client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    old = make_request(status=RequestStatus.QUEUED)
    _move(old.id, RequestStatus.SEARCHING, RequestStatus.QUEUED, "search_started")
    _move(old.id, RequestStatus.REVIEW, RequestStatus.SEARCHING, "search_done")
    settings.METRICS_RECENT_EVENTS = 1  # the newest row only: the search's end without its start
    text = scrape(client, Authorization=f"Bearer {TOKEN}").content.decode()
    assert value(text, "facerights_search_duration_seconds_sample") == 0
    settings.METRICS_RECENT_EVENTS = 2
    text = scrape(client, Authorization=f"Bearer {TOKEN}").content.decode()
    assert value(text, "facerights_search_duration_seconds_sample") == 1


def test_metrics_is_exempt_from_the_https_redirect(client: Client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.SECURE_SSL_REDIRECT = True
    assert scrape(client, Authorization=f"Bearer {TOKEN}").status_code == 200
