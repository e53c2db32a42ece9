"""Record the figures of the cases already in the database, as the triggers would have.

The changes are folded into the totals by the first run of funds.tasks.refresh_reports;
reports read unfolded changes too, so they are right from the moment this has run.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    Organization = apps.get_model("accounts", "Organization")
    ReportSummaryState = apps.get_model("funds", "ReportSummaryState")
    schema_editor.execute("SELECT funds_report_replay()", params=None)
    paths = {str(pk): path for pk, path in Organization.objects.values_list("pk", "path")}
    ReportSummaryState.objects.update_or_create(
        pk=1, defaults={"unit_paths": paths, "stale": False}
    )


def backwards(apps, schema_editor):
    for name in ("TotalsChange", "ReportTotal", "SpeedSample", "ReportSummaryState"):
        apps.get_model("funds", name).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("funds", "0005_report_triggers")]
    operations = [migrations.RunPython(forwards, backwards)]
