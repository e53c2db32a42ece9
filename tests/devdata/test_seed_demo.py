"""seed_demo builds the demo world of API.md, and running it again changes nothing."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

from accounts.models import Organization, Role, User
from devdata.world import DEMO_PASSWORD, USERS
from funds.models import Case, Event, Instruction, InvolvedAccount, Stage, Victim


def snapshot():
    return tuple(
        list(model.objects.order_by("pk").values())
        for model in (Organization, User, Case, Victim, InvolvedAccount, Instruction, Event)
    )


# seed_demo is for development: DEBUG on, as `make demo` sets it (the test runner turns it off).
@override_settings(DEBUG=True)
class SeedDemoTest(TestCase):
    def test_it_builds_the_demo_users_of_the_contract(self):
        call_command("seed_demo", stdout=StringIO())
        expected = {
            "officer_lx": ("officer", "370102"),
            "officer_sn": ("officer", "370202"),
            "manager_lx": ("manager", "370102"),
            "manager_jn": ("manager", "370100"),
            "manager_sd": ("manager", "370000"),
            "auditor_sd": ("auditor", "370000"),
            "liaison_icbc": ("liaison", "ICBC"),
            "liaison_ccb": ("liaison", "CCB"),
            "liaison_alipay": ("liaison", "ALIPAY"),
            "admin": ("admin", None),
        }
        actual = {
            u.username: (u.role, u.organization.code if u.organization else None)
            for u in User.objects.select_related("organization")
        }
        assert actual == expected

    def test_it_builds_the_four_level_tree_and_the_institutions(self):
        call_command("seed_demo", stdout=StringIO())
        lixia = Organization.objects.get(code="370102")
        assert (lixia.name, lixia.level, lixia.parent.code) == ("历下区分局", "county", "370100")
        assert Organization.objects.get(code="370100").parent.code == "370000"
        assert Organization.objects.get(code="370202").parent.code == "370200"
        for county in ("370102", "370202"):
            assert Organization.objects.filter(parent__code=county, level="station").exists()
        assert set(Organization.objects.institutions().values_list("code", "kind")) == {
            ("ICBC", "bank"),
            ("CCB", "bank"),
            ("ABC", "bank"),
            ("BOC", "bank"),
            ("ALIPAY", "payment"),
            ("TENPAY", "payment"),
        }

    def test_running_it_twice_changes_nothing(self):
        call_command("seed_demo", stdout=StringIO())
        before = snapshot()
        out = StringIO()
        call_command("seed_demo", stdout=out)
        assert snapshot() == before
        assert "0 users created" in out.getvalue()

    def test_it_builds_cases_in_every_stage(self):
        call_command("seed_demo", stdout=StringIO())
        assert set(Case.objects.values_list("status", flat=True)) == {"reported", "filed", "closed"}
        stages = set(InvolvedAccount.objects.values_list("stage", flat=True))
        assert {
            Stage.IDENTIFIED,
            Stage.STOP_REQUESTED,
            Stage.STOPPED,
            Stage.STOP_FAILED,
            Stage.FREEZE_REQUESTED,
            Stage.FROZEN,
            Stage.RELEASED,
            Stage.RETURNED,
        } <= stages
        kinds = set(Instruction.objects.values_list("kind", "status"))
        assert ("return", "pending") in kinds
        assert ("stop_payment", "rejected") in kinds
        assert Instruction.objects.filter(queued=True).exists()
        # Built through the services: every case has its audit trail from the report on.
        assert Event.objects.filter(type="case_reported").count() == Case.objects.count()

    def test_every_demo_user_signs_in_with_the_demo_password(self):
        call_command("seed_demo", stdout=StringIO())
        for username, *_ in USERS:
            assert User.objects.get(username=username).check_password(DEMO_PASSWORD), username

    def test_the_demo_password_works_only_for_demo_users(self):
        call_command("seed_demo", stdout=StringIO())
        User.objects.create_user(
            "real_officer",
            password="a-real-password-1",
            role=Role.OFFICER,
            organization=Organization.objects.get(code="370102"),
        )
        call_command("seed_demo", stdout=StringIO())
        assert not User.objects.get(username="real_officer").check_password(DEMO_PASSWORD)

    def test_it_does_not_reset_a_changed_demo_password(self):
        call_command("seed_demo", stdout=StringIO())
        user = User.objects.get(username="officer_lx")
        user.set_password("changed-password-2026")
        user.save()
        call_command("seed_demo", stdout=StringIO())
        assert not User.objects.get(username="officer_lx").check_password(DEMO_PASSWORD)


@override_settings(DEBUG=False)
class SeedDemoOutsideDebugTest(TestCase):
    def test_it_refuses_without_force_and_writes_nothing(self):
        out = StringIO()
        with pytest.raises(CommandError, match="--force") as refusal:
            call_command("seed_demo", stdout=out)
        assert refusal.value.returncode == 1
        assert out.getvalue() == ""
        assert snapshot() == ([], [], [], [], [], [], [])

    def test_with_force_the_admin_gets_a_random_password_printed_once(self):
        out = StringIO()
        call_command("seed_demo", "--force", stdout=out)
        admin = User.objects.get(username="admin")
        assert admin.is_superuser
        assert not admin.check_password(DEMO_PASSWORD)
        (line,) = [line for line in out.getvalue().splitlines() if "admin" in line]
        password = line.rsplit(": ", 1)[1]
        assert password != DEMO_PASSWORD and len(password) >= 16
        assert admin.check_password(password)

        again = StringIO()
        call_command("seed_demo", "--force", stdout=again)
        assert password not in again.getvalue()
        assert "admin" not in again.getvalue()
        assert User.objects.get(username="admin").check_password(password)

    def test_with_force_the_other_demo_users_keep_the_demo_password(self):
        call_command("seed_demo", "--force", stdout=StringIO())
        for username, role, *_ in USERS:
            if role != Role.ADMIN:
                assert User.objects.get(username=username).check_password(DEMO_PASSWORD), username

    def test_with_force_an_admin_already_there_is_left_alone_and_no_password_is_printed(self):
        User.objects.create_superuser(
            "admin", password="the-admins-own-password-1", role=Role.ADMIN
        )
        out = StringIO()
        call_command("seed_demo", "--force", stdout=out)
        assert "password" not in out.getvalue()
        assert User.objects.get(username="admin").check_password("the-admins-own-password-1")
