"""Real concurrency on PostgreSQL: several threads call the services at the same moment.

Each test builds its data in the main thread through the services, commits it (these are
transactional tests, so nothing is wrapped in a test transaction), then lets a
``threading.Barrier`` release the threads together. Every thread opens its own database
connection before the barrier, so that all of them are ready to race, and closes it at the
end. The locks under test are the services' own (case, involved account, instructions by id,
victim; the upsert on the case-number counter).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.credentials import api_token_issue
from accounts.models import Role, User
from devdata.world import build_demo_world
from funds import acting_time
from funds.errors import InvalidState, RuleViolation
from funds.models import (
    AllocationRound,
    BankAccount,
    Case,
    EndReason,
    Event,
    Flag,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Notification,
    RoundStatus,
    Victim,
)
from funds.models.instructions import OPEN_STATUSES
from funds.models.money import ZERO
from funds.selectors import freeze_available, victim_owed
from funds.services.cases import account_add, case_accept, case_file, case_report, victim_add
from funds.services.instructions import (
    InstructionRequest,
    instruction_approve,
    instruction_cancel,
    instruction_execute,
    instruction_reject,
    instruction_request,
)
from funds.services.rounds import round_confirm, round_open
from funds.services.stages import derive_stage
from funds.services.sweep import SweepResult, sweep

pytestmark = pytest.mark.django_db(transaction=True)

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- running calls at once ---------------------------------------------------------------


def run_at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread, all released together; answer each call's result or
    the exception it raised, in the order of the calls."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            # Connect before the barrier, so that connection set-up does not stagger the race.
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, call), name=f"race-{i}")
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished"
    return results


def succeeded(results: list[Any]) -> list[Any]:
    return [r for r in results if not isinstance(r, BaseException)]


def failed(results: list[Any]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException)]


def user(username: str) -> User:
    """The user, read afresh in the calling thread's own connection."""
    return User.objects.select_related("organization").get(username=username)


def instruction(pk: int) -> Instruction:
    return Instruction.objects.get(pk=pk)


# -- the world and the steps to build a case ---------------------------------------------


@pytest.fixture
def world() -> SimpleNamespace:
    """The demo personas (tests/base.py), plus a second ICBC liaison and a second officer of
    历下, so that two people of the same bank or unit can race each other."""
    orgs, _created = build_demo_world()
    User.objects.create_user(
        "liaison_icbc_2", password="second-pass-2026", role=Role.LIAISON, organization=orgs["ICBC"]
    )
    User.objects.create_user(
        "officer_lx_2", password="second-pass-2026", role=Role.OFFICER, organization=orgs["370102"]
    )
    return SimpleNamespace(
        orgs=orgs, **{u.username: u for u in User.objects.select_related("organization")}
    )


def report(officer: User, title: str = "冒充客服退款诈骗") -> Case:
    return case_report(
        actor=officer,
        title=title,
        fraud_type="impersonating_customer_service",
        reported_at=timezone.now(),
    )


def filed_case(officer: User) -> Case:
    case = report(officer)
    case_accept(actor=officer, case=case)
    return case_file(actor=officer, case=case, filing_number="济公立字〔2026〕101号")


def add_account(
    officer: User, case: Case, number: str = "6222020000000001", institution: str = "ICBC"
) -> InvolvedAccount:
    return account_add(
        actor=officer,
        case=case,
        institution_code=institution,
        number=number,
        holder_name="王某",
        layer=1,
    )


def add_victim(officer: User, case: Case, name: str, loss: str = "10000.00") -> Victim:
    """A victim with their own account on file, where returns are paid (R9)."""
    return victim_add(
        actor=officer,
        case=case,
        name=name,
        id_number="370102199001071234",
        phone="13800138000",
        loss_amount=Decimal(loss),
        account_institution_code="CCB",
        account_number="6217009900001234",
        account_holder_name=name,
    )


def ask_stop(
    officer: User, case: Case, involved_account: InvolvedAccount, amount: str
) -> Instruction:
    return instruction_request(
        actor=officer,
        case=case,
        request=InstructionRequest(
            kind=InstructionKind.STOP_PAYMENT,
            involved_account_id=involved_account.pk,
            amount=Decimal(amount),
        ),
    )


def frozen(w: SimpleNamespace, amount: str) -> tuple[Case, InvolvedAccount, Instruction]:
    """A filed case of 历下 with an ICBC account frozen for ``amount``."""
    case = filed_case(w.officer_lx)
    involved_account = add_account(w.officer_lx, case)
    freeze = instruction_request(
        actor=w.officer_lx,
        case=case,
        request=InstructionRequest(
            kind=InstructionKind.FREEZE,
            involved_account_id=involved_account.pk,
            amount=Decimal(amount),
            term_months=6,
        ),
    )
    instruction_approve(actor=w.manager_lx, instruction=freeze)
    freeze = instruction_execute(
        actor=w.liaison_icbc,
        instruction=freeze,
        executed_amount=Decimal(amount),
        bank_reference="ICBC-F-1",
    )
    return case, involved_account, freeze


