"""Banks' API keys: issued in the admin and shown once, acting as the institution's liaison."""

from datetime import timedelta

import time_machine
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.settings import api_settings

from accounts.credentials import api_key_issue, api_key_revoke
from accounts.models import ApiKey, Role, SecurityEvent, SecurityEventType, User
from tests.funds.helpers import FundsTestCase

KEY_EVENTS = SecurityEvent.objects.filter(type__startswith="api_key_")


class ApiKeyTestCase(FundsTestCase):
    def key_client(self, secret: str):
        client = self.api()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        return client

    def issue(self, institution=None, **extra):
        return api_key_issue(
            actor=self.admin, institution=institution or self.icbc, name="核心系统", **extra
        )

    def events(self) -> list[tuple[str, int | None, int | None]]:
        # The keys' own events (signing in and creating users are security events too).
        return list(KEY_EVENTS.order_by("pk").values_list("type", "api_key", "actor"))


class AdminIssueTest(ApiKeyTestCase):
    def setUp(self) -> None:
        super().setUp()
        # The messages are asserted in English (the default language is zh-hans).
        self.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"

    def add(self, **fields):
        self.client.force_login(self.admin)
        expires = timezone.localtime() + timedelta(days=30)
        body = {
            "institution": self.icbc.pk,
            "name": "工行核心系统",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
            **fields,
        }
        return self.client.post(reverse("admin:accounts_apikey_add"), body)

    def test_the_administrator_issues_a_key_shown_once_and_stored_hashed(self):
        response = self.add()
        assert response.status_code == 200
        key = ApiKey.objects.get()
        secret = response.context["secret"]
        assert secret.startswith(key.prefix + ".")
        assert secret in response.content.decode()
        assert "no-store" in response["Cache-Control"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM accounts_apikey WHERE id = %s", [key.pk])
            row = cursor.fetchone()
        assert all(secret not in str(value) for value in row)
        assert (key.institution, key.name, key.created_by) == (
            self.icbc,
            "工行核心系统",
            self.admin,
        )
        assert self.events() == [(SecurityEventType.API_KEY_ISSUED, key.pk, self.admin.pk)]
        # The key's record never shows it again.
        page = self.client.get(reverse("admin:accounts_apikey_change", args=[key.pk]))
        assert page.status_code == 200
        assert secret not in page.content.decode()
        listing = self.client.get(reverse("admin:accounts_apikey_changelist"))
        assert secret not in listing.content.decode()

    def test_the_key_acts_through_a_liaison_of_the_institution_no_person_signs_in_as(self):
        self.add()
        user = ApiKey.objects.get().user
        assert (user.role, user.organization) == (Role.LIAISON, self.icbc)
        assert not user.has_usable_password()
        users = self.client.get(reverse("admin:accounts_user_changelist"))
        assert user.username not in users.content.decode()

    def test_a_key_for_a_police_unit_or_expiring_in_the_past_is_refused(self):
        assert self.add(institution=self.lixia.pk).status_code == 200
        past = timezone.localtime() - timedelta(days=1)
        response = self.add(
            expires_at_0=past.strftime("%Y-%m-%d"), expires_at_1=past.strftime("%H:%M:%S")
        )
        assert response.status_code == 200
        assert "An API key must expire in the future." in response.content.decode()
        assert not ApiKey.objects.exists()
        assert not KEY_EVENTS.exists()

    def test_the_default_expiry_is_api_key_ttl(self):
        issued = self.issue()
        assert issued.row.expires_at - issued.row.created_at == timedelta(days=365)

    def test_the_administrator_revokes_keys_with_the_action(self):
        live, done = self.issue(), self.issue()
        api_key_revoke(actor=self.admin, key=done.row)
        self.client.force_login(self.admin)
        response = self.client.post(
            reverse("admin:accounts_apikey_changelist"),
            {"action": "revoke", "_selected_action": [live.row.pk, done.row.pk]},
            follow=True,
        )
        assert "1 API key revoked." in response.content.decode()
        live.row.refresh_from_db()
        assert live.row.revoked_by == self.admin
        assert [e[0] for e in self.events()] == [
            SecurityEventType.API_KEY_ISSUED,
            SecurityEventType.API_KEY_ISSUED,
            SecurityEventType.API_KEY_REVOKED,
            SecurityEventType.API_KEY_REVOKED,
        ]
        assert self.key_client(live.secret).get(reverse("api:me")).status_code == 401

    def test_nobody_else_issues_keys(self):
        self.client.force_login(self.liaison_icbc)
        assert self.client.get(reverse("admin:accounts_apikey_add")).status_code == 302
        assert not ApiKey.objects.exists()

    def test_security_events_are_read_only(self):
        self.issue()
        self.client.force_login(self.admin)
        event = KEY_EVENTS.get()
        assert (
            self.client.get(reverse("admin:accounts_securityevent_changelist")).status_code == 200
        )
        assert self.client.get(reverse("admin:accounts_securityevent_add")).status_code == 403
        response = self.client.post(
            reverse("admin:accounts_securityevent_delete", args=[event.pk]), {"post": "yes"}
        )
        assert response.status_code == 403
        assert KEY_EVENTS.count() == 1


class KeyScopeTest(ApiKeyTestCase):
    def test_a_key_sees_only_its_banks_instructions_and_executes_one(self):
        case = self.filed_case()
        icbc = self.add_account(case["id"], "6222020000000001", "ICBC")
        ccb = self.add_account(case["id"], "6217000000000002", "CCB")
        at_icbc = self.ask(
            case["id"], {"kind": "stop_payment", "account": icbc["id"], "amount": "5000.00"}
        )
        at_ccb = self.ask(
            case["id"], {"kind": "stop_payment", "account": ccb["id"], "amount": "5000.00"}
        )
        client = self.key_client(self.issue().secret)
        listed = client.get("/api/v1/instructions/").json()
        assert [row["id"] for row in listed["results"]] == [at_icbc["id"]]
        assert client.get(f"/api/v1/instructions/{at_ccb['id']}/").status_code == 404
        assert client.get(f"/api/v1/cases/{case['id']}/").status_code in (403, 404)
        executed = client.post(
            f"/api/v1/instructions/{at_icbc['id']}/execute/",
            {"executed_amount": "5000.00", "bank_reference": "K-1"},
            format="json",
        )
        assert executed.status_code == 200, executed.content
        assert executed.json()["status"] == "executed"
        refused = client.post(
            f"/api/v1/instructions/{at_ccb['id']}/execute/",
            {"executed_amount": "5000.00", "bank_reference": "K-2"},
            format="json",
        )
        assert refused.status_code == 404

    def test_me_answers_the_keys_liaison_of_its_institution(self):
        body = self.key_client(self.issue(self.ccb).secret).get(reverse("api:me")).json()
        assert body["role"] == "liaison"
        assert body["organization"]["code"] == "CCB"


class KeyEndTest(ApiKeyTestCase):
    def test_an_expired_key_is_a_401(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False) as clock:
            issued = self.issue(expires_at=timezone.now() + timedelta(days=1))
            client = self.key_client(issued.secret)
            assert client.get(reverse("api:me")).status_code == 200
            clock.shift(timedelta(days=1))
            response = client.get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "api_key_expired"

    def test_a_revoked_key_is_a_401_and_revoking_again_changes_nothing(self):
        issued = self.issue()
        assert api_key_revoke(actor=self.admin, key=issued.row) is True
        assert api_key_revoke(actor=self.admin, key=issued.row) is False
        response = self.key_client(issued.secret).get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "api_key_revoked"
        assert len(self.events()) == 2  # issued, revoked once

    def test_a_wrong_key_with_a_known_prefix_is_a_401(self):
        issued = self.issue()
        response = self.key_client(issued.row.prefix + ".guessed").get(reverse("api:me"))
        assert response.status_code == 401
        assert response.json()["code"] == "token_invalid"

    def test_a_token_keyword_does_not_take_an_api_key(self):
        client = self.api()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.issue().secret}")
        assert client.get(reverse("api:me")).status_code == 401

    def test_only_an_administrator_issues_or_revokes(self):
        import pytest

        with pytest.raises(PermissionError):
            api_key_issue(actor=self.manager_sd, institution=self.icbc, name="x")
        issued = self.issue()
        with pytest.raises(PermissionError):
            api_key_revoke(actor=self.liaison_icbc, key=issued.row)
        issued.row.refresh_from_db()
        assert issued.row.revoked_at is None


