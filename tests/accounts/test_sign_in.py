"""Session sign-in and sign-out, throttling of failed sign-ins, and session expiry."""

from datetime import timedelta
from io import StringIO

import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from devdata.world import DEMO_PASSWORD
from tests.base import CaseTrackerTestCase


class SignInPageTest(CaseTrackerTestCase):
    def test_the_sign_in_page_is_in_chinese_by_default(self):
        response = self.client.get(reverse("login"))
        assert response.status_code == 200
        assert response["Content-Language"] == "zh-hans"
        self.assertContains(response, "登录")

    def test_the_sign_in_page_is_available_in_english(self):
        response = self.client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
        assert response["Content-Language"] == "en"
        self.assertContains(response, "Sign in")

    def test_the_language_can_be_switched_by_the_user(self):
        response = self.client.post(reverse("set_language"), {"language": "en", "next": "/login/"})
        assert response.status_code == 302
        self.assertContains(self.client.get(reverse("login")), "Password")

    def test_pages_carry_a_content_security_policy_of_the_own_origin(self):
        csp = self.client.get(reverse("login"))["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp

    def test_a_demo_user_signs_in_and_sees_the_home_page(self):
        response = self.client.post(
            reverse("login"), {"username": "officer_lx", "password": DEMO_PASSWORD}, follow=True
        )
        # Home sends each role to where its work starts: an officer to the case list.
        assert [url for url, _status in response.redirect_chain] == [
            reverse("home"),
            reverse("case-list"),
        ]
        self.assertContains(response, "历下区分局")

    def test_a_wrong_password_shows_an_error_and_does_not_sign_in(self):
        response = self.client.post(
            reverse("login"), {"username": "officer_lx", "password": "nope"}
        )
        assert response.status_code == 200
        assert response.context["form"].errors
        assert "_auth_user_id" not in self.client.session

    def test_sign_out_ends_the_session(self):
        self.client.force_login(self.officer_lx)
        response = self.client.post(reverse("logout"))
        assert response.status_code == 302
        assert self.client.get(reverse("case-list")).status_code == 302

    def test_home_sends_each_role_to_its_start_page(self):
        for user, page in [
            (self.officer_lx, reverse("case-list")),
            (self.manager_jn, reverse("desk")),
            (self.auditor_sd, reverse("desk")),
            (self.liaison_ccb, reverse("inbox")),
            (self.admin, reverse("admin:index")),
        ]:
            self.client.force_login(user)
            assert self.client.get(reverse("home"))["Location"] == page, user

    def test_home_requires_sign_in(self):
        response = self.client.get(reverse("home"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


class ThrottlingTest(CaseTrackerTestCase):
    def fail(self, username="officer_lx", password="wrong-password"):
        return self.client.post(reverse("login"), {"username": username, "password": password})

    def test_it_locks_out_after_the_failure_limit(self):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert self.fail().status_code == 200
        assert self.fail().status_code == 429

    def test_a_locked_out_user_cannot_sign_in_even_with_the_right_password(self):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.fail()
        response = self.fail(password=DEMO_PASSWORD)
        assert response.status_code == 429
        self.assertContains(response, "15", status_code=429)
        assert "_auth_user_id" not in self.client.session

    def test_the_lock_out_ends_after_the_cool_off(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as traveller:
            for _ in range(settings.AXES_FAILURE_LIMIT):
                self.fail()
            traveller.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
            response = self.client.post(
                reverse("login"), {"username": "officer_lx", "password": DEMO_PASSWORD}
            )
        assert response.status_code == 302
        assert self.client.session["_auth_user_id"] == str(self.officer_lx.pk)

    def test_one_locked_username_does_not_lock_another(self):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.fail()
        response = self.client.post(
            reverse("login"), {"username": "officer_sn", "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302

    def test_the_token_endpoint_is_throttled_too(self):
        url = reverse("api:token")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.client.post(url, {"username": "officer_lx", "password": "wrong"})
        response = self.client.post(url, {"username": "officer_lx", "password": DEMO_PASSWORD})
        assert response.status_code == 429
        assert response.json()["code"] == "locked_out"


class SessionExpiryTest(CaseTrackerTestCase):
    def test_a_session_ends_after_the_idle_timeout(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False) as traveller:
            self.client.post(
                reverse("login"), {"username": "officer_lx", "password": DEMO_PASSWORD}
            )
            traveller.shift(timedelta(seconds=settings.SESSION_COOKIE_AGE - 60))
            assert self.client.get(reverse("case-list")).status_code == 200
            traveller.shift(timedelta(seconds=settings.SESSION_COOKIE_AGE + 1))
            assert self.client.get(reverse("case-list")).status_code == 302

    def test_an_active_session_ends_at_the_absolute_maximum(self):
        start = timezone.now()
        step = timedelta(seconds=settings.SESSION_COOKIE_AGE // 2)
        with time_machine.travel(start, tick=False) as traveller:
            self.client.post(
                reverse("login"), {"username": "officer_lx", "password": DEMO_PASSWORD}
            )
            while timezone.now() - start < settings.SESSION_MAX_AGE - step:
                assert self.client.get(reverse("case-list")).status_code == 200
                traveller.shift(step)
            traveller.shift(step * 2)
            assert self.client.get(reverse("case-list")).status_code == 302


class LockOutByUsernameAndAddressTest(CaseTrackerTestCase):
    """A username is locked from every address; an address spraying usernames is locked."""

    def fail(self, username="officer_lx", address="10.0.0.1"):
        return self.client.post(
            reverse("login"),
            {"username": username, "password": "wrong-password"},
            REMOTE_ADDR=address,
        )

    def sign_in(self, username="officer_lx", address="10.0.0.1", password=DEMO_PASSWORD):
        return self.client.post(
            reverse("login"),
            {"username": username, "password": password},
            REMOTE_ADDR=address,
        )

    def test_spraying_many_usernames_from_one_address_locks_the_address(self):
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
            self.fail(username=f"nobody{n}")
        # A real user from that address is refused, even with the right password ...
        assert self.sign_in(username="officer_sn").status_code == 429
        # ... and the same user from another address is not.
        assert self.sign_in(username="officer_sn", address="10.0.0.2").status_code == 302

    def test_fewer_failures_than_the_address_limit_lock_no_one_else(self):
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT - 1):
            self.fail(username=f"nobody{n}")
        assert self.sign_in(username="officer_sn").status_code == 302

    def test_failures_from_many_addresses_lock_the_username(self):
        for n in range(settings.AXES_FAILURE_LIMIT):
            self.fail(address=f"10.0.1.{n + 1}")
        assert self.sign_in(address="10.0.2.1").status_code == 429
        # Another user from one of those addresses is not locked.
        assert self.sign_in(username="officer_sn", address="10.0.1.1").status_code == 302

    def test_the_token_endpoint_counts_towards_the_address(self):
        url = reverse("api:token")
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT - 1):
            self.fail(username=f"nobody{n}")
        self.client.post(url, {"username": "nobody", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
        response = self.client.post(
            url, {"username": "officer_sn", "password": DEMO_PASSWORD}, REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 429
        assert response.json()["code"] == "locked_out"

    def test_a_success_in_between_does_not_clear_the_address(self):
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT - 1):
            self.fail(username=f"nobody{n}")
        # The sprayer signs in to an account of its own, then fails once more.
        response = self.sign_in(username="officer_station", password="station-pass-2026")
        assert response.status_code == 302
        self.client.logout()
        self.fail(username="nobody-last")
        assert self.sign_in(username="officer_sn").status_code == 429

    def test_an_administrator_unlocks_an_address(self):
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
            self.fail(username=f"nobody{n}")
        call_command("axes_reset_ip", "10.0.0.1", stdout=StringIO())
        assert self.sign_in(username="officer_sn").status_code == 302

    def test_an_administrator_unlocks_a_username(self):
        for n in range(settings.AXES_FAILURE_LIMIT):
            self.fail(address=f"10.0.1.{n + 1}")
        call_command("axes_reset_username", "officer_lx", stdout=StringIO())
        assert self.sign_in(address="10.0.2.1").status_code == 302


@override_settings(
    PROXY_COUNT=1,
    AXES_IPWARE_PROXY_COUNT=0,
    AXES_IPWARE_META_PRECEDENCE_ORDER=["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"],
)
class LockOutBehindAProxyTest(CaseTrackerTestCase):
    """Behind one proxy (REMOTE_ADDR 127.0.0.1), which appends the client to X-Forwarded-For."""

    def fail(self, forwarded_for, username="officer_lx"):
        return self.client.post(
            reverse("login"),
            {"username": username, "password": "wrong-password"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    def test_the_client_is_the_address_the_proxy_appended(self):
        self.fail("198.51.100.7")
        assert AccessAttempt.objects.get().ip_address == "198.51.100.7"

    def test_a_forged_extra_hop_does_not_change_the_address(self):
        # The client sends X-Forwarded-For itself; the proxy appends the real address.
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
            self.fail(f"203.0.113.{n + 1}, 198.51.100.7", username=f"nobody{n}")
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
        response = self.client.post(
            reverse("login"),
            {"username": "officer_sn", "password": DEMO_PASSWORD},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        )
        assert response.status_code == 429

    def test_a_client_cannot_lock_out_another_address_by_forging_it(self):
        for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
            self.fail("198.51.100.9, 198.51.100.7", username=f"nobody{n}")
        response = self.client.post(
            reverse("login"),
            {"username": "officer_sn", "password": DEMO_PASSWORD},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.9",
        )
        assert response.status_code == 302


class LockOutWithoutAProxyTest(CaseTrackerTestCase):
    def test_x_forwarded_for_is_ignored_without_a_proxy(self):
        self.client.post(
            reverse("login"),
            {"username": "officer_lx", "password": "wrong-password"},
            REMOTE_ADDR="192.0.2.5",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        )
        assert AccessAttempt.objects.get().ip_address == "192.0.2.5"