def ask_follow_up(
    officer: User,
    case: Case,
    freeze: Instruction,
    kind: str,
    amount: str,
    victim: Victim | None = None,
) -> Instruction:
    return instruction_request(
        actor=officer,
        case=case,
        request=InstructionRequest(
            kind=kind,
            involved_account_id=None,
            amount=Decimal(amount),
            freeze_id=freeze.pk,
            victim_id=victim.pk if victim else None,
            reason="查明与本案无关" if kind == InstructionKind.RELEASE else "",
        ),
    )


def events_of(instr: Instruction, type: str) -> int:
    return Event.objects.filter(instruction=instr, type=type).count()


def assert_amounts_hold(involved_account: InvolvedAccount) -> None:
    """The account's amounts agree with its executed instructions and stay within frozen."""
    involved_account.refresh_from_db()
    executed = Instruction.objects.filter(
        involved_account=involved_account, status=InstructionStatus.EXECUTED
    )

    def total(kind: str) -> Decimal:
        return executed.filter(kind=kind).aggregate(t=Sum("executed_amount"))["t"] or ZERO

    assert involved_account.stopped_amount == total(InstructionKind.STOP_PAYMENT)
    assert involved_account.frozen_amount == total(InstructionKind.FREEZE)
    assert involved_account.released_amount == total(InstructionKind.RELEASE)
    assert involved_account.returned_amount == total(InstructionKind.RETURN)
    assert (
        involved_account.released_amount + involved_account.returned_amount
        <= involved_account.frozen_amount
    )
    for freeze in Instruction.objects.filter(
        involved_account=involved_account, kind=InstructionKind.FREEZE
    ):
        follow_ups = executed.filter(freeze=freeze)
        released = follow_ups.filter(kind=InstructionKind.RELEASE).aggregate(
            t=Sum("executed_amount")
        )["t"]
        returned = follow_ups.filter(kind=InstructionKind.RETURN).aggregate(
            t=Sum("executed_amount")
        )["t"]
        assert freeze.released_amount == (released or ZERO)
        assert freeze.returned_amount == (returned or ZERO)
        assert freeze.released_amount + freeze.returned_amount <= (freeze.executed_amount or ZERO)
    for victim in Victim.objects.filter(case=involved_account.case):
        paid = executed.filter(kind=InstructionKind.RETURN, victim=victim).aggregate(
            t=Sum("executed_amount")
        )["t"]
        assert victim.returned_amount == (paid or ZERO)


# -- (a) one instruction, two answers at once ---------------------------------------------


def test_two_liaisons_executing_one_stop_payment_at_once_count_it_once(world):
    case = report(world.officer_lx)
    involved_account = add_account(world.officer_lx, case)
    stop = ask_stop(world.officer_lx, case, involved_account, "40000.00")

    def execute(username: str, reference: str) -> Instruction:
        return instruction_execute(
            actor=user(username),
            instruction=instruction(stop.pk),
            executed_amount=Decimal("25000.00"),
            bank_reference=reference,
        )

    results = run_at_once(
        lambda: execute("liaison_icbc", "ICBC-A"), lambda: execute("liaison_icbc_2", "ICBC-B")
    )

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    stop.refresh_from_db()
    winner = succeeded(results)[0]
    assert stop.status == InstructionStatus.EXECUTED
    assert stop.bank_reference == winner.bank_reference
    assert stop.responded_by_id == winner.responded_by_id
    assert events_of(stop, "instruction_executed") == 1
    involved_account.refresh_from_db()
    assert involved_account.stopped_amount == Decimal("25000.00")
    assert involved_account.stage == "stopped"
    assert_amounts_hold(involved_account)


def test_two_liaisons_executing_one_return_at_once_pay_the_victim_once(world):
    case, involved_account, freeze = frozen(world, "1000.00")
    victim = add_victim(world.officer_lx, case, "张三")
    ret = ask_follow_up(world.officer_lx, case, freeze, InstructionKind.RETURN, "600.00", victim)
    instruction_approve(actor=world.manager_jn, instruction=ret)

    def execute(username: str) -> Instruction:
        return instruction_execute(
            actor=user(username),
            instruction=instruction(ret.pk),
            executed_amount=Decimal("600.00"),
            bank_reference=f"{username}-R",
        )

    results = run_at_once(lambda: execute("liaison_icbc"), lambda: execute("liaison_icbc_2"))

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    assert events_of(ret, "instruction_executed") == 1
    victim.refresh_from_db()
    freeze.refresh_from_db()
    assert victim.returned_amount == Decimal("600.00")
    assert freeze.returned_amount == Decimal("600.00")
    assert freeze.held_amount == Decimal("400.00")
    assert_amounts_hold(involved_account)


