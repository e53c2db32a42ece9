"""The deadline sweep: one pass over the open clocks, as of a moment.

Run by Celery beat every DEADLINE_SWEEP_SECONDS (funds.tasks.sweep_deadlines_task) and by
``manage.py sweep_deadlines [--at]``, both through ``sweep_run``. Each step is a set-based
statement, and each is safe to run twice or on two workers at once:

1. lapse the stop-payments (R2) and expire the freezes (R5) whose clocks ran out, in the
   cases this sweep could lock (``SKIP LOCKED``: a case a user is changing right now is left
   for the next pass), with their audit events by the system and the accounts' new stages;
   then let the queued freezes behind the expired ones take effect (R12,
   funds.services.freeze_queue);
2. raise warning and overdue flags (``ON CONFLICT DO NOTHING`` on one flag per clock and
   level), and record who is to be told of each (a warning or overdue), in one statement;
3. escalate the overdue flags left open, one unit with managers at a time up the police
   tree, on the schedule of FUND_RULES["ESCALATION_STEPS"].

The pass works in batches of at most DEADLINE_SWEEP_BATCH cases (step 1) or clocks and flags
(steps 2 and 3, together) per transaction, each committed before the next begins: a crash
loses at most one batch, which the next pass takes again, and no lock is held for longer
than a batch. Each batch is set-based, so a pass costs a fixed number of statements per
batch, and an idle pass one batch of each.

Flags resolve when their clock is met, in the same transaction as the change that meets
it (funds.services.deadlines.deadlines_meet), so the sweep has nothing to resolve.

Whoever has an address is mailed through the outbox, queued in the same transaction as the
notices (batch by batch) and sent by its own task (funds.tasks.deliver_mail), never by the
sweep. After a pass that claimed many clocks, ``sweep_run`` VACUUMs the deadlines
(``sweep_vacuum``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
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
    # The clocks claimed (newly past their warning or due time) and the transactions that
    # changed anything (docs/deadlines.md, "Batches").
    claimed: int = 0
    batches: int = 0


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

# Each batch claims its clocks (compare-and-set on a column that takes them out of the partial
# index it reads), raises their flags and tells who is to be told, in one statement: the
# notices read the flags the statement inserted (RETURNING), not the table again.
#
# The clocks due are found by one plain index scan of each partial index (deadline_to_warn,
# deadline_to_flag_overdue; each branch repeats its index's predicate exactly, and takes at
# most a batch, in the index's order), not by an OR of the two, which the planner answers
# with a BitmapOr. The difference is the idle sweep's cost: a claim leaves its clocks' old
# index entries behind until VACUUM, and a bitmap scan visits every one of them at every pass
# (a million after a burst), while an index scan marks them dead the first time it finds them
# and steps over them afterwards (so that each batch does not re-read the batches before
# it). The outer WHERE repeats the claim's condition, so that a concurrent sweep re-checks it
# on the row it waited for (compare-and-set) rather than only the id; wrapped in IS TRUE (the
# same as WHERE, which takes NULL for false) so that the planner cannot answer it with that
# BitmapOr again.
#
# A clock first seen already past due gets no stale warning: its overdue flag says it all.
#
# Who hears of a new flag: the officer who asked (or who logged the case), and for an answer
# owed by an institution, its liaisons; of a warning as of an overdue flag, for a reason of
# its own, so that each is told once. An approval late is the approvers' business (DOMAIN.md,
# "Escalation"): the managers of the nearest unit of the case's chain at the level that may
# approve the instruction (funds.access.APPROVAL_LEVEL) hear of the new overdue flag too, the
# flag is raised with that unit reached, and its escalation goes on above them.
RAISE_BATCH = f"""
    WITH due AS (
        SELECT deadline_id FROM (
            (SELECT id AS deadline_id FROM funds_deadline
             WHERE met_at IS NULL AND warning_raised_at IS NULL AND warn_at IS NOT NULL
               AND warn_at <= %(now)s
             ORDER BY warn_at LIMIT %(batch)s)
            UNION
            (SELECT id FROM funds_deadline
             WHERE met_at IS NULL AND overdue_raised_at IS NULL AND due_at <= %(now)s
             ORDER BY due_at LIMIT %(batch)s)
        ) either LIMIT %(batch)s
    ), claimed AS (
        UPDATE funds_deadline d SET
            warning_raised_at = CASE WHEN d.warning_raised_at IS NULL AND d.warn_at <= %(now)s
                                     THEN %(now)s ELSE d.warning_raised_at END,
            overdue_raised_at = CASE WHEN d.overdue_raised_at IS NULL AND d.due_at <= %(now)s
                                     THEN %(now)s ELSE d.overdue_raised_at END
        FROM due
        WHERE d.id = due.deadline_id AND d.met_at IS NULL AND (
            (d.warning_raised_at IS NULL AND d.warn_at IS NOT NULL AND d.warn_at <= %(now)s)
            OR (d.overdue_raised_at IS NULL AND d.due_at <= %(now)s)
        ) IS TRUE
        RETURNING d.*
    ), raised AS (
        INSERT INTO funds_flag (deadline_id, kind, level, case_id, instruction_id, due_at,
                                raised_at, escalation_step, next_escalation_at, reached_unit_id)
        SELECT d.id, {_flag_kind_sql(0)}, 'warning', d.case_id, d.instruction_id, d.due_at,
               %(now)s, 0, NULL, NULL
        FROM claimed d
        WHERE d.warning_raised_at = %(now)s AND d.due_at > %(now)s AND d.kind IN ({WARNING_KINDS})
        UNION ALL
        SELECT d.id, {_flag_kind_sql(1)}, 'overdue', d.case_id, d.instruction_id, d.due_at,
               %(now)s, 0, %(now)s + %(first_wait)s,
               CASE WHEN d.kind = 'approval' THEN (
                   SELECT {
    NEAREST_MANAGED.format(
        unit="c.unit_id",
        strict="FALSE",
        depth="CASE i.kind WHEN 'return' THEN 2 ELSE 3 END",
    )
}
                   FROM funds_case c JOIN funds_instruction i ON i.id = d.instruction_id
                   WHERE c.id = d.case_id) END
        FROM claimed d
        WHERE d.overdue_raised_at = %(now)s AND d.kind IN ({_kinds_with(1)})
        ON CONFLICT (deadline_id, level) DO NOTHING
        RETURNING id, kind, level, case_id, instruction_id, reached_unit_id
    ), told AS (
        INSERT INTO funds_notification (flag_id, recipient_id, reason, created_at)
        SELECT f.id, COALESCE(i.requested_by_id, c.created_by_id),
               CASE f.level WHEN 'warning' THEN 'warning' ELSE 'raised' END, %(now)s
        FROM raised f
        JOIN funds_case c ON c.id = f.case_id
        LEFT JOIN funds_instruction i ON i.id = f.instruction_id
        UNION ALL
        SELECT f.id, u.id, CASE f.level WHEN 'warning' THEN 'warning' ELSE 'raised' END, %(now)s
        FROM raised f
        JOIN funds_instruction i ON i.id = f.instruction_id
        JOIN accounts_user u
          ON u.organization_id = i.institution_id AND u.role = 'liaison' AND u.is_active
        WHERE f.kind = 'bank_response_overdue'
        UNION ALL
        SELECT f.id, u.id, 'raised', %(now)s
        FROM raised f
        JOIN accounts_user u
          ON u.organization_id = f.reached_unit_id AND u.role = 'manager' AND u.is_active
        WHERE f.level = 'overdue' AND f.kind = 'approval_overdue'
        ON CONFLICT (flag_id, recipient_id, reason) WHERE flag_id IS NOT NULL DO NOTHING
        RETURNING id
    )
    SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM raised),
           (SELECT count(*) FROM told), (SELECT min(id) FROM told)
