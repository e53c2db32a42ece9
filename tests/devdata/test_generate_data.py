"""generate_data writes a consistent history: amounts, stages and clocks that agree."""

import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Organization
from devdata.generate import generate
from funds.durations import rule
from funds.models import Case, Instruction, InvolvedAccount, Victim
from funds.services.stages import derive_stage
from funds.working_days import add_working_days
from tests.funds.helpers import FundsTestCase

ZERO = Decimal("0.00")
NOW = datetime(2026, 3, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@override_settings(DEBUG=True)  # the command is for development and benchmark databases
class GenerateDataTest(FundsTestCase):
    @override_settings(DEBUG=False)
    def test_it_refuses_to_generate_with_debug_off_unless_forced(self):
        with pytest.raises(CommandError, match="DEBUG is off"):
            call_command("generate_data", "--cases=1", stdout=io.StringIO())
        assert not Case.objects.filter(number__startswith="GEN-").exists()
        call_command("generate_data", "--cases=1", "--cities=1", "--force", stdout=io.StringIO())
        assert Case.objects.filter(number__startswith="GEN-").count() == 1

    def test_generate_data_writes_a_history_whose_amounts_and_stages_agree(self):
        out = io.StringIO()
        call_command(
            "generate_data",
            "--cases=60",
            "--seed=5",
            "--cities=1",
            "--now=2026-03-20T18:00:00+08:00",
            stdout=out,
        )
        assert out.getvalue().startswith("Generated 60 cases")
        assert Case.objects.filter(number__startswith="GEN-").count() == 60
        generated = Organization.objects.filter(code__startswith="3701", level="station")
        assert generated.count() > 6  # stations added under 济南's counties
        instructions = list(Instruction.objects.all())
        executed = [i for i in instructions if i.status == "executed"]
        for account in InvolvedAccount.objects.all():
            # R12: a freeze registered in line holds nothing until the bank confirms its hold.
            mine = [
                i
                for i in executed
                if i.involved_account_id == account.pk
                and not (i.kind == "freeze" and i.hold_confirmed_at is None)
            ]
            for kind, amount in [
                ("stop_payment", account.stopped_amount),
                ("freeze", account.frozen_amount),
                ("release", account.released_amount),
                ("return", account.returned_amount),
            ]:
                assert amount == sum((i.executed_amount for i in mine if i.kind == kind), ZERO)
            held = [
                i
                for i in instructions
                if i.involved_account_id == account.pk
                and i.kind in ("stop_payment", "freeze")
                and i.status != "cancelled"
            ]
            assert account.stage == derive_stage(account, held, NOW), account.pk
        for freeze in (i for i in executed if i.kind == "freeze"):
            taken = [i for i in executed if i.freeze_id == freeze.pk]
            assert freeze.released_amount == sum(
                (i.executed_amount for i in taken if i.kind == "release"), ZERO
            )
            assert freeze.returned_amount == sum(
                (i.executed_amount for i in taken if i.kind == "return"), ZERO
            )
            case = Case.objects.get(pk=freeze.case_id)
            assert case.filed_at is not None and freeze.requested_at > case.filed_at  # R4
        for victim in Victim.objects.all():
            assert victim.returned_amount == sum(
                (
                    i.executed_amount
                    for i in executed
                    if i.kind == "return" and i.victim_id == victim.pk
                ),
                ZERO,
            )
        assert all(i.requested_at <= NOW for i in instructions)
        assert all(i.responded_at is None or i.responded_at <= NOW for i in instructions)

    def test_returns_are_due_after_the_working_days_of_r11(self):
        generate(cases=150, seed=7, days=200, now=NOW, cities=1)
        returns = Instruction.objects.filter(kind="return", approved_at__isnull=False)
        assert returns.exists()
        for back in returns:
            due = add_working_days(back.approved_at, rule("RETURN_WORKING_DAYS"))
            assert back.response_due_at == due, back.pk
        # Some of them span a weekend or a holiday: more than three calendar days.
        assert any(back.response_due_at - back.approved_at > timedelta(days=4) for back in returns)
