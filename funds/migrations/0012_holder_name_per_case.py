"""Holder names move to the cases: each involved account and each side of a transfer keeps
the name its case's unit recorded (DOMAIN.md, "Money across cases"). Filled by 0013 from the
account's one name; BankAccount.holder_name goes in 0014. Also the event type
``accounts_merged``, written by 0015."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('funds', '0011_instruction_involved_account'),
    ]

    operations = [
        migrations.AddField(
            model_name='involvedaccount',
            name='holder_name',
            field=models.CharField(default='', max_length=100, verbose_name='holder name'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='transfer',
            name='from_holder_name',
            field=models.CharField(default='', max_length=100, verbose_name='holder of the paying account'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='transfer',
            name='to_holder_name',
            field=models.CharField(default='', max_length=100, verbose_name='holder of the receiving account'),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='event',
            name='type',
            field=models.CharField(choices=[('case_reported', 'Case reported'), ('case_accepted', 'Case accepted'), ('case_filed', 'Case filed'), ('case_closed', 'Case closed'), ('victim_added', 'Victim added'), ('account_added', 'Account added'), ('transfer_added', 'Transfer recorded'), ('instruction_requested', 'Request sent'), ('instruction_approved', 'Request approved'), ('instruction_executed', 'Executed by the institution'), ('instruction_rejected', 'Rejected by the institution'), ('instruction_cancelled', 'Request cancelled'), ('stop_lapsed', 'Stop-payment lapsed'), ('freeze_expired', 'Freeze expired'), ('freeze_verified', 'Frozen funds verified'), ('freeze_found_unrelated', 'Frozen funds found unrelated'), ('deadline_recomputed', 'Deadline recomputed after a calendar change'), ('accounts_merged', 'Duplicate accounts merged')], max_length=40, verbose_name='type'),
        ),
    ]