"""  # noqa: S608 - the interpolated parts are the constant tables above, not input

# Overdue flags left open whose next escalation step is due (partial index flag_to_escalate):
# claimed by compare-and-set on next_escalation_at (a second sweep, or one on another worker,
# finds it moved on), each told to the managers of the nearest unit above the one reached
# last that has any, with the step recorded on the flag and in the audit trail. The next
# step is due the next wait after this one was due, so a late sweep does not shift the
# schedule; none is due once the province is reached or nobody above is left to tell. A flag
# takes one step a pass: the next batch of the same pass passes over the flags escalated as
# of ``now`` (``escalated_at``), even when their next step is already due too.
ESCALATE = f"""
    WITH due AS (
        SELECT f.id, f.next_escalation_at, f.escalation_step + 1 AS step, {
    NEAREST_MANAGED.format(unit="COALESCE(f.reached_unit_id, c.unit_id)", strict="TRUE", depth="4")
} AS unit_id
        FROM funds_flag f JOIN funds_case c ON c.id = f.case_id
        WHERE f.resolved_at IS NULL AND f.next_escalation_at IS NOT NULL
          AND f.next_escalation_at <= %(now)s AND f.escalated_at IS DISTINCT FROM %(now)s
        ORDER BY f.next_escalation_at LIMIT %(batch)s
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
        RETURNING id, flag_id
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
    SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM events),
           (SELECT count(*) FROM told), (SELECT min(id) FROM told)
