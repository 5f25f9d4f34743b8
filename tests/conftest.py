"""Fixtures shared by the whole suite.

Test data comes from ../shared (faces and models); it is never copied into the repository.
A missing ../shared is an error, not a skip: the suite must prove the real pipeline.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings

SHARED_DIR = Path(settings.BASE_DIR).parent / "shared"
FACES_DIR = SHARED_DIR / "faces"
LFW_DIR = FACES_DIR / "lfw-dev"
GROUP_PHOTO = FACES_DIR / "samples" / "group_6_faces.jpg"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (LFW_DIR / "manifest.csv").is_file():
        raise pytest.UsageError(
            f"Test faces not found at {LFW_DIR}: the suite needs ../shared beside the checkout."
        )


@pytest.fixture(autouse=True)
def _isolated_var_dirs(settings, tmp_path: Path) -> None:
    """Every test writes media, the index and mail under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INDEX_DIR = tmp_path / "index"
    settings.MAIL_DIR = tmp_path / "mail"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    # The abuse limits count in the cache (portal.limits): every test starts with its own counters.
    import uuid

    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": uuid.uuid4().hex}}
    settings.LIMITS_LOCK_FILE = tmp_path / "limits.lock"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture(autouse=True)
def _no_language_left_behind():
    """A request through the test client leaves its language active in the thread (the middleware
    activates the staff member's or the browser's, nothing deactivates it): without this, a test
    after a Japanese admin page would read the services' messages, and write reports, in Japanese."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def _audit_trail_flushable():
    """Let the teardown of transactional tests empty the append-only audit table.

    rights/migrations/0003_audit_append_only refuses UPDATE, DELETE and TRUNCATE on
    rights_auditevent, so Django's flush after a ``transaction=True`` / live_server / worker test
    would fail. The flush is the one place allowed to clear it, and it does so the way only a table
    owner could: the triggers are taken off and put back inside the flush's own transaction
    (PostgreSQL: DISABLE/ENABLE TRIGGER USER; SQLite has no disable, so drop and re-create them
    from their stored SQL), so no test ever runs without them.
    """
    from django.db import connection

    table = "rights_auditevent"
    ops_class = type(connection.ops)
    original = ops_class.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        sql = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if table not in tables or not sql:
            return sql
        if self.connection.vendor == "postgresql":
            return [
                f"ALTER TABLE {table} DISABLE TRIGGER USER",
                *sql,
                f"ALTER TABLE {table} ENABLE TRIGGER USER",
            ]
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
            triggers = cursor.fetchall()
        return [
            *(f'DROP TRIGGER "{name}"' for name, _ in triggers),
            *sql,
            *(create for _, create in triggers),
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ops_class, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session")
def lfw_identities() -> dict[str, list[Path]]:
    """identity -> image paths (sorted), from lfw-dev/manifest.csv."""
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with open(LFW_DIR / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_identity[row["identity"]].append(LFW_DIR / row["path"])
    return {identity: sorted(paths) for identity, paths in by_identity.items()}


# --- A real Celery worker --------------------------------------------------------------------


class CeleryWorkerProcess:
    """A running ``celery -A portal worker`` subprocess bound to the test database and folders.

    ``queue``: the dedicated queue it consumes; while the fixture is active the Celery app's
    default queue is this one, so ``task.delay(...)`` and ``transaction.on_commit(...)`` enqueues
    reach it without naming it. ``log``: the worker's combined output so far (for failure messages).
    """

    def __init__(self, process, queue: str, log_path: Path, env: dict[str, str]) -> None:
        self.process = process
        self.queue = queue
        self.log_path = log_path
        self.env = env

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, predicate, *, timeout: float = 120.0, interval: float = 0.2, what: str = "the worker"):
        """Poll ``predicate()`` until it returns something truthy; fail with the worker's log otherwise."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.process.poll() is not None:
                code = self.process.returncode
                pytest.fail(f"Celery worker exited ({code}) waiting for {what}:\n{self.log[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"Gave up waiting for {what}:\n{self.log[-4000:]}")
            time.sleep(interval)


def _test_database_url() -> str:
    """A DATABASE_URL for the database the tests are using right now (the test database)."""
    from urllib.parse import quote

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
        credentials = f"{user}{password}@" if user else ""
        host = db.get("HOST") or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}{host}{port}/{db['NAME']}"
    raise NotImplementedError(f"no worker DATABASE_URL for {db['ENGINE']}")


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path: Path):
    """Start a real Celery worker (``--pool=solo``) against the test database, yield it, stop it.

    The worker gets the environment of the tests plus the test DATABASE_URL, the broker the
    settings give (Redis, or the embedded ``filesystem://`` one), and this test's MEDIA_ROOT and
    INDEX_DIR. It consumes a fresh queue (purged before use), which is also made the default
    queue meanwhile, so it never takes another run's or a developer's messages. It needs
    ``transactional_db`` (it requests it): the worker only sees committed rows.

        def test_something(celery_worker_process):
            some_task.delay(obj.pk)
            celery_worker_process.wait_for(lambda: reload(obj).done, what="the task")
    """
    import os
    import subprocess
    import sys
    import uuid

    from portal.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"  # no dots: the filesystem transport splits on them
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "INDEX_DIR": str(settings.INDEX_DIR),
            "MAIL_DIR": str(settings.MAIL_DIR),
            "PYTHONUNBUFFERED": "1",
        }
    )
    with app.connection_for_write() as connection, connection.channel() as channel:
        channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        channel.queue_purge(queue)
    log_path = tmp_path / "celery-worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO",
        "-Q", queue, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    previous_default_queue = app.conf.task_default_queue
    with open(log_path, "wb") as log_handle:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=log_handle, stderr=subprocess.STDOUT
        )
    worker = CeleryWorkerProcess(process, queue, log_path, env)
    try:
        worker.wait_for(lambda: " ready." in worker.log, timeout=120, what="the worker to start")
        app.conf.task_default_queue = queue
        yield worker
    finally:
        app.conf.task_default_queue = previous_default_queue
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with app.connection_for_write() as connection, connection.channel() as channel:
            channel.queue_purge(queue)
