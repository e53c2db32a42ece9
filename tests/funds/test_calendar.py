"""The working-day calendar of R11 as data: seeded from chinesecalendar, entered by an
administrator (the admin page, the service, ``load_calendar``), recomputing the open return
deadlines over a changed day; deadlines over an uncovered year are provisional; the coming
year's absence is reported from 1 November (health check, banner for managers and admins)."""

from __future__ import annotations

import json
from datetime import date, datetime
from io import StringIO
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.urls import reverse

from funds.errors import NotAllowed, RuleViolation
from funds.models import (
    CalendarChange,
    CalendarDay,
    CalendarSource,
    CalendarYear,
    Deadline,
    DeadlineKind,
    Event,
    Instruction,
)
from funds.services.calendar import (
    CalendarEntry,
    calendar_coverage,
    calendar_year_set,
)
from funds.working_days import is_working_day, working_deadline
from tests.funds.helpers import FundsTestCase

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Test data, not the State Council's schedule for 2027 (unpublished when this was written).
NEW_YEAR_2027 = [CalendarEntry(date(2027, 1, 1), "元旦")]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


class CalendarTestCase(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.traveller = time_machine.travel(at(2026, 12, 1, 9, 0), tick=False)
        self.clock = self.traveller.start()
        self.addCleanup(self.traveller.stop)

    def pending_return(self, approved: datetime) -> dict[str, Any]:
        """A return approved at ``approved`` and waiting at ICBC (R11's clock running)."""
        case, _account, freeze = self.frozen_account("1000.00")
        victim = self.add_victim(case["id"], "1000.00")
        back = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "1000.00"},
        )
        self.clock.move_to(approved)
        return self.approve(back["id"], self.manager_jn)

    def instruction(self, pk: int) -> dict[str, Any]:
        return self.ok(self.api(self.officer_lx).get(f"/api/v1/instructions/{pk}/"))

    def clock_of(self, pk: int) -> list[tuple[datetime, datetime | None]]:
        return list(
            Deadline.objects.filter(instruction_id=pk, kind=DeadlineKind.BANK_RESPONSE)
            .order_by("pk")
            .values_list("due_at", "met_at")
        )


class SeedTest(CalendarTestCase):
    def test_the_seed_covers_the_years_chinesecalendar_knows_and_no_later(self):
        assert CalendarYear.objects.filter(year=2026, covered=True).exists()
        assert CalendarYear.objects.get(year=2026).source == CalendarSource.LIBRARY
        assert CalendarYear.objects.filter(year=2004, covered=True).exists()
        assert not CalendarYear.objects.filter(year=2027).exists()
        national_day = CalendarDay.objects.get(date=date(2026, 10, 1))
        assert (national_day.is_working_day, national_day.name) == (False, "国庆节")
        assert CalendarDay.objects.get(date=date(2026, 10, 10)).is_working_day  # 调休
        assert not is_working_day(date(2026, 10, 1))
        assert is_working_day(date(2026, 10, 10))

    def test_the_database_refuses_a_weekday_as_an_adjusted_working_day(self):
        with pytest.raises(DatabaseError), transaction.atomic():
            CalendarDay.objects.create(
                year_id=2026, date=date(2026, 12, 2), is_working_day=True, name="x"
            )

    def test_the_database_refuses_a_day_outside_its_year(self):
        with pytest.raises(DatabaseError), transaction.atomic():
            CalendarDay.objects.create(
                year_id=2026, date=date(2025, 12, 1), is_working_day=False, name="x"
            )

    def test_the_calendar_history_cannot_be_rewritten(self):
        change = CalendarChange.objects.filter(year_id=2026).first()
        assert change is not None
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM funds_calendarchange WHERE id = %s", [change.pk])