def test_two_liaisons_executing_one_instruction_at_once_over_http_get_200_and_409(world):
    case = report(world.officer_lx)
    involved_account = add_account(world.officer_lx, case)
    stop = ask_stop(world.officer_lx, case, involved_account, "5000.00")
    tokens = [
        api_token_issue(user=world.liaison_icbc).secret,
        api_token_issue(user=world.liaison_icbc_2).secret,
    ]

    def execute(token: str) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(
            f"/api/v1/instructions/{stop.pk}/execute/",
            {"executed_amount": "5000.00", "bank_reference": f"REF-{token[:6]}"},
            format="json",
        )
        return response.status_code

    results = run_at_once(*(lambda t=t: execute(t) for t in tokens))

    assert sorted(results) == [200, 409], results
    assert events_of(stop, "instruction_executed") == 1
    involved_account.refresh_from_db()
    assert involved_account.stopped_amount == Decimal("5000.00")


def test_a_bank_executing_while_another_liaison_rejects_gives_one_answer(world):
    case = report(world.officer_lx)
    involved_account = add_account(world.officer_lx, case)
    stop = ask_stop(world.officer_lx, case, involved_account, "3000.00")

    results = run_at_once(
        lambda: instruction_execute(
            actor=user("liaison_icbc"),
            instruction=instruction(stop.pk),
            executed_amount=Decimal("3000.00"),
            bank_reference="ICBC-X",
        ),
        lambda: instruction_reject(
            actor=user("liaison_icbc_2"), instruction=instruction(stop.pk), reason="户名不符"
        ),
    )

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    stop.refresh_from_db()
    involved_account.refresh_from_db()
    executed = stop.status == InstructionStatus.EXECUTED
    assert stop.status == succeeded(results)[0].status
    assert events_of(stop, "instruction_executed") == int(executed)
    assert events_of(stop, "instruction_rejected") == int(not executed)
    assert involved_account.stopped_amount == (Decimal("3000.00") if executed else ZERO)
    assert involved_account.stage == ("stopped" if executed else "stop_failed")


def test_an_officer_cancelling_while_the_bank_executes_gives_one_answer(world):
    case = report(world.officer_lx)
    involved_account = add_account(world.officer_lx, case)
    stop = ask_stop(world.officer_lx, case, involved_account, "3000.00")

    results = run_at_once(
        lambda: instruction_execute(
            actor=user("liaison_icbc"),
            instruction=instruction(stop.pk),
            executed_amount=Decimal("1200.00"),
            bank_reference="ICBC-Y",
        ),
        lambda: instruction_cancel(actor=user("officer_lx_2"), instruction=instruction(stop.pk)),
    )

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    stop.refresh_from_db()
    involved_account.refresh_from_db()
    executed = stop.status == InstructionStatus.EXECUTED
    assert stop.status == succeeded(results)[0].status
    assert events_of(stop, "instruction_executed") == int(executed)
    assert events_of(stop, "instruction_cancelled") == int(not executed)
    assert involved_account.stopped_amount == (Decimal("1200.00") if executed else ZERO)
    assert involved_account.stage == ("stopped" if executed else "identified")


# -- (b) many returns against one freeze ---------------------------------------------------


