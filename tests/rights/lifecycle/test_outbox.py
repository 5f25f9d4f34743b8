"""rights.lifecycle.enqueue: the transactional outbox. With the broker down, following the
confirmation link still answers (no HTTP 500) and the search is sent once the broker is back.

The broker is really unreachable here: the embedded broker pointed at a folder that cannot be
created (under a regular file), or Redis at a port nothing listens on.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portal.celery import app
from rights.lifecycle import enqueue
from rights.models import RequestStatus, TaskOutbox
from rights.requester import requests as svc
from tests.portal.helpers import confirm_path, face_bytes

pytestmark = pytest.mark.django_db


def _pools_reset() -> None:
    # The app keeps its broker connections: a new broker setting needs new ones (kombu keeps the
    # pools per connection, so the original broker's pool is found again, open, on restore).
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker(tmp_path: Path, monkeypatch):
    """Switch the app between a working embedded broker (under tmp_path) and a dead one."""
    # Celery reads CELERY_BROKER_URL from the environment before its own setting.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    queue = tmp_path / "broker" / "queue"
    queue.mkdir(parents=True)
    (tmp_path / "broker" / "control").mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    class Broker:
        folder = queue

        def up(self) -> None:
            app.conf.broker_url = "filesystem://"
            app.conf.broker_transport_options = {
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                "control_folder": str(tmp_path / "broker" / "control"),
                "store_processed": False,
            }
            _pools_reset()

        def down(self, kind: str = "filesystem") -> None:
            if kind == "redis":
                app.conf.broker_url = "redis://127.0.0.1:1/0"
            else:
                app.conf.broker_url = "filesystem://"
                app.conf.broker_transport_options = {
                    **app.conf.broker_transport_options,
                    "data_folder_in": str(blocker / "queue"),
                    "data_folder_out": str(blocker / "queue"),
                }
            _pools_reset()

        def messages(self) -> list[str]:
            names = []
            for path in queue.iterdir():
                body = json.loads(path.read_text())
                names.append(body["headers"]["task"])
            return names

    yield Broker()
    app.conf.broker_url, app.conf.broker_transport_options = saved
    _pools_reset()


def _unconfirmed(mailoutbox) -> tuple[int, str]:
    request = svc.request_submit(kind="access", email="ana@example.org", selfies=[face_bytes()])
    return request.id, confirm_path(mailoutbox[-1])


# transaction=True: the view's own transaction commits, and its on-commit send runs in the view.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outage", ["filesystem", "redis"])
def test_with_the_broker_down_the_confirm_link_answers_and_the_search_goes_out_when_it_is_back(
    client, mailoutbox, broker, outage
):
    broker.up()
    request_id, path = _unconfirmed(mailoutbox)
    broker.down(outage)

    response = client.get(path)

    # Before the fix: HTTP 500 from the on-commit send, and nothing left to send it later.
    assert response.status_code == 302
    public_token = svc.DataRequest.objects.get(id=request_id).public_token
    assert response["Location"] == reverse("public:status", kwargs={"token": public_token})
    row = TaskOutbox.objects.get(name=enqueue.REQUEST_SEARCH, args=[request_id])
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    assert svc.DataRequest.objects.get(id=request_id).status == RequestStatus.QUEUED

    # Still down: the outbox job sends nothing and loses nothing.
    later = timezone.now() + timedelta(seconds=30)
    with time_machine.travel(later, tick=False):
        assert enqueue.outbox_deliver() == 0
    assert TaskOutbox.objects.get(id=row.id).sent_at is None

    broker.up()
    with time_machine.travel(later + timedelta(seconds=30), tick=False):
        assert enqueue.outbox_deliver() == 1  # the job's next run, within a minute
    assert TaskOutbox.objects.get(id=row.id).sent_at is not None
    assert broker.messages() == [enqueue.REQUEST_SEARCH]
    with time_machine.travel(later + timedelta(seconds=60), tick=False):
        assert enqueue.outbox_deliver() == 0  # sent once


def test_with_the_broker_up_the_step_is_sent_on_commit_and_the_job_has_nothing_to_do(
    mailoutbox, broker, django_capture_on_commit_callbacks
):
    broker.up()
    request_id, path = _unconfirmed(mailoutbox)
    token = path.rstrip("/").rsplit("/", 1)[-1]
    with django_capture_on_commit_callbacks(execute=True):
        svc.request_confirm(token=token)

    assert TaskOutbox.objects.get(args=[request_id]).sent_at is not None
    assert broker.messages() == [enqueue.REQUEST_SEARCH]
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False):
        assert enqueue.outbox_deliver() == 0
    assert broker.messages() == [enqueue.REQUEST_SEARCH]


def test_a_change_that_rolls_back_sends_nothing(broker, django_capture_on_commit_callbacks):
    from django.db import transaction

    broker.up()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        enqueue.request_search_enqueue(request_id=123)
        raise RuntimeError("the state change failed")
    assert not TaskOutbox.objects.exists()
    assert broker.messages() == []
