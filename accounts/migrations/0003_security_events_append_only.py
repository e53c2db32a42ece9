"""PostgreSQL refuses UPDATE and DELETE on accounts_securityevent, as on funds' audit events."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION accounts_securityevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'accounts_securityevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_securityevent_no_update_delete
    BEFORE UPDATE OR DELETE ON accounts_securityevent
    FOR EACH ROW EXECUTE FUNCTION accounts_securityevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_securityevent_no_update_delete ON accounts_securityevent;
DROP FUNCTION IF EXISTS accounts_securityevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_api_tokens_and_bank_keys")]

    operations = [migrations.RunSQL(CREATE, DROP)]