def test_eight_returns_asked_at_once_never_promise_more_than_the_freeze_holds(world):
    case, involved_account, freeze = frozen(world, "1000.00")
    victims = [add_victim(world.officer_lx, case, f"被害人{i}") for i in range(4)]

    def ask(index: int) -> Instruction:
        return ask_follow_up(
            user("officer_lx" if index % 2 else "officer_lx_2"),
            Case.objects.get(pk=case.pk),
            instruction(freeze.pk),
            InstructionKind.RETURN,
            "300.00",
            victims[index % len(victims)],
        )

    results = run_at_once(*(lambda i=i: ask(i) for i in range(8)))

    returns = succeeded(results)
    assert len(returns) == 3, results
    refusals = failed(results)
    assert [type(e) for e in refusals] == [RuleViolation] * 5
    assert {e.field for e in refusals if isinstance(e, RuleViolation)} == {"amount"}
    asked = Instruction.objects.filter(freeze=freeze, kind=InstructionKind.RETURN).exclude(
        status__in=[InstructionStatus.CANCELLED, InstructionStatus.REJECTED]
    )
    assert asked.count() == 3
    assert asked.aggregate(t=Sum("requested_amount"))["t"] <= Decimal("1000.00")

    for ret in returns:
        instruction_approve(actor=world.manager_jn, instruction=ret)

    # Each return is executed by both ICBC liaisons at once: six answers for three returns.
    def execute(pk: int, username: str) -> Instruction:
        return instruction_execute(
            actor=user(username),
            instruction=instruction(pk),
            executed_amount=Decimal("300.00"),
            bank_reference=f"{username}-{pk}",
        )

    results = run_at_once(
        *(
            lambda pk=ret.pk, name=name: execute(pk, name)
            for ret in returns
            for name in ("liaison_icbc", "liaison_icbc_2")
        )
    )

    assert len(succeeded(results)) == 3, results
    assert [type(e) for e in failed(results)] == [InvalidState] * 3
    for ret in returns:
        assert events_of(ret, "instruction_executed") == 1
    freeze.refresh_from_db()
    involved_account.refresh_from_db()
    executed_returns = Instruction.objects.filter(
        freeze=freeze, kind=InstructionKind.RETURN, status=InstructionStatus.EXECUTED
    ).aggregate(t=Sum("executed_amount"))["t"]
    assert freeze.returned_amount == executed_returns == Decimal("900.00")
    assert freeze.held_amount == Decimal("100.00")
    assert (
        involved_account.released_amount + involved_account.returned_amount
        <= involved_account.frozen_amount
    )
    assert involved_account.returned_amount == Decimal("900.00")
    assert sum(v.returned_amount for v in Victim.objects.filter(case=case)) == Decimal("900.00")
    assert_amounts_hold(involved_account)


def test_releases_and_returns_racing_their_own_executions_never_overdraw_a_freeze(world):
    case, involved_account, freeze = frozen(world, "1000.00")
    victim = add_victim(world.officer_lx, case, "张三")

    def ask(kind: str, amount: str) -> Instruction:
        return ask_follow_up(
            user("officer_lx"),
            Case.objects.get(pk=case.pk),
            instruction(freeze.pk),
            kind,
            amount,
            victim if kind == InstructionKind.RETURN else None,
        )

    kinds = [InstructionKind.RETURN, InstructionKind.RELEASE] * 4
    results = run_at_once(*(lambda k=k: ask(k, "300.00") for k in kinds))
    first_round = succeeded(results)
    assert len(first_round) == 3, results
    assert all(isinstance(e, RuleViolation) and e.field == "amount" for e in failed(results))
    for follow_up in first_round:
        manager = world.manager_jn if follow_up.kind == InstructionKind.RETURN else world.manager_lx
        instruction_approve(actor=manager, instruction=follow_up)

    # What is available (held less open asks) stays 100.00 whichever order the three
    # executions and the six new asks of 100.00 take: exactly one new ask fits.
    def execute(pk: int) -> Instruction:
        return instruction_execute(
            actor=user("liaison_icbc"),
            instruction=instruction(pk),
            executed_amount=Decimal("300.00"),
            bank_reference=f"ICBC-{pk}",
        )

    calls = [lambda pk=f.pk: execute(pk) for f in first_round]
    calls += [lambda k=k: ask(k, "100.00") for k in kinds[:6]]
    results = run_at_once(*calls)

    assert all(isinstance(r, Instruction) for r in results[:3]), results[:3]
    second_round = succeeded(results[3:])
    assert len(second_round) == 1, results[3:]
    assert all(isinstance(e, RuleViolation) and e.field == "amount" for e in failed(results[3:]))
    freeze.refresh_from_db()
    assert freeze.held_amount == Decimal("100.00")
    open_asks = Instruction.objects.filter(
        freeze=freeze,
        status__in=[InstructionStatus.AWAITING_APPROVAL, InstructionStatus.PENDING],
    ).aggregate(t=Sum("requested_amount"))["t"]
    assert open_asks == Decimal("100.00")
    assert_amounts_hold(involved_account)


# -- (b2) returns to one victim: never beyond what the victim is owed (R9, R10) ------------


def test_two_returns_to_one_victim_asked_at_once_never_exceed_what_is_owed(world):
    case, involved_account, freeze = frozen(world, "5000.00")
    victim = add_victim(world.officer_lx, case, "张三", loss="1000.00")

    def ask(username: str) -> Instruction:
        return ask_follow_up(
            user(username),
            Case.objects.get(pk=case.pk),
            instruction(freeze.pk),
            InstructionKind.RETURN,
            "600.00",
            Victim.objects.get(pk=victim.pk),
        )

    results = run_at_once(lambda: ask("officer_lx"), lambda: ask("officer_lx_2"))

    # Both fit what the freeze holds; only one fits what the victim is owed.
    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    asked = Instruction.objects.filter(victim=victim, kind=InstructionKind.RETURN)
    assert asked.count() == 1
    assert asked.get().requested_amount == Decimal("600.00")
    assert (
        Event.objects.filter(
            case=case, type="instruction_requested", data__victim=victim.pk
        ).count()
        == 1
    )
    assert victim_owed(Victim.objects.get(pk=victim.pk)) == Decimal("400.00")
    assert_amounts_hold(involved_account)


