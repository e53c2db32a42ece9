"""Read-side querysets: scoped, annotated and prefetched so that lists cost a fixed number
of queries however many rows they show."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    DecimalField,
    F,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import Organization, Role, User
from funds.access import (
    AnyUser,
    cases_visible_to,
    instructions_visible_to,
    notifications_of,
    rounds_visible_to,
)
from funds.allocation import allocate
from funds.errors import RuleViolation
from funds.models import (
    AllocationObjection,
    AllocationRound,
    AllocationShare,
    Case,
    Document,
    Event,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Notification,
    RoundStatus,
    Victim,
)
from funds.models.instructions import INBOX_DUE, INBOX_WAITING, OPEN_STATUSES, WAITING_IN_QUEUE
from funds.models.money import MAX_DIGITS, ZERO

MONEY = DecimalField(max_digits=MAX_DIGITS, decimal_places=2)


def institution_by_code(code: str, *, field: str = "institution") -> Organization:
    """The bank or payment institution with ``code``: the one place a code is resolved, for
    the API, the pages and the services alike; an unknown code is refused beside ``field``."""
    institution = Organization.objects.institutions().filter(code=code.strip()).first()
    if institution is None:
        raise RuleViolation(
            _("No bank or payment institution has the code %(code)s.") % {"code": code}, field=field
        )
    return institution


def _sum_by_case(
    model: type[Model], field: str | Combinable, condition: Q | None = None
) -> Coalesce:
    rows = model._default_manager.filter(case=OuterRef("pk"))
    if condition is not None:
        rows = rows.filter(condition)
    total = rows.order_by().values("case").annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total, output_field=MONEY), Value(ZERO), output_field=MONEY)


def with_totals(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Annotate each case with its loss and the amounts at every stage (API.md ``totals``)."""
    return (
        cases.select_related("unit")
        .annotate(
            loss_total=_sum_by_case(Victim, "loss_amount"),
            stop_requested_total=_sum_by_case(
                Instruction,
                "requested_amount",
                Q(kind=InstructionKind.STOP_PAYMENT) & ~Q(status=InstructionStatus.CANCELLED),
            ),
            stopped_total=_sum_by_case(InvolvedAccount, "stopped_amount"),
            frozen_total=_sum_by_case(InvolvedAccount, "frozen_amount"),
            released_total=_sum_by_case(InvolvedAccount, "released_amount"),
            returned_total=_sum_by_case(InvolvedAccount, "returned_amount"),
            # R12: what queued freezes wait for, apart from what is frozen.
            queued_total=_sum_by_case(
                Instruction,
                Coalesce("executed_amount", "requested_amount"),
                WAITING_IN_QUEUE,
            ),
        )
        .annotate(held_total=F("frozen_total") - F("released_total") - F("returned_total"))
    )


# The names of with_totals' annotations, ``<name>_total`` each.
TOTAL_NAMES = (
    "loss",
    "stop_requested",
    "stopped",
    "frozen",
    "released",
    "returned",
    "queued",
    "held",
)


def with_zero_totals(case: Case) -> Case:
    """Give a case just reported the totals that with_totals would read for it, without the
    query: it has no victims, accounts or instructions yet, so every one of them is zero.

    ``POST /cases/`` answers this way (issue 16: the re-read cost a query and a fifth of the
    request); tests/funds/test_write_path.py checks that the answer is the one GET gives."""
    for name in TOTAL_NAMES:
        setattr(case, f"{name}_total", ZERO)
    return case


def case_list(user: AnyUser) -> QuerySet[Case]:
    return with_totals(cases_visible_to(user))


def involved_accounts(case: Case) -> QuerySet[InvolvedAccount]:
    """The case's accounts, with the other cases each appears in, in two queries: each
    involvement with its case's number, unit (for scope) and the holder name it recorded."""
    return (
        InvolvedAccount.objects.filter(case=case)
        .select_related("account__institution")
        .prefetch_related(
            Prefetch(
                "account__involvements",
                queryset=InvolvedAccount.objects.select_related("case__unit").only(
                    "id",
                    "account_id",
                    "holder_name",
                    "case__number",
                    "case__unit__kind",
                    "case__unit__path",
                ),
                to_attr="all_involvements",
            )
        )
    )


