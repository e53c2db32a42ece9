"""The second factor: TOTP enrolment, codes accepted once and throttled, MFA_REQUIRED_ROLES."""

from base64 import b32decode
from datetime import datetime, timedelta

import time_machine
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.credentials import api_key_issue
from accounts.mfa import totp_enrol_confirm, totp_enrol_start
from accounts.models import ApiToken, SecurityEvent, SecurityEventType, User
from devdata.world import DEMO_PASSWORD
from tests.base import CaseTrackerTestCase

# The start of a 30 s TOTP step, so that stepping by 30 s moves exactly one code on.
START = datetime(2026, 3, 2, 1, 0, 0, tzinfo=timezone.UTC)
MUST_ENROL = ["admin", "manager", "liaison"]


def code_for(secret: str) -> str:
    """The code that an authenticator app shows now for a base32 ``secret``."""
    return f"{totp(b32decode(secret)):06d}"


def device_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key):06d}"


MFA_EVENTS = SecurityEvent.objects.filter(type__startswith="mfa_")


class MfaTestCase(CaseTrackerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.addCleanup(self.clock.stop)

    def step(self, seconds: int = 30) -> None:
        self.traveller.shift(timedelta(seconds=seconds))

    def enrol(self, user: User) -> tuple[TOTPDevice, list[str]]:
        """Give ``user`` a confirmed device; the clock moves on past the code used."""
        device = totp_enrol_start(actor=user)
        codes = totp_enrol_confirm(actor=user, code=device_code(device))
        self.step()
        device.refresh_from_db()
        return device, codes

    def sign_in(self, username: str = "manager_jn", password: str = DEMO_PASSWORD):
        return self.client.post(reverse("login"), {"username": username, "password": password})

    def events(self) -> list[tuple[str, int | None, int | None]]:
        # The second factor's own events (signing in is a security event too).
        return list(MFA_EVENTS.order_by("pk").values_list("type", "user", "actor"))


class EnrolmentApiTest(MfaTestCase):
    def test_enrolment_answers_a_base32_secret_and_an_otpauth_uri(self):
        response = self.api(self.manager_jn).post(reverse("api:mfa-totp"))
        assert response.status_code == 201
        secret = response.json()["secret"]
        device = TOTPDevice.objects.get(user=self.manager_jn)
        assert not device.confirmed
        assert b32decode(secret) == device.bin_key
        uri = response.json()["otpauth_uri"]
        assert uri.startswith("otpauth://totp/casetracker%3Amanager_jn?")
        assert f"secret={secret}" in uri and "digits=6" in uri and "period=30" in uri

    def test_a_right_code_confirms_the_device_and_answers_ten_recovery_codes_once(self):
        client = self.api(self.manager_jn)
        secret = client.post(reverse("api:mfa-totp")).json()["secret"]
        response = client.post(reverse("api:mfa-totp-confirm"), {"code": code_for(secret)})
        assert response.status_code == 200
        codes = response.json()["recovery_codes"]
        assert len(set(codes)) == 10
        assert response["Cache-Control"] == "no-store"
        assert TOTPDevice.objects.get(user=self.manager_jn).confirmed
        assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(codes)
        me = self.manager_jn.pk
        assert self.events() == [
            (SecurityEventType.MFA_ENROLLED, me, me),
            (SecurityEventType.MFA_RECOVERY_CODES_GENERATED, me, me),
        ]

    def test_a_wrong_code_is_refused_and_leaves_the_device_unconfirmed(self):
        client = self.api(self.manager_jn)
        secret = client.post(reverse("api:mfa-totp")).json()["secret"]
        wrong = f"{(int(code_for(secret)) + 1) % 1_000_000:06d}"
        response = client.post(reverse("api:mfa-totp-confirm"), {"code": wrong})
        assert response.status_code == 400
        assert list(response.json()) == ["code"]
        assert not TOTPDevice.objects.get(user=self.manager_jn).confirmed
        assert not StaticDevice.objects.exists()
        assert not MFA_EVENTS.exists()

    def test_confirming_without_a_device_waiting_is_a_conflict(self):
        response = self.api(self.manager_jn).post(reverse("api:mfa-totp-confirm"), {"code": "1"})
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_state"

    def test_starting_again_replaces_the_unconfirmed_device(self):
        client = self.api(self.manager_jn)
        first = client.post(reverse("api:mfa-totp")).json()["secret"]
        second = client.post(reverse("api:mfa-totp")).json()["secret"]
        assert first != second
        assert [d.bin_key for d in TOTPDevice.objects.filter(user=self.manager_jn)] == [
            b32decode(second)
        ]

    def test_a_confirmed_device_is_not_replaced_without_an_administrator(self):
        device, _codes = self.enrol(self.manager_jn)
        response = self.api(self.manager_jn).post(reverse("api:mfa-totp"))
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_state"
        assert list(TOTPDevice.objects.filter(user=self.manager_jn)) == [device]


class TokenWithSecondFactorTest(MfaTestCase):
    def token(self, **extra):
        body = {"username": "manager_jn", "password": DEMO_PASSWORD, **extra}
        return self.client.post(reverse("api:token"), body)

    def test_without_a_device_the_password_is_enough(self):
        assert self.token().status_code == 200

    def test_with_a_device_the_token_needs_the_code(self):
        device, _codes = self.enrol(self.manager_jn)
        response = self.token()
        assert response.status_code == 401
        assert response.json()["code"] == "otp_required"
        assert self.token(otp="").json()["code"] == "otp_required"
        wrong = f"{(int(device_code(device)) + 1) % 1_000_000:06d}"
        self.step()  # past the throttle's delay of one wrong code
        response = self.token(otp=wrong)
        assert response.status_code == 401
        assert response.json()["code"] == "otp_invalid"
        assert not ApiToken.objects.exists()
        self.step()
        response = self.token(otp=device_code(device))
        assert response.status_code == 200
        assert ApiToken.objects.get().user == self.manager_jn

    def test_a_wrong_password_is_refused_before_the_code_is_asked(self):
        self.enrol(self.manager_jn)
        response = self.token(password="wrong-password")
        assert response.status_code == 400

    def test_a_code_is_accepted_once(self):
        device, _codes = self.enrol(self.manager_jn)
        code = device_code(device)
        assert self.token(otp=code).status_code == 200
        response = self.token(otp=code)
        assert response.status_code == 401
        assert response.json()["code"] == "otp_invalid"
        # The next step's code is a new code.
        self.step(60)
        assert self.token(otp=device_code(device)).status_code == 200
        assert ApiToken.objects.count() == 2

    def test_a_recovery_code_signs_in_once(self):
        _device, codes = self.enrol(self.manager_jn)
        assert self.token(otp=codes[0].upper()).status_code == 200
        self.step(60)
        response = self.token(otp=codes[0])
        assert response.status_code == 401
        assert response.json()["code"] == "otp_invalid"
        assert StaticToken.objects.count() == 9
        used = SecurityEvent.objects.filter(type=SecurityEventType.MFA_RECOVERY_CODE_USED)
        assert list(used.values_list("user", flat=True)) == [self.manager_jn.pk]

    def test_after_wrong_codes_even_the_right_one_waits_for_the_throttle(self):
        device, _codes = self.enrol(self.manager_jn)
        right = device_code(device)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        for _ in range(3):
            assert self.token(otp=wrong).json()["code"] == "otp_invalid"
        device.refresh_from_db()
        assert device.throttling_failure_count == 1  # the next two were not even checked
        self.step(1)  # 1 s after one failure: checked (and wrong) again
        assert self.token(otp=wrong).json()["code"] == "otp_invalid"
        # Two failures: the device waits 2 s; the right code is refused until then.
        self.step(1)
        response = self.token(otp=right)
        assert response.status_code == 401
        assert response.json()["code"] == "otp_invalid"
        self.step(1)
        assert self.token(otp=right).status_code == 200
        device.refresh_from_db()
        assert device.throttling_failure_count == 0


class EnrolmentRequiredTest(MfaTestCase):
    @override_settings(MFA_REQUIRED_ROLES=MUST_ENROL)
    def test_a_manager_without_a_device_reaches_only_enrolment_and_sign_out(self):
        self.client.force_login(self.manager_jn)
        for page in [reverse("home"), reverse("desk"), reverse("case-list")]:
            response = self.client.get(page)
            assert response.status_code == 302, page
            assert response["Location"] == reverse("mfa"), page
        assert self.client.get(reverse("mfa")).status_code == 200
        assert self.client.get(reverse("health")).status_code == 200
        response = self.client.post(reverse("set_language"), {"language": "en", "next": "/"})
        assert response["Location"] == "/"
        assert self.client.post(reverse("logout")).status_code == 302
        assert "_auth_user_id" not in self.client.session

    @override_settings(MFA_REQUIRED_ROLES=MUST_ENROL)
    def test_the_api_refuses_a_manager_without_a_device_but_for_enrolment(self):
        client = self.api(self.manager_jn)
        response = client.get(reverse("api:me"))
        assert response.status_code == 403
        assert response.json()["code"] == "mfa_enrolment_required"
        assert response.json()["detail"]
        secret = client.post(reverse("api:mfa-totp")).json()["secret"]
        response = client.post(reverse("api:mfa-totp-confirm"), {"code": code_for(secret)})
        assert response.status_code == 200
        assert client.get(reverse("api:me")).status_code == 200

    @override_settings(MFA_REQUIRED_ROLES=MUST_ENROL)
    def test_a_manager_who_must_enrol_can_still_end_the_token(self):
        client = self.api(self.manager_jn)
        assert client.post(reverse("api:token-revoke")).status_code == 204

    @override_settings(MFA_REQUIRED_ROLES=MUST_ENROL)
    def test_an_api_key_is_never_sent_to_enrolment(self):
        issued = api_key_issue(actor=self.admin, institution=self.icbc, name="核心系统")
        client = self.api()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.secret}")
        assert issued.row.user.role == "liaison"
        response = client.get(reverse("api:me"))
        assert response.status_code == 200
        assert response.json()["role"] == "liaison"
        # A person who is a liaison is asked, by token.
        assert self.api(self.liaison_icbc).get(reverse("api:me")).status_code == 403

    @override_settings(MFA_REQUIRED_ROLES=MUST_ENROL)
    def test_an_officer_is_not_forced(self):
        self.client.force_login(self.officer_lx)
        assert self.client.get(reverse("case-list")).status_code == 200
        assert self.api(self.officer_lx).get(reverse("api:me")).status_code == 200

    @override_settings(MFA_REQUIRED_ROLES=[])
    def test_with_no_roles_required_nobody_is_forced(self):
        for user in [self.manager_jn, self.liaison_icbc, self.admin]:
            self.client.force_login(user)
            assert self.client.get(reverse("home")).status_code == 302
            assert self.client.get(reverse("home"))["Location"] != reverse("mfa")
            assert self.api(user).get(reverse("api:me")).status_code == 200

    @override_settings(MFA_REQUIRED_ROLES=MUST_ENROL)
    def test_an_enrolled_manager_reaches_everything(self):
        device, _codes = self.enrol(self.manager_jn)
        self.sign_in()
        self.client.post(reverse("login-code"), {"code": device_code(device)})
        assert self.client.get(reverse("desk")).status_code == 200


