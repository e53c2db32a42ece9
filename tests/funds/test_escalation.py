"""Escalation (DOMAIN.md, "Escalation"): an overdue flag left open climbs the police tree one
unit with managers at a time, up to the province, on the schedule of the settings; a late
approval is the approvers' business; every step is an audit event shown on the flag."""

from datetime import datetime, timedelta

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import Role, User
from funds.models import Event, Flag, FlagEscalation, Notification
from funds.services.sweep import SweepResult, sweep
from tests.funds.test_deadlines import MINUTE, ClockTestCase

# The default schedule (2h,4h,8h): the first step 2 h after the flag was raised, the next
# 4 h after that, the next 8 h after that.
STEP_1, STEP_2, STEP_3 = timedelta(hours=2), timedelta(hours=6), timedelta(hours=14)


class EscalationTest(ClockTestCase):
    def setUp(self):
        super().setUp()
        self.raised = self.start + timedelta(minutes=30)  # R13: the first stop is late

    def escalated(self) -> list[tuple[int, str, str]]:
        """(step, unit, manager told) of every escalation notice, in order."""
        return [
            (step.step, step.unit.code, note.recipient.username)
            for step in FlagEscalation.objects.select_related("unit").order_by("at", "step")
            for note in Notification.objects.filter(
                flag=step.flag,
                reason="escalated",
                recipient__organization=step.unit,
            ).select_related("recipient")
        ]

    def station_case(self) -> Flag:
        self.report(self.officer_station, reported_at=self.start.isoformat())
        self.sweep(self.raised)
        return Flag.objects.get(level="overdue")

    def test_a_station_case_climbs_every_level_once_on_the_schedule(self):
        flag = self.station_case()
        self.sweep(self.raised + STEP_1 - MINUTE)
        assert self.escalated() == []
        self.sweep(self.raised + STEP_1)
        assert self.escalated() == [(1, "370102", "manager_lx")]
        self.sweep(self.raised + STEP_2 - MINUTE)
        assert len(self.escalated()) == 1
        self.sweep(self.raised + STEP_2)
        self.sweep(self.raised + STEP_3)
        assert self.escalated() == [
            (1, "370102", "manager_lx"),
            (2, "370100", "manager_jn"),
            (3, "370000", "manager_sd"),
        ]
        flag.refresh_from_db()
        assert (flag.escalation_step, flag.reached_unit, flag.next_escalation_at) == (
            3,
            self.shandong,
            None,
        )
        assert flag.escalated_at == self.raised + STEP_3
        # The province was reached: nothing more, however long the flag stays open.
        self.sweep(self.raised + timedelta(days=30))
        assert len(self.escalated()) == 3

    def test_a_chain_with_no_manager_at_county_or_city_reaches_the_province_once(self):
        User.objects.filter(username__in=["manager_lx", "manager_jn"]).update(is_active=False)
        # An officer is no manager: 济南 still has nobody to escalate to.
        User.objects.create_user("officer_jn", role=Role.OFFICER, organization=self.jinan)
        flag = self.station_case()
        self.sweep(self.raised + STEP_1)
        assert self.escalated() == [(1, "370000", "manager_sd")]
        flag.refresh_from_db()
        assert (flag.escalation_step, flag.next_escalation_at) == (1, None)
        self.sweep(self.raised + STEP_3)
        assert self.escalated() == [(1, "370000", "manager_sd")]

    def test_a_gap_at_the_county_is_skipped_and_each_level_above_is_told_once(self):
        User.objects.filter(username="manager_lx").update(is_active=False)
        self.station_case()
        self.sweep(self.raised + STEP_1)
        assert self.escalated() == [(1, "370100", "manager_jn")]
        self.sweep(self.raised + STEP_2)
        self.sweep(self.raised + STEP_3)
        assert self.escalated() == [(1, "370100", "manager_jn"), (2, "370000", "manager_sd")]

    def test_a_new_chain_without_managers_below_the_province_reaches_it(self):
        city = self.make_unit("379900", "city", self.shandong)
        county = self.make_unit("379901", "county", city)
        station = self.make_unit("379901001", "station", county)
        User.objects.create_user("manager_city2", role=Role.MANAGER, organization=city)
        User.objects.filter(username="manager_city2").update(is_active=False)
        officer = User.objects.create_user("officer_far", role=Role.OFFICER, organization=station)
        self.report(officer, reported_at=self.start.isoformat())
        self.sweep(self.raised)
        self.sweep(self.raised + STEP_1)
        self.sweep(self.raised + STEP_3)
        assert self.escalated() == [(1, "370000", "manager_sd")]

    def test_a_second_sweep_at_the_same_time_changes_nothing(self):
        self.station_case()
        self.at(self.raised + STEP_1)
        first = sweep(self.raised + STEP_1)
        assert (first.escalated, first.notifications) == (1, 1)
        assert sweep(self.raised + STEP_1) == SweepResult()
        assert len(self.escalated()) == 1

    def test_a_flag_resolved_before_its_step_is_not_escalated(self):
        case = self.report(self.officer_station, reported_at=self.start.isoformat())
        self.sweep(self.raised)
        account = self.add_account(case["id"], user=self.officer_station)
        self.ask(
            case["id"],
            {"kind": "stop_payment", "account": account["id"], "amount": "100.00"},
            user=self.officer_station,
        )
        self.sweep(self.raised + STEP_3)
        assert self.escalated() == []
        assert not Event.objects.filter(type="flag_escalated").exists()

    def test_each_step_is_an_audit_event_by_the_system(self):
        flag = self.station_case()
        self.sweep(self.raised + STEP_1)
        self.sweep(self.raised + STEP_2)
        events = list(
            Event.objects.filter(type="flag_escalated").values_list(
                "case_id", "actor", "at", "data"
            )
        )
        base = {"flag": flag.pk, "kind": "first_stop_overdue", "told": 1}
        assert events == [
            (
                flag.case_id,
                None,
                self.raised + STEP_1,
                {**base, "step": 1, "unit": "370102", "unit_name": self.lixia.name},
            ),
            (
                flag.case_id,
                None,
                self.raised + STEP_2,
                {**base, "step": 2, "unit": "370100", "unit_name": self.jinan.name},
            ),
        ]

    def test_the_steps_are_shown_on_the_flag_in_the_api_and_on_the_case_page(self):
        flag = self.station_case()
        self.sweep(self.raised + STEP_1)
        self.sweep(self.raised + STEP_2)
        row = self.ok(self.api(self.manager_jn).get(f"/api/v1/flags/{flag.pk}/"))
        assert [(s["step"], s["unit"], s["unit_name"]) for s in row["escalations"]] == [
            (1, "370102", self.lixia.name),
            (2, "370100", self.jinan.name),
        ]
        assert datetime.fromisoformat(row["escalations"][1]["at"]) == self.raised + STEP_2
        self.client.force_login(self.officer_station)
        page = self.client.get(f"/cases/{flag.case_id}/").content.decode()
        at = timezone.localtime(self.raised + STEP_2)
        assert f"已升级至 {self.jinan.name}（{at:%Y-%m-%d %H:%M}）" in page


