"""The liaison's inbox in its own order, so that a page is read from an index (keyset).

Built CONCURRENTLY: on a province's million instructions a plain CREATE INDEX would hold
the banks' answers back for as long as it takes.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Cast, Coalesce


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("funds", "0033_approvals_with_opinions"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="instruction",
            index=models.Index(
                models.F("institution"),
                models.Case(
                    models.When(status="pending", then=models.Value(0)),
                    default=models.Value(1),
                    output_field=models.IntegerField(),
                ),
                Coalesce(
                    models.F("response_due_at"),
                    Cast(models.Value("infinity"), output_field=models.DateTimeField()),
                ),
                models.OrderBy(models.F("requested_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(
                    ("kind", "stop_payment"), ("approved_at__isnull", False), _connector="OR"
                ),
                name="instruction_liaison_inbox",
            ),
        ),
    ]
