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
3. record who is to be told of each new overdue flag, and escalate to the managers of the
   unit and its parent the overdue flags left open too long.

Flags resolve when their clock is met, in the same transaction as the change that meets
it (funds.services.deadlines.deadlines_meet), so the sweep has nothing to resolve.

Mail goes out afterwards, outside the transaction (funds.services.notifications).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

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
    deliver_flag_mail,
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
CLAIM_DUE = """
    UPDATE funds_deadline SET
        warning_raised_at = CASE WHEN warning_raised_at IS NULL AND warn_at <= %(now)s
                                 THEN %(now)s ELSE warning_raised_at END,
        overdue_raised_at = CASE WHEN overdue_raised_at IS NULL AND due_at <= %(now)s
                                 THEN %(now)s ELSE overdue_raised_at END
    WHERE met_at IS NULL AND (
        (warning_raised_at IS NULL AND warn_at IS NOT NULL AND warn_at <= %(now)s)
        OR (overdue_raised_at IS NULL AND due_at <= %(now)s)
    )
"""
# A clock first seen already past due gets no stale warning: its overdue flag says it all.
INSERT_FLAGS = f"""
    INSERT INTO funds_flag (deadline_id, kind, level, case_id, instruction_id, due_at, raised_at)
    SELECT d.id, {_flag_kind_sql(0)}, 'warning', d.case_id, d.instruction_id, d.due_at, %(now)s
    FROM {{claimed}} d
    WHERE d.warning_raised_at = %(now)s AND d.due_at > %(now)s AND d.kind IN ({WARNING_KINDS})
    UNION ALL
    SELECT d.id, {_flag_kind_sql(1)}, 'overdue', d.case_id, d.instruction_id, d.due_at, %(now)s
    FROM {{claimed}} d
    WHERE d.overdue_raised_at = %(now)s AND d.kind IN ({_kinds_with(1)})
    ON CONFLICT (deadline_id, level) DO NOTHING
"""  # noqa: S608 - the interpolated parts are the constant tables above, not input

# Who hears of a new overdue flag: the officer who asked (or who logged the case), and for
# an answer owed by an institution, its liaisons.
NOTIFY = """
    INSERT INTO funds_notification (flag_id, recipient_id, reason, created_at, mail_error)
    SELECT f.id, COALESCE(i.requested_by_id, c.created_by_id), 'raised', %(now)s, ''
    FROM {flags} f
    JOIN funds_case c ON c.id = f.case_id
    LEFT JOIN funds_instruction i ON i.id = f.instruction_id
    WHERE f.level = 'overdue'
    UNION ALL
    SELECT f.id, u.id, 'raised', %(now)s, ''
    FROM {flags} f
    JOIN funds_instruction i ON i.id = f.instruction_id
    JOIN accounts_user u ON u.organization_id = i.institution_id AND u.role = 'liaison' AND u.is_active
    WHERE f.level = 'overdue' AND f.kind = 'bank_response_overdue'
    ON CONFLICT (flag_id, recipient_id, reason) DO NOTHING
"""

# Overdue flags still open ESCALATE_AFTER after they were raised: the managers of the unit
# and of its parent hear of them, once.
CLAIM_ESCALATIONS = """
    UPDATE funds_flag SET escalated_at = %(now)s
    WHERE level = 'overdue' AND resolved_at IS NULL AND escalated_at IS NULL
      AND raised_at <= %(cutoff)s
"""
ESCALATE = """
    INSERT INTO funds_notification (flag_id, recipient_id, reason, created_at, mail_error)
    SELECT f.id, u.id, 'escalated', %(now)s, ''
    FROM {claimed} f
    JOIN funds_case c ON c.id = f.case_id
    JOIN accounts_organization o ON o.id = c.unit_id
    JOIN accounts_user u ON u.role = 'manager' AND u.is_active
         AND (u.organization_id = o.id OR u.organization_id = o.parent_id)
    ON CONFLICT (flag_id, recipient_id, reason) DO NOTHING
"""


def _execute(sql: str, params: dict[str, datetime]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _claim_then(claim: str, then: str, params: dict[str, datetime]) -> int:
    """Claim rows, then run ``then`` over them (``{claimed}``); answer the rows written."""
    return _execute(
        f"WITH claimed AS ({claim} RETURNING *) {then.format(claimed='claimed')}", params
    )


def sweep_run() -> dict[str, int]:
    """One sweep as of the acting time (funds.acting_time), then the mail it owes, outside any
    transaction; then the heartbeat that the readiness check reads."""
    result = asdict(sweep(acting_time.now()))
    result["mailed"] = deliver_flag_mail()
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
        params = {"now": now, "cutoff": now - rule("ESCALATE_AFTER")}
        result.flags_raised = _claim_then(
            CLAIM_DUE,
            INSERT_FLAGS,
            params,
        )
        # The flags raised in this pass are the open ones raised now (index flag_open).
        new_flags = "(SELECT * FROM funds_flag WHERE resolved_at IS NULL AND raised_at = %(now)s)"
        result.notifications = _execute(NOTIFY.format(flags=new_flags), params)
        escalations = _claim_then(
            CLAIM_ESCALATIONS,
            ESCALATE,
            params,
        )
        result.notifications += escalations
        result.escalated = escalations
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
