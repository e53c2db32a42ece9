"""The identity endpoints of API v1: token, me, institutions."""

from django.urls import reverse

from accounts.models import ApiToken
from devdata.world import DEMO_PASSWORD
from tests.base import CaseTrackerTestCase


class TokenTest(CaseTrackerTestCase):
    def test_it_answers_a_token_for_the_right_password(self):
        response = self.api().post(
            reverse("api:token"),
            {"username": "liaison_icbc", "password": DEMO_PASSWORD},
            format="json",
        )
        assert response.status_code == 200
        assert set(response.json()) == {"token", "expires_at"}
        assert ApiToken.objects.filter(user=self.liaison_icbc).count() == 1

    def test_each_call_issues_a_new_token(self):
        body = {"username": "liaison_icbc", "password": DEMO_PASSWORD}
        first = self.api().post(reverse("api:token"), body, format="json").json()
        second = self.api().post(reverse("api:token"), body, format="json").json()
        assert first["token"] != second["token"]
        assert ApiToken.objects.filter(user=self.liaison_icbc).count() == 2

    def test_a_wrong_password_is_a_400_with_no_token(self):
        response = self.api().post(
            reverse("api:token"), {"username": "liaison_icbc", "password": "x"}, format="json"
        )
        assert response.status_code == 400
        assert "non_field_errors" in response.json()
        assert not ApiToken.objects.filter(user=self.liaison_icbc).exists()

    def test_missing_fields_are_field_errors(self):
        response = self.api().post(reverse("api:token"), {}, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"username", "password"}

    def test_the_token_authenticates_requests(self):
        token = (
            self.api()
            .post(
                reverse("api:token"),
                {"username": "officer_lx", "password": DEMO_PASSWORD},
                format="json",
            )
            .json()["token"]
        )
        client = self.api()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get(reverse("api:me")).json()["username"] == "officer_lx"

    def test_an_unknown_token_is_a_401(self):
        client = self.api()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
        assert client.get(reverse("api:me")).status_code == 401


class MeTest(CaseTrackerTestCase):
    def test_without_credentials_it_is_a_401(self):
        response = self.api().get(reverse("api:me"))
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"

    def test_an_officer_sees_role_and_unit(self):
        assert self.api(self.officer_lx).get(reverse("api:me")).json() == {
            "username": "officer_lx",
            "role": "officer",
            "organization": {
                "id": self.lixia.pk,
                "code": "370102",
                "name": "历下区分局",
                "kind": "police",
                "level": "county",
            },
        }

    def test_a_liaison_sees_its_institution_without_a_level(self):
        org = self.api(self.liaison_alipay).get(reverse("api:me")).json()["organization"]
        assert org == {
            "id": self.alipay.pk,
            "code": "ALIPAY",
            "name": "支付宝",
            "kind": "payment",
            "level": None,
        }

    def test_the_admin_has_no_organisation(self):
        body = self.api(self.admin).get(reverse("api:me")).json()
        assert body == {"username": "admin", "role": "admin", "organization": None}

    def test_session_authentication_works_for_the_pages_scripts(self):
        self.client.force_login(self.manager_jn)
        assert self.client.get(reverse("api:me")).json()["role"] == "manager"


class InstitutionsTest(CaseTrackerTestCase):
    def test_it_lists_banks_and_payment_institutions_only(self):
        response = self.api(self.officer_lx).get(reverse("api:institutions"))
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 6
        assert {"code": "ICBC", "name": "中国工商银行", "kind": "bank"} in body["results"]
        assert {"code": "TENPAY", "name": "财付通（微信支付）", "kind": "payment"} in body[
            "results"
        ]
        assert all(row["kind"] != "police" for row in body["results"])

    def test_every_role_may_list_them(self):
        for user in (self.liaison_ccb, self.auditor_sd, self.admin):
            assert self.api(user).get(reverse("api:institutions")).status_code == 200

    def test_it_needs_sign_in(self):
        assert self.api().get(reverse("api:institutions")).status_code == 401

    def test_it_takes_a_constant_number_of_queries(self):
        client = self.api(self.officer_lx)
        client.get(reverse("api:institutions"))
        with self.assertNumQueries(3):  # token with its user, count, page
            client.get(reverse("api:institutions"))
