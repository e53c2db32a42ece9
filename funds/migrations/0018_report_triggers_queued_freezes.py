"""R12 in the reports: queued freezes, and frozen money counted once the bank confirms it.

Replaces the functions of the triggers of migration funds 0005 (the triggers stay, and call
their functions by name) and of funds_report_replay(). What changed from 0005:

* a freeze counts as ``frozen`` (and its remainder as ``held``) from the day the bank
  confirmed what it holds (``hold_confirmed_at``), not from its first answer: a queued
  freeze's first answer only registers it in line (funds.services.freeze_queue);
* a new figure, ``queued``: freezes asked for that day that are still waiting behind another
  case's, counted with the amount they wait for (what the bank registered, or else what
  was asked) until the bank confirms their hold or they end;
* the update trigger also sees changes of ``queued``, ``hold_confirmed_at`` and
  ``ended_at``.

This file is a frozen copy of 0005's builders with those changes (a migration must keep
producing the SQL it produced when it was written); funds.reports.figures documents the
figures as they are now. The totals already folded are rebuilt by the next refresh.
"""

from importlib import import_module

from django.db import migrations

ZONE = "Asia/Shanghai"
FIGURES = [
    "cases",
    "loss",
    "stop_requested_count",
    "stop_requested_amount",
    "stopped_count",
    "stopped_amount",
    "frozen_count",
    "frozen_amount",
    "released_count",
    "released_amount",
    "returned_count",
    "returned_amount",
    "held",
    "queued_count",
    "queued_amount",
    "overdue_flags",
    "overdue_open",
]
EXECUTED = {
    "stop_payment": "stopped",
    "freeze": "frozen",
    "release": "released",
    "return": "returned",
}
ANSWERED = "('executed', 'rejected')"


def case_of(alias):
    """The case of row ``alias``, looked up by its primary key once per row.

    Lookups are LATERAL subqueries behind OFFSET 0 rather than joins: transition tables have
    no statistics, and a join the planner misjudges can turn a bulk load quadratic; an index
    probe per row never does.
    """
    return (
        "CROSS JOIN LATERAL (SELECT id, unit_id, reported_at FROM funds_case "
        f"WHERE id = {alias}.case_id OFFSET 0) c"
    )


def day(moment):
    return f"(({moment}) AT TIME ZONE '{ZONE}')::date"


def seconds(end, start):
    return f"greatest(0, floor(extract(epoch FROM {end} - {start})))::bigint"


def select(day_sql, unit, institution, source, **values):
    columns = [
        f"{day_sql} AS day",
        f"{unit} AS unit_id",
        f"({institution})::bigint AS institution_id",
    ]
    columns += [f"({values.get(name, '0')})::numeric AS {name}" for name in FIGURES]
    return f"SELECT {', '.join(columns)} FROM {source}"


def instruction_figures(rows, sign):
    """Stop-payments asked for (by request day, not cancelled); executed amounts (by answer
    day; a freeze by the day the bank confirmed its hold) and what those freezes still hold;
    queued freezes still waiting (by request day)."""
    executed = {}
    for kind, figure in EXECUTED.items():
        executed[f"{figure}_count"] = f"{sign} * (r.kind = '{kind}')::int"
        executed[f"{figure}_amount"] = (
            f"{sign} * CASE WHEN r.kind = '{kind}' THEN r.executed_amount ELSE 0 END"
        )
    executed["held"] = (
        f"{sign} * CASE WHEN r.kind = 'freeze' "
        "THEN r.executed_amount - r.released_amount - r.returned_amount ELSE 0 END"
    )
    return [
        select(
            day("r.requested_at"),
            "c.unit_id",
            "r.institution_id",
            f"{rows} r {case_of('r')} WHERE r.kind = 'stop_payment' AND r.status <> 'cancelled'",
            stop_requested_count=f"{sign}",
            stop_requested_amount=f"{sign} * r.requested_amount",
        ),
        select(
            day("CASE WHEN r.kind = 'freeze' THEN r.hold_confirmed_at ELSE r.responded_at END"),
            "c.unit_id",
            "r.institution_id",
            f"{rows} r {case_of('r')} "
            "WHERE r.status = 'executed' AND r.executed_amount > 0 "
            "AND r.kind IN ('stop_payment', 'freeze', 'release', 'return') "
            "AND (r.kind <> 'freeze' OR r.hold_confirmed_at IS NOT NULL)",
            **executed,
        ),
        select(
            day("r.requested_at"),
            "c.unit_id",
            "r.institution_id",
            f"{rows} r {case_of('r')} WHERE {WAITING}",
            queued_count=f"{sign}",
            queued_amount=f"{sign} * coalesce(r.executed_amount, r.requested_amount)",
        ),
    ]


