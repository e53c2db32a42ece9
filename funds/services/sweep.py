"""The deadline sweep: one pass over the open clocks, as of a moment.

Run by Celery beat every DEADLINE_SWEEP_SECONDS (funds.tasks.sweep_deadlines_task) and by
``manage.py sweep_deadlines [--at]``, both through ``sweep_run``. Each step is a set-based statement whose cost does
not depend on how many rows are due, and each is safe to run twice or on two workers at
once:

1. lapse the stop-payments (R2) and expire the freezes (R5) whose clocks ran out, in the
   cases this sweep could lock (``SKIP LOCKED``: a case a user is changing right now is left
   for the next pass), with their audit events by the system and the accounts' new stages;
   then let the queued freezes behind the expired ones take effect (R12,
   funds.services.freeze_queue);
2. raise warning and overdue flags (``ON CONFLICT DO NOTHING`` on one flag per clock and
   level);
3. record who is to be told of each new flag (a warning or overdue), and escalate the
   overdue flags left open, one unit with managers at a time up the police tree, on the
   schedule of FUND_RULES["ESCALATION_STEPS"].

Flags resolve when their clock is met, in the same transaction as the change that meets
it (funds.services.deadlines.deadlines_meet), so the sweep has nothing to resolve.

Whoever has an address is mailed through the outbox, queued in the same transaction as the
notices and sent by its own task (funds.tasks.deliver_mail), never by the sweep.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from funds import acting_time
from funds.durations import rule
from funds.models import (
    Case,
    Deadline,
    DeadlineKind,
    EndReason,
    EventType,
    HeartbeatName,
    Instruction,
)
from funds.models.deadlines import FLAG_FOR
from funds.services.audit import new_event, record_events
from funds.services.freeze_queue import queues_advance_all
from funds.services.heartbeats import heartbeat_record
from funds.services.notifications import (
    catch_up_institutions,
    catch_up_queue_effects,
    flag_mail_queue,
)
from funds.services.stages import refresh_stages


@dataclass
class SweepResult:
    lapsed: int = 0
    expired: int = 0
    flags_raised: int = 0
    notifications: int = 0
    escalated: int = 0
    queued_took_effect: int = 0
    mail_queued: int = 0


def _flag_kind_sql(level_index: int) -> str:
    cases = " ".join(
        f"WHEN '{deadline}' THEN '{flags[level_index]}'"
        for deadline, flags in FLAG_FOR.items()
        if flags[level_index]
    )
    return f"CASE d.kind {cases} END"


def _kinds_with(level_index: int) -> str:
    return ", ".join(f"'{deadline}'" for deadline, flags in FLAG_FOR.items() if flags[level_index])


WARNING_KINDS = _kinds_with(0)

# Each step claims its rows (compare-and-set on a column that takes them out of the partial
# index the step reads), then writes what the claim calls for, in one statement.
#
# The clocks due are found by one plain index scan of each partial index (deadline_to_warn,
# deadline_to_flag_overdue; each branch repeats its index's predicate exactly), not by an OR
# of the two, which the planner answers with a BitmapOr. The difference is the idle sweep's
# cost: a claim leaves its clocks' old index entries behind until VACUUM, and a bitmap scan
# visits every one of them at every pass (a million after a burst), while an index scan marks
# them dead the first time it finds them and steps over them afterwards. The outer WHERE
# repeats the claim's condition, so that a concurrent sweep re-checks it on the row it waited
# for (compare-and-set) rather than only the id; wrapped in IS TRUE (the same as WHERE, which
# takes NULL for false) so that the planner cannot answer it with that BitmapOr again.
CLAIM_DUE = """
    UPDATE funds_deadline d SET
        warning_raised_at = CASE WHEN d.warning_raised_at IS NULL AND d.warn_at <= %(now)s
                                 THEN %(now)s ELSE d.warning_raised_at END,
        overdue_raised_at = CASE WHEN d.overdue_raised_at IS NULL AND d.due_at <= %(now)s
                                 THEN %(now)s ELSE d.overdue_raised_at END
    FROM (
        SELECT id AS deadline_id FROM funds_deadline
        WHERE met_at IS NULL AND warning_raised_at IS NULL AND warn_at IS NOT NULL
          AND warn_at <= %(now)s
        UNION
        SELECT id FROM funds_deadline
        WHERE met_at IS NULL AND overdue_raised_at IS NULL AND due_at <= %(now)s
    ) due
    WHERE d.id = due.deadline_id AND d.met_at IS NULL AND (
        (d.warning_raised_at IS NULL AND d.warn_at IS NOT NULL AND d.warn_at <= %(now)s)
        OR (d.overdue_raised_at IS NULL AND d.due_at <= %(now)s)
    ) IS TRUE
