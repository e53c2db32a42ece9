"""Every clock of DOMAIN.md: not flagged before its time, a warning at its warning time,
overdue at its deadline, resolved when done; lapses, expiries, working days, notices."""

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from funds.durations import add_months
from funds.models import (
    Event,
    Flag,
    FlagEscalation,
    Instruction,
    InvolvedAccount,
    Notification,
    OutgoingMail,
)
from funds.services.mail import mail_deliver
from funds.services.sweep import SweepResult, sweep
from funds.working_days import add_working_days, is_working_day
from tests.funds.helpers import FundsTestCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = timedelta(minutes=1)


class ClockTestCase(FundsTestCase):
    def setUp(self):
        super().setUp()
        self.start = timezone.now().replace(microsecond=0)
        self.traveller = time_machine.travel(self.start, tick=False)
        self.clock = self.traveller.start()
        self.addCleanup(self.traveller.stop)

    def at(self, moment: datetime) -> None:
        self.clock.move_to(moment)

    def sweep(self, moment: datetime | None = None) -> str:
        if moment is not None:
            self.at(moment)
        out = StringIO()
        call_command("sweep_deadlines", stdout=out)
        return out.getvalue()

    def flags(self, kind: str, **filters):
        return list(
            Flag.objects.filter(kind=kind, **filters)
            .order_by("raised_at", "id")
            .values_list("level", "resolved_at")
        )

    def levels(self, kind: str, **filters) -> list[str]:
        return [level for level, _resolved in self.flags(kind, **filters)]

    def open_levels(self, kind: str, **filters) -> list[str]:
        return [level for level, resolved in self.flags(kind, **filters) if resolved is None]


class FirstStopTest(ClockTestCase):
    def test_the_golden_half_hour_is_watched_from_the_report(self):
        case = self.report(reported_at=self.start.isoformat())
        self.sweep(self.start + timedelta(minutes=19))
        assert self.levels("first_stop_overdue") == []
        self.sweep(self.start + timedelta(minutes=20))
        assert self.levels("first_stop_overdue") == ["warning"]
        self.sweep(self.start + timedelta(minutes=30) - MINUTE)
        assert self.levels("first_stop_overdue") == ["warning"]
        self.sweep(self.start + timedelta(minutes=30))
        assert self.open_levels("first_stop_overdue") == ["warning", "overdue"]
        account = self.add_account(case["id"])
        self.ask(case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "100.00"})
        assert self.open_levels("first_stop_overdue") == []
        assert (
            Flag.objects.filter(
                kind="first_stop_overdue", resolved_at=self.start + timedelta(minutes=30)
            ).count()
            == 2
        )

    def test_a_stop_in_time_raises_nothing(self):
        case = self.report(reported_at=self.start.isoformat())
        account = self.add_account(case["id"])
        self.at(self.start + timedelta(minutes=5))
        self.ask(case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "100.00"})
        self.sweep(self.start + timedelta(hours=2))
        assert self.levels("first_stop_overdue") == []

    def test_a_report_logged_late_is_flagged_at_the_next_sweep(self):
        self.report(reported_at=(self.start - timedelta(hours=3)).isoformat())
        self.sweep()
        # Already past due when first seen: overdue at once, without a stale warning.
        assert self.levels("first_stop_overdue") == ["overdue"]

    def test_sweeping_again_raises_nothing_new(self):
        self.report(reported_at=(self.start - timedelta(hours=1)).isoformat())
        self.sweep()
        first = Flag.objects.count()
        self.sweep()
        self.sweep(self.start + timedelta(days=1))
        assert Flag.objects.count() == first == 1


