"""A password change page: the old password first, the session goes on, and every API token
issued before ends (issue #12, "Sign-in hygiene")."""

from __future__ import annotations

from django.urls import reverse

from accounts.credentials import api_token_issue
from tests.base import CaseTrackerTestCase

OLD = "demo-pass-2026"
NEW = "a-new-Passphrase-2027!"


class PasswordChangeTest(CaseTrackerTestCase):
    def change(self, old: str, new: str, again: str | None = None):
        self.client.force_login(self.officer_lx)
        return self.client.post(
            reverse("password-change"),
            {"old_password": old, "new_password1": new, "new_password2": again or new},
        )

    def test_every_page_links_the_change_and_it_asks_for_the_old_password(self):
        self.client.force_login(self.officer_lx)
        html = self.client.get(reverse("case-list")).content.decode()
        assert f'href="{reverse("password-change")}"' in html
        page = self.client.get(reverse("password-change")).content.decode()
        assert 'name="old_password"' in page and 'name="new_password1"' in page

    def test_a_change_keeps_the_session_and_ends_the_tokens_issued_before(self):
        token = api_token_issue(user=self.officer_lx).secret
        me = {"HTTP_AUTHORIZATION": f"Token {token}"}
        assert self.client.get("/api/v1/me/", **me).status_code == 200

        response = self.change(OLD, NEW)

        assert response.status_code == 302
        assert response["Location"] == reverse("password-change-done")
        assert self.client.get(reverse("case-list")).status_code == 200  # still signed in
        self.officer_lx.refresh_from_db()
        assert self.officer_lx.check_password(NEW)
        self.client.logout()
        assert self.client.get("/api/v1/me/", **me).status_code == 401

    def test_a_wrong_old_password_or_a_mismatch_changes_nothing(self):
        token = api_token_issue(user=self.officer_lx).secret
        for old, new, again in ((("wrong-" + OLD), NEW, NEW), (OLD, NEW, NEW + "x")):
            response = self.change(old, new, again)
            assert response.status_code == 200
            assert 'class="error"' in response.content.decode()
        self.officer_lx.refresh_from_db()
        assert self.officer_lx.check_password(OLD)
        self.client.logout()
        me = {"HTTP_AUTHORIZATION": f"Token {token}"}
        assert self.client.get("/api/v1/me/", **me).status_code == 200

    def test_only_the_signed_in_may_change_a_password(self):
        response = self.client.get(reverse("password-change"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