class KeyUseTest(ApiKeyTestCase):
    def test_first_and_last_use_are_recorded_and_the_first_use_logged_once(self):
        with time_machine.travel("2026-03-02 09:00 +08:00", tick=False) as clock:
            issued = self.issue()
            client = self.key_client(issued.secret)
            clock.shift(timedelta(hours=1))
            first = timezone.now()
            with self.assertLogs("accounts.credentials", "INFO") as logs:
                client.get(reverse("api:me"))
            assert len(logs.records) == 1 and "api_key_first_used" in logs.output[0]
            clock.shift(timedelta(minutes=5))
            client.get(reverse("api:me"))
            key = ApiKey.objects.get()
        assert key.first_used_at == first
        assert key.last_used_at == first + timedelta(minutes=5)
        assert self.events() == [
            (SecurityEventType.API_KEY_ISSUED, key.pk, self.admin.pk),
            (SecurityEventType.API_KEY_FIRST_USED, key.pk, key.user_id),
        ]
        assert SecurityEvent.objects.order_by("pk").last().ip_address == "127.0.0.1"

    def test_keys_are_throttled_by_key(self):
        one, two = self.key_client(self.issue().secret), self.key_client(self.issue().secret)
        from django.conf import settings

        rates = {**api_settings.DEFAULT_THROTTLE_RATES, "api_key": "2/min", "user": "100/min"}
        with override_settings(
            REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
        ):
            statuses = [one.get(reverse("api:me")).status_code for _ in range(3)]
            assert two.get(reverse("api:me")).status_code == 200
        assert statuses == [200, 200, 429]


def test_a_security_event_cannot_be_rewritten_even_by_sql(db):
    import pytest
    from django.db import DatabaseError, transaction

    from accounts.models import SecurityEvent as Event

    event = Event.objects.create(type=SecurityEventType.API_KEY_ISSUED, at=timezone.now())
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_securityevent WHERE id = %s", [event.pk])
    assert Event.objects.filter(pk=event.pk).exists()
    assert User.objects.filter(api_key__isnull=False).count() == 0
