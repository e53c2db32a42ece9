"""The Django admin manages organisations and users, for administrators only."""

from django.urls import reverse

from accounts.models import Organization, Role, User
from tests.base import CaseTrackerTestCase


class AdminTest(CaseTrackerTestCase):
    def test_the_administrator_lists_and_adds_organisations(self):
        self.client.force_login(self.admin)
        listing = self.client.get(reverse("admin:accounts_organization_changelist"))
        self.assertContains(listing, "历下区分局")
        response = self.client.post(
            reverse("admin:accounts_organization_add"),
            {
                "code": "370102003",
                "name": "甸柳派出所",
                "kind": "police",
                "level": "station",
                "parent": self.lixia.pk,
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        station = Organization.objects.get(code="370102003")
        assert station.path == f"{self.lixia.path}{station.pk}/"

    def test_the_admin_refuses_a_station_directly_under_a_city(self):
        self.client.force_login(self.admin)
        response = self.client.post(
            reverse("admin:accounts_organization_add"),
            {
                "code": "370100009",
                "name": "错挂派出所",
                "kind": "police",
                "level": "station",
                "parent": self.jinan.pk,
            },
        )
        assert response.status_code == 200
        assert not Organization.objects.filter(code="370100009").exists()

    def test_the_administrator_gives_a_user_a_role_and_a_unit(self):
        self.client.force_login(self.admin)
        response = self.client.post(
            reverse("admin:accounts_user_add"),
            {
                "username": "officer_new",
                "password1": "a-long-enough-password-2026",
                "password2": "a-long-enough-password-2026",
                "usable_password": "true",
                "role": Role.OFFICER,
                "organization": self.shinan.pk,
            },
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        user = User.objects.get(username="officer_new")
        assert (user.role, user.organization) == (Role.OFFICER, self.shinan)

    def test_nobody_else_reaches_the_admin(self):
        for user in (self.officer_lx, self.manager_sd, self.liaison_icbc, self.auditor_sd):
            self.client.force_login(user)
            assert self.client.get(reverse("admin:index")).status_code == 302
