"""The victim's own account gets its holder's name (R9: the payee the bank sees), and the
database refuses a victim paid back more than the loss."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('funds', '0018_report_triggers_queued_freezes'),
    ]

    operations = [
        migrations.AddField(
            model_name='victim',
            name='account_holder_name',
            field=models.CharField(blank=True, max_length=100, verbose_name='account holder'),
        ),
        migrations.AddConstraint(
            model_name='victim',
            constraint=models.CheckConstraint(condition=models.Q(('returned_amount__lte', models.F('loss_amount'))), name='victim_returned_within_loss'),
        ),
    ]