"""
# A clock first seen already past due gets no stale warning: its overdue flag says it all.
INSERT_FLAGS = f"""
    INSERT INTO funds_flag (deadline_id, kind, level, case_id, instruction_id, due_at, raised_at,
                            escalation_step, next_escalation_at)
    SELECT d.id, {_flag_kind_sql(0)}, 'warning', d.case_id, d.instruction_id, d.due_at, %(now)s,
           0, NULL
    FROM {{claimed}} d
    WHERE d.warning_raised_at = %(now)s AND d.due_at > %(now)s AND d.kind IN ({WARNING_KINDS})
    UNION ALL
    SELECT d.id, {_flag_kind_sql(1)}, 'overdue', d.case_id, d.instruction_id, d.due_at, %(now)s,
           0, %(now)s + %(first_wait)s
    FROM {{claimed}} d
    WHERE d.overdue_raised_at = %(now)s AND d.kind IN ({_kinds_with(1)})
    ON CONFLICT (deadline_id, level) DO NOTHING
"""  # noqa: S608 - the interpolated parts are the constant tables above, not input

# Who hears of a new flag: the officer who asked (or who logged the case), and for an answer
# owed by an institution, its liaisons; of a warning as of an overdue flag, for a reason of
# its own, so that each is told once.
NOTIFY = """
    INSERT INTO funds_notification (flag_id, recipient_id, reason, created_at)
    SELECT f.id, COALESCE(i.requested_by_id, c.created_by_id),
           CASE f.level WHEN 'warning' THEN 'warning' ELSE 'raised' END, %(now)s
    FROM {flags} f
    JOIN funds_case c ON c.id = f.case_id
    LEFT JOIN funds_instruction i ON i.id = f.instruction_id
    UNION ALL
    SELECT f.id, u.id, CASE f.level WHEN 'warning' THEN 'warning' ELSE 'raised' END, %(now)s
    FROM {flags} f
    JOIN funds_instruction i ON i.id = f.instruction_id
    JOIN accounts_user u ON u.organization_id = i.institution_id AND u.role = 'liaison' AND u.is_active
    WHERE f.kind = 'bank_response_overdue'
    ON CONFLICT (flag_id, recipient_id, reason) WHERE flag_id IS NOT NULL DO NOTHING
"""

# The nearest unit at or above ``{unit}`` (a column holding a unit's id) with an active
# manager, among those at depth ``{depth}`` or higher (1 is the province), excluding
# ``{unit}`` itself when ``{strict}``: one look-up on the ancestors named by the unit's
# materialised path, whatever the tree's size.
NEAREST_MANAGED = """(
    SELECT a.id FROM accounts_organization o
    JOIN accounts_organization a ON o.path LIKE a.path || '%%' AND ({strict} IS FALSE OR a.id <> o.id)
    WHERE o.id = {unit} AND a.kind = 'police'
      AND (CASE a.level WHEN 'province' THEN 1 WHEN 'city' THEN 2 WHEN 'county' THEN 3 ELSE 4 END)
          <= {depth}
      AND EXISTS (SELECT 1 FROM accounts_user m
                  WHERE m.organization_id = a.id AND m.role = 'manager' AND m.is_active)
    ORDER BY length(a.path) DESC LIMIT 1
)"""

# An approval late is the approvers' business (DOMAIN.md, "Escalation"): the managers of the
# nearest unit of the case's chain at the level that may approve the instruction
# (funds.access.APPROVAL_LEVEL) hear of the new overdue flag too, and its escalation goes on
# above them.
NOTIFY_APPROVERS = f"""
    WITH approvers AS (
        SELECT f.id AS flag_id, {
    NEAREST_MANAGED.format(
        unit="c.unit_id",
        strict="FALSE",
        depth="CASE i.kind WHEN 'return' THEN 2 ELSE 3 END",
    )
} AS unit_id
        FROM {{flags}} f
        JOIN funds_case c ON c.id = f.case_id
        JOIN funds_instruction i ON i.id = f.instruction_id
        WHERE f.level = 'overdue' AND f.kind = 'approval_overdue'
    ), reached AS (
        UPDATE funds_flag f SET reached_unit_id = a.unit_id
        FROM approvers a WHERE f.id = a.flag_id AND a.unit_id IS NOT NULL
    )
    INSERT INTO funds_notification (flag_id, recipient_id, reason, created_at)
    SELECT a.flag_id, u.id, 'raised', %(now)s
    FROM approvers a
    JOIN accounts_user u ON u.organization_id = a.unit_id AND u.role = 'manager' AND u.is_active
    ON CONFLICT (flag_id, recipient_id, reason) WHERE flag_id IS NOT NULL DO NOTHING