class BankResponseTest(ClockTestCase):
    def test_a_stop_payment_answer_is_due_in_thirty_minutes(self):
        case = self.report(reported_at=self.start.isoformat())
        account = self.add_account(case["id"])
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "500.00"}
        )
        assert (
            stop["response_due_at"]
            == (self.start + timedelta(minutes=30)).astimezone(SHANGHAI).isoformat()
        )
        self.sweep(self.start + timedelta(minutes=19))
        assert self.levels("bank_response_overdue") == []
        self.sweep(self.start + timedelta(minutes=20))
        assert self.levels("bank_response_overdue", instruction_id=stop["id"]) == ["warning"]
        self.sweep(self.start + timedelta(minutes=30))
        assert self.open_levels("bank_response_overdue", instruction_id=stop["id"]) == [
            "warning",
            "overdue",
        ]
        self.execute(stop["id"], "500.00")
        assert self.open_levels("bank_response_overdue") == []

    def test_a_freeze_answer_is_due_a_day_after_approval(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": "10.00",
            },
        )
        self.at(self.start + timedelta(hours=1))
        freeze = self.approve(freeze["id"])
        approved = self.start + timedelta(hours=1)
        self.sweep(approved + timedelta(hours=20) - MINUTE)
        assert self.levels("bank_response_overdue") == []
        self.sweep(approved + timedelta(hours=20))
        assert self.levels("bank_response_overdue") == ["warning"]
        self.sweep(approved + timedelta(hours=24))
        assert self.open_levels("bank_response_overdue") == ["warning", "overdue"]
        self.ok(
            self.api(self.liaison_icbc).post(
                f"/api/v1/instructions/{freeze['id']}/reject/",
                {"reason": "账户已销户"},
                format="json",
            )
        )
        assert self.open_levels("bank_response_overdue") == []

    def test_a_return_is_due_within_three_chinese_working_days(self):
        case, _account, freeze = self.frozen_account("1000.00")
        victim = self.add_victim(case["id"], "1000.00")
        back = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "1000.00"},
        )
        # Approved on Wednesday 30 September 2026, before the National Day holiday.
        approved = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
        self.at(approved)
        back = self.approve(back["id"], self.manager_jn)
        # 1-7 October are holidays; 8 and 9 October work, and so does Saturday 10 October.
        assert back["response_due_at"] == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI).isoformat()


class WorkingDaysTest(ClockTestCase):
    def test_holidays_are_off_and_adjusted_weekends_are_on(self):
        assert not is_working_day(date(2026, 10, 1))  # National Day
        assert not is_working_day(date(2026, 10, 3))  # a Saturday in the holiday
        assert is_working_day(date(2026, 10, 10))  # Saturday, adjusted working day
        assert is_working_day(date(2026, 9, 20))  # Sunday, adjusted working day
        assert not is_working_day(date(2026, 11, 21))  # an ordinary Saturday

    def test_three_working_days_skip_an_ordinary_weekend(self):
        friday = datetime(2026, 11, 20, 16, 0, tzinfo=SHANGHAI)
        assert add_working_days(friday, 3) == datetime(2026, 11, 26, 0, 0, tzinfo=SHANGHAI)

    def test_three_working_days_cross_a_public_holiday_and_an_adjusted_weekend(self):
        before_holiday = datetime(2026, 9, 30, 23, 30, tzinfo=SHANGHAI)
        assert add_working_days(before_holiday, 3) == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)
        friday_before_adjusted_sunday = datetime(2026, 9, 18, 9, 0, tzinfo=SHANGHAI)
        # Saturday 19 off, Sunday 20 works, Monday 21 and Tuesday 22 work.
        assert add_working_days(friday_before_adjusted_sunday, 3) == datetime(
            2026, 9, 23, 0, 0, tzinfo=SHANGHAI
        )

    def test_a_year_without_an_official_calendar_counts_weekdays(self):
        friday = datetime(2031, 1, 3, 12, 0, tzinfo=SHANGHAI)
        assert add_working_days(friday, 3) == datetime(2031, 1, 9, 0, 0, tzinfo=SHANGHAI)


class ApprovalTest(ClockTestCase):
    def test_an_instruction_waiting_for_approval_is_flagged(self):
        case = self.filed_case()
        account = self.add_account(case["id"])
        freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": "10.00",
            },
        )
        self.sweep(self.start + timedelta(hours=3) - MINUTE)
        assert self.levels("approval_overdue") == []
        self.sweep(self.start + timedelta(hours=3))
        assert self.levels("approval_overdue") == ["warning"]
        self.sweep(self.start + timedelta(hours=4))
        assert self.open_levels("approval_overdue", instruction_id=freeze["id"]) == [
            "warning",
            "overdue",
        ]
        self.approve(freeze["id"])
        assert self.open_levels("approval_overdue") == []