def test_two_returns_to_one_victim_from_two_freezes_at_once_never_exceed_what_is_owed(world):
    # Two freezes, so the two requests lock different involved accounts: the case's lock
    # and the victim's are what keep them apart.
    case, _involved_account, first = frozen(world, "5000.00")
    second_account = add_account(world.officer_lx, case, number="6222020000000002")
    second = instruction_request(
        actor=world.officer_lx,
        case=case,
        request=InstructionRequest(
            kind=InstructionKind.FREEZE,
            involved_account_id=second_account.pk,
            amount=Decimal("5000.00"),
            term_months=6,
        ),
    )
    instruction_approve(actor=world.manager_lx, instruction=second)
    second = instruction_execute(
        actor=world.liaison_icbc,
        instruction=second,
        executed_amount=Decimal("5000.00"),
        bank_reference="ICBC-F-2",
    )
    victim = add_victim(world.officer_lx, case, "张三", loss="1000.00")

    def ask(username: str, freeze: Instruction) -> Instruction:
        return ask_follow_up(
            user(username),
            Case.objects.get(pk=case.pk),
            instruction(freeze.pk),
            InstructionKind.RETURN,
            "700.00",
            Victim.objects.get(pk=victim.pk),
        )

    results = run_at_once(lambda: ask("officer_lx", first), lambda: ask("officer_lx_2", second))

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    assert Instruction.objects.filter(victim=victim, kind=InstructionKind.RETURN).count() == 1


def test_a_return_asked_while_a_round_opens_never_counts_the_same_money_twice(world):
    case, involved_account, freeze = frozen(world, "1000.00")
    victims = [add_victim(world.officer_lx, case, name, loss="800.00") for name in ("张三", "李四")]

    results = run_at_once(
        lambda: round_open(
            actor=user("officer_lx"), case=Case.objects.get(pk=case.pk), freeze_id=freeze.pk
        ),
        lambda: ask_follow_up(
            user("officer_lx_2"),
            Case.objects.get(pk=case.pk),
            instruction(freeze.pk),
            InstructionKind.RETURN,
            "800.00",
            Victim.objects.get(pk=victims[0].pk),
        ),
    )

    # Whichever came first, the other saw it: the freeze is never promised beyond what it
    # holds, and no victim beyond the loss.
    assert not [e for e in failed(results) if not isinstance(e, (InvalidState, RuleViolation))]
    freeze.refresh_from_db()
    asked = (
        Instruction.objects.filter(freeze=freeze, status__in=OPEN_STATUSES).aggregate(
            t=Sum("requested_amount")
        )["t"]
        or ZERO
    )
    reserved = (
        AllocationRound.objects.filter(freeze=freeze, status=RoundStatus.NOTICE).aggregate(
            t=Sum("available")
        )["t"]
        or ZERO
    )
    assert asked + reserved <= freeze.held_amount
    assert freeze_available(freeze) == freeze.held_amount - asked - reserved
    for victim in Victim.objects.filter(case=case):
        assert victim_owed(victim) >= 0, victim
    assert_amounts_hold(involved_account)


def test_two_rounds_opened_at_once_over_one_freeze_open_one(world):
    case, _involved_account, freeze = frozen(world, "1000.00")
    add_victim(world.officer_lx, case, "张三")

    def open_round(username: str) -> AllocationRound:
        return round_open(
            actor=user(username), case=Case.objects.get(pk=case.pk), freeze_id=freeze.pk
        )

    results = run_at_once(lambda: open_round("officer_lx"), lambda: open_round("officer_lx_2"))

    # A conflict the service saw under the case's lock, not the partial unique index tripping.
    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    assert AllocationRound.objects.filter(freeze=freeze).count() == 1
    assert Event.objects.filter(case=case, type="round_opened").count() == 1