"""  # noqa: S608 - the interpolated parts are constant SQL, not input

# Overdue flags left open whose next escalation step is due (partial index flag_to_escalate):
# claimed by compare-and-set on next_escalation_at (a second sweep, or one on another worker,
# finds it moved on), each told to the managers of the nearest unit above the one reached
# last that has any, with the step recorded on the flag and in the audit trail. The next
# step is due the next wait after this one was due, so a late sweep does not shift the
# schedule; none is due once the province is reached or nobody above is left to tell.
ESCALATE = f"""
    WITH due AS (
        SELECT f.id, f.next_escalation_at, f.escalation_step + 1 AS step, {
    NEAREST_MANAGED.format(unit="COALESCE(f.reached_unit_id, c.unit_id)", strict="TRUE", depth="4")
} AS unit_id
        FROM funds_flag f JOIN funds_case c ON c.id = f.case_id
        WHERE f.resolved_at IS NULL AND f.next_escalation_at IS NOT NULL
          AND f.next_escalation_at <= %(now)s
    ), claimed AS (
        UPDATE funds_flag f SET
            escalation_step = CASE WHEN d.unit_id IS NULL THEN f.escalation_step ELSE d.step END,
            escalated_at = CASE WHEN d.unit_id IS NULL THEN f.escalated_at ELSE %(now)s END,
            reached_unit_id = COALESCE(d.unit_id, f.reached_unit_id),
            next_escalation_at = CASE WHEN d.unit_id IS NULL OR u.level = 'province' THEN NULL
                ELSE d.next_escalation_at
                     + (%(waits)s::interval[])[LEAST(d.step + 1, cardinality(%(waits)s::interval[]))]
                END
        FROM due d LEFT JOIN accounts_organization u ON u.id = d.unit_id
        WHERE f.id = d.id AND f.resolved_at IS NULL AND f.next_escalation_at = d.next_escalation_at
        RETURNING f.id, f.case_id, f.instruction_id, f.kind, d.step, d.unit_id
    ), told AS (
        INSERT INTO funds_notification (flag_id, recipient_id, reason, created_at)
        SELECT c.id, m.id, 'escalated', %(now)s
        FROM claimed c
        JOIN accounts_user m ON m.organization_id = c.unit_id AND m.role = 'manager' AND m.is_active
        ON CONFLICT (flag_id, recipient_id, reason) WHERE flag_id IS NOT NULL DO NOTHING
        RETURNING flag_id
    ), steps AS (
        INSERT INTO funds_flagescalation (flag_id, step, unit_id, at)
        SELECT c.id, c.step, c.unit_id, %(now)s FROM claimed c WHERE c.unit_id IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING flag_id, step, unit_id
    ), events AS (
        INSERT INTO funds_event (case_id, instruction_id, actor_id, type, at, data)
        SELECT c.case_id, c.instruction_id, NULL, 'flag_escalated', %(now)s, jsonb_build_object(
            'flag', c.id, 'kind', c.kind, 'step', s.step, 'unit', u.code, 'unit_name', u.name,
            'told', (SELECT count(*) FROM told t WHERE t.flag_id = c.id))
        FROM steps s
        JOIN claimed c ON c.id = s.flag_id
        JOIN accounts_organization u ON u.id = s.unit_id
        RETURNING id
    )
    SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM told)
