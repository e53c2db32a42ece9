"""An account no longer has one holder name: the cases keep theirs (0012, 0013)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('funds', '0013_holder_name_per_case_copy'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='bankaccount',
            name='holder_name',
        ),
    ]