class StopLapseTest(ClockTestCase):
    def stopped(self):
        case = self.report(reported_at=self.start.isoformat())
        account = self.add_account(case["id"])
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "900.00"}
        )
        stop = self.execute(stop["id"], "900.00")
        return case, account, stop

    def test_a_stop_payment_warns_then_lapses_after_48_hours(self):
        case, account, stop = self.stopped()
        self.sweep(self.start + timedelta(hours=42) - MINUTE)
        assert self.levels("stop_lapsing") == []
        self.sweep(self.start + timedelta(hours=42))
        assert self.levels("stop_lapsing") == ["warning"]
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "stopped"
        self.sweep(self.start + timedelta(hours=48) - MINUTE)
        assert self.levels("stop_lapsed") == []
        assert Instruction.objects.get(pk=stop["id"]).ended_at is None
        self.sweep(self.start + timedelta(hours=48))
        assert self.levels("stop_lapsed") == ["overdue"]
        lapsed = Instruction.objects.get(pk=stop["id"])
        assert lapsed.end_reason == "lapsed"
        assert lapsed.ended_at == self.start + timedelta(hours=48)
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "lapsed"
        event = Event.objects.get(type="stop_lapsed")
        assert (event.actor_id, event.instruction_id, event.case_id) == (
            None,
            stop["id"],
            case["id"],
        )
        self.sweep(self.start + timedelta(hours=49))
        assert Event.objects.filter(type="stop_lapsed").count() == 1

    def test_a_freeze_that_takes_over_stops_the_lapse(self):
        case, account, stop = self.stopped()
        self.post(self.officer_lx, f"/api/v1/cases/{case['id']}/accept/")
        self.post(self.officer_lx, f"/api/v1/cases/{case['id']}/file/", {"filing_number": "F-1"})
        freeze = self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": "900.00",
            },
        )
        self.approve(freeze["id"])
        self.sweep(self.start + timedelta(hours=43))
        assert self.open_levels("stop_lapsing") == ["warning"]
        self.execute(freeze["id"], "900.00")
        assert self.open_levels("stop_lapsing") == []
        self.sweep(self.start + timedelta(hours=50))
        assert self.levels("stop_lapsed") == []
        assert Instruction.objects.get(pk=stop["id"]).end_reason == "superseded"
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "frozen"

    def test_a_lapsed_stop_flag_resolves_when_the_account_is_held_again(self):
        case, account, _stop = self.stopped()
        self.sweep(self.start + timedelta(hours=48))
        assert self.open_levels("stop_lapsed") == ["overdue"]
        second = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "300.00"}
        )
        self.execute(second["id"], "300.00")
        assert self.open_levels("stop_lapsed") == []
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "stopped"


