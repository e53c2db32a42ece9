"""From report to stop-payments in one call (R13): ``POST /cases/intake/`` and the new report
page that uses the same service."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from funds.models import (
    Case,
    Deadline,
    DeadlineKind,
    Event,
    EventType,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Notification,
    Victim,
)
from funds.services.notifications import institution_notify
from tests.funds.helpers import FundsTestCase

INTAKE = "/api/v1/cases/intake/"
ID_ZHANG = "370102199001011231"
ID_LI = "370102198512124567"


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "冒充客服退款诈骗",
        "fraud_type": "impersonating_customer_service",
        "reported_at": timezone.now().isoformat(),
        "description": "接警：受害人按对方指引转账两笔。",
        "victims": [
            {
                "name": "张三",
                "id_number": ID_ZHANG,
                "phone": "13800138000",
                "loss_amount": "30000.00",
                "account": {
                    "institution": "CCB",
                    "number": "6217 0099 0000 1234",
                    "holder_name": "张三",
                },
            },
            {"name": "李四", "id_number": ID_LI, "phone": "13900139000", "loss_amount": "5000.00"},
        ],
        "accounts": [
            {
                "institution": "ICBC",
                "number": "6222020000000001",
                "holder_name": "王某",
                "amount": "20000.00",
            },
            {
                "institution": "ALIPAY",
                "number": "2088000000000001",
                "holder_name": "赵某",
                "amount": "15000.00",
            },
        ],
    }
    data.update(changes)
    return data


class IntakeApiTests(FundsTestCase):
    def intake(self, data: dict[str, Any], status: int = 201, user: Any = None) -> dict[str, Any]:
        return self.ok(self.api(user or self.officer_lx).post(INTAKE, data, format="json"), status)

    def test_one_call_creates_case_victims_layer_one_accounts_and_pending_stops(self) -> None:
        answer = self.intake(body())
        case = Case.objects.get(pk=answer["case"]["id"])
        self.assertEqual(case.unit, self.lixia)
        self.assertEqual(case.status, "reported")
        self.assertEqual(answer["case"]["number"], case.number)
        self.assertEqual(answer["case"]["loss_amount"], "35000.00")
        self.assertEqual(answer["case"]["totals"]["stop_requested"], "35000.00")

        victims = list(Victim.objects.filter(case=case).order_by("id"))
        self.assertEqual([v.name for v in victims], ["张三", "李四"])
        self.assertEqual(victims[0].account_number, "6217009900001234")
        self.assertEqual(victims[0].account_institution, self.ccb)
        self.assertFalse(victims[1].has_account)
        # Personal data comes back masked, as from POST /cases/{id}/victims/.
        self.assertNotIn(ID_ZHANG, str(answer))
        self.assertEqual(answer["victims"][0]["account"]["number"][-4:], "1234")
        self.assertNotIn("6217009900001234", str(answer))

        accounts = list(InvolvedAccount.objects.filter(case=case).select_related("account"))
        self.assertEqual(
            sorted((a.account.number, a.layer, a.holder_name) for a in accounts),
            [("2088000000000001", 1, "赵某"), ("6222020000000001", 1, "王某")],
        )
        stops = list(Instruction.objects.filter(case=case).order_by("id"))
        self.assertEqual(
            [(s.kind, s.status, s.institution.code, f"{s.requested_amount}") for s in stops],
            [
                (InstructionKind.STOP_PAYMENT, InstructionStatus.PENDING, "ICBC", "20000.00"),
                (InstructionKind.STOP_PAYMENT, InstructionStatus.PENDING, "ALIPAY", "15000.00"),
            ],
        )
        self.assertEqual([i["id"] for i in answer["instructions"]], [s.pk for s in stops])
        self.assertEqual(answer["instructions"][0]["status"], "pending")
        # R13's clock is met by the first stop, in the same transaction.
        clock = Deadline.objects.get(case=case, kind=DeadlineKind.FIRST_STOP)
        self.assertIsNotNone(clock.met_at)
        # The trail tells the same story as the single calls would.
        types = list(Event.objects.filter(case=case).order_by("id").values_list("type", flat=True))
        self.assertEqual(types[0], EventType.CASE_REPORTED)
        self.assertEqual(types.count(EventType.VICTIM_ADDED), 2)
        self.assertEqual(types.count(EventType.ACCOUNT_ADDED), 2)
        self.assertEqual(types.count(EventType.INSTRUCTION_REQUESTED), 2)

    def test_the_banks_inboxes_show_the_stops_at_once(self) -> None:
        with self.captureOnCommitCallbacks() as callbacks:
            answer = self.intake(body())
        icbc = self.ok(self.api(self.liaison_icbc).get("/api/v1/instructions/?status=pending"))
        self.assertEqual([row["id"] for row in icbc["results"]], [answer["instructions"][0]["id"]])
        ccb = self.ok(self.api(self.liaison_ccb).get("/api/v1/instructions/"))
        self.assertEqual(ccb["count"], 0)
        # Each bank's liaisons are told once the report has committed, as for a single stop,
        # and the stops' instruments are rendered in one batch (funds.services.documents).
        self.assertEqual(len(callbacks), 3)
        stop = answer["instructions"][1]["id"]
        self.assertTrue(institution_notify(instruction_id=stop))
        self.assertTrue(
            Notification.objects.filter(recipient=self.liaison_alipay, instruction_id=stop).exists()
        )

    def test_without_accounts_the_case_and_victims_are_logged_and_the_clock_runs(self) -> None:
        answer = self.intake(body(accounts=[]))
        self.assertEqual(answer["instructions"], [])
        clock = Deadline.objects.get(case_id=answer["case"]["id"], kind=DeadlineKind.FIRST_STOP)
        self.assertIsNone(clock.met_at)

    def assert_nothing_created(self) -> None:
        self.assertEqual(Case.objects.count(), 0)
        self.assertEqual(Victim.objects.count(), 0)
        self.assertEqual(InvolvedAccount.objects.count(), 0)
        self.assertEqual(Instruction.objects.count(), 0)
        self.assertEqual(Event.objects.count(), 0)

    def test_an_invalid_account_is_named_by_its_place_and_nothing_is_created(self) -> None:
        data = body()
        data["accounts"][1]["amount"] = "-3.00"
        errors = self.intake(data, 400)
        self.assertEqual(list(errors["accounts"]), ["1"])
        self.assertIn("amount", errors["accounts"]["1"])
        self.assert_nothing_created()

    def test_an_unknown_institution_found_by_the_service_undoes_the_whole_report(self) -> None:
        data = body()
        data["accounts"][1]["institution"] = "NOSUCHBANK"
        errors = self.intake(data, 400)
        self.assertEqual(list(errors), ["accounts"])
        self.assertEqual(list(errors["accounts"]), ["1"])
        self.assertEqual(list(errors["accounts"]["1"]), ["institution"])
        self.assert_nothing_created()

    def test_a_refused_victim_account_undoes_the_whole_report(self) -> None:
        data = body()
        data["victims"][0]["account"]["institution"] = "NOSUCHBANK"
        errors = self.intake(data, 400)
        self.assertEqual(list(errors), ["victims"])
        self.assertEqual(list(errors["victims"]), ["0"])
        self.assertIn("account", errors["victims"]["0"])
        self.assert_nothing_created()

    def test_an_account_listed_twice_is_refused(self) -> None:
        data = body()
        data["accounts"].append({**data["accounts"][0], "number": "6222-0200-0000-0001"})
        errors = self.intake(data, 400)
        self.assertEqual(list(errors["accounts"]), ["2"])
        self.assertIn("number", errors["accounts"]["2"])
        self.assert_nothing_created()

    def test_a_victims_own_account_is_not_a_receiving_account(self) -> None:
        data = body()
        data["accounts"][0].update(institution="CCB", number="6217009900001234")
        errors = self.intake(data, 400)
        self.assertIn("number", errors["accounts"]["0"])
        self.assert_nothing_created()

    def test_a_report_without_victims_or_from_the_future_is_refused(self) -> None:
        errors = self.intake(body(victims=[]), 400)
        self.assertIn("victims", errors)
        future = (timezone.now() + timezone.timedelta(hours=2)).isoformat()
        errors = self.intake(body(reported_at=future), 400)
        self.assertIn("reported_at", errors)
        errors = self.intake(body(victims=[{"name": "张三"}]), 400)
        self.assertIn("loss_amount", errors["victims"]["0"])
        self.assert_nothing_created()

    def test_only_an_officer_may_report(self) -> None:
        for user in (self.manager_lx, self.liaison_icbc):
            self.intake(body(), 403, user=user)
        self.ok(self.api().post(INTAKE, body(), format="json"), 401)
        self.assert_nothing_created()

    def test_a_retry_with_the_same_key_creates_one_case(self) -> None:
        client = self.api(self.officer_lx)
        data = body()
        first = client.post(INTAKE, data, format="json", HTTP_IDEMPOTENCY_KEY="alarm-4711")
        again = client.post(INTAKE, data, format="json", HTTP_IDEMPOTENCY_KEY="alarm-4711")
        self.assertEqual(first.status_code, 201)
        self.assertEqual(again.status_code, 201)
        self.assertEqual(again.headers["Idempotent-Replayed"], "true")
        self.assertEqual(again.json(), first.json())
        self.assertEqual(Case.objects.count(), 1)
        self.assertEqual(Instruction.objects.count(), 2)

    def test_query_count_grows_with_parts_not_with_the_world(self) -> None:
        """Each part costs what its single call costs; nothing is read per existing case."""
        from django.test.utils import CaptureQueriesContext

        self.intake(body())  # warm caches of the institutions and the unit
        with CaptureQueriesContext(connection) as small:
            self.intake(body(title="小"))
        for n in range(5):
            self.intake(body(title=f"填充{n}", accounts=[]))
        with CaptureQueriesContext(connection) as again:
            self.intake(body(title="再一次"))
        self.assertEqual(len(again), len(small))


class IntakePageTests(FundsTestCase):
    """The new report page: the same service, in one submit."""

    def form(self, **fields: str) -> dict[str, str]:
        from tests.funds.test_pages import intake_form

        return intake_form(
            title="冒充客服退款",
            fraud_type="impersonating_customer_service",
            reported_at=timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            **{
                "victims-TOTAL_FORMS": "2",
                "victims-1-name": "李四",
                "victims-1-id_number": ID_LI,
                "victims-1-phone": "13900139000",
                "victims-1-loss_amount": "5000.00",
                "victims-1-account_institution": "CCB",
                "victims-1-account_number": "6217009900005678",
                "victims-1-account_holder_name": "李四",
                "accounts-0-institution": "ICBC",
                "accounts-0-number": "6222 0200 0000 0001",
                "accounts-0-holder_name": "王某",
                "accounts-0-amount": "20000.00",
                # Row 1 left empty: no account.
                "accounts-2-institution": "ALIPAY",
                "accounts-2-number": "2088000000000001",
                "accounts-2-holder_name": "赵某",
                "accounts-2-amount": "15000.00",
                **fields,
            },
        )

    def test_the_page_offers_one_victim_and_three_accounts_and_more_on_demand(self) -> None:
        self.client.force_login(self.officer_lx)
        html = self.client.get(reverse("case-new")).content.decode()
        self.assertIn('name="victims-TOTAL_FORMS" value="1"', html)
        self.assertIn('name="accounts-TOTAL_FORMS" value="3"', html)
        self.assertIn('name="victims-0-id_number"', html)
        self.assertIn('name="accounts-2-amount"', html)
        # The empty rows that JavaScript copies, and the script, served by the project.
        self.assertIn('<template id="accounts-empty">', html)
        self.assertIn('name="accounts-__prefix__-number"', html)
        self.assertIn("/static/js/intake.js", html)

    def test_one_submit_logs_the_case_its_victims_and_sends_a_stop_for_each_account(self) -> None:
        self.client.force_login(self.officer_lx)
        response = self.client.post(reverse("case-new"), self.form())
        case = Case.objects.get(title="冒充客服退款")
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response["Location"], f"/cases/{case.pk}/#instructions")
        self.assertEqual(sorted(case.victims.values_list("name", flat=True)), ["张三", "李四"])
        stops = Instruction.objects.filter(case=case).order_by("id")
        self.assertEqual(
            [(s.institution.code, f"{s.requested_amount}", s.status) for s in stops],
            [("ICBC", "20000.00", "pending"), ("ALIPAY", "15000.00", "pending")],
        )
        page = self.client.get(response["Location"]).content.decode()
        self.assertIn(case.number, page)
        self.assertIn("2", page)

    def test_a_part_refused_by_a_rule_is_shown_beside_its_row_and_nothing_is_logged(self) -> None:
        self.client.force_login(self.officer_lx)
        # The second account repeats the first, written another way.
        response = self.client.post(
            reverse("case-new"),
            self.form(
                **{"accounts-2-institution": "ICBC", "accounts-2-number": "6222020000000001"}
            ),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        self.assertEqual(response.status_code, 400)
        html = response.content.decode()
        from tests.funds.test_pages import assert_error_beside

        assert_error_beside(html, "accounts-2-number", "This account is listed twice.")
        self.assertIn('value="李四"', html)
        self.assertFalse(Case.objects.exists())
        self.assertFalse(Instruction.objects.exists())

    def test_a_half_filled_account_row_is_an_error_not_ignored(self) -> None:
        self.client.force_login(self.officer_lx)
        response = self.client.post(
            reverse("case-new"), self.form(**{"accounts-1-number": "6222020000000009"})
        )
        self.assertEqual(response.status_code, 400)
        html = response.content.decode()
        from tests.funds.test_pages import field_block

        self.assertIn("has-error", field_block(html, "accounts-1-amount"))
        self.assertIn("has-error", field_block(html, "accounts-1-institution"))
        self.assertFalse(Case.objects.exists())

    def test_at_least_one_victim(self) -> None:
        self.client.force_login(self.officer_lx)
        data = self.form(**{"victims-TOTAL_FORMS": "1"})
        for key in [k for k in data if k.startswith("victims-0-")]:
            data[key] = ""
        response = self.client.post(reverse("case-new"), data)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Case.objects.exists())
