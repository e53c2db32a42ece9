"""The organisation tree: levels, constraints, and paths kept right when units move."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import override

from accounts.models import Organization, OrganizationKind, Role, User
from tests.base import CaseTrackerTestCase


class OrganizationTreeTest(CaseTrackerTestCase):
    def test_paths_follow_the_tree(self):
        station = self.orgs["370102001"]
        assert station.path == f"/{self.shandong.pk}/{self.jinan.pk}/{self.lixia.pk}/{station.pk}/"
        assert [o.code for o in station.ancestors()] == ["370000", "370100", "370102", "370102001"]

    def test_moving_a_unit_moves_its_whole_subtree(self):
        self.lixia.parent = self.qingdao
        self.lixia.save()
        station = Organization.objects.get(code="370102001")
        assert station.path.startswith(f"/{self.shandong.pk}/{self.qingdao.pk}/{self.lixia.pk}/")
        assert Organization.objects.subtree_of(self.qingdao).filter(code="370102002").exists()
        assert not Organization.objects.subtree_of(self.jinan).filter(code="370102").exists()

    def test_levels_order_the_units(self):
        assert self.jinan.is_at_or_above("county")
        assert self.lixia.is_at_or_above("county")
        assert not self.lixia.is_at_or_above("city")
        assert not self.icbc.is_at_or_above("station")

    def test_a_unit_must_sit_one_level_below_its_parent(self):
        unit = Organization(
            code="370104", name="x", kind="police", level="county", parent=self.shandong
        )
        with override("en"), pytest.raises(ValidationError, match="one level above"):
            unit.full_clean()

    def test_a_unit_cannot_be_put_under_its_own_descendant(self):
        self.jinan.parent = self.lixia
        with pytest.raises(ValidationError):
            self.jinan.full_clean()

    def test_the_database_refuses_an_institution_with_a_level(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            Organization.objects.create(
                code="XBANK", name="x", kind=OrganizationKind.BANK, level="city"
            )

    def test_the_database_refuses_a_police_unit_without_a_level(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            Organization.objects.create(code="370199", name="x", kind=OrganizationKind.POLICE)

    def test_codes_are_unique(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            Organization.objects.create(code="ICBC", name="again", kind=OrganizationKind.BANK)


class UserOrganizationTest(CaseTrackerTestCase):
    def test_the_database_refuses_a_non_admin_without_an_organisation(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            User.objects.create_user("ghost", role=Role.OFFICER)

    def test_a_liaison_must_belong_to_an_institution(self):
        user = User(username="x", role=Role.LIAISON, organization=self.lixia)
        with override("en"), pytest.raises(ValidationError, match="bank or payment institution"):
            user.full_clean()

    def test_an_officer_must_belong_to_a_police_unit(self):
        user = User(username="x", role=Role.OFFICER, organization=self.icbc)
        with override("en"), pytest.raises(ValidationError, match="police unit"):
            user.full_clean()