class FreezeClocksTest(ClockTestCase):
    def test_a_freeze_asks_for_renewal_then_expires_after_six_months(self):
        _case, account, freeze = self.frozen_account("5000.00")
        expiry = add_months(self.start, 6)
        renewal_due = expiry - timedelta(days=10)
        self.sweep(renewal_due - timedelta(days=5) - MINUTE)
        assert self.levels("renewal_due") == []
        self.sweep(renewal_due - timedelta(days=5))
        assert self.levels("renewal_due") == ["warning"]
        self.sweep(renewal_due)
        assert self.open_levels("renewal_due") == ["warning", "overdue"]
        self.sweep(expiry - MINUTE)
        assert self.levels("freeze_expired") == []
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "frozen"
        self.sweep(expiry)
        assert self.levels("freeze_expired") == ["overdue"]
        assert Instruction.objects.get(pk=freeze["id"]).end_reason == "expired"
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "expired"
        assert (
            Event.objects.filter(
                type="freeze_expired", actor=None, instruction_id=freeze["id"]
            ).count()
            == 1
        )

    def test_a_renewal_in_time_prevents_the_expiry(self):
        case, account, freeze = self.frozen_account("5000.00")
        expiry = add_months(self.start, 6)
        self.at(expiry - timedelta(days=20))
        renewal = self.ask(
            case["id"],
            {
                "kind": "renewal",
                "freeze": freeze["id"],
                "term_months": 6,
            },
        )
        self.approve(renewal["id"])
        self.execute(renewal["id"], "5000.00")
        new_expiry = add_months(expiry, 6)
        assert Instruction.objects.get(pk=freeze["id"]).effective_until == new_expiry
        self.sweep(expiry + timedelta(days=1))
        assert self.levels("freeze_expired") == []
        assert self.levels("renewal_due") == []
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "frozen"
        # The next term has its own clocks.
        self.sweep(new_expiry - timedelta(days=15))
        self.sweep(new_expiry - timedelta(days=10))
        assert self.open_levels("renewal_due") == ["warning", "overdue"]

    def test_frozen_funds_must_be_verified_within_three_months(self):
        _case, _account, freeze = self.frozen_account("5000.00")
        due = add_months(self.start, 3)
        self.sweep(due - timedelta(days=7) - MINUTE)
        assert self.levels("verification_overdue") == []
        self.sweep(due - timedelta(days=7))
        assert self.levels("verification_overdue") == ["warning"]
        self.sweep(due)
        assert self.open_levels("verification_overdue") == ["warning", "overdue"]
        self.post(self.officer_lx, f"/api/v1/instructions/{freeze['id']}/verify/")
        assert self.open_levels("verification_overdue") == []
        assert Instruction.objects.get(pk=freeze["id"]).verified_by == self.officer_lx

    def test_funds_found_unrelated_must_be_released_within_three_days(self):
        case, account, freeze = self.frozen_account("5000.00")
        self.at(self.start + timedelta(days=10))
        found = self.start + timedelta(days=10)
        self.post(
            self.officer_lx,
            f"/api/v1/instructions/{freeze['id']}/unrelated/",
            {"reason": "系正常经营款"},
        )
        self.sweep(found + timedelta(days=2) - MINUTE)
        assert self.levels("release_overdue") == []
        self.sweep(found + timedelta(days=2))
        assert self.levels("release_overdue") == ["warning"]
        self.sweep(found + timedelta(days=3))
        assert self.open_levels("release_overdue") == ["warning", "overdue"]
        release = self.ask(
            case["id"],
            {
                "kind": "release",
                "freeze": freeze["id"],
                "amount": "5000.00",
                "reason": "与本案无关",
            },
        )
        self.approve(release["id"])
        self.execute(release["id"], "5000.00")
        assert self.open_levels("release_overdue") == []
        assert InvolvedAccount.objects.get(pk=account["id"]).stage == "released"


