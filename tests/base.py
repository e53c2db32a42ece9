"""The base test case and its personas: the demo users of API.md, one per role and unit."""

from __future__ import annotations

from typing import Any

from django.test import TestCase
from rest_framework.test import APIClient

from accounts.credentials import api_token_issue
from accounts.models import Organization, OrganizationKind, Role, UnitLevel, User
from devdata.world import build_demo_world


class CaseTrackerTestCase(TestCase):
    """Personas (all demo users; password ``demo-pass-2026``):

    officer_lx  officer of 历下区分局 (county, Jinan)      officer_sn  officer of 市南区分局 (county, Qingdao)
    manager_lx  manager of 历下区分局                      manager_jn  manager of 济南市公安局 (city)
    manager_sd  manager of 山东省公安厅 (province)         auditor_sd  auditor of 山东省公安厅
    liaison_icbc, liaison_ccb, liaison_alipay              admin
    officer_station  officer of 解放路派出所 (a station under 历下)
    """

    orgs: dict[str, Organization]
    officer_lx: User
    officer_sn: User
    officer_station: User
    manager_lx: User
    manager_jn: User
    manager_sd: User
    auditor_sd: User
    liaison_icbc: User
    liaison_ccb: User
    liaison_alipay: User
    admin: User

    @classmethod
    def setUpTestData(cls) -> None:
        cls.orgs, _ = build_demo_world()
        for user in User.objects.select_related("organization"):
            setattr(cls, user.username, user)
        cls.officer_station = User.objects.create_user(
            "officer_station",
            password="station-pass-2026",
            role=Role.OFFICER,
            organization=cls.orgs["370102001"],
        )
        cls.lixia = cls.orgs["370102"]
        cls.shizhong = cls.orgs["370103"]
        cls.jinan = cls.orgs["370100"]
        cls.qingdao = cls.orgs["370200"]
        cls.shinan = cls.orgs["370202"]
        cls.shandong = cls.orgs["370000"]
        cls.icbc = cls.orgs["ICBC"]
        cls.ccb = cls.orgs["CCB"]
        cls.alipay = cls.orgs["ALIPAY"]

    def api(self, user: User | None = None) -> APIClient:
        """An API client signed in as ``user`` (by token, as banks' systems are)."""
        client = APIClient()
        if user is not None:
            token = api_token_issue(user=user).secret
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    @staticmethod
    def make_unit(code: str, level: str, parent: Organization | None, **extra: Any) -> Organization:
        return Organization.objects.create(
            code=code, name=code, kind=OrganizationKind.POLICE, level=level, parent=parent, **extra
        )


__all__ = ["CaseTrackerTestCase", "Role", "UnitLevel"]