"""  # noqa: S608 - the interpolated parts are constant SQL, not input


def sweep_run() -> dict[str, int]:
    """One sweep as of the acting time (funds.acting_time), then the notices of instructions
    whose task was never queued; then the heartbeat that the readiness check reads. The sweep
    sends no mail: it queues it (funds.services.mail, sent by funds.tasks.deliver_mail)."""
    swept = sweep(acting_time.now())
    result = asdict(swept)
    result["institution_notices"] = catch_up_institutions()
    result["queue_notices"] = catch_up_queue_effects()
    heartbeat_record(name=HeartbeatName.SWEEP)
    result["vacuumed"] = int(sweep_vacuum(claimed=swept.claimed))
    return result


def sweep_vacuum(*, claimed: int) -> bool:
    """VACUUM funds_deadline after a pass that claimed DEADLINE_SWEEP_VACUUM_AFTER clocks or
    more; answer whether it did. Each claim leaves its clock's old entries in the partial
    indexes the sweep reads until VACUUM removes them, and the first pass after a burst would
    pay for marking them all dead (0.37 s after a million); autovacuum may come much later.
    VACUUM cannot run in a transaction: inside one (a test, a caller's atomic block) this
    does nothing and autovacuum remains."""
    if claimed < settings.DEADLINE_SWEEP_VACUUM_AFTER or connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) funds_deadline")
    return True


def sweep(now: datetime, *, batch: int | None = None) -> SweepResult:
    """Run one pass of the sweep as of ``now``, in transactions of at most ``batch`` clocks
    (or cases, or flags; DEADLINE_SWEEP_BATCH) each, committed one after the other.

    A failure in a batch rolls back that batch only: the batches before it stay committed,
    and the next pass does the rest, since every step takes what is still due.
    """
    size = batch or settings.DEADLINE_SWEEP_BATCH
    result = SweepResult()
    while True:
        with transaction.atomic():
            cases, lapsed, expired = _apply_lapses(now, size)
        result.lapsed += lapsed
        result.expired += expired
        result.batches += bool(cases)
        # Fewer cases than a batch: none is left but those other transactions hold.
        if cases < size:
            break
    # R12: an expiry ends a freeze without a service to advance its queue; so does anything
    # that failed between ending a freeze and advancing (each account in a transaction).
    result.queued_took_effect = queues_advance_all(now)
    waits = list(rule("ESCALATION_STEPS"))
    params: dict[str, Any] = {"now": now, "first_wait": waits[0], "waits": waits, "batch": size}
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(RAISE_BATCH, params)
            claimed, raised, told, first_notice = _row(cursor)
            cursor.execute(ESCALATE, params)
            climbed, escalated, told_above, first_above = _row(cursor)
            # The mail of this batch's notices, in its transaction: queued exactly when they
            # are (none written, none to queue: an earlier pass as of ``now`` queued its own).
            if told or told_above:
                result.mail_queued += flag_mail_queue(
                    created_at=now, from_id=min(i for i in (first_notice, first_above) if i)
                )
        result.claimed += claimed
        result.flags_raised += raised
        result.notifications += told + told_above
        result.escalated += escalated
        result.batches += bool(claimed or climbed)
        # A batch that took fewer clocks and fewer flags than it could took the last of them.
        if claimed < size and climbed < size:
            break
    return result


def _row(cursor: Any) -> tuple[int, ...]:
    row = cursor.fetchone()
    assert row is not None  # each statement's final SELECT answers one row
    return tuple(row)


def _apply_lapses(now: datetime, batch: int) -> tuple[int, int, int]:
    """Lapse stop-payments and expire freezes whose clocks ran out, in at most ``batch``
    locked cases (the first by id); answer the cases locked, the stop-payments lapsed and the
    freezes expired."""
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
        .values_list("pk", flat=True)[:batch]
    )
    if not locked:
        return 0, 0, 0
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
    return len(locked), len(stops), len(freezes)
