"""Carry the flags of the one-step escalation over to the level-by-level one.

An overdue flag already escalated told the managers of its case's unit and of the unit's
parent: it counts as step 1, having reached the parent (the unit itself at the top), with a
FlagEscalation row for that step, and, left open below the province, its next step due on the
schedule. An open overdue flag not yet escalated has its first step due the first wait after
it was raised.
"""

from django.conf import settings
from django.db import migrations
from django.db.models import F


def forwards(apps, schema_editor):
    Flag = apps.get_model("funds", "Flag")
    FlagEscalation = apps.get_model("funds", "FlagEscalation")
    waits = settings.FUND_RULES["ESCALATION_STEPS"]
    second = waits[1] if len(waits) > 1 else waits[0]
    Flag.objects.filter(
        level="overdue", resolved_at__isnull=True, escalated_at__isnull=True
    ).update(next_escalation_at=F("raised_at") + waits[0])
    escalated = Flag.objects.filter(escalated_at__isnull=False).select_related(
        "case__unit__parent"
    )
    changed, steps = [], []
    for flag in escalated.iterator(chunk_size=1000):
        unit = flag.case.unit.parent or flag.case.unit
        flag.escalation_step = 1
        flag.reached_unit_id = unit.pk
        if flag.resolved_at is None and unit.level != "province":
            flag.next_escalation_at = flag.raised_at + waits[0] + second
        changed.append(flag)
        steps.append(FlagEscalation(flag=flag, step=1, unit=unit, at=flag.escalated_at))
    Flag.objects.bulk_update(
        changed, ["escalation_step", "reached_unit", "next_escalation_at"], batch_size=1000
    )
    FlagEscalation.objects.bulk_create(steps, batch_size=1000)


def backwards(apps, schema_editor):
    # The schema migration before this one drops the new columns and table.
    pass


class Migration(migrations.Migration):
    dependencies = [
        ("funds", "0022_flag_escalation_levels"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
