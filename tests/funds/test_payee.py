"""A return tells the institution where to pay (R9: the victim's own account), and nothing
more of the victim (not even the holder's name, the victim's own). The number is in full only
for the bank that pays it; the police read it masked to its last four digits, in every answer
and page."""

from tests.funds.helpers import FundsTestCase

ACCOUNT = {"institution": "CCB", "number": "6217 0099-9900 0011", "holder_name": "张三丰"}
NUMBER, MASKED = "6217009999000011", "************0011"


class PayeeTest(FundsTestCase):
    def return_pending_at_icbc(self, victim_body: dict) -> tuple[dict, dict, dict]:
        case, _account, freeze = self.frozen_account("500.00")
        victim = self.post(
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/victims/",
            {
                "name": "张三丰",
                "id_number": "370102199001071234",
                "phone": "13800138000",
                "loss_amount": "500.00",
                **victim_body,
            },
            201,
        )
        back = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "500.00"},
        )
        self.approve(back["id"], self.manager_jn)
        return case, victim, back

    def test_a_return_names_the_victims_account_but_not_the_victim(self):
        _case, _victim, back = self.return_pending_at_icbc(
            {"account_institution": "CCB", "account_number": "6217009999000011"}
        )
        seen = self.ok(self.api(self.liaison_icbc).get(f"/api/v1/instructions/{back['id']}/"))
        assert seen["payee_account"] == {"institution": "CCB", "number": "6217009999000011"}
        assert "张三丰" not in str(seen)
        self.client.force_login(self.liaison_icbc)
        inbox = self.client.get("/inbox/").content.decode()
        assert "6217009999000011" in inbox
        assert "张三丰" not in inbox and "370102199001071234" not in inbox

    def test_the_paying_bank_reads_the_account_in_full_and_nothing_of_the_victim(self):
        _case, _victim, back = self.return_pending_at_icbc({"account": ACCOUNT})
        seen = self.ok(self.api(self.liaison_icbc).get(f"/api/v1/instructions/{back['id']}/"))
        # The number as typed, normalised: the bank pays that account. The holder's name is
        # the victim's own, so it stays with the police.
        assert seen["payee_account"] == {"institution": "CCB", "number": NUMBER}
        for secret in ("张三丰", "370102199001071234", "13800138000"):
            assert secret not in str(seen)
        listed = self.ok(self.api(self.liaison_icbc).get("/api/v1/instructions/"))["results"]
        assert [row["payee_account"]["number"] for row in listed if row["kind"] == "return"] == [
            NUMBER
        ]
        self.client.force_login(self.liaison_icbc)
        inbox = self.client.get("/inbox/").content.decode()
        assert NUMBER in inbox
        for secret in ("张三丰", "370102199001071234", "13800138000"):
            assert secret not in inbox

    def test_the_bank_answering_the_return_reads_the_account_in_full(self):
        _case, _victim, back = self.return_pending_at_icbc({"account": ACCOUNT})
        answered = self.execute(back["id"], "500.00")
        assert answered["payee_account"]["number"] == NUMBER

    def test_the_police_read_the_payee_masked(self):
        _case, _victim, back = self.return_pending_at_icbc({"account": ACCOUNT})
        for user in (self.officer_lx, self.manager_jn, self.auditor_sd):
            seen = self.ok(self.api(user).get(f"/api/v1/instructions/{back['id']}/"))
            assert seen["payee_account"] == {"institution": "CCB", "number": MASKED}
            assert NUMBER not in str(seen)

    def test_a_victim_answers_the_account_masked_in_both_shapes(self):
        case, victim, _back = self.return_pending_at_icbc({"account": ACCOUNT})
        assert victim["account"] == {
            "institution": "CCB",
            "number": MASKED,
            "holder_name": "张三丰",
        }
        assert victim["account_institution"] == "CCB"
        assert victim["account_number"] == MASKED
        assert victim["owed_amount"] == "500.00"  # when added
        listed = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{case['id']}/victims/"))
        assert [(v["account"]["number"], v["owed_amount"]) for v in listed["results"]] == [
            (MASKED, "0.00")  # the whole loss is now asked to be returned
        ]
        assert NUMBER not in str(listed)

    def test_other_kinds_have_no_payee(self):
        _case, _account, freeze = self.frozen_account("500.00")
        assert (
            self.ok(self.api(self.officer_lx).get(f"/api/v1/instructions/{freeze['id']}/"))[
                "payee_account"
            ]
            is None
        )
