"""R10: sharing frozen funds among victims in proportion to their losses, exact to the fen.

The pure function funds.allocation.allocate, by example and by property, and the endpoint
GET /api/v1/cases/{id}/allocation/?freeze=<id> that proposes it for a freeze.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from funds.allocation import allocate
from tests.funds.helpers import FundsTestCase

FEN = Decimal("0.01")


def d(text: str) -> Decimal:
    return Decimal(text)


def shares_of(result: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    return dict(result)


# -- by example -------------------------------------------------------------------------


def test_it_shares_in_proportion_to_the_losses_exactly():
    result = allocate(d("25000.00"), [("a", d("30000.00")), ("b", d("10000.00"))])
    assert result == [("a", d("18750.00")), ("b", d("6250.00"))]


def test_every_share_is_in_whole_fen():
    result = allocate(d("100.00"), [("a", d("1.00")), ("b", d("2.00")), ("c", d("4.00"))])
    for _key, share in result:
        assert share == share.quantize(FEN)
        assert share.as_tuple().exponent == -2
    assert sum(share for _key, share in result) == d("100.00")


def test_the_fen_left_over_go_to_the_largest_remainders():
    # Exact shares 14.285714..., 28.571428..., 57.142857...: floors 14.28, 28.57, 57.14 leave
    # one fen, which goes to the largest remainder (a's 0.5714 fen beats c's 0.2857 and b's).
    result = allocate(d("100.00"), [("a", d("1.00")), ("b", d("2.00")), ("c", d("4.00"))])
    assert result == [("a", d("14.29")), ("b", d("28.57")), ("c", d("57.14"))]


def test_three_equal_losses_share_a_hundred_yuan_with_the_extra_fen_to_the_earliest_claim():
    result = allocate(d("100.00"), [("a", d("500.00")), ("b", d("500.00")), ("c", d("500.00"))])
    assert result == [("a", d("33.34")), ("b", d("33.33")), ("c", d("33.33"))]


def test_a_tie_on_the_remainder_goes_to_the_larger_loss_before_the_earlier_claim():
    # 3 fen among losses 1, 2, 3 fen: exact 0.5, 1, 1.5 fen. a and c tie on half a fen;
    # c's larger loss wins although a claimed first.
    result = allocate(d("0.03"), [("a", d("0.01")), ("b", d("0.02")), ("c", d("0.03"))])
    assert result == [("a", d("0.00")), ("b", d("0.01")), ("c", d("0.02"))]


def test_a_tie_on_remainder_and_loss_goes_to_the_earlier_claim():
    assert allocate(d("0.01"), [("x", d("5.00")), ("y", d("5.00"))]) == [
        ("x", d("0.01")),
        ("y", d("0.00")),
    ]
    assert allocate(d("0.01"), [("y", d("5.00")), ("x", d("5.00"))]) == [
        ("y", d("0.01")),
        ("x", d("0.00")),
    ]
    assert allocate(d("0.02"), [("x", d("1.00")), ("y", d("1.00")), ("z", d("1.00"))]) == [
        ("x", d("0.01")),
        ("y", d("0.01")),
        ("z", d("0.00")),
    ]


def test_the_answer_keeps_the_claims_order_and_keys_and_is_the_same_every_time():
    claims = [("z", d("7.00")), ("a", d("3.00")), ("m", d("5.00")), ("b", d("3.00"))]
    first = allocate(d("10.00"), claims)
    assert [key for key, _share in first] == ["z", "a", "m", "b"]
    for _ in range(5):
        assert allocate(d("10.00"), list(claims)) == first


def test_without_ties_the_order_of_the_claims_does_not_change_anyone_s_share():
    claims = [("a", d("1.00")), ("b", d("2.00")), ("c", d("4.00"))]
    forward = shares_of(allocate(d("100.00"), claims))
    backward = shares_of(allocate(d("100.00"), list(reversed(claims))))
    assert forward == backward


def test_keys_may_be_any_object_and_come_back_unchanged():
    first, second = object(), object()
    result = allocate(d("1.00"), [(first, d("1.00")), (second, d("3.00"))])
    assert result[0][0] is first
    assert result[1][0] is second
    assert [share for _key, share in result] == [d("0.25"), d("0.75")]


def test_a_zero_amount_gives_everyone_zero():
    result = allocate(d("0.00"), [("a", d("100.00")), ("b", d("50.00"))])
    assert result == [("a", d("0.00")), ("b", d("0.00"))]
    assert allocate(d("0"), []) == []
    assert allocate(d("0.00"), [("a", d("0.00"))]) == [("a", d("0.00"))]


def test_a_single_victim_gets_everything():
    assert allocate(d("1234.56"), [("only", d("0.01"))]) == [("only", d("1234.56"))]
    assert allocate(d("0.01"), [("only", d("99999999.99"))]) == [("only", d("0.01"))]


def test_a_victim_with_no_loss_gets_nothing():
    result = allocate(d("10.00"), [("a", d("0.00")), ("b", d("3.00"))])
    assert result == [("a", d("0.00")), ("b", d("10.00"))]


def test_it_stays_exact_for_very_large_amounts():
    amount = d("99999999999999.99")
    result = allocate(amount, [("a", d("1.00")), ("b", d("1.00")), ("c", d("1.00"))])
    assert sum(share for _key, share in result) == amount
    assert result == [
        ("a", d("33333333333333.33")),
        ("b", d("33333333333333.33")),
        ("c", d("33333333333333.33")),
    ]


@pytest.mark.parametrize("amount", ["-0.01", "-100.00"])
def test_it_refuses_a_negative_amount(amount):
    with pytest.raises(ValueError, match="negative"):
        allocate(d(amount), [("a", d("1.00"))])


@pytest.mark.parametrize("amount", ["0.001", "10.005", "1.999"])
def test_it_refuses_an_amount_that_is_not_in_whole_fen(amount):
    with pytest.raises(ValueError, match="fen"):
        allocate(d(amount), [("a", d("1.00"))])


@pytest.mark.parametrize("loss", ["-1.00", "0.005"])
def test_it_refuses_a_negative_loss_or_one_that_is_not_in_whole_fen(loss):
    with pytest.raises(ValueError):
        allocate(d("1.00"), [("a", d("1.00")), ("b", d(loss))])


def test_it_refuses_to_share_a_nonzero_amount_among_no_claims():
    with pytest.raises(ValueError):
        allocate(d("0.01"), [])
    with pytest.raises(ValueError):
        allocate(d("100.00"), [("a", d("0.00")), ("b", d("0.00"))])


# -- by property ------------------------------------------------------------------------

fen_amounts = st.integers(min_value=0, max_value=10**14).map(lambda fen: Decimal(fen) * FEN)
fen_losses = st.integers(min_value=0, max_value=10**12).map(lambda fen: Decimal(fen) * FEN)
claim_lists = st.lists(fen_losses, min_size=1, max_size=30).filter(lambda losses: sum(losses) > 0)


@given(amount=fen_amounts, losses=claim_lists)
def test_the_shares_always_add_up_to_the_amount_exactly(amount, losses):
    result = allocate(amount, list(enumerate(losses)))
    assert sum(share for _key, share in result) == amount
    assert [key for key, _share in result] == list(range(len(losses)))
    for _key, share in result:
        assert share >= 0
        assert share == share.quantize(FEN)


@given(amount=fen_amounts, losses=claim_lists)
def test_each_share_is_within_a_fen_of_its_exact_proportion(amount, losses):
    result = allocate(amount, list(enumerate(losses)))
    total = sum(Fraction(loss) for loss in losses)
    for (_key, share), loss in zip(result, losses, strict=True):
        exact = Fraction(amount) * Fraction(loss) / total
        assert abs(Fraction(share) - exact) < Fraction(1, 100)


@given(amount=fen_amounts, losses=claim_lists)
def test_a_larger_loss_never_gets_less_and_an_equal_loss_claimed_earlier_never_gets_less(
    amount, losses
):
    result = allocate(amount, list(enumerate(losses)))
    for i, (_key_i, share_i) in enumerate(result):
        for j in range(i + 1, len(result)):
            share_j = result[j][1]
            if losses[i] > losses[j]:
                assert share_i >= share_j
            elif losses[i] < losses[j]:
                assert share_i <= share_j
            else:
                assert share_i >= share_j


@given(amount=fen_amounts, losses=claim_lists)
def test_the_same_claims_always_give_the_same_shares(amount, losses):
    claims = list(enumerate(losses))
    assert allocate(amount, claims) == allocate(amount, list(claims))


# -- the endpoint -----------------------------------------------------------------------


class AllocationEndpointTest(FundsTestCase):
    def allocation(self, case_id: int, query: str, user=None):
        return self.api(user or self.officer_lx).get(f"/api/v1/cases/{case_id}/allocation/{query}")

    def test_it_proposes_shares_of_what_the_freeze_holds_by_loss(self):
        case, _account, freeze = self.frozen_account("100.00")
        a = self.add_victim(case["id"], "500.00", "张三")
        b = self.add_victim(case["id"], "500.00", "李四")
        c = self.add_victim(case["id"], "500.00", "王五")
        body = self.ok(self.allocation(case["id"], f"?freeze={freeze['id']}"))
        assert body["available"] == "100.00"
        assert [(row["victim"], row["loss_amount"], row["amount"]) for row in body["shares"]] == [
            (a["id"], "500.00", "33.34"),
            (b["id"], "500.00", "33.33"),
            (c["id"], "500.00", "33.33"),
        ]
        assert sum(Decimal(row["amount"]) for row in body["shares"]) == Decimal(body["available"])

    def test_the_available_amount_is_what_is_held_less_open_releases_and_returns(self):
        case, _account, freeze = self.frozen_account("8000.00")
        a = self.add_victim(case["id"], "30000.00", "张三")
        b = self.add_victim(case["id"], "10000.00", "李四")
        # An executed return takes its amount out of what is held.
        done = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": a["id"], "amount": "1000.00"},
        )
        self.approve(done["id"], self.manager_jn)
        self.execute(done["id"], "1000.00")
        # Open asks are set aside as well; a cancelled one is not.
        self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": b["id"], "amount": "500.00"},
        )
        release = self.ask(
            case["id"],
            {"kind": "release", "freeze": freeze["id"], "amount": "500.00", "reason": "无关"},
        )
        self.approve(release["id"], self.manager_lx)  # pending at the bank: still open
        cancelled = self.ask(
            case["id"],
            {"kind": "release", "freeze": freeze["id"], "amount": "700.00", "reason": "无关"},
        )
        self.post(self.officer_lx, f"/api/v1/instructions/{cancelled['id']}/cancel/")

        body = self.ok(self.allocation(case["id"], f"?freeze={freeze['id']}"))
        assert body["available"] == "6000.00"  # 8000 - 1000 returned - 500 - 500 asked
        # Shared over what each is still owed: 30000 - 1000 returned and 10000 - 500 asked,
        # 6000 x 29000/38500 = 4519.480... and 6000 x 9500/38500 = 1480.519...
        assert {
            row["victim"]: (row["already_returned"], row["owed"], row["amount"])
            for row in body["shares"]
        } == {
            a["id"]: ("1000.00", "29000.00", "4519.48"),
            b["id"]: ("500.00", "9500.00", "1480.52"),
        }

    def test_the_shares_add_up_to_the_available_amount_exactly(self):
        case, _account, freeze = self.frozen_account("1000.00")
        for index, loss in enumerate(["333.33", "1234.57", "0.01", "999.99", "77.77"]):
            self.add_victim(case["id"], loss, f"被害人{index}")
        body = self.ok(self.allocation(case["id"], f"?freeze={freeze['id']}"))
        assert body["available"] == "1000.00"
        assert sum(Decimal(row["amount"]) for row in body["shares"]) == Decimal("1000.00")

    def test_it_needs_the_freeze(self):
        case, _account, _freeze = self.frozen_account("1000.00")
        for query in ("", "?freeze=", "?freeze=abc"):
            response = self.allocation(case["id"], query)
            assert response.status_code == 400, response.content
            assert "freeze" in response.json()

    def test_a_freeze_of_another_case_is_not_found(self):
        case, _account, _freeze = self.frozen_account("1000.00")
        self.add_victim(case["id"])
        _other_case, _other_account, other_freeze = self.frozen_account("2000.00")
        response = self.allocation(case["id"], f"?freeze={other_freeze['id']}")
        assert response.status_code == 404, response.content
        assert self.allocation(case["id"], "?freeze=999999").status_code == 404

    def test_a_case_out_of_scope_is_not_found(self):
        case, _account, freeze = self.frozen_account("1000.00")
        response = self.allocation(case["id"], f"?freeze={freeze['id']}", user=self.officer_sn)
        assert response.status_code == 404
        response = self.allocation(case["id"], f"?freeze={freeze['id']}", user=self.liaison_icbc)
        assert response.status_code == 403