# A queued freeze still in line: the same test as Instruction.waiting_in_queue.
WAITING = (
    "r.kind = 'freeze' AND r.queued AND r.hold_confirmed_at IS NULL AND r.ended_at IS NULL "
    "AND (r.status IN ('awaiting_approval', 'pending') "
    "OR r.status = 'executed' AND r.executed_amount > 0)"
)


def institution_cases(pairs, sign, condition="TRUE"):
    """The cases an institution was asked about, counted on the case's report day, once per
    case and institution: ``pairs`` yields (case_id, institution_id) rows."""
    return select(
        day("c.reported_at"),
        "c.unit_id",
        "p.institution_id",
        f"{pairs} p {case_of('p')} WHERE {condition}",
        cases=f"{sign}",
    )


def case_figures(rows, sign):
    # A new case has no victims yet and a case is deleted after its victims, so the loss
    # moves only with the victims.
    return select(day("r.reported_at"), "r.unit_id", "NULL", f"{rows} r", cases=f"{sign}")


def victim_figures(rows, sign):
    return select(
        day("c.reported_at"),
        "c.unit_id",
        "NULL",
        f"{rows} r {case_of('r')}",
        loss=f"{sign} * r.loss_amount",
    )


def flag_figures(rows, sign):
    """Overdue flags by the day raised; a bank's late answer counts against the bank."""
    return select(
        day("r.raised_at"),
        "c.unit_id",
        "CASE WHEN r.kind = 'bank_response_overdue' THEN i.institution_id END",
        f"{rows} r {case_of('r')} "
        "LEFT JOIN LATERAL (SELECT institution_id FROM funds_instruction "
        "WHERE id = r.instruction_id OFFSET 0) i ON true WHERE r.level = 'overdue'",
        overdue_flags=f"{sign}",
        overdue_open=f"{sign} * (r.resolved_at IS NULL)::int",
    )


def write_changes(parts):
    union = " UNION ALL ".join(f"({part})" for part in parts)
    sums = ", ".join(f"sum({name})" for name in FIGURES)
    nonzero = " OR ".join(f"sum({name}) <> 0" for name in FIGURES)
    return (
        f"INSERT INTO funds_totalschange (day, unit_id, institution_id, {', '.join(FIGURES)}) "
        f"SELECT day, unit_id, institution_id, {sums} FROM ({union}) x "
        f"GROUP BY day, unit_id, institution_id HAVING {nonzero}"
    )


SAMPLE_COLUMNS = "measure, subject_id, case_id, unit_id, institution_id, started_at, day, seconds"


def first_stop_samples(rows):
    """R13: from the report to the case's first stop-payment request (any outcome)."""
    return (
        f"INSERT INTO funds_speedsample ({SAMPLE_COLUMNS}) "
        f"SELECT 'first_stop', c.id, c.id, c.unit_id, NULL, c.reported_at, {day('c.reported_at')}, "
        f"{seconds('f.first_at', 'c.reported_at')} "
        f"FROM (SELECT case_id, min(requested_at) AS first_at FROM {rows} "
        f"WHERE kind = 'stop_payment' GROUP BY case_id) f {case_of('f')} "
        "ON CONFLICT (measure, subject_id) DO UPDATE SET seconds = excluded.seconds "
        "WHERE excluded.seconds < funds_speedsample.seconds"
    )


