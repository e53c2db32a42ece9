"""API sign-in tokens: hashed, expiring, revocable, ended by a password change or deactivation."""

from datetime import timedelta

import time_machine
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.settings import api_settings

from accounts.models import ApiToken
from devdata.world import DEMO_PASSWORD
from tests.base import CaseTrackerTestCase


class TokenTestCase(CaseTrackerTestCase):
    def sign_in(self, username: str = "officer_lx", **extra: str) -> dict[str, str]:
        response = self.api().post(
            reverse("api:token"),
            {"username": username, "password": DEMO_PASSWORD},
            format="json",
            **extra,
        )
        assert response.status_code == 200, response.content
        return response.json()

    def client_with(self, token: str):
        client = self.api()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client


class IssueTest(TokenTestCase):
    def test_the_answer_has_the_token_and_when_it_expires(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False):
            body = self.sign_in()
        assert body["expires_at"] == "2026-03-02T17:00:00+08:00"  # API_TOKEN_TTL, 8 hours
        token = ApiToken.objects.get(user=self.officer_lx)
        assert token.expires_at - token.created_at == timedelta(hours=8)

    @override_settings(API_TOKEN_TTL=timedelta(minutes=30))
    def test_the_lifetime_follows_api_token_ttl(self):
        self.sign_in()
        token = ApiToken.objects.get(user=self.officer_lx)
        assert token.expires_at - token.created_at == timedelta(minutes=30)

    def test_the_database_holds_no_clear_token(self):
        secret = self.sign_in(HTTP_USER_AGENT="bank-core/1.0")["token"]
        token = ApiToken.objects.get(user=self.officer_lx)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM accounts_apitoken WHERE id = %s", [token.pk])
            row = cursor.fetchone()
        assert all(secret not in str(value) for value in row)
        assert token.prefix == secret[:8] and len(token.key_hash) == 64
        assert token.user_agent == "bank-core/1.0"
        assert token.ip_address == "127.0.0.1"

    def test_the_token_authenticates_as_its_user(self):
        client = self.client_with(self.sign_in("manager_jn")["token"])
        assert client.get(reverse("api:me")).json()["username"] == "manager_jn"


class EndTest(TokenTestCase):
    def test_an_expired_token_is_a_401_token_expired(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False) as clock:
            client = self.client_with(self.sign_in()["token"])
            clock.shift(timedelta(hours=8) - timedelta(seconds=1))
            assert client.get(reverse("api:me")).status_code == 200
            clock.shift(timedelta(seconds=1))
            response = client.get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired"
        assert response["WWW-Authenticate"] == "Token"

    def test_revoking_the_calling_token_is_a_204_then_401(self):
        client = self.client_with(self.sign_in()["token"])
        response = client.post(reverse("api:token-revoke"))
        assert response.status_code == 204
        assert ApiToken.objects.get(user=self.officer_lx).revoked_at is not None
        response = client.get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"

    def test_revoking_one_token_leaves_the_others(self):
        first = self.client_with(self.sign_in()["token"])
        second = self.client_with(self.sign_in()["token"])
        assert first.post(reverse("api:token-revoke")).status_code == 204
        assert second.get(reverse("api:me")).status_code == 200

    def test_a_session_cannot_revoke_a_token_it_does_not_have(self):
        self.client.force_login(self.officer_lx)
        response = self.client.post(reverse("api:token-revoke"))
        assert response.status_code == 403
        assert response.json()["code"] == "token_required"

    def test_a_password_change_ends_the_old_tokens(self):
        client = self.client_with(self.sign_in()["token"])
        self.officer_lx.set_password("a-new-pass-2026")
        self.officer_lx.save()
        response = client.get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"
        # A token issued after the change works.
        response = self.api().post(
            reverse("api:token"),
            {"username": "officer_lx", "password": "a-new-pass-2026"},
            format="json",
        )
        assert self.client_with(response.json()["token"]).get(reverse("api:me")).status_code == 200

    def test_deactivation_ends_the_tokens(self):
        client = self.client_with(self.sign_in()["token"])
        self.officer_lx.is_active = False
        self.officer_lx.save()
        response = client.get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "user_inactive"

    def test_a_malformed_or_unknown_token_is_a_401_token_invalid(self):
        for value in ("Token abc", "Token 12345678.nope", "Token a b"):
            client = self.api()
            client.credentials(HTTP_AUTHORIZATION=value)
            response = client.get(reverse("api:me"))
            assert response.status_code == 401, value
            assert response.json()["code"] in {"token_invalid", "credentials_malformed"}


class LastUsedTest(TokenTestCase):
    def test_last_use_is_written_at_most_once_a_minute(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False) as clock:
            client = self.client_with(self.sign_in()["token"])
            issued = ApiToken.objects.get().last_used_at
            clock.shift(timedelta(seconds=59))
            with self.assertNumQueries(2):  # the token with its user, the unit; no write
                client.get(reverse("api:me"))
            assert ApiToken.objects.get().last_used_at == issued
            clock.shift(timedelta(seconds=1))
            client.get(reverse("api:me"))
            assert ApiToken.objects.get().last_used_at == issued + timedelta(minutes=1)


