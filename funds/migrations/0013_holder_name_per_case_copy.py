"""Copy each account's one holder name into every case that involves it or moved money
through it: until now the first unit's entry was the only one kept, so it is what every
case recorded as far as the database knows.

Backwards, an account takes the name of its earliest involvement (else of its earliest
transfer), which is the name it was created with whenever the earliest mention created it.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def copy_to_cases(apps, schema_editor):
    BankAccount = apps.get_model("funds", "BankAccount")
    InvolvedAccount = apps.get_model("funds", "InvolvedAccount")
    Transfer = apps.get_model("funds", "Transfer")

    def name_of(field):
        return Subquery(BankAccount.objects.filter(pk=OuterRef(field)).values("holder_name")[:1])

    InvolvedAccount.objects.update(holder_name=name_of("account_id"))
    Transfer.objects.update(
        from_holder_name=name_of("from_account_id"), to_holder_name=name_of("to_account_id")
    )


def copy_back(apps, schema_editor):
    BankAccount = apps.get_model("funds", "BankAccount")
    InvolvedAccount = apps.get_model("funds", "InvolvedAccount")
    Transfer = apps.get_model("funds", "Transfer")

    def first(model, field, name):
        rows = model.objects.filter(**{field: OuterRef("pk")}).order_by("pk")
        return Subquery(rows.values(name)[:1])

    BankAccount.objects.update(
        holder_name=Coalesce(
            first(InvolvedAccount, "account_id", "holder_name"),
            first(Transfer, "from_account_id", "from_holder_name"),
            first(Transfer, "to_account_id", "to_holder_name"),
            Value(""),
        )
    )


class Migration(migrations.Migration):

    dependencies = [
        ('funds', '0012_holder_name_per_case'),
    ]

    operations = [
        migrations.RunPython(copy_to_cases, copy_back),
    ]
