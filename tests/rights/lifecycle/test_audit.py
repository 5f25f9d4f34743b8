"""The audit trail: hash-chained, append-only; tampering shows at the row where it happened.

The database itself refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit rows
(rights/migrations/0003_audit_append_only): each tamper test first shows that, then tampers the way
an attacker owning the table would (triggers taken off, raw SQL and queryset updates that bypass
the service) and shows that the chain still names the bad row.
"""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from rights.lifecycle.audit import (
    GENESIS_HASH,
    _event_digest,
    actor_for,
    audit_anchor_write,
    audit_chain_check,
    audit_chain_verify,
    audit_record,
)
from rights.models import AuditEvent
from tests.rights.staff_helpers import PRIVACY_OFFICER, make_request, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail() -> list[AuditEvent]:
    """Six events on two requests, written the way services write them."""
    first, second = make_request(), make_request()
    events = []
    for index in range(6):
        with transaction.atomic():
            events.append(
                audit_record(
                    actor="system" if index % 2 else "staff:alice",
                    action=f"step_{index}",
                    request_id=(first if index < 3 else second).id,
                    from_status="review",
                    to_status="approved",
                    reason=f"reason {index}",
                    detail={"index": index, "nested": {"ok": True}},
                )
            )
    return events


TABLE = AuditEvent._meta.db_table


def _assert_refused(sql: str, params: list) -> None:
    """A plain UPDATE/DELETE with the application's rights is refused by the database itself."""
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


@contextmanager
def _as_table_owner() -> Iterator[None]:
    """Take the append-only triggers off, as only someone owning the table could, and put them back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Run the deferred foreign-key checks of this test's own inserts first: ALTER TABLE
            # refuses a table with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
            try:
                yield
            finally:
                cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
            return
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE]
        )
        triggers = cursor.fetchall()
        assert len(triggers) == 2
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for _, create in triggers:
                cursor.execute(create)


def _run_command(*args: str) -> tuple[int, str]:
    """Run the command in this process: (1, the error) if it fails, else (0, its output)."""
    out = io.StringIO()
    try:
        call_command("verify_audit_chain", *args, stdout=out)
    except CommandError as error:
        return 1, str(error)
    return 0, out.getvalue()


def _database_url() -> str:
    """The test database, for a separate `manage.py` process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _run_manage_py(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": _database_url()}
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit_chain", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_each_row_carries_the_hash_of_the_row_before(trail) -> None:
    assert trail[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(trail):
        assert after.prev_hash == before.hash
    assert len({event.hash for event in trail}) == len(trail)


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_write_outside_a_transaction() -> None:
    # autocommit: the change it records would not be in the same transaction
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor="system", action="orphan")
    assert not AuditEvent.objects.exists()


def test_actor_names_staff_by_username() -> None:
    assert actor_for(staff_user(PRIVACY_OFFICER, username="alice")) == "staff:alice"
    assert actor_for(None) == "system"


def test_untouched_chain_passes(trail) -> None:
    assert audit_chain_verify() is None
    report = audit_chain_check()
    assert (report.rows, report.head_hash, report.intact) == (6, trail[-1].hash, True)
    assert _run_command() == (0, f"Audit chain intact: 6 rows, head {trail[-1].hash}\n")


def test_an_empty_trail_passes() -> None:
    assert _run_command() == (0, f"Audit chain intact: 0 rows, head {GENESIS_HASH}\n")


def test_the_database_refuses_to_change_or_remove_audit_rows(trail) -> None:
    # Whatever the code path (raw SQL, queryset, model), the row stays as written.
    _assert_refused(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["nothing to see here", trail[2].id])
    _assert_refused(f"DELETE FROM {TABLE} WHERE id = %s", [trail[3].id])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(id=trail[2].id).update(reason="nothing to see here")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(id=trail[0].id).delete()
    event = AuditEvent.objects.get(id=trail[1].id)
    event.reason = "edited through the model"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    assert list(AuditEvent.objects.order_by("id").values_list("id", "reason", "hash")) == [
        (e.id, e.reason, e.hash) for e in trail
    ]
    assert audit_chain_verify() is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_truncate_the_trail(trail) -> None:
    # Committed rows (a TRUNCATE in the rows' own transaction would fail for another reason).
    # The test's teardown then empties the table: conftest's flush takes the triggers off for it.
    _assert_refused(f"TRUNCATE {TABLE}", [])
    assert AuditEvent.objects.count() == 6


def test_a_changed_row_fails_at_that_row(trail) -> None:
    _assert_refused(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["nothing to see here", trail[2].id])
    with _as_table_owner():
        AuditEvent.objects.filter(id=trail[2].id).update(reason="nothing to see here")
    broken = audit_chain_verify()
    assert broken is not None
    assert broken.event_id == trail[2].id
    assert "changed" in broken.problem
    code, message = _run_command()
    assert code == 1
    assert message.startswith(f"Audit chain broken at row {trail[2].id}: its content does not match its hash")


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "staff:mallory"), ("action", "step_x"), ("to_status", "refused"), ("detail", {"index": 99})],
)
def test_any_changed_column_fails_at_that_row(trail, column, value) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(id=trail[4].id).update(**{column: value})
    with _as_table_owner():
        AuditEvent.objects.filter(id=trail[4].id).update(**{column: value})
    assert audit_chain_verify().event_id == trail[4].id