class NotificationTest(ClockTestCase):
    def test_a_warning_and_an_overdue_flag_each_tell_the_officer_once_in_the_product_and_by_mail(
        self,
    ):
        self.officer_lx.email = "lixiaoming@gat.sd"
        self.officer_lx.save()
        case = self.report(reported_at=self.start.isoformat())
        self.sweep(self.start + timedelta(minutes=20))
        warning = Notification.objects.get()
        assert (warning.recipient, warning.reason, warning.flag.level) == (
            self.officer_lx,
            "warning",
            "warning",
        )
        # The sweep queues the mail; the delivery task sends it.
        assert mail.outbox == []
        assert mail_deliver().sent == 1
        assert [m.to for m in mail.outbox] == [["lixiaoming@gat.sd"]]
        self.sweep(self.start + timedelta(minutes=30))
        note = Notification.objects.get(reason="raised")
        assert (note.recipient, note.flag.kind, note.flag.level) == (
            self.officer_lx,
            "first_stop_overdue",
            "overdue",
        )
        assert mail_deliver().sent == 1
        assert [m.to for m in mail.outbox] == [["lixiaoming@gat.sd"]] * 2
        assert case["number"] in mail.outbox[1].subject
        self.sweep(self.start + timedelta(minutes=31))
        assert mail_deliver().sent == 0
        assert len(mail.outbox) == 2
        assert Notification.objects.count() == 2
        listed = self.ok(self.api(self.officer_lx).get("/api/v1/notifications/"))
        assert [(row["reason"], row["case_number"]) for row in listed["results"]] == [
            ("raised", case["number"]),
            ("warning", case["number"]),
        ]
        self.ok(self.api(self.officer_lx).post(f"/api/v1/notifications/{note.pk}/read/"))
        self.ok(self.api(self.officer_lx).post(f"/api/v1/notifications/{warning.pk}/read/"))
        assert (
            self.ok(self.api(self.officer_lx).get("/api/v1/notifications/?unread=true"))["count"]
            == 0
        )
        assert (
            self.api(self.officer_sn).post(f"/api/v1/notifications/{note.pk}/read/").status_code
            == 404
        )

    def test_a_late_bank_answer_tells_the_institutions_liaisons(self):
        case = self.report(reported_at=self.start.isoformat())
        account = self.add_account(case["id"])
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "500.00"}
        )
        self.sweep(self.start + timedelta(minutes=30))
        told = set(
            Notification.objects.filter(flag__instruction_id=stop["id"]).values_list(
                "recipient__username", flat=True
            )
        )
        assert told == {"officer_lx", "liaison_icbc"}

    def test_an_overdue_flag_left_open_is_escalated_above_the_unit_level_by_level(self):
        self.report(reported_at=self.start.isoformat())
        raised = self.start + timedelta(minutes=30)
        self.sweep(raised)
        self.sweep(raised + timedelta(hours=2) - MINUTE)
        assert not Notification.objects.filter(reason="escalated").exists()
        # 历下's own managers see the case on their desk; the city is told first, then the
        # province (the default schedule 2h,4h,8h: waits between steps).
        self.sweep(raised + timedelta(hours=2))
        assert self.escalated() == ["manager_jn"]
        self.sweep(raised + timedelta(hours=6) - MINUTE)
        assert self.escalated() == ["manager_jn"]
        self.sweep(raised + timedelta(hours=6))
        assert self.escalated() == ["manager_jn", "manager_sd"]
        self.sweep(raised + timedelta(days=3))
        assert self.escalated() == ["manager_jn", "manager_sd"]

    @override_settings(
        FUND_RULES={**settings.FUND_RULES, "ESCALATION_STEPS": (timedelta(minutes=10),)}
    )
    def test_the_escalation_schedule_is_a_setting_whose_last_wait_repeats(self):
        self.report(reported_at=self.start.isoformat())
        self.sweep(self.start + timedelta(minutes=30))
        self.sweep(self.start + timedelta(minutes=40))
        assert self.escalated() == ["manager_jn"]
        self.sweep(self.start + timedelta(minutes=50))
        assert self.escalated() == ["manager_jn", "manager_sd"]

    def escalated(self) -> list[str]:
        return list(
            Notification.objects.filter(reason="escalated")
            .order_by("created_at", "recipient__username")
            .values_list("recipient__username", flat=True)
        )


class FlagsApiTest(ClockTestCase):
    def test_flags_are_listed_in_scope_with_filters(self):
        mine = self.report(reported_at=self.start.isoformat())
        theirs = self.report(self.officer_sn, reported_at=self.start.isoformat())
        self.sweep(self.start + timedelta(minutes=30))
        rows = self.ok(self.api(self.officer_lx).get("/api/v1/flags/"))["results"]
        assert {row["case"] for row in rows} == {mine["id"]}
        assert set(rows[0]) == {
            "id",
            "kind",
            "level",
            "case",
            "instruction",
            "due_at",
            "raised_at",
            "resolved_at",
            "escalations",
        }
        province = self.ok(self.api(self.manager_sd).get("/api/v1/flags/?level=overdue&open=true"))[
            "results"
        ]
        assert {row["case"] for row in province} == {mine["id"], theirs["id"]}
        assert (
            self.ok(
                self.api(self.manager_sd).get(
                    f"/api/v1/flags/?case={theirs['id']}&kind=renewal_due"
                )
            )["count"]
            == 0
        )
        assert self.ok(self.api(self.manager_sd).get("/api/v1/flags/?open=false"))["count"] == 0

    def test_a_liaison_sees_only_flags_on_its_institutions_instructions(self):
        case = self.report(reported_at=self.start.isoformat())
        account = self.add_account(case["id"])
        self.ask(case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "500.00"})
        self.sweep(self.start + timedelta(minutes=30))
        icbc = self.ok(self.api(self.liaison_icbc).get("/api/v1/flags/"))["results"]
        assert {row["kind"] for row in icbc} == {"bank_response_overdue"}
        assert self.ok(self.api(self.liaison_ccb).get("/api/v1/flags/"))["count"] == 0
        assert self.api(self.admin).get("/api/v1/flags/").status_code == 403


