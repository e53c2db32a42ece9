"""Seed the working-day calendar with every year the chinesecalendar package knows.

Each such year is marked covered, with its public holidays (off, weekends within them
included, as the package lists them) and its adjusted working days (weekends that work).
Later years are entered by an administrator (the admin's calendar page, or
``manage.py load_calendar``). The package is read here once; the product no longer uses it.
"""

from collections import defaultdict

from chinese_calendar.constants import Holiday, holidays, workdays
from django.db import migrations
from django.utils import timezone


def _chinese(english):
    try:
        return Holiday(english).chinese
    except ValueError:
        return english


def forwards(apps, schema_editor):
    CalendarYear = apps.get_model("funds", "CalendarYear")
    CalendarDay = apps.get_model("funds", "CalendarDay")
    CalendarChange = apps.get_model("funds", "CalendarChange")
    days = defaultdict(list)
    for day, name in holidays.items():
        days[day.year].append((day, False, name))
    for day, name in workdays.items():
        days[day.year].append((day, True, name))
    now = timezone.now()
    for year in sorted(days):
        if CalendarYear.objects.filter(year=year).exists():
            continue  # entered by an administrator already: theirs stands
        CalendarYear.objects.create(year=year, covered=True, source="library", updated_at=now)
        CalendarDay.objects.bulk_create(
            CalendarDay(year_id=year, date=day, is_working_day=working, name=_chinese(name))
            for day, working, name in sorted(days[year])
        )
        CalendarChange.objects.create(
            year_id=year,
            actor=None,
            at=now,
            data={"source": "library", "covered": True, "days": len(days[year])},
        )


class Migration(migrations.Migration):
    dependencies = [("funds", "0008_calendar_tables_and_provisional_deadlines")]
    # Backwards, nothing: unapplying 0008 drops the tables, and the calendar's audit
    # trail (funds_calendarchange) refuses deletes.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
