"""Keep the reports' figures current in PostgreSQL: triggers that record every change.

Statement-level triggers with transition tables (one run per statement, however many rows
it touched) on cases, victims, instructions and flags append to funds_totalschange what the
statement added to or took from the figures of each (local day, case's unit, institution),
and write a funds_speedsample row when a measured interval ends. Appending never waits on
another writer; the periodic task funds.tasks.refresh_reports folds the changes into
funds_reporttotal (funds.services.reporting). docs/reports.md describes the figures.

Every figure is written once below, as the contribution of a set of rows, and used three
ways: by the insert trigger (+ new rows), the delete trigger (- old rows), the update
trigger (+ new - old, of the rows whose relevant columns changed), and by
funds_report_replay(), which rebuilds everything from the tables themselves.

Days are Asia/Shanghai days (funds.models.reports.REPORT_ZONE). SQLite, the embedded demo
database, has no transition tables: there the reports read the tables directly.
"""

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
    "overdue_flags",
    "overdue_open",
]
EXECUTED = {"stop_payment": "stopped", "freeze": "frozen", "release": "released", "return": "returned"}
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
    columns = [f"{day_sql} AS day", f"{unit} AS unit_id", f"({institution})::bigint AS institution_id"]
    columns += [f"({values.get(name, '0')})::numeric AS {name}" for name in FIGURES]
    return f"SELECT {', '.join(columns)} FROM {source}"


def instruction_figures(rows, sign):
    """Stop-payments asked for (by request day, not cancelled); executed amounts (by answer
    day); and what the freezes executed that day still hold."""
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
            f"{rows} r {case_of('r')} "
            "WHERE r.kind = 'stop_payment' AND r.status <> 'cancelled'",
            stop_requested_count=f"{sign}",
            stop_requested_amount=f"{sign} * r.requested_amount",
        ),
        select(
            day("r.responded_at"),
            "c.unit_id",
            "r.institution_id",
            f"{rows} r {case_of('r')} "
            "WHERE r.status = 'executed' AND r.executed_amount > 0 "
            "AND r.kind IN ('stop_payment', 'freeze', 'release', 'return')",
            **executed,
        ),
    ]


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
                [*instruction_figures(instruction_new, 1), *instruction_figures(instruction_old, -1)]
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
    ("funds_case", "INSERT", "NEW TABLE AS new_rows", [write_changes([case_figures("new_rows", 1)])]),
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
    ("funds_victim", "INSERT", "NEW TABLE AS new_rows", [write_changes([victim_figures("new_rows", 1)])]),
    (
        "funds_victim",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [write_changes([victim_figures(victim_new, 1), victim_figures(victim_old, -1)])],
    ),
    ("funds_victim", "DELETE", "OLD TABLE AS old_rows", [write_changes([victim_figures("old_rows", -1)])]),
    ("funds_flag", "INSERT", "NEW TABLE AS new_rows", [write_changes([flag_figures("new_rows", 1)])]),
    (
        "funds_flag",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [write_changes([flag_figures(flag_new, 1), flag_figures(flag_old, -1)])],
    ),
    ("funds_flag", "DELETE", "OLD TABLE AS old_rows", [write_changes([flag_figures("old_rows", -1)])]),
]

# Everything the triggers would have written had the tables been filled one statement at a
# time: called by funds.services.reporting.report_totals_rebuild after it empties the three
# tables.
REPLAY = [
    write_changes(
        [
            *instruction_figures("funds_instruction", 1),
            institution_cases("(SELECT DISTINCT case_id, institution_id FROM funds_instruction)", 1),
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
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, operation, transitions, statements in TRIGGERS:
        name = trigger_name(table, operation)
        schema_editor.execute(function(name, statements), params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {name} AFTER {operation} ON {table} REFERENCING {transitions} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
            params=None,
        )
    schema_editor.execute(
        function("funds_report_replay", REPLAY, returns="void", result="RETURN;"), params=None
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, operation, _transitions, _statements in TRIGGERS:
        name = trigger_name(table, operation)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS funds_report_replay()", params=None)


class Migration(migrations.Migration):
    dependencies = [("funds", "0004_report_totals_samples_periodic_reports")]
    operations = [migrations.RunPython(forwards, backwards)]