def victim_account_keys(case_id: int) -> set[tuple[int, str]]:
    """The victims' own accounts of the case as (institution id, normalised number): a
    transfer from or to one of them shows it masked, as the victim's account is everywhere
    (PIPL art. 28)."""
    return set(
        Victim.objects.filter(case_id=case_id, account_institution__isnull=False)
        .exclude(account_number="")
        .values_list("account_institution_id", "account_number")
    )


def with_document_hash(instructions: QuerySet[Instruction]) -> QuerySet[Instruction]:
    """Instructions with ``document_sha256``, their issued instrument's hash (or None): one
    probe of the document's unique index per row, never its bytes."""
    return instructions.annotate(
        document_sha256=Subquery(
            Document.objects.filter(instruction=OuterRef("pk")).values("sha256")[:1]
        )
    )


# Most urgent first: what waits for the bank, soonest due first; then the rest, newest
# first. The order of the index instruction_liaison_inbox, so that a page is read from it.
INBOX_ORDER = (INBOX_WAITING.asc(), INBOX_DUE.asc(), F("requested_at").desc(), F("id").desc())


def instruction_list(user: AnyUser) -> QuerySet[Instruction]:
    """The instructions the user may see, with what a list shows of each.

    The case, the account and the victim come in the page's query; the units, banks and
    approvers by one small query each. Joining all nine tables at once cost PostgreSQL more
    to plan (about 20 ms, the join search grows with every table) than to run the page, and
    the page built one organisation object per row where a few are shared.
    """
    queryset = (
        with_document_hash(instructions_visible_to(user))
        .select_related("case", "involved_account__account", "victim")
        .prefetch_related(
            "institution", "issuing_unit", "approved_by", "victim__account_institution"
        )
    )
    if isinstance(user, User) and user.role == Role.LIAISON:
        return queryset.order_by(*INBOX_ORDER)
    return queryset.order_by("-requested_at", "-id")


def with_round_details(rounds: QuerySet[AllocationRound]) -> QuerySet[AllocationRound]:
    """Rounds with what their answers and pages show, in a fixed number of queries."""
    return rounds.select_related(
        "case", "freeze__involved_account__account", "opened_by", "confirmed_by", "withdrawn_by"
    ).prefetch_related(
        Prefetch(
            "shares",
            queryset=AllocationShare.objects.select_related(
                "victim__account_institution", "return_instruction"
            ).order_by("victim_id"),
        ),
        Prefetch(
            "objections",
            queryset=AllocationObjection.objects.select_related("victim", "recorded_by"),
        ),
    )


def round_list(user: AnyUser) -> QuerySet[AllocationRound]:
    """Rounds of the cases in the user's scope (R10), newest first."""
    return with_round_details(rounds_visible_to(user)).order_by("-opened_at", "-id")


def case_events(case: Case) -> QuerySet[Event]:
    return Event.objects.filter(case=case).select_related("actor").order_by("at", "id")


def freeze_available(freeze: Instruction) -> Decimal:
    """What a freeze holds less what open releases and returns have already asked for and
    what a round in notice over it reserves (R10): the money nobody has a claim on yet."""
    asked = (
        Instruction.objects.filter(
            freeze=freeze,
            kind__in=[InstructionKind.RELEASE, InstructionKind.RETURN],
            status__in=OPEN_STATUSES,
        ).aggregate(total=Sum("requested_amount"))["total"]
        or ZERO
    )
    reserved = (
        AllocationRound.objects.filter(freeze=freeze, status=RoundStatus.NOTICE).aggregate(
            total=Sum("available")
        )["total"]
        or ZERO
    )
    return max(freeze.held_amount - asked - reserved, ZERO)


def _victims_sum(model: type[Model], field: str, condition: Q) -> Coalesce:
    rows = model._default_manager.filter(condition, victim=OuterRef("pk"))
    total = rows.order_by().values("victim").annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total, output_field=MONEY), Value(ZERO), output_field=MONEY)


OPEN_RETURNS = Q(kind=InstructionKind.RETURN, status__in=OPEN_STATUSES)
RESERVED_SHARES = Q(round__status=RoundStatus.NOTICE)


