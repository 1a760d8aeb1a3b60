"""On PostgreSQL, make the audit ledger append-only in the database itself.

A trigger rejects UPDATE, DELETE and TRUNCATE on consent_auditevent, whatever the client. The only
way round it is a superuser's: disabling the trigger, or setting `consentframe.ledger_maintenance`
to 'on' for TRUNCATE, which test databases do so that they can be flushed between tests. Either
leaves the chain to `manage.py verify_ledger` and exported bundles to catch what was done.
SQLite (development) relies on the model and queryset guards.
"""
from django.db import migrations

# One statement per string: the driver may not accept several in one execute.
CREATE = [
    """
CREATE OR REPLACE FUNCTION consent_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('consentframe.ledger_maintenance', true) = 'on'
       AND (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'consent_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events cannot be changed or removed; record a new event instead.';
END;
$$ LANGUAGE plpgsql""",
    """CREATE TRIGGER consent_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON consent_auditevent
       FOR EACH ROW EXECUTE FUNCTION consent_auditevent_append_only()""",
    """CREATE TRIGGER consent_auditevent_no_truncate BEFORE TRUNCATE ON consent_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION consent_auditevent_append_only()""",
]
DROP = [
    "DROP TRIGGER IF EXISTS consent_auditevent_no_truncate ON consent_auditevent",
    "DROP TRIGGER IF EXISTS consent_auditevent_no_update_delete ON consent_auditevent",
    "DROP FUNCTION IF EXISTS consent_auditevent_append_only()",
]


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)  # no %-formatting of the SQL


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)  # no %-formatting of the SQL


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