def answer_samples(answered):
    """Intervals that end when an institution answers: the answer itself (from the request
    for a stop-payment, from approval for the rest), stop to freeze, freeze to return."""
    first_stop = (
        "SELECT min(x.responded_at) AS first_at FROM funds_instruction x "
        "WHERE x.involved_id = a.involved_id AND x.kind = 'stop_payment' "
        "AND x.status = 'executed' AND x.executed_amount > 0 AND x.responded_at <= a.responded_at"
    )
    # The first executed one of its kind on the account (or the freeze): a scalar subquery,
    # so that it is always an index probe per row, whatever the statistics say mid-load.
    first = (
        "a.id = (SELECT y.id FROM funds_instruction y WHERE y.{link} = a.{link} "
        "AND y.kind = a.kind AND y.status = 'executed' AND y.executed_amount > 0 "
        "ORDER BY y.responded_at, y.id LIMIT 1)"
    )
    return (
        f"INSERT INTO funds_speedsample ({SAMPLE_COLUMNS}) "
        "SELECT CASE a.kind WHEN 'stop_payment' THEN 'stop_answer' "
        "WHEN 'freeze' THEN 'freeze_answer' ELSE 'return_answer' END, "
        f"a.id, a.case_id, c.unit_id, a.institution_id, s.sent_at, {day('s.sent_at')}, "
        f"{seconds('a.responded_at', 's.sent_at')} "
        f"FROM {answered} a {case_of('a')} "
        "CROSS JOIN LATERAL (SELECT CASE WHEN a.kind = 'stop_payment' THEN a.requested_at "
        "ELSE a.approved_at END AS sent_at) s "
        "WHERE a.kind IN ('stop_payment', 'freeze', 'return') AND s.sent_at IS NOT NULL "
        "UNION ALL "
        "SELECT 'stop_to_freeze', a.involved_id, a.case_id, c.unit_id, a.institution_id, "
        f"st.first_at, {day('st.first_at')}, {seconds('a.responded_at', 'st.first_at')} "
        f"FROM {answered} a {case_of('a')} "
        f"JOIN LATERAL ({first_stop}) st ON st.first_at IS NOT NULL "
        "WHERE a.kind = 'freeze' AND a.status = 'executed' AND a.executed_amount > 0 "
        f"AND {first.format(link='involved_id')} "
        "UNION ALL "
        "SELECT 'freeze_to_return', a.freeze_id, a.case_id, c.unit_id, a.institution_id, "
        f"f.responded_at, {day('f.responded_at')}, {seconds('a.responded_at', 'f.responded_at')} "
        f"FROM {answered} a {case_of('a')} "
        "CROSS JOIN LATERAL (SELECT responded_at FROM funds_instruction "
        "WHERE id = a.freeze_id OFFSET 0) f "
        "WHERE a.kind = 'return' AND a.status = 'executed' AND a.executed_amount > 0 "
        "AND f.responded_at IS NOT NULL "
        f"AND {first.format(link='freeze_id')} "
        "ON CONFLICT (measure, subject_id) DO NOTHING"
    )


def changed(columns):
    """The new and old versions of the rows whose ``columns`` changed in an update."""
    new = ", ".join(f"n.{c}" for c in columns)
    old = ", ".join(f"o.{c}" for c in columns)
    condition = f"({new}) IS DISTINCT FROM ({old})"
    join = "new_rows n JOIN old_rows o ON o.id = n.id"
    return (
        f"(SELECT n.* FROM {join} WHERE {condition})",
        f"(SELECT o.* FROM {join} WHERE {condition})",
    )


INSTRUCTION_COLUMNS = [
    "case_id",
    "institution_id",
    "kind",
    "status",
    "requested_amount",
    "executed_amount",
    "requested_at",
    "responded_at",
    "released_amount",
    "returned_amount",
    "queued",
    "hold_confirmed_at",
    "ended_at",
]
instruction_new, instruction_old = changed(INSTRUCTION_COLUMNS)
victim_new, victim_old = changed(["case_id", "loss_amount"])
flag_new, flag_old = changed(
    ["case_id", "instruction_id", "kind", "level", "raised_at", "resolved_at"]
)
NEWLY_ANSWERED = (
    "(SELECT n.* FROM new_rows n JOIN old_rows o ON o.id = n.id "
    f"WHERE o.status NOT IN {ANSWERED} AND n.status IN {ANSWERED})"
)

