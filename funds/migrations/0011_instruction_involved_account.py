"""Instruction.involved is named involved_account, one name for the involved account
everywhere. Only the model state changes: the column stays ``involved_id`` (the report
triggers of 0005 read it), so the constraint over it is the same in the database."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('funds', '0010_event_type_choices'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name='instruction',
                    name='instruction_one_open_stop_or_freeze',
                ),
                migrations.AlterField(
                    model_name='instruction',
                    name='involved',
                    field=models.ForeignKey(db_column='involved_id', on_delete=django.db.models.deletion.CASCADE, related_name='instructions', to='funds.involvedaccount'),
                ),
                migrations.RenameField(
                    model_name='instruction',
                    old_name='involved',
                    new_name='involved_account',
                ),
                migrations.AddConstraint(
                    model_name='instruction',
                    constraint=models.UniqueConstraint(condition=models.Q(('kind__in', ['stop_payment', 'freeze']), ('status__in', ['awaiting_approval', 'pending'])), fields=('involved_account', 'kind'), name='instruction_one_open_stop_or_freeze'),
                ),
            ],
        ),
    ]
