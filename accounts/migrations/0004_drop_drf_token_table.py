"""Drop DRF's plain token table, left behind when rest_framework.authtoken was uninstalled.

Its tokens never expired and were kept in clear; accounts.ApiToken replaced them, so none
is worth keeping. Left in place, the table would also hold a foreign key to users that
Django no longer knows of, refusing the deletion of any user who once had a token.
DRF's rows in django_migrations stay: harmless, and they record what was once applied.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_security_events_append_only")]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token;", migrations.RunSQL.noop)
    ]