def with_owed(victims: QuerySet[Victim]) -> QuerySet[Victim]:
    """Annotate each victim with ``asked_total`` (open returns), ``reserved_total`` (shares
    of rounds in notice) and ``owed`` (R9: the loss less those and what was returned), in
    the same query."""
    return victims.annotate(
        asked_total=_victims_sum(Instruction, "requested_amount", OPEN_RETURNS),
        reserved_total=_victims_sum(AllocationShare, "amount", RESERVED_SHARES),
    ).annotate(
        owed=F("loss_amount") - F("returned_amount") - F("asked_total") - F("reserved_total")
    )


def victim_owed(victim: Victim, *, excluding_instruction: int | None = None) -> Decimal:
    """What ``victim`` is still owed (R9, R10): the loss less what executed returns paid,
    what open returns ask for and what rounds in notice reserve, over every freeze.

    A victim belongs to one case and a return always names a victim of its own case, so
    the victim's returns are all there is to deduct, "across every case of theirs". The
    loss and the amount returned are read from ``victim`` as given: callers that check a
    limit pass the row re-read under its lock. ``excluding_instruction`` leaves out the
    return being checked itself (at its approval)."""
    returns = Instruction.objects.filter(OPEN_RETURNS, victim=victim)
    if excluding_instruction is not None:
        returns = returns.exclude(pk=excluding_instruction)
    shares = AllocationShare.objects.filter(RESERVED_SHARES, victim=victim)
    asked = returns.aggregate(total=Sum("requested_amount"))["total"] or ZERO
    reserved = shares.aggregate(total=Sum("amount"))["total"] or ZERO
    return victim.loss_amount - victim.returned_amount - asked - reserved


@dataclass(frozen=True)
class ProposedShare:
    victim: Victim
    already_returned: Decimal  # the loss less what the victim is still owed
    owed: Decimal
    amount: Decimal


@dataclass(frozen=True)
class AllocationProposal:
    """R10 over a freeze: what it has available, what is shared, each victim's share."""

    freeze_available: Decimal
    available: Decimal
    shares: list[ProposedShare]

    @property
    def without_account(self) -> list[Victim]:
        """Victims still owed whose own account is not on file: a round cannot pay them."""
        return [s.victim for s in self.shares if s.owed > 0 and not s.victim.has_account]


def allocation_proposal(freeze: Instruction) -> AllocationProposal:
    """Share what ``freeze`` has available among its case's victims in proportion to what
    each is still owed (largest remainder, exact to the fen; funds.allocation).

    At most what the victims are owed in all is shared: a share never exceeds what its
    victim is owed, and the rest stays frozen for a victim found later. Victims owed nothing
    get a zero share."""
    freeze_left = freeze_available(freeze)
    victims = list(
        with_owed(Victim.objects.filter(case_id=freeze.case_id))
        .select_related("account_institution")
        .order_by("id")
    )
    claims = [(v, max(v.owed, ZERO)) for v in victims]  # type: ignore[attr-defined]
    owed_in_all = sum((owed for _v, owed in claims), ZERO)
    shared = min(freeze_left, owed_in_all)
    shares = allocate(shared, claims) if owed_in_all > 0 else [(v, ZERO) for v, _owed in claims]
    return AllocationProposal(
        freeze_available=freeze_left,
        available=shared,
        shares=[
            ProposedShare(
                victim=victim,
                already_returned=victim.loss_amount - owed,
                owed=owed,
                amount=amount,
            )
            for (victim, owed), (_same, amount) in zip(claims, shares, strict=True)
        ],
    )


def notification_list(user: AnyUser, *, unread: bool = False) -> QuerySet[Notification]:
    """The user's own notices, newest first, with what their one partial shows
    (templates/funds/_notice.html)."""
    queryset = notifications_of(user).select_related(
        "recipient",
        "flag__case",
        "instruction__case",
        "instruction__involved_account__account",
        "report__unit",
    )
    if unread:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset.order_by("-created_at", "-id")


def notification_unread_count(user: AnyUser) -> int:
    return notifications_of(user).filter(read_at__isnull=True).count()