class SweepCommandTest(ClockTestCase):
    def test_at_takes_an_iso_time_and_refuses_anything_else(self):
        self.report(reported_at=self.start.isoformat())
        later = (self.start + timedelta(hours=1)).astimezone(SHANGHAI).isoformat()
        out = StringIO()
        call_command("sweep_deadlines", "--at", later, stdout=out)
        assert f"Swept as of {later[:10]} {later[11:19]} CST" in out.getvalue()
        assert "flags_raised 1" in out.getvalue()  # past due when first seen: overdue only
        assert Flag.objects.get().raised_at == self.start + timedelta(hours=1)
        with self.assertRaisesMessage(CommandError, "not an ISO 8601 time"):
            call_command("sweep_deadlines", "--at", "tomorrow")


class IdleSweepTest(ClockTestCase):
    """Nothing newly due: the sweep reads the partial indexes of what is due, finds nothing
    and writes nothing, in a fixed number of queries however many flags are open
    (README, "The deadline sweep at scale")."""

    def idle_queries(self, cases: int) -> tuple[list[str], list[str]]:
        """The queries of an idle sweep a minute after ``cases`` late bank answers were
        flagged, and of one as of the very moment they were (``sweep_deadlines --at``
        twice, the benchmark); the world is rolled back afterwards."""
        with transaction.atomic():
            self.officer_lx.email = "lixiaoming@gat.sd"
            self.officer_lx.save()
            for _ in range(cases):
                case = self.report(reported_at=self.start.isoformat())
                account = self.add_account(case["id"])
                self.ask(
                    case["id"],
                    {"kind": "stop_payment", "account": account["id"], "amount": "500.00"},
                )
            raised = self.start + timedelta(minutes=30)
            self.at(raised)
            first = sweep(raised)
            assert (first.flags_raised, first.mail_queued) == (cases, cases)
            written = Flag.objects.count(), Notification.objects.count()
            runs = []
            for moment in (raised + MINUTE, raised):
                self.at(moment)
                with CaptureQueriesContext(connection) as queries:
                    assert sweep(moment) == SweepResult()
                runs.append(
                    [re.sub(r'"s\d+_x\d+"', '"s"', q["sql"]) for q in queries.captured_queries]
                )
            assert (Flag.objects.count(), Notification.objects.count()) == written
            transaction.set_rollback(True)
        self.at(self.start)
        return runs[0], runs[1]

    def test_an_idle_sweep_takes_a_fixed_number_of_queries_and_writes_nothing(self):
        later, again = self.idle_queries(3)
        # Lapses (with their savepoint), queued freezes, then the claim and the escalation
        # in one transaction; no notices, no mail.
        assert len(later) == len(again) == 8, "\n".join(later)

    def test_the_idle_sweeps_queries_do_not_grow_with_the_open_flags(self):
        few, many = self.idle_queries(1), self.idle_queries(5)
        assert few == many


