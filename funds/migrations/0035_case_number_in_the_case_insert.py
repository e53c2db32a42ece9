"""The case number is given out inside the case's own INSERT (funds.services.cases).

``funds_next_case_number(unit, code, year)`` is the upsert of funds_casenumbercounter that
the service ran as a statement of its own, formatted as ``<code>-<year>-<5 digits>``: one
round trip less for each report, and the counter's row lock (which concurrent reports of a
unit queue on) is taken one statement later in the transaction (issue 16).
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION funds_next_case_number(bigint, text, integer) RETURNS text AS $$
    INSERT INTO funds_casenumbercounter (unit_id, year, last) VALUES ($1, $3, 1)
    ON CONFLICT (unit_id, year)
    DO UPDATE SET last = funds_casenumbercounter.last + 1
    RETURNING $2 || '-' || $3 || '-' || lpad(last::text, greatest(5, length(last::text)), '0')
$$ LANGUAGE sql VOLATILE;
"""

DROP = "DROP FUNCTION IF EXISTS funds_next_case_number(bigint, text, integer);"


class Migration(migrations.Migration):
    dependencies = [
        ("funds", "0034_liaison_inbox_index"),
    ]

    operations = [migrations.RunSQL(FUNCTION, DROP)]
