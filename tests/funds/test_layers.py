"""Layers derived from the transfers: chains, cycles, fan-out and fan-in, by hand or import."""

from __future__ import annotations

from funds.models import Event, InvolvedAccount
from tests.funds.statement_files import MULE_1, MULE_2, MULE_3, VICTIM_CARD, default_file
from tests.funds.test_imports import ImportTestCase


def row(source: str, target: str, reference: str, amount: str = "100.00") -> list[str]:
    return ["2026-03-01 10:00:00", "ICBC", source, "甲", "ICBC", target, "乙", amount, reference]


A, B, C, D = "6222020000000A01", "6222020000000B02", "6222020000000C03", "6222020000000D04"


class DerivedLayers(ImportTestCase):
    def test_a_cycle_keeps_every_account_at_its_smallest_layer(self):
        rows = [row(VICTIM_CARD, A, "1"), row(A, B, "2"), row(B, C, "3"), row(C, A, "4")]
        self.ok(self.upload(default_file(rows)), 201)
        assert self.layers() == {A: 1, B: 2, C: 3}

    def test_fan_out_and_fan_in_take_the_shortest_path(self):
        rows = [
            row(VICTIM_CARD, A, "1"),
            row(VICTIM_CARD, B, "2"),
            row(A, C, "3"),
            row(B, C, "4"),
            row(C, D, "5"),
            row(A, B, "6"),
        ]
        self.ok(self.upload(default_file(rows)), 201)
        assert self.layers() == {A: 1, B: 1, C: 2, D: 3}

    def test_accounts_no_victims_money_reaches_wait_outside_the_case_until_connected(self):
        self.ok(self.upload(default_file([row(A, B, "1")])), 201)
        assert self.layers() == {}
        body = self.ok(self.upload(default_file([row(VICTIM_CARD, A, "2")])), 201)
        assert body["accounts_added"] == 2
        assert self.layers() == {A: 1, B: 2}

    def test_a_shorter_path_found_later_lowers_a_derived_layer_and_is_audited(self):
        self.ok(
            self.upload(default_file([row(VICTIM_CARD, A, "1"), row(A, B, "2"), row(B, C, "3")])),
            201,
        )
        assert self.layers()[C] == 3
        self.ok(self.upload(default_file([row(VICTIM_CARD, C, "4")])), 201)
        assert self.layers() == {A: 1, B: 2, C: 1}
        event = Event.objects.get(case_id=self.case_id, type="layers_derived")
        assert event.data["count"] == 1
        assert event.data["changed"][0]["before"] == 3 and event.data["changed"][0]["after"] == 1

    def test_a_layer_typed_by_hand_is_kept_and_passes_the_money_on(self):
        typed = self.add_account(self.case_id, number=MULE_1, institution="ICBC", layer=4)
        self.ok(
            self.upload(default_file([row(VICTIM_CARD, MULE_1, "1"), row(MULE_1, MULE_2, "2")])),
            201,
        )
        kept = InvolvedAccount.objects.get(pk=typed["id"])
        assert (kept.layer, kept.layer_derived) == (4, False)
        assert self.layers()[MULE_2] == 5

    def test_a_transfer_typed_by_hand_derives_the_same_layers(self):
        def transfer(source: str, target: str, reference: str) -> None:
            self.post(
                self.officer_lx,
                f"/api/v1/cases/{self.case_id}/transfers/",
                {
                    "from_account": {"institution": "ICBC", "number": source, "holder_name": "甲"},
                    "to_account": {"institution": "ICBC", "number": target, "holder_name": "乙"},
                    "amount": "100.00",
                    "occurred_at": "2026-03-01T10:00:00+08:00",
                    "reference": reference,
                },
                201,
            )

        transfer(VICTIM_CARD, MULE_1, "1")
        transfer(MULE_1, MULE_2, "2")
        transfer(MULE_2, MULE_3, "3")
        assert self.layers() == {MULE_1: 1, MULE_2: 2, MULE_3: 3}
        accounts = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{self.case_id}/accounts/"))
        assert [a["holder_name"] for a in accounts["results"]] == ["乙", "乙", "乙"]
