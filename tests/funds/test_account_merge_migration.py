"""The migrations that give each account one identity (funds 0012 to 0015): holder names
copied into the cases, numbers normalised, accounts typed two ways merged.

Each test migrates the database back to before them, writes rows with the models of that
state, migrates forward and reads the result with today's models. They are transactional
(a migration commits), and always leave the database fully migrated.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.credentials import api_token_issue
from accounts.models import User
from devdata.world import build_demo_world
from funds.models import BankAccount, Event, Instruction, InvolvedAccount, Transfer

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_HOLDER_NAMES = [("funds", "0011_instruction_involved_account")]
BEFORE_MERGE = [("funds", "0014_bank_account_drop_holder_name")]
CARD = "6222021234567890"
MERGE = importlib.import_module("funds.migrations.0015_bank_account_merge_duplicates")


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate to ``targets``; answer the models of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest() -> Any:
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    orgs, _created = build_demo_world()
    users = {u.username: u for u in User.objects.all()}
    try:
        yield {"orgs": orgs, "users": users}
    finally:
        # Whatever happened, the next test finds the schema of today.
        migrate_to_latest()


class Rows:
    """Rows written with the models of a past state."""

    def __init__(self, apps: Any, world: dict[str, Any]) -> None:
        self.apps = apps
        self.orgs = world["orgs"]
        self.officer = world["users"]["officer_lx"]
        self.now = timezone.now()
        self.cases = 0

    def model(self, name: str) -> Any:
        return self.apps.get_model("funds", name)

    def case(self, unit: str = "370102") -> Any:
        self.cases += 1
        return self.model("Case").objects.create(
            number=f"{unit}-2026-{self.cases:05d}",
            unit_id=self.orgs[unit].pk,
            title="冒充客服退款诈骗",
            fraud_type="other",
            reported_at=self.now - timedelta(hours=3),
            created_by_id=self.officer.pk,
        )

    def account(self, institution: str, number: str, **fields: Any) -> Any:
        return self.model("BankAccount").objects.create(
            institution_id=self.orgs[institution].pk, number=number, **fields
        )

    def involve(self, case: Any, account: Any, layer: int = 1, **fields: Any) -> Any:
        return self.model("InvolvedAccount").objects.create(
            case=case, account=account, layer=layer, created_by_id=self.officer.pk, **fields
        )

    def transfer(
        self, case: Any, source: Any, target: Any, reference: str, amount: str = "300.00"
    ) -> Any:
        return self.model("Transfer").objects.create(
            case=case,
            from_account=source,
            to_account=target,
            amount=Decimal(amount),
            occurred_at=self.now - timedelta(hours=2),
            reference=reference,
            created_by_id=self.officer.pk,
        )

    def instruction(self, involved: Any, kind: str, status: str, **fields: Any) -> Any:
        if kind == "freeze":
            fields = {"instrument_number": "济公冻字〔2026〕7号", "term_months": 6, **fields}
        return self.model("Instruction").objects.create(
            case_id=involved.case_id,
            involved_account=involved,
            institution_id=involved.account.institution_id,
            kind=kind,
            status=status,
            requested_amount=Decimal("1000.00"),
            requested_by_id=self.officer.pk,
            requested_at=self.now - timedelta(hours=1),
            **fields,
        )

    def event(self, case: Any, **data: Any) -> Any:
        return self.model("Event").objects.create(
            case=case, type="account_added", at=self.now, actor_id=self.officer.pk, data=data
        )


def history() -> list[tuple[Any, ...]]:
    return list(Event.objects.order_by("id").values_list("id", "case_id", "type", "at", "data"))


def test_it_copies_holder_names_into_the_cases_and_merges_accounts_typed_two_ways(world):
    rows = Rows(migrate(BEFORE_HOLDER_NAMES), world)
    a1 = rows.account("ICBC", "6222 0212 3456 7890", holder_name="王某")
    a2 = rows.account("ICBC", "6222-0212-3456-7890", holder_name="王小某")
    a3 = rows.account("ICBC", "６２２２０２１２３４５６７８９０", holder_name="王某某")
    other_bank = rows.account("CCB", CARD, holder_name="李四")
    alone = rows.account("ICBC", "6222 0299 0000 0001", holder_name="赵六")
    nothing = rows.account("ICBC", "\u200b", holder_name="钱七")

    case_a = rows.case()
    kept = rows.involve(case_a, a1, layer=2, stage="stopped", stopped_amount=Decimal("1000.00"))
    merged = rows.involve(case_a, a2, layer=1, stage="stop_requested")
    stop_in_force = rows.instruction(
        kept,
        "stop_payment",
        "executed",
        executed_amount=Decimal("1000.00"),
        responded_at=rows.now - timedelta(minutes=50),
        effective_until=rows.now + timedelta(days=2),
    )
    stop_waiting = rows.instruction(merged, "stop_payment", "pending")
    involved_alone = rows.involve(case_a, alone, layer=3)
    t1 = rows.transfer(case_a, a1, other_bank, "T1")
    t1_again = rows.transfer(case_a, a2, other_bank, "T1")  # the same movement, typed again
    t2 = rows.transfer(case_a, a3, alone, "T2", amount="200.00")
    rows.event(case_a, number=a1.number, holder_name="王某")
    rows.event(case_a, number=a2.number, holder_name="王小某")

    case_b = rows.case("370202")
    in_b = rows.involve(case_b, a3)
    rows.event(case_b, number=a3.number, holder_name="王某某")

    case_c = rows.case()
    involved_nothing = rows.involve(case_c, nothing)
    involved_other_bank = rows.involve(case_c, other_bank)
    before = history()

    migrate_to_latest()

    numbers = dict(BankAccount.objects.values_list("pk", "number"))
    assert numbers == {
        a1.pk: CARD,
        other_bank.pk: CARD,
        alone.pk: "6222029900000001",
        nothing.pk: "\u200b",
    }
    # Case A: its two involvements are one, the lowest id, with everything of both.
    [involved_a, involved_alone_after] = InvolvedAccount.objects.filter(case_id=case_a.pk)
    assert involved_a.pk == kept.pk
    assert (involved_a.account_id, involved_a.layer, involved_a.holder_name) == (a1.pk, 1, "王某")
    assert involved_a.stopped_amount == Decimal("1000.00")
    assert involved_a.stage == "stopped"
    assert set(
        Instruction.objects.filter(involved_account=involved_a).values_list("pk", flat=True)
    ) == {
        stop_in_force.pk,
        stop_waiting.pk,
    }
    assert not InvolvedAccount.objects.filter(pk=merged.pk).exists()
    assert (involved_alone_after.pk, involved_alone_after.holder_name) == (
        involved_alone.pk,
        "赵六",
    )
    # Case B keeps its involvement, now of the one account, with the name it recorded.
    in_b_after = InvolvedAccount.objects.get(case_id=case_b.pk)
    assert (in_b_after.pk, in_b_after.account_id, in_b_after.holder_name) == (
        in_b.pk,
        a1.pk,
        "王某某",
    )
    # Case C: another bank's account and a number of which nothing is left stay apart.
    assert dict(
        InvolvedAccount.objects.filter(case_id=case_c.pk).values_list("pk", "account_id")
    ) == {
        involved_nothing.pk: nothing.pk,
        involved_other_bank.pk: other_bank.pk,
    }
    # Transfers: one side's name each, as recorded; the twice-typed movement is one.
    transfers = Transfer.objects.order_by("pk").values_list(
        "pk", "from_account_id", "from_holder_name", "to_account_id", "to_holder_name"
    )
    assert list(transfers) == [
        (t1.pk, a1.pk, "王某", other_bank.pk, "李四"),
        (t2.pk, a1.pk, "王某某", alone.pk, "赵六"),
    ]
    assert not Transfer.objects.filter(pk=t1_again.pk).exists()

    # The audit trail: every event as it was, and one more per case that saw the merge.
    after = history()
    assert after[: len(before)] == before
    added = {e.case_id: e for e in Event.objects.filter(id__gt=before[-1][0])}
    assert set(added) == {case_a.pk, case_b.pk}
    numbers_typed = sorted({a1.number, a2.number, a3.number})
    assert added[case_a.pk].type == "accounts_merged" and added[case_a.pk].actor_id is None
    assert added[case_a.pk].data == {
        "institution": "ICBC",
        "number": CARD,
        "numbers": numbers_typed,
        "involved_account": kept.pk,
        "merged_involved_accounts": [merged.pk],
        "holder_names": ["王小某", "王某"],
        "transfers": [t1.pk, t2.pk],
        "dropped_transfers": [t1_again.pk],
    }
    assert added[case_b.pk].data == {
        "institution": "ICBC",
        "number": CARD,
        "numbers": numbers_typed,
        "involved_account": in_b.pk,
        "merged_involved_accounts": [],
        "holder_names": [],
        "transfers": [],
        "dropped_transfers": [],
    }

    # And the API lists each case in the other's account.
    client = APIClient()
    token = api_token_issue(user=world["users"]["officer_sn"]).secret
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    [listed] = client.get(f"/api/v1/cases/{case_b.pk}/accounts/").json()["results"]
    assert (listed["number"], listed["holder_name"]) == (CARD, "王某某")
    assert listed["other_cases"] == [case_a.number]


def test_it_stops_and_changes_nothing_where_a_merge_would_break_a_rule(world):
    rows = Rows(migrate(BEFORE_MERGE), world)
    a1 = rows.account("ICBC", "6222 0212")
    a2 = rows.account("ICBC", "62220212")
    elsewhere = rows.account("CCB", "6217000011112222")
    case = rows.case()
    first = rows.involve(case, a1)
    second = rows.involve(case, a2)
    freeze_1 = rows.instruction(first, "freeze", "awaiting_approval")
    freeze_2 = rows.instruction(second, "freeze", "pending")
    to_itself = rows.transfer(case, a1, a2, "T9")
    rows.transfer(case, a1, elsewhere, "T8", amount="100.00")
    differing = rows.transfer(case, a2, elsewhere, "T8", amount="200.00")
    before = (
        list(BankAccount.objects.order_by("pk").values_list("pk", "number")),
        list(InvolvedAccount.objects.order_by("pk").values_list("pk", "account_id")),
        list(Transfer.objects.order_by("pk").values_list("pk", "from_account_id", "to_account_id")),
        history(),
    )

    with pytest.raises(MERGE.DuplicateAccountsConflict) as refused:
        migrate_to_latest()

    message = str(refused.value)
    accounts = "ICBC '6222 0212' / '62220212'"
    assert f"case {case.number}: {accounts} would have 2 open freezes" in message
    assert f"#{freeze_1.pk}, #{freeze_2.pk}" in message
    assert f"transfer #{to_itself.pk} (T9) would go from {accounts} to itself" in message
    assert "share the reference 'T8' but differ" in message
    after = (
        list(BankAccount.objects.order_by("pk").values_list("pk", "number")),
        list(InvolvedAccount.objects.order_by("pk").values_list("pk", "account_id")),
        list(Transfer.objects.order_by("pk").values_list("pk", "from_account_id", "to_account_id")),
        history(),
    )
    assert after == before

    # Once the records are put right by hand, the merge goes through.
    Instruction.objects.filter(pk=freeze_2.pk).update(status="cancelled")
    Transfer.objects.filter(pk__in=[to_itself.pk, differing.pk]).delete()
    migrate_to_latest()
    [involved] = InvolvedAccount.objects.filter(case_id=case.pk)
    assert (involved.pk, involved.account_id, involved.stage) == (
        first.pk,
        a1.pk,
        "freeze_requested",
    )
    assert BankAccount.objects.get(pk=a1.pk).number == "62220212"
    assert Instruction.objects.filter(involved_account=involved).count() == 2


def test_an_account_without_a_duplicate_only_has_its_number_normalised(world):
    rows = Rows(migrate(BEFORE_MERGE), world)
    typed = rows.account("ICBC", "6222 0212 3456 7890")
    plain = rows.account("CCB", "6217000011112222")
    involved = rows.involve(rows.case(), typed, holder_name="王某")
    before = history()

    migrate_to_latest()

    assert dict(BankAccount.objects.values_list("pk", "number")) == {
        typed.pk: CARD,
        plain.pk: "6217000011112222",
    }
    assert InvolvedAccount.objects.get().account_id == typed.pk == involved.account_id
    assert history() == before