def test_a_round_confirmed_twice_at_once_sends_its_returns_once(world):
    case, involved_account, freeze = frozen(world, "1000.00")
    for name in ("张三", "李四"):
        add_victim(world.officer_lx, case, name, loss="500.00")
    start = datetime(2026, 6, 1, 9, 0, tzinfo=SHANGHAI)
    with acting_time.acting_at(start):
        allocation_round = round_open(actor=world.officer_lx, case=case, freeze_id=freeze.pk)
    User.objects.create_user(
        "manager_jn_2",
        password="second-pass-2026",
        role=Role.MANAGER,
        organization=world.orgs["370100"],
    )

    def confirm(username: str) -> AllocationRound:
        return round_confirm(
            actor=user(username),
            allocation_round=AllocationRound.objects.get(pk=allocation_round.pk),
        )

    with time_machine.travel(start + timedelta(days=31), tick=False):
        results = run_at_once(lambda: confirm("manager_jn"), lambda: confirm("manager_jn_2"))

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    returns = Instruction.objects.filter(freeze=freeze, kind=InstructionKind.RETURN)
    assert sorted(r.requested_amount for r in returns) == [Decimal("500.00"), Decimal("500.00")]
    assert Event.objects.filter(case=case, type="round_confirmed").count() == 1
    assert_amounts_hold(involved_account)


# -- (c) case numbers --------------------------------------------------------------------


def test_cases_reported_at_once_get_unique_consecutive_numbers_per_unit(world):
    # A fixed moment in mid-year, ticking, so that the numbers' year is known.
    with time_machine.travel(datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI), tick=True):

        def report_many(username: str, count: int) -> list[str]:
            officer = user(username)
            return [report(officer, f"并发报案 {i}").number for i in range(count)]

        lixia = ["officer_lx", "officer_lx_2"] * 2 + ["officer_lx"]  # 5 threads x 4 of 历下
        results = run_at_once(
            *(lambda name=name: report_many(name, 4) for name in lixia),
            lambda: report_many("officer_sn", 5),  # and 5 of 市南 meanwhile
            lambda: report_many("officer_sn", 5),
        )

    assert not failed(results), failed(results)
    lixia_numbers = [n for batch in results[:5] for n in batch]
    shinan_numbers = [n for batch in results[5:] for n in batch]
    assert sorted(lixia_numbers) == [f"370102-2026-{i:05d}" for i in range(1, 21)]
    assert sorted(shinan_numbers) == [f"370202-2026-{i:05d}" for i in range(1, 11)]
    assert Case.objects.count() == 30
    assert Event.objects.filter(type="case_reported").count() == 30


# -- (d) two stop-payments on one account ------------------------------------------------


def test_stop_payments_asked_at_once_on_one_account_create_exactly_one(world):
    case = report(world.officer_lx)
    involved_account = add_account(world.officer_lx, case)

    def ask(username: str) -> Instruction:
        return ask_stop(
            user(username),
            Case.objects.get(pk=case.pk),
            InvolvedAccount.objects.get(pk=involved_account.pk),
            "40000.00",
        )

    results = run_at_once(*(lambda n=n: ask(n) for n in ["officer_lx", "officer_lx_2"] * 3))

    assert len(succeeded(results)) == 1, results
    # A conflict the service saw under its lock, not a unique index tripping (IntegrityError).
    assert [type(e) for e in failed(results)] == [InvalidState] * 5
    stops = Instruction.objects.filter(
        involved_account=involved_account, kind=InstructionKind.STOP_PAYMENT
    )
    assert stops.count() == 1
    assert Event.objects.filter(case=case, type="instruction_requested").count() == 1
    involved_account.refresh_from_db()
    assert involved_account.stage == "stop_requested"


# -- more races --------------------------------------------------------------------------


def test_two_cases_adding_one_new_account_at_once_share_one_bank_account(world):
    lixia_case = report(world.officer_lx)
    shinan_case = report(world.officer_sn)

    results = run_at_once(
        lambda: add_account(
            user("officer_lx"), Case.objects.get(pk=lixia_case.pk), number="6222029999999999"
        ),
        lambda: add_account(
            user("officer_sn"), Case.objects.get(pk=shinan_case.pk), number="6222029999999999"
        ),
    )

    assert not failed(results), results
    assert BankAccount.objects.filter(number="6222029999999999").count() == 1
    account = BankAccount.objects.get(number="6222029999999999")
    assert sorted(
        InvolvedAccount.objects.filter(account=account).values_list("case", flat=True)
    ) == [
        lixia_case.pk,
        shinan_case.pk,
    ]


def test_accepting_a_case_twice_at_once_accepts_it_once(world):
    case = report(world.officer_lx)

    results = run_at_once(
        lambda: case_accept(actor=user("officer_lx"), case=Case.objects.get(pk=case.pk)),
        lambda: case_accept(actor=user("officer_lx_2"), case=Case.objects.get(pk=case.pk)),
    )

    assert len(succeeded(results)) == 1, results
    assert [type(e) for e in failed(results)] == [InvalidState]
    assert Counter(Event.objects.filter(case=case).values_list("type", flat=True)) == {
        "case_reported": 1,
        "case_accepted": 1,
    }