class ApproverTest(ClockTestCase):
    def ask_freeze(self, user) -> dict:
        case = self.filed_case(user)
        account = self.add_account(case["id"], user=user)
        return self.ask(
            case["id"],
            {
                "kind": "freeze",
                "account": account["id"],
                "amount": "10.00",
            },
            user=user,
        )

    def told(self, reason: str) -> set[str]:
        return set(
            Notification.objects.filter(flag__kind="approval_overdue", reason=reason).values_list(
                "recipient__username", flat=True
            )
        )

    def test_a_late_freeze_approval_tells_the_county_approvers_then_escalates_above(self):
        self.ask_freeze(self.officer_station)
        due = self.start + timedelta(hours=4)  # APPROVAL_WITHIN
        self.sweep(due)
        # A station's manager may not approve a freeze (county level or above).
        assert self.told("raised") == {"officer_station", "manager_lx"}
        self.sweep(due + STEP_1)
        assert self.told("escalated") == {"manager_jn"}

    def test_a_late_return_approval_tells_the_city_approvers(self):
        case, _account, freeze = self.frozen_account()
        victim = self.add_victim(case["id"])
        self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "1000.00"},
        )
        asked = self.start
        self.sweep(asked + timedelta(hours=4))
        assert self.told("raised") == {"officer_lx", "manager_jn"}
        self.sweep(asked + timedelta(hours=4) + STEP_1)
        assert self.told("escalated") == {"manager_sd"}

    def test_without_a_county_manager_the_nearest_approvers_above_are_told(self):
        User.objects.filter(username="manager_lx").update(is_active=False)
        self.ask_freeze(self.officer_lx)
        self.sweep(self.start + timedelta(hours=4))
        assert self.told("raised") == {"officer_lx", "manager_jn"}


class WarningNoticeTest(ClockTestCase):
    def test_a_warning_of_a_late_answer_tells_the_officer_and_the_banks_liaisons(self):
        case = self.report(reported_at=self.start.isoformat())
        account = self.add_account(case["id"])
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "500.00"}
        )
        self.sweep(self.start + timedelta(minutes=20))  # R1: 10 min before the answer is due
        told = set(
            Notification.objects.filter(flag__instruction_id=stop["id"]).values_list(
                "recipient__username", "reason"
            )
        )
        assert told == {("officer_lx", "warning"), ("liaison_icbc", "warning")}
        self.sweep(self.start + timedelta(minutes=21))
        assert Notification.objects.filter(flag__instruction_id=stop["id"]).count() == 2


@override_settings(FUND_RULES={**settings.FUND_RULES, "ESCALATION_STEPS": (timedelta(hours=1),)})
class ScheduleTest(ClockTestCase):
    def test_one_wait_serves_every_step(self):
        self.report(self.officer_station, reported_at=self.start.isoformat())
        raised = self.start + timedelta(minutes=30)
        self.sweep(raised)
        for hours in (1, 2, 3):
            self.sweep(raised + timedelta(hours=hours))
        assert list(
            FlagEscalation.objects.order_by("step").values_list("step", "unit__code", "at")
        ) == [
            (1, "370102", raised + timedelta(hours=1)),
            (2, "370100", raised + timedelta(hours=2)),
            (3, "370000", raised + timedelta(hours=3)),
        ]
