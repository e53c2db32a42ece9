from django.db import migrations, models


class Migration(migrations.Migration):
    """The numbering's constraints, once earlier instructions are marked legacy (0031)."""

    dependencies = [("funds", "0031_instrument_numbers_of_earlier_instructions")]

    operations = [
        migrations.AddConstraint(
            model_name="instruction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("instrument_number", ""),
                        ("instrument_source", ""),
                        ("issuing_unit__isnull", True),
                    ),
                    models.Q(("instrument_source", "legacy"), ("issuing_unit__isnull", True)),
                    models.Q(
                        ("instrument_source__in", ("issued", "entered")),
                        ("issuing_unit__isnull", False),
                        models.Q(("instrument_number", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="instruction_numbered_by_a_unit",
            ),
        ),
        migrations.AddConstraint(
            model_name="instruction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("instrument_source", ""), _negated=True),
                    models.Q(
                        ("approved_at__isnull", True),
                        models.Q(("kind", "stop_payment"), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="instruction_numbered_once_issued",
            ),
        ),
        migrations.AddConstraint(
            model_name="instruction",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("instrument_source__in", ("issued", "entered")),
                    models.Q(
                        ("approved_at__isnull", True),
                        ("status__in", ["cancelled", "declined"]),
                        models.Q(("kind", "stop_payment"), _negated=True),
                        _negated=True,
                    ),
                ),
                fields=("issuing_unit", "kind", "instrument_number"),
                name="instruction_instrument_number_unique",
            ),
        ),
    ]