class ListTest(TokenTestCase):
    def test_it_lists_the_owners_live_tokens_only_without_secrets(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False) as clock:
            old = self.sign_in()["token"]
            clock.shift(timedelta(hours=9))  # the first has expired
            revoked = self.sign_in()["token"]
            self.client_with(revoked).post(reverse("api:token-revoke"))
            current = self.sign_in()["token"]
            self.sign_in("officer_sn")
            response = self.client_with(current).get(reverse("api:tokens"))
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        [row] = body["results"]
        assert row["prefix"] == current[:8]
        assert row["current"] is True
        assert row["expires_at"] == "2026-03-03T02:00:00+08:00"
        assert set(row) == {
            "id",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "user_agent",
            "ip_address",
            "current",
        }
        text = response.content.decode()
        assert all(secret not in text for secret in (old, revoked, current))

    def test_the_owner_revokes_one_of_its_tokens_by_id(self):
        current = self.client_with(self.sign_in()["token"])
        other = self.client_with(self.sign_in()["token"])
        rows = current.get(reverse("api:tokens")).json()["results"]
        [other_row] = [row for row in rows if not row["current"]]
        url = reverse("api:token-revoke-one", args=[other_row["id"]])
        assert current.post(url).status_code == 204
        assert other.get(reverse("api:me")).status_code == 401
        assert current.get(reverse("api:tokens")).json()["count"] == 1
        # Again: nothing changes.
        revoked_at = ApiToken.objects.get(pk=other_row["id"]).revoked_at
        assert current.post(url).status_code == 204
        assert ApiToken.objects.get(pk=other_row["id"]).revoked_at == revoked_at

    def test_revoking_another_users_token_is_a_404_and_changes_nothing(self):
        self.sign_in("officer_sn")
        theirs = ApiToken.objects.get(user=self.officer_sn)
        mine = self.client_with(self.sign_in()["token"])
        response = mine.post(reverse("api:token-revoke-one", args=[theirs.pk]))
        assert response.status_code == 404
        theirs.refresh_from_db()
        assert theirs.revoked_at is None
        assert mine.post(reverse("api:token-revoke-one", args=[999999])).status_code == 404


class ThrottleTest(TokenTestCase):
    def rates(self, **rates: str):
        return override_settings(
            REST_FRAMEWORK={
                **self.drf_settings(),
                "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **rates},
            }
        )

    @staticmethod
    def drf_settings():
        from django.conf import settings

        return settings.REST_FRAMEWORK

    def test_the_token_endpoint_answers_429_after_the_rate_from_one_address(self):
        with self.rates(token="3/min"):
            bodies = [
                {"username": name, "password": "wrong"}
                for name in ("officer_lx", "officer_sn", "manager_jn", "manager_sd")
            ]
            statuses = [
                self.api().post(reverse("api:token"), body, format="json").status_code
                for body in bodies
            ]
            assert statuses == [400, 400, 400, 429]
            refused = self.api().post(reverse("api:token"), bodies[0], format="json")
            assert refused.status_code == 429
            assert int(refused["Retry-After"]) > 0
            # Another address is not held back by this one.
            other = self.api().post(
                reverse("api:token"),
                {"username": "liaison_ccb", "password": DEMO_PASSWORD},
                format="json",
                REMOTE_ADDR="10.0.0.9",
            )
            assert other.status_code == 200

    def test_the_token_endpoint_counts_attempts_per_username_across_addresses(self):
        with self.rates(token="2/min"):
            statuses = [
                self.api()
                .post(
                    reverse("api:token"),
                    {"username": "officer_lx", "password": "wrong"},
                    format="json",
                    REMOTE_ADDR=f"10.0.0.{n}",
                )
                .status_code
                for n in range(1, 4)
            ]
        assert statuses == [400, 400, 429]
        assert not ApiToken.objects.exists()

    def test_a_signed_in_user_is_throttled_by_user(self):
        client = self.client_with(self.sign_in()["token"])
        other = self.client_with(self.sign_in("officer_sn")["token"])
        with self.rates(user="2/min"):
            statuses = [client.get(reverse("api:me")).status_code for _ in range(3)]
            assert other.get(reverse("api:me")).status_code == 200
        assert statuses == [200, 200, 429]

    def test_requests_without_credentials_are_throttled_by_address(self):
        # DRF refuses missing credentials (401) before throttling: the anonymous rate
        # applies where anyone may call, sign-in included.
        body = {"username": "officer_lx", "password": "wrong"}
        with self.rates(anon="2/min", token="100/min"):
            statuses = [
                self.api().post(reverse("api:token"), body, format="json").status_code
                for _ in range(3)
            ]
        assert statuses == [400, 400, 429]

    def test_the_rate_window_passes(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False) as clock:
            client = self.client_with(self.sign_in()["token"])
            with self.rates(user="1/min"):
                assert client.get(reverse("api:me")).status_code == 200
                assert client.get(reverse("api:me")).status_code == 429
                clock.shift(timedelta(minutes=1))
                assert client.get(reverse("api:me")).status_code == 200


def test_tokens_expire_in_the_future_by_constraint(db):
    from django.db import IntegrityError

    from accounts.models import User

    user = User.objects.create_user("x", role="admin")
    now = timezone.now()
    try:
        ApiToken.objects.create(user=user, prefix="p", key_hash="h", created_at=now, expires_at=now)
    except IntegrityError:
        return
    raise AssertionError("a token that expires at once was saved")
