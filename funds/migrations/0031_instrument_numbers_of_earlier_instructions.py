from django.db import migrations


class Migration(migrations.Migration):
    """Instructions from before numbering keep their numbers as typed (or none), marked
    legacy: the uniqueness of issued and entered numbers (0032) does not reach back to them."""

    dependencies = [("funds", "0030_instrument_numbers_and_documents")]

    operations = [
        migrations.RunSQL(
            "UPDATE funds_instruction SET instrument_source = 'legacy' WHERE instrument_source = ''",
            reverse_sql="UPDATE funds_instruction SET instrument_source = '' "
            "WHERE instrument_source = 'legacy'",
        )
    ]