def test_a_changed_timestamp_fails_at_that_row(trail) -> None:
    sql, params = (
        f"UPDATE {TABLE} SET created_at = %s WHERE id = %s",
        [trail[1].created_at.replace(year=2020), trail[1].id],
    )
    _assert_refused(sql, params)
    with _as_table_owner(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert audit_chain_verify().event_id == trail[1].id


def test_a_changed_row_with_a_recomputed_hash_fails_at_the_next_row(trail) -> None:
    # A careful attacker recomputes the changed row's own hash: the next row no longer follows it.
    event = AuditEvent.objects.get(id=trail[2].id)
    event.reason = "rewritten"
    new_hash = _event_digest(prev_hash=event.prev_hash, event=event)
    with _as_table_owner():
        AuditEvent.objects.filter(id=event.id).update(reason="rewritten", hash=new_hash)
    broken = audit_chain_verify()
    assert broken.event_id == trail[3].id
    assert "removed or reordered" in broken.problem


def test_a_deleted_row_fails_at_the_row_that_followed_it(trail) -> None:
    _assert_refused(f"DELETE FROM {TABLE} WHERE id = %s", [trail[3].id])
    with _as_table_owner(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [trail[3].id])
    broken = audit_chain_verify()
    assert broken.event_id == trail[4].id
    assert "removed or reordered" in broken.problem
    code, message = _run_command()
    assert code == 1
    assert message.startswith(f"Audit chain broken at row {trail[4].id}: does not follow the row before it")


def test_a_deleted_first_row_fails_at_the_new_first_row(trail) -> None:
    with _as_table_owner():
        AuditEvent.objects.filter(id=trail[0].id).delete()
    assert audit_chain_verify().event_id == trail[1].id


def test_reordered_rows_fail_at_the_first_moved_row(trail) -> None:
    a, b = trail[2].id, trail[3].id
    _assert_refused(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [-1, a])
    with _as_table_owner(), connection.cursor() as cursor:  # swap the two rows' positions in the trail
        cursor.execute(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [-1, a])
        cursor.execute(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [a, b])
        cursor.execute(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [b, -1])
    assert AuditEvent.objects.get(id=a).action == "step_3"
    broken = audit_chain_verify()
    assert broken.event_id == a
    assert "removed or reordered" in broken.problem
    code, message = _run_command()
    assert code == 1
    assert message.startswith(f"Audit chain broken at row {a}:")


def test_rows_cut_off_the_end_are_caught_by_the_anchor(trail) -> None:
    anchor = audit_chain_check().head_hash
    with _as_table_owner():
        AuditEvent.objects.filter(id__in=[trail[4].id, trail[5].id]).delete()
    # The chain alone cannot show a cut end; the anchor kept outside the database does.
    assert audit_chain_verify() is None
    assert _run_command()[0] == 0
    code, message = _run_command("--anchor", anchor)
    assert code == 1
    assert f"anchor {anchor} is not in the trail" in message


def test_an_anchor_from_an_earlier_run_passes_after_more_rows(trail) -> None:
    anchor = audit_chain_check().head_hash
    with transaction.atomic():
        audit_record(actor="system", action="later")
    call_command("verify_audit_chain", "--anchor", anchor)  # raises CommandError if it fails
    assert audit_chain_check(anchor=anchor).intact


@pytest.mark.django_db(transaction=True)
def test_manage_py_exit_code_is_zero_when_intact_and_one_naming_the_row_when_not() -> None:
    request = make_request()
    events = []
    for index in range(3):
        with transaction.atomic():
            events.append(audit_record(actor="system", action=f"step_{index}", request_id=request.id))
    intact = _run_manage_py()
    assert intact.returncode == 0, intact.stderr
    assert f"Audit chain intact: 3 rows, head {events[-1].hash}" in intact.stdout

    with _as_table_owner():
        AuditEvent.objects.filter(id=events[1].id).update(reason="edited")
    broken = _run_manage_py()
    assert broken.returncode == 1
    assert f"Audit chain broken at row {events[1].id}: its content does not match its hash" in broken.stderr


# --- Anchors appended to a file outside the database -------------------------------------------


def test_anchored_then_intact_passes(trail, tmp_path) -> None:
    path = tmp_path / "anchors.log"
    first = audit_anchor_write(path=path)
    with transaction.atomic():
        later = audit_record(actor="system", action="later")
    second = audit_anchor_write(path=path)
    assert (first.event_id, first.hash, second.event_id, second.hash) == (
        trail[-1].id,
        trail[-1].hash,
        later.id,
        later.hash,
    )
    code, output = _run_command("--anchor-file", str(path))
    assert code == 0
    assert output.splitlines() == [
        f"All 2 anchors in {path} are in the trail",
        f"Audit chain intact: 7 rows, head {later.hash}",
    ]


def test_rows_cut_off_after_an_anchor_fail_naming_that_anchor(trail, tmp_path) -> None:
    path = tmp_path / "anchors.log"
    # An hour ago the head was row 3; now it is row 6.
    path.write_text(f"2026-01-01T00:00:00+00:00 {trail[2].id} {trail[2].hash}\n")
    cut = audit_anchor_write(path=path)
    _assert_refused(f"DELETE FROM {TABLE} WHERE id >= %s", [trail[4].id])
    with _as_table_owner():
        AuditEvent.objects.filter(id__gte=trail[4].id).delete()
    # What is left is a valid chain: only the anchor shows the cut.
    assert audit_chain_verify() is None
    code, message = _run_command("--anchor-file", str(path))
    assert code == 1
    assert message.startswith(
        f"Audit chain anchor at line 2 of {path} ({cut.written_at} {trail[5].id} {trail[5].hash})"
    )
    assert "(1 of 2 anchors missing)" in message


def test_a_rewritten_and_rehashed_history_fails_at_the_anchor(trail, tmp_path) -> None:
    path = tmp_path / "anchors.log"
    audit_anchor_write(path=path)
    # An owner rewrites row 5 and re-hashes it and every row after it: the chain verifies again.
    with _as_table_owner():
        prev_hash = trail[3].hash
        for original in trail[4:]:
            event = AuditEvent.objects.get(id=original.id)
            event.prev_hash = prev_hash
            if event.id == trail[4].id:
                event.reason = "rewritten"
            event.hash = _event_digest(prev_hash=prev_hash, event=event)
            AuditEvent.objects.filter(id=event.id).update(
                reason=event.reason, prev_hash=event.prev_hash, hash=event.hash
            )
            prev_hash = event.hash
    assert audit_chain_verify() is None
    code, message = _run_command("--anchor-file", str(path))
    assert code == 1
    assert f"line 1 of {path}" in message and trail[5].hash in message


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "cannot read the anchor file"),
        ("2026-01-01T00:00:00+00:00 12\n", "line 1 of"),
        ("2026-01-01T00:00:00+00:00 twelve " + "a" * 64 + "\n", "line 1 of"),
    ],
)
def test_a_missing_or_garbled_anchor_file_is_a_clear_error(trail, tmp_path, content, error) -> None:
    # Bad input gets a named error and exit 1, never a pass.
    path = tmp_path / "anchors.log"
    if content is not None:
        path.write_text(content)
    code, message = _run_command("--anchor-file", str(path))
    assert code == 1
    assert error in message