class SignInPageTest(MfaTestCase):
    def test_a_user_without_a_device_signs_in_with_the_password(self):
        response = self.sign_in()
        assert response["Location"] == reverse("home")
        assert self.client.session["_auth_user_id"] == str(self.manager_jn.pk)

    def test_the_page_asks_for_the_code_and_signs_in_with_the_right_one(self):
        device, _codes = self.enrol(self.manager_jn)
        response = self.sign_in()
        assert response.status_code == 302
        assert response["Location"] == reverse("login-code")
        assert "_auth_user_id" not in self.client.session
        page = self.client.get(reverse("login-code"))
        assert page.status_code == 200
        assert 'autocomplete="one-time-code"' in page.content.decode()
        wrong = f"{(int(device_code(device)) + 1) % 1_000_000:06d}"
        response = self.client.post(reverse("login-code"), {"code": wrong})
        assert response.status_code == 200
        assert response.context["form"].errors["code"]
        assert "_auth_user_id" not in self.client.session
        self.step(1)  # the throttle's delay of one wrong code
        response = self.client.post(reverse("login-code"), {"code": device_code(device)})
        assert response.status_code == 302
        assert response["Location"] == reverse("home")
        assert self.client.session["_auth_user_id"] == str(self.manager_jn.pk)
        assert self.client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
        assert self.client.get(reverse("desk")).status_code == 200

    def test_a_recovery_code_signs_in_on_the_page(self):
        _device, codes = self.enrol(self.manager_jn)
        self.sign_in()
        response = self.client.post(reverse("login-code"), {"code": codes[3]})
        assert response["Location"] == reverse("home")
        assert self.client.get(reverse("desk")).status_code == 200

    def test_the_code_step_needs_the_password_step_first_and_expires(self):
        device, _codes = self.enrol(self.manager_jn)
        assert self.client.get(reverse("login-code"))["Location"] == reverse("login")
        self.sign_in()
        self.step(301)
        response = self.client.post(reverse("login-code"), {"code": device_code(device)})
        assert response["Location"] == reverse("login")
        assert "_auth_user_id" not in self.client.session

    def test_the_page_keeps_next_after_the_code(self):
        device, _codes = self.enrol(self.manager_jn)
        self.client.post(
            reverse("login") + "?next=/desk/",
            {"username": "manager_jn", "password": DEMO_PASSWORD, "next": "/desk/"},
        )
        response = self.client.post(reverse("login-code"), {"code": device_code(device)})
        assert response["Location"] == "/desk/"

    def test_a_session_not_verified_by_the_device_is_signed_out(self):
        self.enrol(self.manager_jn)
        # As a session from before the device, or from another sign-in route.
        self.client.force_login(self.manager_jn)
        response = self.client.get(reverse("desk"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert "_auth_user_id" not in self.client.session

    def test_the_admin_signs_in_through_the_product_sign_in(self):
        response = self.client.get("/admin/login/?next=/admin/")
        assert response["Location"] == reverse("login") + "?next=/admin/"


class EnrolmentPageTest(MfaTestCase):
    def test_the_page_shows_a_qr_code_and_the_key_and_confirms_with_a_code(self):
        self.client.force_login(self.manager_jn)
        page = self.client.get(reverse("mfa"))
        assert page.status_code == 200
        device = TOTPDevice.objects.get(user=self.manager_jn, confirmed=False)
        html = page.content.decode()
        assert "<svg" in html
        assert page.context["secret"] in html
        assert b32decode(page.context["secret"]) == device.bin_key
        # Asking again shows the same device, not a new one each time.
        assert self.client.get(reverse("mfa")).context["secret"] == page.context["secret"]
        response = self.client.post(reverse("mfa"), {"code": device_code(device)})
        assert response.status_code == 200
        codes = response.context["codes"]
        assert len(codes) == 10
        assert all(code in response.content.decode() for code in codes)
        assert "no-store" in response["Cache-Control"]
        device.refresh_from_db()
        assert device.confirmed
        # The session is verified by the new device: it goes on.
        assert self.client.get(reverse("desk")).status_code == 200
        enrolled = self.client.get(reverse("mfa"))
        assert enrolled.context["codes_left"] == 10
        assert not any(code in enrolled.content.decode() for code in codes)

    def test_a_wrong_code_on_the_page_is_refused(self):
        self.client.force_login(self.manager_jn)
        self.client.get(reverse("mfa"))
        device = TOTPDevice.objects.get(user=self.manager_jn)
        wrong = f"{(int(device_code(device)) + 1) % 1_000_000:06d}"
        response = self.client.post(reverse("mfa"), {"code": wrong})
        assert response.status_code == 200
        assert response.context["form"].errors["code"]
        device.refresh_from_db()
        assert not device.confirmed

    def test_an_enrolled_user_renews_the_recovery_codes(self):
        device, old = self.enrol(self.manager_jn)
        self.sign_in()
        self.client.post(reverse("login-code"), {"code": device_code(device)})
        response = self.client.post(reverse("mfa"), {"action": "recovery"})
        new = response.context["codes"]
        assert len(new) == 10 and not set(new) & set(old)
        assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(new)
        assert [t for t, _u, _a in self.events()][-1] == (
            SecurityEventType.MFA_RECOVERY_CODES_GENERATED
        )


class AdminResetTest(MfaTestCase):
    def test_the_admin_reset_deletes_the_devices_ends_tokens_and_is_recorded(self):
        device, _codes = self.enrol(self.manager_jn)
        token = self.api(self.manager_jn)
        self.client.post(reverse("login"), {"username": "manager_jn", "password": DEMO_PASSWORD})
        self.client.post(reverse("login-code"), {"code": device_code(device)})
        assert self.client.get(reverse("desk")).status_code == 200

        admin = self.client_class()
        admin.force_login(self.admin)
        response = admin.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "reset_second_factor", "_selected_action": [self.manager_jn.pk]},
        )
        assert response.status_code == 302
        assert not TOTPDevice.objects.filter(user=self.manager_jn).exists()
        assert not StaticDevice.objects.filter(user=self.manager_jn).exists()
        assert not StaticToken.objects.exists()
        assert not ApiToken.objects.filter(user=self.manager_jn, revoked_at__isnull=True).exists()
        assert token.get(reverse("api:me")).status_code == 401
        reset = SecurityEvent.objects.get(type=SecurityEventType.MFA_RESET)
        assert (reset.user, reset.actor) == (self.manager_jn, self.admin)
        # The manager's session, verified by the deleted device, is signed out.
        assert self.client.get(reverse("desk"))["Location"].startswith(reverse("login"))
        # The password alone signs in again (to enrol, where the role must).
        assert self.sign_in()["Location"] == reverse("home")

    def test_a_user_without_a_second_factor_is_not_reset_again(self):
        self.client.force_login(self.admin)
        response = self.client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "reset_second_factor", "_selected_action": [self.officer_lx.pk]},
            follow=True,
        )
        assert response.status_code == 200
        assert not MFA_EVENTS.exists()


def test_mfa_required_roles_default_to_admin_manager_liaison_but_empty_in_debug():
    from tests.casetracker.test_settings import run_manage

    show = ["shell", "-c", "from django.conf import settings; print(settings.MFA_REQUIRED_ROLES)"]

    def roles(**env: str) -> str:
        result = run_manage(*show, **env)
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr

    assert roles(SECRET_KEY="x" * 50) == "['admin', 'manager', 'liaison']"
    assert roles(DEBUG="1") == "[]"
    assert roles(DEBUG="1", MFA_REQUIRED_ROLES="manager") == "['manager']"
    refused = run_manage(*show, DEBUG="1", MFA_REQUIRED_ROLES="manager,boss")
    assert refused.returncode != 0
    assert "MFA_REQUIRED_ROLES names unknown roles: ['boss']" in refused.stderr