# (table, operation, transition tables, body statements)
TRIGGERS = [
    (
        "funds_instruction",
        "INSERT",
        "NEW TABLE AS new_rows",
        [
            write_changes(
                [
                    *instruction_figures("new_rows", 1),
                    # Cases newly asked about: every instruction of the pair is in this statement.
                    institution_cases(
                        "(SELECT case_id, institution_id, count(*) AS n FROM new_rows "
                        "GROUP BY case_id, institution_id)",
                        1,
                        "p.n = (SELECT count(*) FROM funds_instruction x WHERE "
                        "x.case_id = p.case_id AND x.institution_id = p.institution_id)",
                    ),
                ]
            ),
            first_stop_samples("new_rows"),
            answer_samples(f"(SELECT * FROM new_rows WHERE status IN {ANSWERED})"),
        ],
    ),
    (
        "funds_instruction",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [
            write_changes(
                [
                    *instruction_figures(instruction_new, 1),
                    *instruction_figures(instruction_old, -1),
                ]
            ),
            answer_samples(NEWLY_ANSWERED),
        ],
    ),
    (
        "funds_instruction",
        "DELETE",
        "OLD TABLE AS old_rows",
        [
            write_changes(
                [
                    *instruction_figures("old_rows", -1),
                    institution_cases(
                        "(SELECT DISTINCT case_id, institution_id FROM old_rows)",
                        -1,
                        "NOT EXISTS (SELECT 1 FROM funds_instruction x WHERE "
                        "x.case_id = p.case_id AND x.institution_id = p.institution_id)",
                    ),
                ]
            ),
        ],
    ),
    (
        "funds_case",
        "INSERT",
        "NEW TABLE AS new_rows",
        [write_changes([case_figures("new_rows", 1)])],
    ),
    (
        "funds_case",
        "DELETE",
        "OLD TABLE AS old_rows",
        [
            write_changes([case_figures("old_rows", -1)]),
            "DELETE FROM funds_speedsample WHERE case_id IN (SELECT id FROM old_rows)",
        ],
    ),
    # No service moves a case to another unit or report time; if anything does, every figure
    # of the case moves with it, so the next refresh rebuilds instead.
    (
        "funds_case",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [
            "UPDATE funds_reportsummarystate SET stale = true WHERE EXISTS ("
            "SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id "
            "WHERE n.unit_id <> o.unit_id OR n.reported_at <> o.reported_at)"
        ],
    ),
    (
        "funds_victim",
        "INSERT",
        "NEW TABLE AS new_rows",
        [write_changes([victim_figures("new_rows", 1)])],
    ),
    (
        "funds_victim",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [write_changes([victim_figures(victim_new, 1), victim_figures(victim_old, -1)])],
    ),
    (
        "funds_victim",
        "DELETE",
        "OLD TABLE AS old_rows",
        [write_changes([victim_figures("old_rows", -1)])],
    ),
    (
        "funds_flag",
        "INSERT",
        "NEW TABLE AS new_rows",
        [write_changes([flag_figures("new_rows", 1)])],
    ),
    (
        "funds_flag",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [write_changes([flag_figures(flag_new, 1), flag_figures(flag_old, -1)])],
    ),
    (
        "funds_flag",
        "DELETE",
        "OLD TABLE AS old_rows",
        [write_changes([flag_figures("old_rows", -1)])],
    ),
]

# Everything the triggers would have written had the tables been filled one statement at a
# time: called by funds.services.reporting.report_totals_rebuild after it empties the three
# tables.
REPLAY = [
    write_changes(
        [
            *instruction_figures("funds_instruction", 1),
            institution_cases(
                "(SELECT DISTINCT case_id, institution_id FROM funds_instruction)", 1
            ),
            case_figures("funds_case", 1),
            victim_figures("funds_victim", 1),
            flag_figures("funds_flag", 1),
        ]
    ),
    first_stop_samples("funds_instruction"),
    answer_samples(f"(SELECT * FROM funds_instruction WHERE status IN {ANSWERED})"),
]


def function(name, statements, returns="trigger", result="RETURN NULL;"):
    body = "\n    ".join(f"{statement};" for statement in statements)
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS {returns} LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    {body}\n    {result}\nEND;\n$$;"
    )


def trigger_name(table, operation):
    return f"{table}_report_{operation.lower()}"


def forwards(apps, schema_editor):
    for table, operation, _transitions, statements in TRIGGERS:
        schema_editor.execute(function(trigger_name(table, operation), statements), params=None)
    schema_editor.execute(
        function("funds_report_replay", REPLAY, returns="void", result="RETURN;"), params=None
    )
    # What is folded was counted the old way: the next refresh rebuilds it.
    apps.get_model("funds", "ReportSummaryState").objects.update(stale=True)


def backwards(apps, schema_editor):
    previous = import_module("funds.migrations.0005_report_triggers")
    for table, operation, _transitions, statements in previous.TRIGGERS:
        name = previous.trigger_name(table, operation)
        schema_editor.execute(previous.function(name, statements), params=None)
    schema_editor.execute(
        previous.function("funds_report_replay", previous.REPLAY, returns="void", result="RETURN;"),
        params=None,
    )
    apps.get_model("funds", "ReportSummaryState").objects.update(stale=True)


class Migration(migrations.Migration):
    dependencies = [("funds", "0017_backfill_effective_from")]
    operations = [migrations.RunPython(forwards, backwards)]
