"""Make the audit trail append-only in PostgreSQL: UPDATE and DELETE are refused.

TRUNCATE is left to the database owner (and to the test runner's flush between tests);
application roles should not be granted it.

SQLite (the embedded demo database) has no such trigger; the model refuses there.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION funds_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'funds_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER funds_event_no_update_delete
    BEFORE UPDATE OR DELETE ON funds_event
    FOR EACH ROW EXECUTE FUNCTION funds_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS funds_event_no_update_delete ON funds_event;
DROP FUNCTION IF EXISTS funds_event_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("funds", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
