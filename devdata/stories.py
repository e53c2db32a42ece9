"""Demo cases in every stage, built through the services as of moments in the past.

Each story is told by the same service calls an officer, a manager and a liaison would
make, each at its own time (``acting_time.acting_at``), so the audit trail, the clocks and the
stages are exactly what the product would show after that history. Some are left overdue
on purpose. Running it again creates nothing: the stories are keyed by their titles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from funds import acting_time
from funds.models import (
    AllocationRound,
    Case,
    Instruction,
    InstructionKind,
    InvolvedAccount,
    Victim,
)
from funds.services.cases import (
    account_add,
    case_accept,
    case_close,
    case_file,
    case_report,
    transfer_add,
    victim_add,
)
from funds.services.instructions import (
    InstructionRequest,
    instruction_approve,
    instruction_cancel,
    instruction_execute,
    instruction_reject,
    instruction_request,
)
from funds.services.rounds import round_object, round_open

D = Decimal


@dataclass
class Story:
    """One demo case, acting as of ``start`` and moving its own clock forward."""

    users: dict[str, User]
    officer: str
    title: str
    fraud_type: str
    start: datetime
    at: datetime = field(init=False)
    case: Case = field(init=False)

    def __post_init__(self) -> None:
        self.at = self.start

    def later(self, **delta: float) -> Story:
        self.at += timedelta(**delta)
        return self

    def _as(self, username: str) -> User:
        return self.users[username]

    def report(self, description: str = "") -> Story:
        with acting_time.acting_at(self.at):
            self.case = case_report(
                actor=self._as(self.officer),
                title=self.title,
                fraud_type=self.fraud_type,
                reported_at=self.at - timedelta(minutes=3),
                description=description,
            )
        return self

    def accept_and_file(self, filing_number: str) -> Story:
        with acting_time.acting_at(self.at):
            case_accept(actor=self._as(self.officer), case=self.case)
        with acting_time.acting_at(self.later(minutes=40).at):
            case_file(actor=self._as(self.officer), case=self.case, filing_number=filing_number)
        return self

    def victim(self, name: str, id_number: str, phone: str, loss: str, bank: str = "CCB") -> Victim:
        """A victim with their own account at ``bank`` (returns are paid to it, R9)."""
        with acting_time.acting_at(self.at):
            return victim_add(
                actor=self._as(self.officer),
                case=self.case,
                name=name,
                id_number=id_number,
                phone=phone,
                loss_amount=D(loss),
                account_institution_code=bank,
                account_number=f"6217{id_number[-12:]}",
                account_holder_name=name,
            )

    def account(
        self, institution: str, number: str, holder: str, layer: int = 1
    ) -> InvolvedAccount:
        with acting_time.acting_at(self.at):
            return account_add(
                actor=self._as(self.officer),
                case=self.case,
                institution_code=institution,
                number=number,
                holder_name=holder,
                layer=layer,
            )

    def transfer(
        self, source: tuple[str, str, str], target: tuple[str, str, str], amount: str, ref: str
    ) -> None:
        def as_dict(account: tuple[str, str, str]) -> dict[str, str]:
            return {"institution": account[0], "number": account[1], "holder_name": account[2]}

        with acting_time.acting_at(self.at):
            transfer_add(
                actor=self._as(self.officer),
                case=self.case,
                from_account=as_dict(source),
                to_account=as_dict(target),
                amount=D(amount),
                occurred_at=self.at - timedelta(minutes=20),
                reference=ref,
            )

    def ask(
        self, kind: str, involved_account: InvolvedAccount | None = None, **fields: object
    ) -> Instruction:
        with acting_time.acting_at(self.at):
            return instruction_request(
                actor=self._as(self.officer),
                case=self.case,
                request=InstructionRequest(
                    kind=kind,
                    involved_account_id=involved_account.pk if involved_account else None,
                    **fields,  # type: ignore[arg-type]
                ),
            )

    def approve(self, instruction: Instruction, manager: str) -> Instruction:
        with acting_time.acting_at(self.at):
            return instruction_approve(actor=self._as(manager), instruction=instruction)

    def execute(
        self, instruction: Instruction, liaison: str, amount: str, reference: str
    ) -> Instruction:
        with acting_time.acting_at(self.at):
            return instruction_execute(
                actor=self._as(liaison),
                instruction=instruction,
                executed_amount=D(amount),
                bank_reference=reference,
            )

    def reject(self, instruction: Instruction, liaison: str, reason: str) -> Instruction:
        with acting_time.acting_at(self.at):
            return instruction_reject(
                actor=self._as(liaison), instruction=instruction, reason=reason
            )

    def cancel(self, instruction: Instruction) -> Instruction:
        with acting_time.acting_at(self.at):
            return instruction_cancel(actor=self._as(self.officer), instruction=instruction)

    def open_round(self, freeze: Instruction) -> AllocationRound:
        with acting_time.acting_at(self.at):
            return round_open(actor=self._as(self.officer), case=self.case, freeze_id=freeze.pk)

    def object_to(self, allocation_round: AllocationRound, victim: Victim, reason: str) -> None:
        with acting_time.acting_at(self.at):
            round_object(
                actor=self._as(self.officer),
                allocation_round=allocation_round,
                victim_id=victim.pk,
                reason=reason,
            )

    def close(self, manager: str) -> None:
        with acting_time.acting_at(self.at):
            case_close(actor=self._as(manager), case=self.case)


TITLES = [
    "冒充电商客服“退款”诈骗案（刚接警）",
    "刷单返利诈骗案（止付待银行处理）",
    "虚假投资理财诈骗案（止付将到期）",
    "虚假贷款诈骗案（止付已失效）",
    "冒充公检法诈骗案（冻结待审批）",
    "虚假投资理财诈骗案（冻结将到期）",
    "网络交友诱导投资诈骗案（部分返还）",
    "冒充熟人借款诈骗案（已全部返还）",
    "游戏装备交易诈骗案（已解冻）",
    "虚假征信修复诈骗案（已结案）",
    "刷单返利诈骗案（止付未成功）",
    "冒充客服诈骗案（返还待银行执行）",
    "虚假投资理财诈骗案（按比例返还公示期满待确认）",
    "冒充客服诈骗案（青岛同卡轮候冻结）",
]


@transaction.atomic
def build_demo_cases() -> int:
    """Tell every demo story not told yet; answer how many cases were created."""
    if Case.objects.filter(title__in=TITLES).exists():
        return 0
    users = {u.username: u for u in User.objects.select_related("organization")}
    now = timezone.now().replace(second=0, microsecond=0)

    def story(index: int, officer: str, fraud_type: str, start: datetime) -> Story:
        return Story(
            users=users, officer=officer, title=TITLES[index], fraud_type=fraud_type, start=start
        )

    # 1. Reported 50 minutes ago, no stop-payment yet: past the golden half hour (R13).
    s = story(
        0, "officer_lx", "impersonating_customer_service", now - timedelta(minutes=50)
    ).report("受害人接到自称某电商平台客服电话，称其商品有质量问题可退款，诱导其通过屏幕共享转账。")
    s.victim("赵丽", "370102198805010029", "13905310001", "28600.00")
    s.later(minutes=5).account("ICBC", "6222021602000011111", "孙某某", 1)

    # 2. Stop-payment asked 45 minutes ago; ICBC has not answered (R1: 30 minutes).
    s = story(1, "officer_lx", "rebate_task", now - timedelta(minutes=55)).report()
    s.victim("钱伟", "370102199203100515", "13705310002", "15800.00")
    a = s.later(minutes=8).account("ICBC", "6222021602000022222", "李某", 1)
    s.later(minutes=2).ask(InstructionKind.STOP_PAYMENT, a, amount=D("15800.00"))

    # 3. Stopped 44 hours ago: lapses in 4 hours unless a freeze takes over (R2).
    s = story(2, "officer_lx", "investment", now - timedelta(hours=45)).report()
    s.victim("孙强", "370102197911060033", "13605310003", "120000.00")
    a = s.later(minutes=6).account("CCB", "6217001800000033333", "周某", 1)
    stop = s.later(minutes=2).ask(InstructionKind.STOP_PAYMENT, a, amount=D("120000.00"))
    s.later(minutes=14).execute(stop, "liaison_ccb", "86500.00", "CCB-ZF-20261121-0033")
    s.later(hours=2).accept_and_file("济历公（刑）立字〔2026〕1033号")

    # 4. Stopped 3 days ago and never frozen: the stop-payment has lapsed (R2).
    s = story(3, "officer_sn", "fake_loan", now - timedelta(days=3, hours=2)).report()
    s.victim("李娜", "370202199507110048", "13805320004", "9800.00")
    a = s.later(minutes=9).account("ALIPAY", "2088000000044444", "吴某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("9800.00"))
    s.later(minutes=20).execute(stop, "liaison_alipay", "9800.00", "ALI-ZF-2026-4444")

    # 5. Filed and stopped; a freeze waits for the county manager's approval.
    s = story(4, "officer_lx", "impersonating_officials", now - timedelta(hours=30)).report()
    s.victim("周敏", "370102196510200061", "13505310005", "350000.00")
    a = s.later(minutes=5).account("CCB", "6217001800000055555", "郑某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("350000.00"))
    s.later(minutes=12).execute(stop, "liaison_ccb", "350000.00", "CCB-ZF-20261122-0055")
    s.later(hours=3).accept_and_file("济历公（刑）立字〔2026〕1055号")
    s.later(hours=1).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("350000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕055号",
    )

    # 6. Frozen 178 days ago: the renewal is due (R6: at least 10 days before expiry).
    #    The second-layer account was stopped too, but ICBC found nothing there.
    s = story(5, "officer_lx", "investment", now - timedelta(days=178, hours=6)).report()
    s.victim("吴刚", "370102198001030075", "13405310006", "480000.00")
    a = s.later(minutes=4).account("ICBC", "6222021602000066666", "王某", 1)
    second = s.account("ICBC", "6222021602000066667", "冯某", 2)
    s.transfer(
        ("ICBC", "6222021602000066666", "王某"),
        ("ICBC", "6222021602000066667", "冯某"),
        "200000.00",
        "T66-01",
    )
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("480000.00"))
    s.later(minutes=10).execute(stop, "liaison_icbc", "260000.00", "ICBC-ZF-0066")
    stop2 = s.later(minutes=5).ask(InstructionKind.STOP_PAYMENT, second, amount=D("200000.00"))
    s.later(minutes=15).execute(stop2, "liaison_icbc", "0.00", "ICBC-ZF-0067")
    s.later(hours=2).accept_and_file("济历公（刑）立字〔2026〕0566号")
    freeze = s.later(minutes=30).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("260000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕066号",
    )
    s.later(minutes=30).approve(freeze, "manager_lx")
    s.later(hours=2).execute(freeze, "liaison_icbc", "260000.00", "ICBC-DJ-0066")

    # 7. Two victims; frozen; the first victim's proportional share returned, the rest held.
    s = story(6, "officer_lx", "romance", now - timedelta(days=40)).report()
    v1 = s.victim("郑洁", "370102199103010088", "13305310007", "60000.00")
    s.victim("王芳", "370102199408190091", "13305310008", "20000.00")
    a = s.later(minutes=6).account("CCB", "6217001800000077777", "陈某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("80000.00"))
    s.later(minutes=25).execute(stop, "liaison_ccb", "64000.00", "CCB-ZF-0077")
    s.later(hours=4).accept_and_file("济历公（刑）立字〔2026〕0777号")
    freeze = s.later(hours=1).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("64000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕077号",
    )
    s.later(minutes=40).approve(freeze, "manager_lx")
    s.later(hours=6).execute(freeze, "liaison_ccb", "64000.00", "CCB-DJ-0077")
    back = s.later(days=31).ask(
        InstructionKind.RETURN, freeze_id=freeze.pk, victim_id=v1.pk, amount=D("48000.00")
    )
    s.later(hours=3).approve(back, "manager_jn")
    s.later(days=1).execute(back, "liaison_ccb", "48000.00", "CCB-FH-0077")

    # 8. Frozen and everything returned to the one victim.
    s = story(7, "officer_lx", "impersonating_acquaintance", now - timedelta(days=75)).report()
    v = s.victim("冯军", "370102197701200106", "13205310009", "36000.00")
    a = s.later(minutes=7).account("ICBC", "6222021602000088888", "褚某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("36000.00"))
    s.later(minutes=9).execute(stop, "liaison_icbc", "36000.00", "ICBC-ZF-0088")
    s.later(hours=3).accept_and_file("济历公（刑）立字〔2026〕0888号")
    freeze = s.later(hours=1).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("36000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕088号",
    )
    s.later(hours=1).approve(freeze, "manager_lx")
    s.later(hours=5).execute(freeze, "liaison_icbc", "36000.00", "ICBC-DJ-0088")
    back = s.later(days=35).ask(
        InstructionKind.RETURN, freeze_id=freeze.pk, victim_id=v.pk, amount=D("36000.00")
    )
    s.later(hours=2).approve(back, "manager_jn")
    s.later(days=1).execute(back, "liaison_icbc", "36000.00", "ICBC-FH-0088")

    # 9. Frozen, then found unrelated to the case and released (R7).
    s = story(8, "officer_sn", "game_trade", now - timedelta(days=20)).report()
    s.victim("褚亮", "370202200012280112", "13105320010", "5200.00")
    a = s.later(minutes=6).account("ALIPAY", "2088000000099999", "卫某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("5200.00"))
    s.later(minutes=8).execute(stop, "liaison_alipay", "5200.00", "ALI-ZF-0099")
    s.later(hours=3).accept_and_file("青市南公（刑）立字〔2026〕0999号")
    freeze = s.later(hours=1).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("5200.00"),
        instrument_number="青市南公（刑）冻财字〔2026〕099号",
    )
    # The Qingdao case is approved in Qingdao: here by the province manager above it.
    s.later(hours=1).approve(freeze, "manager_sd")
    s.later(hours=3).execute(freeze, "liaison_alipay", "5200.00", "ALI-DJ-0099")
    release = s.later(days=6).ask(
        InstructionKind.RELEASE,
        freeze_id=freeze.pk,
        amount=D("5200.00"),
        reason="经查该账户资金系正常经营收入，与本案无关。",
    )
    s.later(hours=2).approve(release, "manager_sd")
    s.later(hours=4).execute(release, "liaison_alipay", "5200.00", "ALI-JD-0099")

    # 10. A report that turned out not to be fraud: closed without a filing.
    s = story(9, "officer_lx", "credit_repair", now - timedelta(days=12)).report(
        "经核实系误报，当事人资金未损失。"
    )
    s.later(hours=1).close("manager_lx")

    # 11. Stop-payments that failed: ALIPAY found nothing; the CCB one was rejected.
    s = story(10, "officer_sn", "rebate_task", now - timedelta(hours=20)).report()
    s.victim("蒋涛", "370202199812090127", "13005320011", "7600.00")
    a = s.later(minutes=5).account("ALIPAY", "2088000000110000", "沈某", 1)
    b = s.account("CCB", "6217001800000111111", "韩某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("5000.00"))
    s.later(minutes=10).execute(stop, "liaison_alipay", "0.00", "ALI-ZF-0110")
    stop = s.ask(InstructionKind.STOP_PAYMENT, b, amount=D("2600.00"))
    s.later(minutes=12).reject(stop, "liaison_ccb", "收款人户名与账号不符，请核实后重新提交。")

    # 12. A return approved by the city and waiting for ICBC to pay (R11: 3 working days).
    s = story(11, "officer_lx", "impersonating_customer_service", now - timedelta(days=50)).report()
    v = s.victim("杨帆", "370102198606010130", "13905310012", "42000.00")
    a = s.later(minutes=5).account("ICBC", "6222021602000121212", "朱某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("42000.00"))
    s.later(minutes=11).execute(stop, "liaison_icbc", "42000.00", "ICBC-ZF-0121")
    s.later(hours=2).accept_and_file("济历公（刑）立字〔2026〕1212号")
    freeze = s.later(hours=1).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("42000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕121号",
    )
    s.later(hours=1).approve(freeze, "manager_lx")
    s.later(hours=4).execute(freeze, "liaison_icbc", "42000.00", "ICBC-DJ-0121")
    s.at = now - timedelta(hours=26)
    back = s.ask(InstructionKind.RETURN, freeze_id=freeze.pk, victim_id=v.pk, amount=D("42000.00"))
    s.later(hours=2).approve(back, "manager_jn")
    # The same mule account turns up in the 历下 freeze-awaiting case: a queued freeze (R12).
    queued = Story(
        users=users,
        officer="officer_lx",
        title=TITLES[4],
        fraud_type="impersonating_officials",
        start=now,
    )
    queued.case = Case.objects.get(title=TITLES[4])
    shared = queued.account("ICBC", "6222021602000121212", "朱某", 2)
    queued.ask(
        InstructionKind.FREEZE,
        shared,
        amount=D("42000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕056号",
    )

    # 13. Money that cannot be traced to its three victims one by one: a round (R10) over
    # the freeze, published 32 days ago with an objection, waits for the city to confirm.
    s = story(12, "officer_lx", "investment", now - timedelta(days=40)).report()
    s.victim("卫东", "370102197303040143", "13905310013", "150000.00")
    v = s.victim("蒋红", "370102198207040156", "13905310014", "60000.00", bank="ICBC")
    s.victim("沈阳", "370102199009060169", "13905310015", "30000.00", bank="ABC")
    a = s.later(minutes=6).account("ICBC", "6222021602000131313", "秦某", 1)
    stop = s.later(minutes=1).ask(InstructionKind.STOP_PAYMENT, a, amount=D("240000.00"))
    s.later(minutes=9).execute(stop, "liaison_icbc", "96000.00", "ICBC-ZF-0131")
    s.later(hours=3).accept_and_file("济历公（刑）立字〔2026〕1313号")
    freeze = s.later(hours=1).ask(
        InstructionKind.FREEZE,
        a,
        amount=D("96000.00"),
        instrument_number="济历公（刑）冻财字〔2026〕131号",
    )
    s.later(hours=1).approve(freeze, "manager_lx")
    s.later(hours=3).execute(freeze, "liaison_icbc", "96000.00", "ICBC-DJ-0131")
    s.at = now - timedelta(days=32)
    allocation_round = s.open_round(freeze)
    s.later(days=5).object_to(allocation_round, v, "本人实际损失为六万五千元，请求重新核算。")
    # 14. 市南 (Qingdao) finds the same ICBC card, typed in groups with hyphens, in a case of
    # its own: one bank account, so its freeze is registered in line behind 历下's (R12).
    s = story(13, "officer_sn", "impersonating_customer_service", now - timedelta(hours=6))
    s.report("受害人被冒充客服诱导转账，资金流入一张济南案件中已冻结的银行卡。")
    s.victim("孙悦", "370202199303040148", "13105320013", "30000.00")
    s.later(hours=1).accept_and_file("青市南公（刑）立字〔2026〕0313号")
    shared = s.later(minutes=10).account("ICBC", "6222-0216-0200-0121-212", "朱某某", 1)
    s.at = now
    freeze = s.ask(
        InstructionKind.FREEZE,
        shared,
        amount=D("30000.00"),
        instrument_number="青市南公（刑）冻财字〔2026〕031号",
    )
    s.approve(freeze, "manager_sd")
    s.execute(freeze, "liaison_icbc", "30000.00", "ICBC-LH-0313")

    return Case.objects.filter(title__in=TITLES).count()