# -- the deadline sweep ------------------------------------------------------------------


def test_two_sweeps_at_once_lapse_each_stop_payment_once(world):
    start = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)
    stops = []
    with time_machine.travel(start, tick=False):
        for n in range(3):
            case = report(world.officer_lx)
            involved_account = add_account(world.officer_lx, case, number=f"622202000000010{n}")
            stop = ask_stop(world.officer_lx, case, involved_account, "1000.00")
            stops.append(
                instruction_execute(
                    actor=world.liaison_icbc,
                    instruction=stop,
                    executed_amount=Decimal("1000.00"),
                    bank_reference=f"ICBC-S-{n}",
                )
            )

    # Two workers run the periodic sweep at the same moment, after R2's 48 hours.
    later = start + timedelta(hours=49)
    results = run_at_once(lambda: sweep(later), lambda: sweep(later))

    assert not failed(results), results
    assert sum(r.lapsed for r in results) == 3, results
    for stop in stops:
        stop.refresh_from_db()
        assert stop.end_reason == EndReason.LAPSED
        assert stop.ended_at == stop.effective_until
        assert Event.objects.filter(instruction=stop, type="stop_lapsed").count() == 1
        involved_account = InvolvedAccount.objects.get(pk=stop.involved_account_id)
        assert involved_account.stage == "lapsed"
    # Running it again changes nothing.
    assert sweep(later).lapsed == 0
    assert Event.objects.filter(type="stop_lapsed").count() == 3


def reported_cases(officer: User, count: int, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        for _ in range(count):
            report(officer)


def committed_flags() -> list[int]:
    """The flags' clocks as another connection sees them: what was committed."""
    return run_at_once(lambda: sorted(Flag.objects.values_list("deadline_id", flat=True)))[0]


def test_two_sweeps_at_once_in_small_batches_raise_and_tell_each_flag_once(world):
    start = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)
    reported_cases(world.officer_lx, 7, start)
    # R13's half hour ran out for all seven; two workers sweep, two clocks a transaction.
    later = start + timedelta(hours=1)
    results = run_at_once(lambda: sweep(later, batch=2), lambda: sweep(later, batch=2))

    assert not failed(results), results
    assert sum(r.flags_raised for r in results) == 7, results
    assert sum(r.notifications for r in results) == 7, results
    assert Flag.objects.filter(kind="first_stop_overdue", level="overdue").count() == 7
    assert Flag.objects.count() == 7  # first seen past due: no stale warning
    assert (
        list(Notification.objects.values_list("recipient_id", flat=True))
        == [world.officer_lx.pk] * 7
    )
    assert sweep(later, batch=2) == SweepResult()