"""  # noqa: S608 - the interpolated parts are constant SQL, not input


def _execute(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _claim_then(claim: str, then: str, params: dict[str, Any]) -> int:
    """Claim rows, then run ``then`` over them (``{claimed}``); answer the rows written."""
    return _execute(
        f"WITH claimed AS ({claim} RETURNING *) {then.format(claimed='claimed')}", params
    )


def sweep_run() -> dict[str, int]:
    """One sweep as of the acting time (funds.acting_time), then the notices of instructions
    whose task was never queued; then the heartbeat that the readiness check reads. The sweep
    sends no mail: it queues it (funds.services.mail, sent by funds.tasks.deliver_mail)."""
    result = asdict(sweep(acting_time.now()))
    result["institution_notices"] = catch_up_institutions()
    result["queue_notices"] = catch_up_queue_effects()
    heartbeat_record(name=HeartbeatName.SWEEP)
    return result


def sweep(now: datetime) -> SweepResult:
    """Run one pass of the sweep as of ``now``."""
    result = SweepResult()
    with transaction.atomic():
        result.lapsed, result.expired = _apply_lapses(now)
    # R12: an expiry ends a freeze without a service to advance its queue; so does anything
    # that failed between ending a freeze and advancing (each account in a transaction).
    result.queued_took_effect = queues_advance_all(now)
    with transaction.atomic():
        waits = list(rule("ESCALATION_STEPS"))
        params: dict[str, Any] = {"now": now, "first_wait": waits[0], "waits": waits}
        result.flags_raised = _claim_then(
            CLAIM_DUE,
            INSERT_FLAGS,
            params,
        )
        # The flags raised in this pass are the open ones raised now (index flag_open). None
        # raised, nobody is to be told: the open flags raised now, if any, are those of an
        # earlier pass as of the same moment (``sweep_deadlines --at`` twice, the benchmark),
        # told in that pass's transaction; reading them again would re-read and re-join all
        # of them, and rewrite the approval flags, for notices that all conflict.
        if result.flags_raised:
            new_flags = (
                "(SELECT * FROM funds_flag WHERE resolved_at IS NULL AND raised_at = %(now)s)"
            )
            result.notifications = _execute(NOTIFY.format(flags=new_flags), params)
            result.notifications += _execute(NOTIFY_APPROVERS.format(flags=new_flags), params)
        with connection.cursor() as cursor:
            cursor.execute(ESCALATE, params)
            row = cursor.fetchone()
        assert row is not None  # the statement's final SELECT answers one row
        result.escalated, told = row
        result.notifications += told
        # The mail of this pass's notices, in its transaction: queued exactly when they are
        # (none written, none to queue: an earlier pass as of ``now`` queued its own).
        if result.notifications:
            result.mail_queued = flag_mail_queue(created_at=now)
    return result


def _apply_lapses(now: datetime) -> tuple[int, int]:
    """Lapse stop-payments and expire freezes whose clocks ran out, case by locked case."""
    due = Deadline.objects.filter(
        kind__in=[DeadlineKind.STOP_LAPSE, DeadlineKind.FREEZE_EXPIRY],
        met_at__isnull=True,
        lapsed_at__isnull=True,
        due_at__lte=now,
    )
    # Lock the cases first, as every service does; skip those a user holds right now.
    locked = list(
        Case.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(pk__in=due.values("case_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not locked:
        return 0, 0
    rows = list(
        due.filter(case_id__in=locked).values_list(
            "pk", "kind", "case_id", "instruction_id", "due_at"
        )
    )
    stops = [r for r in rows if r[1] == DeadlineKind.STOP_LAPSE]
    freezes = [r for r in rows if r[1] == DeadlineKind.FREEZE_EXPIRY]
    # Compare-and-set: only holds still in force end here.
    Instruction.objects.filter(pk__in=[r[3] for r in stops], ended_at__isnull=True).update(
        ended_at=F("effective_until"), end_reason=EndReason.LAPSED
    )
    Instruction.objects.filter(pk__in=[r[3] for r in freezes], ended_at__isnull=True).update(
        ended_at=F("effective_until"), end_reason=EndReason.EXPIRED
    )
    Deadline.objects.filter(pk__in=[r[0] for r in rows]).update(lapsed_at=now)
    record_events(
        new_event(
            case_id=case_id,
            instruction_id=instruction_id,
            actor=None,
            type=EventType.STOP_LAPSED
            if kind == DeadlineKind.STOP_LAPSE
            else EventType.FREEZE_EXPIRED,
            at=now,
            effective_until=due_at.isoformat(),
        )
        for _pk, kind, case_id, instruction_id, due_at in rows
    )
    # The same function as every service decides the new stages (funds.services.stages).
    refresh_stages(
        list(
            Instruction.objects.filter(pk__in=[r[3] for r in rows]).values_list(
                "involved_account_id", flat=True
            )
        ),
        now,
    )
    return len(stops), len(freezes)
