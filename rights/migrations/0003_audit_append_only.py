"""The audit trail is append-only in the database itself, not only by convention in the code.

Triggers refuse every UPDATE and DELETE on rights_auditevent (and TRUNCATE on PostgreSQL), so a
bug, a stray queryset call or someone with the application's credentials cannot rewrite history;
only a role owning the table can take the triggers off (ALTER TABLE ... DISABLE TRIGGER), which is
what the hash chain and the anchors kept outside the database (verify_audit_chain) are there to
catch. Nothing in the application updates or deletes audit rows; a DataRequest with audit rows
cannot be deleted (PROTECT), so no cascade reaches the table either.
"""

from django.db import migrations

TABLE = "rights_auditevent"

POSTGRESQL_FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'rights_auditevent is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    f"""
    CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()
    """,
    f"""
    CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update_delete ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {TABLE}_append_only()",
]

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'rights_auditevent is append-only: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'rights_auditevent is append-only: DELETE refused'); END
    """,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
]

STATEMENTS = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_REVERSE),
    "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE),
}


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forward(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"No append-only triggers for the {vendor} database: add them to this migration")
    _run(schema_editor, STATEMENTS[vendor][0])


def reverse(apps, schema_editor) -> None:
    _run(schema_editor, STATEMENTS.get(schema_editor.connection.vendor, ([], []))[1])


class Migration(migrations.Migration):
    dependencies = [("rights", "0002_staff_roles")]

    operations = [migrations.RunPython(forward, reverse)]