def test_a_failure_in_a_later_batch_leaves_the_earlier_ones_committed_for_the_next_pass(world):
    start = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)
    reported_cases(world.officer_lx, 5, start)
    later = start + timedelta(hours=1)
    batches = 0

    def third_batch_fails(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal batches
        if "INSERT INTO funds_flag (deadline_id" in sql:  # the batch raising flags
            batches += 1
            if batches == 3:
                raise OperationalError("the server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    # Five clocks two at a time: the third batch (the fifth clock) fails.
    with connection.execute_wrapper(third_batch_fails), pytest.raises(OperationalError):
        sweep(later, batch=2)

    clocks = committed_flags()
    assert len(clocks) == 4
    assert Notification.objects.count() == 4
    # The next pass takes what is still due: the fifth clock, and nothing twice.
    finished = sweep(later, batch=2)
    assert (finished.flags_raised, finished.notifications, finished.batches) == (1, 1, 1)
    assert len(committed_flags()) == 5 == len(set(committed_flags()))
    assert set(clocks) < set(committed_flags())  # the first four stayed as they were
    assert Notification.objects.count() == 5
    assert sweep(later, batch=2) == SweepResult()


def test_a_freeze_executed_while_the_sweep_lapses_the_stop_ends_the_stop_once(world):
    start = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False):
        case = filed_case(world.officer_lx)
        involved_account = add_account(world.officer_lx, case)
        stop = ask_stop(world.officer_lx, case, involved_account, "1000.00")
        instruction_execute(
            actor=world.liaison_icbc,
            instruction=stop,
            executed_amount=Decimal("1000.00"),
            bank_reference="ICBC-S",
        )
        freeze = instruction_request(
            actor=world.officer_lx,
            case=case,
            request=InstructionRequest(
                kind=InstructionKind.FREEZE,
                involved_account_id=involved_account.pk,
                amount=Decimal("1000.00"),
                term_months=6,
            ),
        )
        instruction_approve(actor=world.manager_lx, instruction=freeze)

    # The bank freezes just as the stop-payment's 48 hours run out and the sweep runs.
    later = start + timedelta(hours=48, minutes=1)
    with time_machine.travel(later, tick=False):
        results = run_at_once(
            lambda: sweep(later),
            lambda: instruction_execute(
                actor=user("liaison_icbc"),
                instruction=instruction(freeze.pk),
                executed_amount=Decimal("1000.00"),
                bank_reference="ICBC-F",
            ),
        )

    # Neither may fail: the sweep and a service must queue on the case's lock (the one lock
    # order of every service), never deadlock.
    assert not failed(results), results
    stop.refresh_from_db()
    freeze.refresh_from_db()
    involved_account.refresh_from_db()
    # Either the sweep lapsed the stop first, or the freeze superseded it first; never both.
    assert stop.end_reason in (EndReason.LAPSED, EndReason.SUPERSEDED)
    lapsed_events = Event.objects.filter(instruction=stop, type="stop_lapsed").count()
    assert lapsed_events == int(stop.end_reason == EndReason.LAPSED)
    assert freeze.status == InstructionStatus.EXECUTED
    assert involved_account.stage == "frozen"
    holds = list(
        Instruction.objects.filter(
            involved_account=involved_account,
            kind__in=[InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE],
        )
    )
    assert involved_account.stage == derive_stage(involved_account, holds, later)
    assert_amounts_hold(involved_account)


# -- R12: one bank account, freezes in line ----------------------------------------------


def ask_freeze(officer: User, case: Case, involved_account: InvolvedAccount) -> Instruction:
    return instruction_request(
        actor=officer,
        case=Case.objects.get(pk=case.pk),
        request=InstructionRequest(
            kind=InstructionKind.FREEZE,
            involved_account_id=involved_account.pk,
            amount=Decimal("8000.00"),
            term_months=6,
        ),
    )


def test_freezes_asked_at_once_by_cases_sharing_an_account_queue_all_but_one(world):
    cases = [filed_case(world.officer_lx), filed_case(world.officer_sn)]
    cases += [filed_case(world.officer_lx_2), filed_case(world.officer_sn)]
    officers = ["officer_lx", "officer_sn", "officer_lx_2", "officer_sn"]
    involvements = [add_account(user(o), c) for o, c in zip(officers, cases, strict=True)]
    assert len({i.account_id for i in involvements}) == 1

    results = run_at_once(
        *(
            lambda o=o, c=c, i=i: ask_freeze(user(o), c, i)
            for o, c, i in zip(officers, cases, involvements, strict=True)
        )
    )

    freezes = succeeded(results)
    assert len(freezes) == 4, results
    # Exactly one is first; the others queue behind it, each seeing the ones before.
    assert sorted(f.queued for f in freezes) == [False, True, True, True]
    first = min(freezes, key=lambda f: f.pk)
    assert first.queued is False


def test_a_freeze_ending_while_another_is_asked_never_leaves_two_in_force(world):
    """The freeze ahead is emptied by a return at the moment another case asks: whichever
    goes first, the new freeze is either not queued (the first had ended) or queued and then
    moved up by the ending, never in force beside it."""
    case, _involved_account, freeze = frozen(world, "8000.00")
    victim = add_victim(world.officer_lx, case, "张三", "8000.00")
    Victim.objects.filter(pk=victim.pk).update(
        account_institution=world.orgs["CCB"], account_number="6217000000000001"
    )
    back = ask_follow_up(world.officer_lx, case, freeze, InstructionKind.RETURN, "8000.00", victim)
    instruction_approve(actor=world.manager_jn, instruction=back)
    other = filed_case(world.officer_sn)
    other_involvement = add_account(world.officer_sn, other)

    def pay() -> Instruction:
        return instruction_execute(
            actor=user("liaison_icbc"),
            instruction=instruction(back.pk),
            executed_amount=Decimal("8000.00"),
            bank_reference="ICBC-R-1",
        )

    def ask() -> Instruction:
        asked = ask_freeze(user("officer_sn"), other, other_involvement)
        instruction_approve(actor=user("manager_sd"), instruction=asked)
        return instruction_execute(
            actor=user("liaison_icbc_2"),
            instruction=instruction(asked.pk),
            executed_amount=Decimal("8000.00"),
            bank_reference="ICBC-F-2",
        )

    results = run_at_once(pay, ask)
    assert not failed(results), results
    first, second = instruction(freeze.pk), instruction(results[1].pk)
    assert first.ended_at is not None
    # The second took effect: at its answer, or when the first ended (then awaiting the
    # bank's confirmation of what it holds).
    assert second.effective_from is not None
    assert second.effective_from >= first.ended_at or not second.queued
    held = [f for f in (first, second) if f.hold_confirmed_at and not f.ended_at]
    assert len(held) <= 1
