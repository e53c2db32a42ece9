"""The scope helpers, branch by branch: each role, own unit, subtree, sibling, other institution."""

from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from accounts.models import Organization, User
from accounts.scope import (
    access_unit,
    can_see_unit,
    filter_by_institution,
    filter_by_unit,
    units_in_scope,
)
from tests.base import CaseTrackerTestCase


def codes(queryset):
    return sorted(queryset.values_list("code", flat=True))


class UnitsInScopeTest(CaseTrackerTestCase):
    def test_a_county_officer_sees_the_county_and_its_stations(self):
        assert codes(units_in_scope(self.officer_lx)) == ["370102", "370102001", "370102002"]

    def test_a_station_officer_sees_only_the_station(self):
        assert codes(units_in_scope(self.officer_station)) == ["370102001"]

    def test_a_city_manager_sees_the_whole_city_and_nothing_of_the_other_city(self):
        seen = codes(units_in_scope(self.manager_jn))
        assert seen == ["370100", "370102", "370102001", "370102002", "370103", "370103001"]
        assert "370200" not in seen and "370202" not in seen

    def test_a_province_manager_and_auditor_see_every_police_unit(self):
        police = codes(Organization.objects.police())
        assert codes(units_in_scope(self.manager_sd)) == police
        assert codes(units_in_scope(self.auditor_sd)) == police

    def test_no_institution_is_ever_a_unit_in_scope(self):
        assert not units_in_scope(self.manager_sd).filter(kind__in=["bank", "payment"]).exists()

    def test_liaisons_admins_and_anonymous_users_see_no_unit(self):
        for user in (self.liaison_icbc, self.admin, AnonymousUser()):
            assert codes(units_in_scope(user)) == []

    def test_an_inactive_user_sees_nothing(self):
        self.officer_lx.is_active = False
        assert codes(units_in_scope(self.officer_lx)) == []

    def test_the_subtree_is_one_query(self):
        user = User.objects.select_related("organization").get(pk=self.manager_jn.pk)
        with self.assertNumQueries(1):
            assert len(list(units_in_scope(user))) == 6


class CanSeeUnitTest(CaseTrackerTestCase):
    def test_own_unit_and_units_below_are_visible(self):
        assert can_see_unit(self.officer_lx, self.lixia)
        assert can_see_unit(self.officer_lx, self.orgs["370102002"])
        assert can_see_unit(self.manager_jn, self.orgs["370102001"])

    def test_a_sibling_unit_is_not_visible(self):
        assert not can_see_unit(self.officer_lx, self.shizhong)
        assert not can_see_unit(self.officer_station, self.orgs["370102002"])

    def test_the_parent_unit_is_not_visible(self):
        assert not can_see_unit(self.officer_lx, self.jinan)
        assert not can_see_unit(self.manager_jn, self.shandong)

    def test_another_city_is_not_visible(self):
        assert not can_see_unit(self.manager_jn, self.shinan)
        assert not can_see_unit(self.officer_sn, self.lixia)

    def test_a_unit_whose_code_extends_yours_is_not_mistaken_for_a_child(self):
        # Paths end with "/", so unit 1 is not a prefix of unit 12.
        look_alike = self.make_unit("3701020", "county", self.jinan)
        assert not can_see_unit(self.officer_lx, look_alike)

    def test_liaisons_and_admins_see_no_police_unit(self):
        assert not can_see_unit(self.liaison_icbc, self.lixia)
        assert not can_see_unit(self.admin, self.lixia)


class FilterByUnitTest(CaseTrackerTestCase):
    def test_it_keeps_rows_of_the_subtree_only(self):
        users = filter_by_unit(User.objects.all(), self.manager_lx, field="organization")
        assert sorted(users.values_list("username", flat=True)) == [
            "manager_lx",
            "officer_lx",
            "officer_station",
        ]

    def test_it_keeps_nothing_for_a_liaison(self):
        assert not filter_by_unit(
            User.objects.all(), self.liaison_icbc, field="organization"
        ).exists()


class FilterByInstitutionTest(CaseTrackerTestCase):
    def test_a_liaison_keeps_only_rows_of_its_own_institution(self):
        users = filter_by_institution(User.objects.all(), self.liaison_icbc, field="organization")
        assert list(users.values_list("username", flat=True)) == ["liaison_icbc"]

    def test_another_institution_is_not_visible(self):
        users = filter_by_institution(User.objects.all(), self.liaison_ccb, field="organization")
        assert "liaison_icbc" not in users.values_list("username", flat=True)

    def test_police_roles_see_nothing_through_the_institution_filter(self):
        for user in (self.officer_lx, self.manager_sd, self.auditor_sd, self.admin):
            assert not filter_by_institution(
                User.objects.all(), user, field="organization"
            ).exists()


class AccessUnitTest(CaseTrackerTestCase):
    def test_it_answers_a_unit_in_scope(self):
        assert access_unit(self.manager_jn, "370102") == self.lixia

    def test_it_answers_404_for_a_unit_out_of_scope_and_for_a_missing_one_alike(self):
        for code in ("370202", "999999", "ICBC"):
            with self.assertRaises(Http404):
                access_unit(self.manager_jn, code)
