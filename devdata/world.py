"""The demo world of API.md: the Shandong police tree, the institutions and the demo users.

Rows are looked up by their natural keys and passwords are set only when a demo user is
first created, so building it again changes nothing. The test suite's personas are these
same users (tests/base.py).
"""

from django.db import transaction

from accounts.models import Organization, OrganizationKind, Role, UnitLevel, User
from funds.models import InstrumentSeries

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - the published demo password (API.md)

# (code, name, level, parent code)
POLICE_UNITS = [
    ("370000", "山东省公安厅", UnitLevel.PROVINCE, None),
    ("370100", "济南市公安局", UnitLevel.CITY, "370000"),
    ("370102", "历下区分局", UnitLevel.COUNTY, "370100"),
    ("370102001", "解放路派出所", UnitLevel.STATION, "370102"),
    ("370102002", "泉城路派出所", UnitLevel.STATION, "370102"),
    ("370103", "市中区分局", UnitLevel.COUNTY, "370100"),
    ("370103001", "大观园派出所", UnitLevel.STATION, "370103"),
    ("370200", "青岛市公安局", UnitLevel.CITY, "370000"),
    ("370202", "市南区分局", UnitLevel.COUNTY, "370200"),
    ("370202001", "八大关派出所", UnitLevel.STATION, "370202"),
    ("370202002", "中山路派出所", UnitLevel.STATION, "370202"),
    ("370203", "市北区分局", UnitLevel.COUNTY, "370200"),
    ("370203001", "台东派出所", UnitLevel.STATION, "370203"),
]

INSTITUTIONS = [
    ("ICBC", "中国工商银行", OrganizationKind.BANK),
    ("CCB", "中国建设银行", OrganizationKind.BANK),
    ("ABC", "中国农业银行", OrganizationKind.BANK),
    ("BOC", "中国银行", OrganizationKind.BANK),
    ("ALIPAY", "支付宝", OrganizationKind.PAYMENT),
    ("TENPAY", "财付通（微信支付）", OrganizationKind.PAYMENT),
]

# How the two county bureaus number their instruments (admin: instrument numberings); the
# other units take INSTRUMENT_DEFAULT_PATTERNS.
INSTRUMENT_SERIES = {
    code: {
        "stop_payment": f"{prefix}(刑)止付字〔{{year}}〕{{number:05d}}号",
        "freeze": f"{prefix}(刑)冻财字〔{{year}}〕{{number:05d}}号",
        "renewal": f"{prefix}(刑)续冻字〔{{year}}〕{{number:05d}}号",
        "release": f"{prefix}(刑)解冻字〔{{year}}〕{{number:05d}}号",
        "return": f"{prefix}(刑)返还字〔{{year}}〕{{number:05d}}号",
    }
    for code, prefix in (("370102", "济历公"), ("370202", "青市南公"))
}

# (username, role, organisation code, family name, given name)
USERS = [
    ("officer_lx", Role.OFFICER, "370102", "李", "明"),
    ("officer_sn", Role.OFFICER, "370202", "孙", "楠"),
    ("manager_lx", Role.MANAGER, "370102", "刘", "晓"),
    ("manager_jn", Role.MANAGER, "370100", "蒋", "宁"),
    ("manager_sd", Role.MANAGER, "370000", "宋", "东"),
    ("auditor_sd", Role.AUDITOR, "370000", "艾", "审"),
    ("liaison_icbc", Role.LIAISON, "ICBC", "王", "工"),
    ("liaison_ccb", Role.LIAISON, "CCB", "陈", "建"),
    ("liaison_alipay", Role.LIAISON, "ALIPAY", "张", "付"),
    ("admin", Role.ADMIN, None, "管", "理"),
]


@transaction.atomic
def build_demo_world(*, admin_password: str = DEMO_PASSWORD) -> tuple[dict[str, Organization], int]:
    """Create what is missing of the demo world; answer the organisations by code and the
    number of users created. The admin superuser, if created, gets ``admin_password``."""
    orgs: dict[str, Organization] = {}
    for code, name, level, parent_code in POLICE_UNITS:
        orgs[code], _ = Organization.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": OrganizationKind.POLICE,
                "level": level,
                "parent": orgs[parent_code] if parent_code else None,
            },
        )
    for code, name, kind in INSTITUTIONS:
        orgs[code], _ = Organization.objects.get_or_create(
            code=code, defaults={"name": name, "kind": kind}
        )
    for code, patterns in INSTRUMENT_SERIES.items():
        for instrument_kind, pattern in patterns.items():
            InstrumentSeries.objects.get_or_create(
                unit=orgs[code], kind=instrument_kind, defaults={"pattern": pattern}
            )
    existing = set(
        User.objects.filter(username__in=[u[0] for u in USERS]).values_list("username", flat=True)
    )
    created = 0
    for username, role, org_code, last_name, first_name in USERS:
        if username in existing:
            continue
        user = User(
            username=username,
            role=role,
            organization=orgs[org_code] if org_code else None,
            last_name=last_name,
            first_name=first_name,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        user.set_password(admin_password if role == Role.ADMIN else DEMO_PASSWORD)
        user.save()
        created += 1
    return orgs, created
