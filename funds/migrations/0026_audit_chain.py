"""Chain the case events into the global audit chain (docs/audit.md), refuse TRUNCATE, and
chain every event written before: case events and security events together, in order of
(at, id) over both tables.

Backwards, the chain columns of case events go; the security events keep their links, so a
chain migrated back and forth again no longer verifies (its case events are chained anew at
the end). An audit trail is not meant to be migrated back.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('funds', '0025_idempotency_keys'),
        ('accounts', '0006_audit_chain'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(verbose_name='checked at')),
                ('ok', models.BooleanField(verbose_name='intact')),
                ('checked', models.BigIntegerField(verbose_name='events checked')),
                ('head_seq', models.BigIntegerField(blank=True, null=True, verbose_name='last position')),
                ('head_hash', models.CharField(blank=True, max_length=64, verbose_name='last hash')),
                ('problem', models.TextField(blank=True, verbose_name='first mismatch')),
            ],
            options={
                'verbose_name': 'audit chain check',
                'verbose_name_plural': 'audit chain checks',
                'ordering': ['-at', '-id'],
                'get_latest_by': ['at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='event',
            name='chain_seq',
            field=models.BigIntegerField(db_default=None, editable=False, null=True, unique=True, verbose_name='chain position'),
        ),
        migrations.AddField(
            model_name='event',
            name='hash',
            field=models.CharField(db_default='', editable=False, max_length=64, verbose_name='hash'),
        ),
        migrations.AddField(
            model_name='event',
            name='prev_hash',
            field=models.CharField(db_default='', editable=False, max_length=64, verbose_name='previous hash'),
        ),
    ]


CHAIN = r"""
CREATE OR REPLACE FUNCTION funds_event_chain_content(e funds_event) RETURNS text AS $$
    SELECT jsonb_build_object(
        'table', 'funds_event', 'id', e.id, 'case', e.case_id,
        'instruction', e.instruction_id, 'actor', e.actor_id, 'type', e.type,
        'at', audit_chain_time(e.at), 'data', e.data
    )::text
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION funds_event_chain() RETURNS trigger AS $$
DECLARE
    link record;
BEGIN
    SELECT * INTO link FROM audit_chain_next(funds_event_chain_content(NEW));
    NEW.chain_seq := link.seq;
    NEW.prev_hash := link.prev_hash;
    NEW.hash := link.hash;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER funds_event_chain_begin
    BEFORE INSERT ON funds_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_statement_begin();
CREATE TRIGGER funds_event_chain
    BEFORE INSERT ON funds_event
    FOR EACH ROW EXECUTE FUNCTION funds_event_chain();
CREATE TRIGGER funds_event_chain_end
    AFTER INSERT ON funds_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_statement_end();

-- TRUNCATE is refused too (the function of 0002 names TG_OP).
CREATE TRIGGER funds_event_no_truncate
    BEFORE TRUNCATE ON funds_event
    FOR EACH STATEMENT EXECUTE FUNCTION funds_event_append_only();
"""

UNCHAIN = """
DROP TRIGGER IF EXISTS funds_event_no_truncate ON funds_event;
DROP TRIGGER IF EXISTS funds_event_chain_end ON funds_event;
DROP TRIGGER IF EXISTS funds_event_chain ON funds_event;
DROP TRIGGER IF EXISTS funds_event_chain_begin ON funds_event;
DROP FUNCTION IF EXISTS funds_event_chain();
DROP FUNCTION IF EXISTS funds_event_chain_content(funds_event);
"""

# The events written before, one by one in order of (at, id) over both tables (ties: case
# events first), with the append-only triggers off for the while (the owner runs migrations).
BACKFILL = r"""
ALTER TABLE funds_event DISABLE TRIGGER funds_event_no_update_delete;
ALTER TABLE accounts_securityevent DISABLE TRIGGER accounts_securityevent_no_update_delete;
DO $$
DECLARE
    r record;
    link record;
    head record;
BEGIN
    -- The head once, as an INSERT statement's triggers do (accounts 0006).
    INSERT INTO accounts_auditchainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
        ON CONFLICT (id) DO NOTHING;
    SELECT h.seq, h.hash INTO head FROM accounts_auditchainhead h WHERE h.id = 1 FOR UPDATE;
    PERFORM set_config('casetracker.audit_chain_head', head.seq::text || ' ' || head.hash, true);
    FOR r IN
        SELECT 0 AS kind, e.id, e.at, funds_event_chain_content(e) AS content
            FROM funds_event e WHERE e.chain_seq IS NULL
        UNION ALL
        SELECT 1, s.id, s.at, accounts_securityevent_chain_content(s)
            FROM accounts_securityevent s WHERE s.chain_seq IS NULL
        ORDER BY at, kind, id
    LOOP
        SELECT * INTO link FROM audit_chain_next(r.content);
        IF r.kind = 0 THEN
            UPDATE funds_event SET chain_seq = link.seq, prev_hash = link.prev_hash,
                hash = link.hash WHERE id = r.id;
        ELSE
            UPDATE accounts_securityevent SET chain_seq = link.seq, prev_hash = link.prev_hash,
                hash = link.hash WHERE id = r.id;
        END IF;
    END LOOP;
    UPDATE accounts_auditchainhead h
       SET seq = split_part(current_setting('casetracker.audit_chain_head'), ' ', 1)::bigint,
           hash = split_part(current_setting('casetracker.audit_chain_head'), ' ', 2)
     WHERE h.id = 1;
END;
$$;
ALTER TABLE funds_event ENABLE TRIGGER funds_event_no_update_delete;
ALTER TABLE accounts_securityevent ENABLE TRIGGER accounts_securityevent_no_update_delete;
"""

Migration.operations += [
    migrations.RunSQL(CHAIN, UNCHAIN),
    migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
]
