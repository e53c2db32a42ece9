"""A return tells the institution where to pay (R9: the victim's own account), and nothing
more of the victim."""

from tests.funds.helpers import FundsTestCase


class PayeeTest(FundsTestCase):
    def test_a_return_names_the_victims_account_but_not_the_victim(self):
        case, _account, freeze = self.frozen_account("500.00")
        victim = self.post(
            self.officer_lx,
            f"/api/v1/cases/{case['id']}/victims/",
            {
                "name": "张三丰",
                "id_number": "370102199001011234",
                "phone": "13800138000",
                "loss_amount": "500.00",
                "account_institution": "CCB",
                "account_number": "6217009999000011",
            },
            201,
        )
        back = self.ask(
            case["id"],
            {"kind": "return", "freeze": freeze["id"], "victim": victim["id"], "amount": "500.00"},
        )
        self.approve(back["id"], self.manager_jn)
        seen = self.ok(self.api(self.liaison_icbc).get(f"/api/v1/instructions/{back['id']}/"))
        assert seen["payee_account"] == {"institution": "CCB", "number": "6217009999000011"}
        assert "张三丰" not in str(seen)
        self.client.force_login(self.liaison_icbc)
        inbox = self.client.get("/inbox/").content.decode()
        assert "6217009999000011" in inbox
        assert "张三丰" not in inbox and "370102199001011234" not in inbox

    def test_other_kinds_have_no_payee(self):
        _case, _account, freeze = self.frozen_account("500.00")
        assert (
            self.ok(self.api(self.officer_lx).get(f"/api/v1/instructions/{freeze['id']}/"))[
                "payee_account"
            ]
            is None
        )
