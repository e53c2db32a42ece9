"""Backfill when the holds already executed took effect: at their execution.

Before R12 was a queue, every executed stop-payment and freeze took hold when the bank
answered, queued or not, so that answer is both when it took effect and, for a freeze, the
bank's confirmation of what it holds.
"""

from django.db import migrations
from django.db.models import F


def forwards(apps, schema_editor):
    Instruction = apps.get_model("funds", "Instruction")
    executed = Instruction.objects.filter(status="executed", executed_amount__gt=0)
    executed.filter(kind="stop_payment").update(effective_from=F("responded_at"))
    executed.filter(kind="freeze").update(
        effective_from=F("responded_at"),
        hold_confirmed_at=F("responded_at"),
        hold_reference=F("bank_reference"),
        effect_notified_at=F("responded_at"),
    )


def backwards(apps, schema_editor):
    Instruction = apps.get_model("funds", "Instruction")
    Instruction.objects.update(
        effective_from=None, hold_confirmed_at=None, hold_reference="", effect_notified_at=None
    )


class Migration(migrations.Migration):
    dependencies = [("funds", "0016_queued_freezes_take_effect")]
    operations = [migrations.RunPython(forwards, backwards)]