class BatchedSweepTest(ClockTestCase):
    """A pass works in batches of DEADLINE_SWEEP_BATCH clocks, cases or flags, each in a
    transaction of its own; however small, they leave exactly what one batch does
    (docs/deadlines.md, "Batches")."""

    def setUp(self):
        super().setUp()
        self.officer_lx.email = "lixiaoming@gat.sd"
        self.officer_lx.save()
        # Seven cases reported at once: three with no stop-payment asked (their golden half
        # hour runs out), two waiting for the bank, two stopped (R2: they lapse at 48 h).
        for n in range(7):
            case = self.report(reported_at=self.start.isoformat())
            account = self.add_account(case["id"], number=f"622202000000010{n}")
            if n >= 3:
                stop = self.ask(
                    case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "900"}
                )
                if n >= 5:
                    self.execute(stop["id"], "900.00")
        self.moments = [
            self.start + timedelta(minutes=25),  # warnings
            self.start + timedelta(minutes=30),  # overdue flags
            self.start + timedelta(minutes=150),  # their first escalation step
            self.start + timedelta(hours=48),  # lapses
            self.start + timedelta(days=3),  # everything left, one step per flag
        ]

    def swept(self, batch: int) -> tuple[list[SweepResult], tuple[list, ...]]:
        """Sweep at each moment in batches of ``batch``; answer the results and what the
        sweep wrote, by what it is about (ids of new rows differ from run to run)."""
        results = []
        for moment in self.moments:
            self.at(moment)
            results.append(sweep(moment, batch=batch))
        again = sweep(self.moments[-1], batch=batch)
        assert again == SweepResult(), again
        written = (
            sorted(
                Flag.objects.values_list(
                    "deadline_id",
                    "kind",
                    "level",
                    "raised_at",
                    "resolved_at",
                    "escalation_step",
                    "escalated_at",
                    "reached_unit_id",
                    "next_escalation_at",
                )
            ),
            sorted(
                Notification.objects.filter(flag__isnull=False).values_list(
                    "flag__deadline_id", "flag__level", "recipient_id", "reason", "created_at"
                )
            ),
            sorted(
                OutgoingMail.objects.values_list(
                    "notification__flag__deadline_id",
                    "notification__flag__level",
                    "notification__reason",
                    "to",
                    "subject",
                    "created_at",
                )
            ),
            sorted(
                FlagEscalation.objects.values_list("flag__deadline_id", "step", "unit_id", "at")
            ),
            sorted(Event.objects.filter(actor__isnull=True).values_list("case_id", "type", "at")),
            sorted(
                Instruction.objects.values_list(
                    "pk", "ended_at", "end_reason", "involved_account__stage"
                )
            ),
        )
        return results, written

    def test_a_pass_in_batches_of_two_leaves_exactly_what_one_batch_does(self):
        with transaction.atomic():
            whole, in_one = self.swept(batch=1000)
            transaction.set_rollback(True)
        self.at(self.start)
        batched, in_twos = self.swept(batch=2)

        assert in_twos == in_one
        flags, notices, mails, escalations, events, instructions = in_one
        assert {(reason, stage) for _pk, _at, reason, stage in instructions} == {
            ("", "stop_requested"),
            ("lapsed", "lapsed"),
        }
        # R13's warning and overdue flag for three cases, the bank's for two, and R2's lapse for
        # two stops first seen at 48 h (past due: no stale warning).
        assert len(flags) == 3 * 2 + 2 * 2 + 2
        assert mails and escalations and len(notices) > len(flags)
        assert {"stop_lapsed", "flag_escalated"} <= {type_ for _c, type_, _at in events}
        assert [replace(r, batches=0) for r in batched] == [replace(r, batches=0) for r in whole]
        assert [(r.claimed, r.escalated, r.lapsed) for r in whole] == [
            (5, 0, 0),  # the five clocks still open warn (two stops were answered)
            (5, 0, 0),  # and fall due
            (0, 5, 0),  # their flags climb a step
            (2, 5, 2),  # the stops lapse; the flags climb again
            (0, 2, 0),  # the lapsed stops' flags climb
        ]
        assert [r.batches for r in whole] == [1, 1, 1, 2, 1]
        # Five clocks or flags two at a time take three batches; at 48 h one batch of cases
        # lapses the stops, then three batches take the two lapse clocks and the five flags.
        assert [r.batches for r in batched] == [3, 3, 3, 4, 1]
