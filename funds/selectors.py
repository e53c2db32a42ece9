"""Read-side querysets: scoped, annotated and prefetched so that lists cost a fixed number
of queries however many rows they show."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import (
    Case as When_,
)
from django.db.models import (
    DecimalField,
    F,
    IntegerField,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import Organization, Role, User
from funds.access import AnyUser, cases_visible_to, instructions_visible_to
from funds.errors import RuleViolation
from funds.models import (
    Case,
    Event,
    Instruction,
    InstructionKind,
    InstructionStatus,
    InvolvedAccount,
    Victim,
)
from funds.models.instructions import WAITING_IN_QUEUE
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


def instruction_list(user: AnyUser) -> QuerySet[Instruction]:
    queryset = instructions_visible_to(user).select_related(
        "case",
        "institution",
        "approved_by",
        "involved_account__account",
        "victim__account_institution",
    )
    if isinstance(user, User) and user.role == Role.LIAISON:
        # Most urgent first: what waits for the bank, soonest due first; then the rest.
        return queryset.annotate(
            waiting=When_(
                When(status=InstructionStatus.PENDING, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        ).order_by("waiting", F("response_due_at").asc(nulls_last=True), "-requested_at", "-id")
    return queryset.order_by("-requested_at", "-id")


def case_events(case: Case) -> QuerySet[Event]:
    return Event.objects.filter(case=case).select_related("actor").order_by("at", "id")


def freeze_available(freeze: Instruction) -> Decimal:
    """What a freeze holds less what open releases and returns have already asked for."""
    asked = (
        Instruction.objects.filter(
            freeze=freeze,
            kind__in=[InstructionKind.RELEASE, InstructionKind.RETURN],
            status__in=[InstructionStatus.AWAITING_APPROVAL, InstructionStatus.PENDING],
        ).aggregate(total=Sum("requested_amount"))["total"]
        or ZERO
    )
    return max(freeze.held_amount - asked, ZERO)
