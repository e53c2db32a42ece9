"""Sign-ins, failed sign-ins, lock-outs, tokens, and changes of users and organisations are
security events of the audit chain, with the address where known and never a secret."""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Organization, Role, SecurityEvent, SecurityEventType, User
from devdata.world import DEMO_PASSWORD
from tests.base import CaseTrackerTestCase


class SecurityEventsTest(CaseTrackerTestCase):
    def events(self, type: SecurityEventType) -> list[SecurityEvent]:
        return list(SecurityEvent.objects.filter(type=type).order_by("chain_seq"))

    def assert_no_secret(self, *secrets: str) -> None:
        for event in SecurityEvent.objects.all():
            text = json.dumps(event.data, default=str)
            for secret in secrets:
                assert secret not in text, (event.type, text)
            assert "md5$" not in text and "pbkdf2" not in text
        assert all(e.chain_seq and len(e.hash) == 64 for e in SecurityEvent.objects.all())

    def sign_in(self, password: str) -> None:
        self.client.post(
            reverse("login"),
            {"username": "officer_lx", "password": password},
            REMOTE_ADDR="192.0.2.7",
        )

    def test_a_sign_in_is_recorded_with_the_address(self):
        self.sign_in(DEMO_PASSWORD)
        [event] = self.events(SecurityEventType.SIGNED_IN)
        assert (event.user, event.actor, event.ip_address) == (
            self.officer_lx,
            self.officer_lx,
            "192.0.2.7",
        )
        self.assert_no_secret(DEMO_PASSWORD)

    def test_a_failed_sign_in_is_recorded_with_the_name_given_but_not_the_password(self):
        self.sign_in("wrong-guess-123")
        [event] = self.events(SecurityEventType.SIGN_IN_FAILED)
        assert (event.user, event.actor, event.ip_address) == (self.officer_lx, None, "192.0.2.7")
        assert event.data == {"username": "officer_lx"}
        self.assert_no_secret("wrong-guess-123")

    def test_a_lock_out_is_recorded(self):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.sign_in("wrong-guess-123")
        [event] = self.events(SecurityEventType.LOCKED_OUT)
        assert (event.user, event.ip_address) == (self.officer_lx, "192.0.2.7")
        assert len(self.events(SecurityEventType.SIGN_IN_FAILED)) == settings.AXES_FAILURE_LIMIT

    def test_a_token_issued_and_revoked_is_recorded_but_never_the_token(self):
        api = APIClient(REMOTE_ADDR="192.0.2.8")
        answer = api.post(
            "/api/v1/auth/token/",
            {"username": "officer_lx", "password": DEMO_PASSWORD},
            format="json",
        )
        assert answer.status_code == 200, answer.content
        token = answer.json()["token"]
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert api.post("/api/v1/auth/token/revoke/").status_code == 204
        assert api.post("/api/v1/auth/token/revoke/").status_code == 401
        [issued] = self.events(SecurityEventType.TOKEN_ISSUED)
        [revoked] = self.events(SecurityEventType.TOKEN_REVOKED)
        assert (issued.user, issued.ip_address) == (self.officer_lx, "192.0.2.8")
        assert (revoked.user, revoked.actor) == (self.officer_lx, self.officer_lx)
        assert issued.data["prefix"] == token.split(".")[0]
        self.assert_no_secret(token, token.split(".")[1], DEMO_PASSWORD)

    def test_a_user_changed_in_the_admin_is_recorded_with_what_changed(self):
        self.client.force_login(self.admin)
        user = self.officer_sn
        page = self.client.get(reverse("admin:accounts_user_change", args=[user.pk]))
        form = page.context["adminform"].form
        data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
        data.update(
            {
                "role": Role.MANAGER,
                "is_active": "",
                "organization": user.organization_id,
                "last_login_0": "",
                "last_login_1": "",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
                "groups": [],
                "user_permissions": [],
            }
        )
        data = {
            k: v for k, v in data.items() if k not in {"is_active", "is_staff", "is_superuser"} or v
        }
        answer = self.client.post(
            reverse("admin:accounts_user_change", args=[user.pk]), data, REMOTE_ADDR="192.0.2.9"
        )
        assert answer.status_code == 302, answer.context["adminform"].form.errors
        [event] = self.events(SecurityEventType.USER_CHANGED)
        assert (event.user, event.actor, event.ip_address) == (user, self.admin, "192.0.2.9")
        assert event.data["changed"]["role"] == [Role.OFFICER, Role.MANAGER]
        assert event.data["changed"]["is_active"] == [True, False]

    def test_a_password_change_is_recorded_without_the_hash(self):
        user = self.officer_sn
        user.set_password("brand-new-pass-2026")
        user.save()
        [event] = self.events(SecurityEventType.USER_CHANGED)
        assert event.data == {"changed": {"password": "changed"}}
        self.assert_no_secret("brand-new-pass-2026", user.password)

    def test_a_sign_in_time_alone_is_no_change(self):
        self.sign_in(DEMO_PASSWORD)
        assert self.events(SecurityEventType.USER_CHANGED) == []

    def test_users_and_organisations_created_and_changed_are_recorded(self):
        self.last_seq = SecurityEvent.objects.order_by("-chain_seq").values_list(
            "chain_seq", flat=True
        )[0]
        unit = Organization.objects.create(code="TESTBK", name="测试银行", kind="bank")
        User.objects.create_user(
            "liaison_test", password="x-pass-2026", role=Role.LIAISON, organization=unit
        )
        unit.name = "测试银行股份"
        unit.save()
        mine = SecurityEvent.objects.filter(chain_seq__gt=self.last_seq).order_by("chain_seq")
        created, user, changed = mine
        assert (created.type, user.type, changed.type) == (
            SecurityEventType.ORGANIZATION_CREATED,
            SecurityEventType.USER_CREATED,
            SecurityEventType.ORGANIZATION_CHANGED,
        )
        assert created.data["organization"] == unit.pk
        assert created.data["fields"]["code"] == "TESTBK"
        assert changed.data["changed"] == {"name": ["测试银行", "测试银行股份"]}
        assert user.data["fields"]["role"] == Role.LIAISON
        assert "password" not in user.data["fields"]
