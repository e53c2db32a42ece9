"""The global audit chain: its head, the chain columns of security events, their insert
trigger, the refusal of TRUNCATE, and the new types of security events (docs/audit.md).

Existing security events are chained by funds 0026, together with the case events, in order
of (at, id) over both tables."""

import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_security_events_of_second_factors'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.SmallIntegerField(primary_key=True, serialize=False)),
                ('seq', models.BigIntegerField()),
                ('hash', models.CharField(max_length=64)),
            ],
            options={
                'verbose_name': 'audit chain head',
                'verbose_name_plural': 'audit chain head',
            },
        ),
        migrations.AddField(
            model_name='securityevent',
            name='chain_seq',
            field=models.BigIntegerField(db_default=None, editable=False, null=True, unique=True, verbose_name='chain position'),
        ),
        migrations.AddField(
            model_name='securityevent',
            name='data',
            field=models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name='data'),
        ),
        migrations.AddField(
            model_name='securityevent',
            name='hash',
            field=models.CharField(db_default='', editable=False, max_length=64, verbose_name='hash'),
        ),
        migrations.AddField(
            model_name='securityevent',
            name='prev_hash',
            field=models.CharField(db_default='', editable=False, max_length=64, verbose_name='previous hash'),
        ),
        migrations.AlterField(
            model_name='securityevent',
            name='type',
            field=models.CharField(choices=[('api_key_issued', 'API key issued'), ('api_key_first_used', 'API key used for the first time'), ('api_key_revoked', 'API key revoked'), ('mfa_enrolled', 'Second factor enrolled'), ('mfa_recovery_codes_generated', 'Recovery codes generated'), ('mfa_recovery_code_used', 'Recovery code used'), ('mfa_reset', 'Second factor reset by an administrator'), ('signed_in', 'Signed in'), ('sign_in_failed', 'Sign-in failed'), ('locked_out', 'Locked out after failed sign-ins'), ('token_issued', 'API token issued'), ('token_revoked', 'API token revoked'), ('user_created', 'User created'), ('user_changed', 'User changed'), ('organization_created', 'Organisation created'), ('organization_changed', 'Organisation changed')], max_length=40, verbose_name='type'),
        ),
    ]


# The global audit chain (docs/audit.md). Every INSERT statement into a chained table (funds
# 0026 adds funds_event) first locks the one-row head (a statement trigger), so that
# transactions chain one after another and never onto the same predecessor, and keeps it in
# a transaction-local setting; each row then takes the next link from that setting
# (audit_chain_next: position, previous hash, and SHA-256 over "prev_hash \n position \n
# content", where content is the row's canonical text: jsonb's text form, sorted keys, fixed
# spacing, times as UTC text whatever the session's time zone); the statement's end writes
# the head back once. So a bulk insert costs one head update, not one per row (the row
# versions of a head updated per row pile up in one transaction: quadratic). The statement
# triggers run as their owner (SECURITY DEFINER): the application's role needs no right on
# the head (docs/operations.md), and since a trigger function cannot be called directly,
# nothing but an INSERT moves the head. The setting is always set afresh by the statement's
# first trigger, so a value the session set itself is never chained onto. A head missing (a
# flush emptied it) is made again at position 0 with the genesis hash.
CHAIN = r"""
CREATE OR REPLACE FUNCTION audit_chain_statement_begin() RETURNS trigger AS $$
DECLARE
    head record;
BEGIN
    SELECT h.seq, h.hash INTO head FROM accounts_auditchainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO accounts_auditchainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.seq, h.hash INTO head FROM accounts_auditchainhead h WHERE h.id = 1 FOR UPDATE;
    END IF;
    PERFORM set_config('casetracker.audit_chain_head', head.seq::text || ' ' || head.hash, true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;

CREATE OR REPLACE FUNCTION audit_chain_statement_end() RETURNS trigger AS $$
DECLARE
    head text := current_setting('casetracker.audit_chain_head');
BEGIN
    UPDATE accounts_auditchainhead h
       SET seq = split_part(head, ' ', 1)::bigint, hash = split_part(head, ' ', 2)
     WHERE h.id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;

-- A SECURITY DEFINER function must not find the caller's objects first: only the schema of
-- the tables, then pg_temp last (by default pg_temp, the session's own, comes first).
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_chain_statement_begin() SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION audit_chain_statement_end() SET search_path = %I, pg_temp',
                   current_schema());
END;
$$;

CREATE OR REPLACE FUNCTION audit_chain_next(content text, OUT seq bigint, OUT prev_hash text,
                                            OUT hash text) AS $$
DECLARE
    head text := current_setting('casetracker.audit_chain_head');
BEGIN
    seq := split_part(head, ' ', 1)::bigint + 1;
    prev_hash := split_part(head, ' ', 2);
    hash := encode(sha256(convert_to(prev_hash || E'\n' || seq::text || E'\n' || content,
                                     'UTF8')), 'hex');
    PERFORM set_config('casetracker.audit_chain_head', seq::text || ' ' || hash, true);
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_chain_time(moment timestamptz) RETURNS text AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION accounts_securityevent_chain_content(e accounts_securityevent)
    RETURNS text AS $$
    SELECT jsonb_build_object(
        'table', 'accounts_securityevent', 'id', e.id, 'type', e.type,
        'at', audit_chain_time(e.at), 'actor', e.actor_id, 'api_key', e.api_key_id,
        'user', e.user_id, 'ip_address', host(e.ip_address), 'data', e.data
    )::text
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION accounts_securityevent_chain() RETURNS trigger AS $$
DECLARE
    link record;
BEGIN
    SELECT * INTO link FROM audit_chain_next(accounts_securityevent_chain_content(NEW));
    NEW.chain_seq := link.seq;
    NEW.prev_hash := link.prev_hash;
    NEW.hash := link.hash;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER accounts_securityevent_chain_begin
    BEFORE INSERT ON accounts_securityevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_statement_begin();
CREATE TRIGGER accounts_securityevent_chain
    BEFORE INSERT ON accounts_securityevent
    FOR EACH ROW EXECUTE FUNCTION accounts_securityevent_chain();
CREATE TRIGGER accounts_securityevent_chain_end
    AFTER INSERT ON accounts_securityevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_statement_end();

-- TRUNCATE is refused too (the function of 0003 names TG_OP).
CREATE TRIGGER accounts_securityevent_no_truncate
    BEFORE TRUNCATE ON accounts_securityevent
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_securityevent_append_only();
"""

UNCHAIN = """
DROP TRIGGER IF EXISTS accounts_securityevent_no_truncate ON accounts_securityevent;
DROP TRIGGER IF EXISTS accounts_securityevent_chain_end ON accounts_securityevent;
DROP TRIGGER IF EXISTS accounts_securityevent_chain ON accounts_securityevent;
DROP TRIGGER IF EXISTS accounts_securityevent_chain_begin ON accounts_securityevent;
DROP FUNCTION IF EXISTS accounts_securityevent_chain();
DROP FUNCTION IF EXISTS accounts_securityevent_chain_content(accounts_securityevent);
DROP FUNCTION IF EXISTS audit_chain_time(timestamptz);
DROP FUNCTION IF EXISTS audit_chain_next(text);
DROP FUNCTION IF EXISTS audit_chain_statement_end();
DROP FUNCTION IF EXISTS audit_chain_statement_begin();
"""

Migration.operations.append(migrations.RunSQL(CHAIN, UNCHAIN))