class WorkingDeadlineTest(CalendarTestCase):
    def test_a_deadline_inside_covered_years_is_not_provisional(self):
        deadline = working_deadline(at(2026, 9, 30, 10, 0), 3)
        assert deadline.due_at == at(2026, 10, 11)
        assert not deadline.provisional

    def test_a_deadline_over_an_uncovered_year_counts_weekdays_and_is_provisional(self):
        # Tuesday 29 December: 30 and 31 December, then Friday 1 January 2027 (unknown).
        deadline = working_deadline(at(2026, 12, 29, 10, 0), 3)
        assert deadline.due_at == at(2027, 1, 2)
        assert deadline.provisional

    def test_a_deadline_is_counted_in_one_query(self):
        with self.assertNumQueries(1):
            working_deadline(at(2026, 12, 29, 10, 0), 3)

    def test_the_days_of_an_incomplete_year_count_but_stay_provisional(self):
        calendar_year_set(
            actor=self.admin,
            year=2027,
            holidays=NEW_YEAR_2027,
            working_days=[],
            covered=False,
        )
        deadline = working_deadline(at(2026, 12, 29, 10, 0), 3)
        assert deadline.due_at == at(2027, 1, 5)
        assert deadline.provisional


class ReturnDeadlineTest(CalendarTestCase):
    def test_a_return_whose_window_crosses_an_uncovered_day_is_provisional_in_the_api(self):
        back = self.pending_return(at(2026, 12, 29, 10, 0))
        assert back["response_due_at"] == at(2027, 1, 2).isoformat()
        assert back["deadline_provisional"] is True
        assert self.instruction(back["id"])["deadline_provisional"] is True
        approved = Event.objects.get(instruction_id=back["id"], type="instruction_approved")
        assert approved.data["deadline_provisional"] is True

    def test_a_return_inside_covered_years_is_not_provisional(self):
        back = self.pending_return(at(2026, 12, 1, 10, 0))
        assert back["response_due_at"] == at(2026, 12, 5).isoformat()
        assert back["deadline_provisional"] is False

    def test_a_2027_holiday_entered_through_the_service_moves_the_deadline(self):
        back = self.pending_return(at(2026, 12, 29, 10, 0))
        self.clock.move_to(at(2026, 12, 30, 9, 0))
        change = calendar_year_set(
            actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[]
        )

        # Friday 1 January is off: Monday 4 January is the third working day.
        instruction = self.instruction(back["id"])
        assert instruction["response_due_at"] == at(2027, 1, 5).isoformat()
        assert instruction["deadline_provisional"] is False
        # The old clock no longer applies; a new one runs to the new time.
        assert self.clock_of(back["id"]) == [
            (at(2027, 1, 2), at(2026, 12, 30, 9, 0)),
            (at(2027, 1, 5), None),
        ]
        event = Event.objects.get(type="deadline_recomputed")
        assert (event.case_id, event.instruction_id, event.actor) == (
            back["case"]["id"],
            back["id"],
            self.admin,
        )
        assert event.data == {
            "calendar_year": 2027,
            "response_due_at_before": at(2027, 1, 2).isoformat(),
            "response_due_at": at(2027, 1, 5).isoformat(),
            "provisional_before": True,
            "provisional": False,
        }
        assert change is not None
        assert change.actor == self.admin
        assert change.data["covered_before"] is False and change.data["covered"] is True
        assert change.data["changed"] == [
            {"date": "2027-01-01", "before": None, "after": "holiday"}
        ]
        assert change.data["recomputed_instructions"] == [back["id"]]
        year = CalendarYear.objects.get(year=2027)
        assert (year.covered, year.source, year.updated_by) == (
            True,
            CalendarSource.ADMINISTRATOR,
            self.admin,
        )

    def test_entering_the_same_year_again_changes_nothing(self):
        self.pending_return(at(2026, 12, 29, 10, 0))
        calendar_year_set(actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        events, changes = Event.objects.count(), CalendarChange.objects.count()
        again = calendar_year_set(
            actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[]
        )
        assert again is None
        assert (Event.objects.count(), CalendarChange.objects.count()) == (events, changes)

    def test_a_return_whose_window_ends_before_the_changed_year_is_left_alone(self):
        # Approved on Monday 28 December: 29, 30 and 31 December, all in 2026.
        back = self.pending_return(at(2026, 12, 28, 10, 0))
        assert back["deadline_provisional"] is False
        calendar_year_set(actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        assert not Event.objects.filter(type="deadline_recomputed").exists()
        assert self.instruction(back["id"])["response_due_at"] == at(2027, 1, 1).isoformat()

    def test_an_answered_return_keeps_its_deadline(self):
        back = self.pending_return(at(2026, 12, 29, 10, 0))
        self.execute(back["id"], "1000.00")
        calendar_year_set(actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        assert Instruction.objects.get(pk=back["id"]).response_due_at == at(2027, 1, 2)
        assert not Event.objects.filter(type="deadline_recomputed").exists()

    def test_a_holiday_removed_from_a_covered_year_moves_a_deadline_earlier(self):
        back = self.pending_return(at(2026, 9, 30, 10, 0))
        assert back["response_due_at"] == at(2026, 10, 11).isoformat()
        year = CalendarYear.objects.get(year=2026)
        days = list(year.days.all())
        holidays = [
            CalendarEntry(d.date, d.name)
            for d in days
            if not d.is_working_day and d.date != date(2026, 10, 1)
        ]
        working = [CalendarEntry(d.date, d.name) for d in days if d.is_working_day]
        calendar_year_set(actor=self.admin, year=2026, holidays=holidays, working_days=working)
        # 1 October now works: 1, 8 and 9 October.
        assert self.instruction(back["id"])["response_due_at"] == at(2026, 10, 10).isoformat()

    def test_only_an_administrator_may_change_the_calendar(self):
        for user in (self.manager_sd, self.officer_lx, self.liaison_icbc):
            with pytest.raises(NotAllowed):
                calendar_year_set(actor=user, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        assert not CalendarYear.objects.filter(year=2027).exists()

    def test_it_refuses_days_that_do_not_make_a_calendar(self):
        cases = [
            ([CalendarEntry(date(2028, 1, 1))], [], "holidays"),
            (NEW_YEAR_2027 * 2, [], "holidays"),
            ([], [CalendarEntry(date(2027, 1, 4))], "working_days"),  # a Monday
            (NEW_YEAR_2027, [CalendarEntry(date(2027, 1, 1))], "working_days"),
        ]
        for holidays, working, field in cases:
            with self.subTest(field=field), pytest.raises(RuleViolation) as refused:
                calendar_year_set(
                    actor=self.admin, year=2027, holidays=holidays, working_days=working
                )
            assert refused.value.field == field
        assert not CalendarYear.objects.filter(year=2027).exists()


class AdminPageTest(CalendarTestCase):
    HOLIDAYS = "2027-01-01 元旦\n\n# test data\n2027-02-06..2027-02-12 春节"

    def test_an_administrator_enters_2027_and_a_pending_return_moves(self):
        back = self.pending_return(at(2026, 12, 29, 10, 0))
        self.client.force_login(self.admin)
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                reverse("admin:funds_calendaryear_add"),
                {
                    "year": "2027",
                    "covered": "on",
                    "holidays": self.HOLIDAYS,
                    "working_days": "2027-02-20 春节",
                    "changes-TOTAL_FORMS": "0",
                    "changes-INITIAL_FORMS": "0",
                },
            )
        assert response.status_code == 302, response.content.decode()
        days = list(
            CalendarDay.objects.filter(year_id=2027).values_list("date", "is_working_day", "name")
        )
        assert days[0] == (date(2027, 1, 1), False, "元旦")
        assert len(days) == 1 + 7 + 1
        assert days[-1] == (date(2027, 2, 20), True, "春节")
        assert self.instruction(back["id"])["response_due_at"] == at(2027, 1, 5).isoformat()
        event = Event.objects.get(type="deadline_recomputed")
        assert (event.instruction_id, event.actor) == (back["id"], self.admin)
        assert CalendarChange.objects.get(year_id=2027).actor == self.admin
        assert calendar_coverage(date(2026, 12, 1)).warning is False

    def test_the_change_page_shows_a_year_as_ranges_and_saving_it_unchanged_writes_nothing(self):
        self.client.force_login(self.admin)
        url = reverse("admin:funds_calendaryear_change", args=[2026])
        page = self.client.get(url).content.decode()
        assert "2026-10-01..2026-10-07 国庆节" in page
        assert "2026-10-10 国庆节" in page
        changes = CalendarChange.objects.count()
        year = CalendarYear.objects.get(year=2026)
        days = list(year.days.all())
        response = self.client.post(
            url,
            {
                "covered": "on",
                "holidays": "\n".join(f"{d.date} {d.name}" for d in days if not d.is_working_day),
                "working_days": "\n".join(f"{d.date} {d.name}" for d in days if d.is_working_day),
                "changes-TOTAL_FORMS": "0",
                "changes-INITIAL_FORMS": str(year.changes.count()),
            },
        )
        assert response.status_code == 302, response.content.decode()
        assert CalendarChange.objects.count() == changes

    def test_the_page_shows_bad_lines_beside_their_field_and_writes_nothing(self):
        self.client.force_login(self.admin)
        for holidays, working in [
            ("2027-13-01 x", ""),
            ("2027-02-12..2027-02-06 春节", ""),
            ("2028-01-01 元旦", ""),
            ("", "2027-01-04 a Monday"),
        ]:
            with self.subTest(holidays=holidays, working=working):
                response = self.client.post(
                    reverse("admin:funds_calendaryear_add"),
                    {
                        "year": "2027",
                        "covered": "on",
                        "holidays": holidays,
                        "working_days": working,
                        "changes-TOTAL_FORMS": "0",
                        "changes-INITIAL_FORMS": "0",
                    },
                )
                assert response.status_code == 200
                assert response.context["adminform"].form.errors
        assert not CalendarYear.objects.filter(year=2027).exists()

    def test_a_year_cannot_be_deleted_from_the_admin(self):
        self.client.force_login(self.admin)
        response = self.client.post(
            reverse("admin:funds_calendaryear_delete", args=[2026]), {"post": "yes"}
        )
        assert response.status_code == 403
        assert CalendarYear.objects.filter(year=2026).exists()


class CoverageTest(CalendarTestCase):
    def test_the_coming_year_is_not_a_warning_before_the_first_of_november(self):
        coverage = calendar_coverage(date(2026, 10, 31))
        assert (coverage.coming_year, coverage.coming_year_covered) == (2027, False)
        assert not coverage.warning

    def test_an_uncovered_coming_year_is_a_warning_from_the_first_of_november(self):
        coverage = calendar_coverage(date(2026, 11, 1))
        assert coverage.warning
        assert coverage.missing_years == [2027]

    def test_the_warning_ends_when_the_year_is_entered(self):
        calendar_year_set(actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        assert not calendar_coverage(date(2026, 12, 1)).warning

    def test_an_uncovered_current_year_is_always_a_warning(self):
        assert calendar_coverage(date(2027, 3, 1)).missing_years == [2027]

    @override_settings(CALENDAR_WARN_FROM=(12, 15))
    def test_the_day_the_warning_starts_is_a_setting(self):
        assert not calendar_coverage(date(2026, 12, 14)).warning
        assert calendar_coverage(date(2026, 12, 15)).warning

    def test_the_readiness_check_reports_the_missing_year_and_liveness_stays_ok(self):
        for today, warning in [(at(2026, 10, 31, 12, 0), False), (at(2026, 11, 1, 0, 0), True)]:
            with self.subTest(today=today):
                self.clock.move_to(today)
                assert self.client.get("/healthz").json() == {"status": "ok"}
                response = self.client.get("/healthz/ready")
                calendar = response.json()["checks"]["calendar"]
                assert calendar["ok"] is not warning
                assert calendar["warning"] is warning
                assert calendar["coming_year"] == 2027
                if warning:
                    assert calendar["missing_years"] == [2027]
                    assert response.status_code == 503


class BannerTest(CalendarTestCase):
    BANNER = 'id="calendar-banner"'

    def page(self, user, url: str) -> str:
        self.client.force_login(user)
        response = self.client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    def test_the_banner_shows_for_a_manager_without_the_admin_link(self):
        page = self.page(self.manager_lx, reverse("desk"))
        assert self.BANNER in page and "2027" in page
        assert reverse("admin:funds_calendaryear_changelist") not in page

    def test_the_banner_shows_for_an_admin_with_a_link_to_the_calendar(self):
        page = self.page(self.admin, reverse("admin:index"))
        assert self.BANNER in page
        assert reverse("admin:funds_calendaryear_changelist") in page

    def test_the_banner_is_not_shown_to_an_officer_or_a_liaison(self):
        assert self.BANNER not in self.page(self.officer_lx, reverse("case-list"))
        assert self.BANNER not in self.page(self.liaison_icbc, reverse("inbox"))

    def test_the_banner_is_not_shown_before_the_first_of_november(self):
        self.clock.move_to(at(2026, 10, 20, 9, 0))
        assert self.BANNER not in self.page(self.manager_lx, reverse("desk"))

    def test_the_banner_goes_once_the_year_is_entered(self):
        with self.captureOnCommitCallbacks(execute=True):
            calendar_year_set(actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        assert self.BANNER not in self.page(self.manager_lx, reverse("desk"))

    def test_a_provisional_deadline_is_marked_on_the_case_file_and_the_liaison_inbox(self):
        back = self.pending_return(at(2026, 12, 29, 10, 0))
        marker = "provisional"
        self.client.force_login(self.officer_lx)
        case_file = self.client.get(
            reverse("case-detail", args=[back["case"]["id"]]), HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
        self.client.force_login(self.liaison_icbc)
        inbox = self.client.get(reverse("inbox"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert marker in case_file
        assert marker in inbox
        calendar_year_set(actor=self.admin, year=2027, holidays=NEW_YEAR_2027, working_days=[])
        inbox = self.client.get(reverse("inbox"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert marker not in inbox


class LoadCalendarTest(CalendarTestCase):
    def write(self, name: str, content: str) -> Path:
        folder = TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = Path(folder.name) / name
        path.write_text(content, encoding="utf-8")
        return path

    def test_it_loads_a_csv_file_and_moves_a_pending_return(self):
        back = self.pending_return(at(2026, 12, 29, 10, 0))
        path = self.write(
            "2027.csv",
            "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-20,working_day,春节\n",
        )
        out = StringIO()
        call_command("load_calendar", str(path), "--actor", "admin", stdout=out)
        assert "2027: 1 holidays, 1 adjusted working days, 1 deadlines recomputed" in out.getvalue()
        assert CalendarYear.objects.get(year=2027).covered
        assert list(
            CalendarDay.objects.filter(year_id=2027).values_list("date", "is_working_day")
        ) == [(date(2027, 1, 1), False), (date(2027, 2, 20), True)]
        assert self.instruction(back["id"])["response_due_at"] == at(2027, 1, 5).isoformat()
        assert Event.objects.get(type="deadline_recomputed").actor == self.admin

    def test_it_loads_json_for_several_years(self):
        path = self.write(
            "calendar.json",
            json.dumps(
                [
                    {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
                    {"date": "2028-01-01", "kind": "holiday"},
                ]
            ),
        )
        call_command("load_calendar", str(path), stdout=StringIO())
        assert set(
            CalendarYear.objects.filter(covered=True, year__gte=2027).values_list("year", flat=True)
        ) == {2027, 2028}
        assert CalendarChange.objects.get(year_id=2028).actor is None

    def test_it_rejects_a_bad_file_and_writes_nothing(self):
        bad = {
            "no-header.csv": "2027-01-01,holiday,元旦\n",
            "bad-date.csv": "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-30,holiday,春节\n",
            "bad-kind.csv": "date,kind,name\n2027-01-01,day_off,元旦\n",
            # 2027 is good, 2028 is not: neither is written.
            "weekday.csv": "date,kind,name\n2027-01-01,holiday,元旦\n2028-01-04,working_day,x\n",
            "bad.json": '{"date": "2027-01-01"}',
            "empty.csv": "date,kind,name\n",
        }
        for name, content in bad.items():
            with self.subTest(name=name), pytest.raises(CommandError):
                call_command("load_calendar", str(self.write(name, content)), stdout=StringIO())
        assert not CalendarYear.objects.filter(year__gte=2027).exists()
        assert not CalendarChange.objects.filter(year_id__gte=2027).exists()
