"""Totals for managers: counts and amounts at every stage, by child unit, institution or
period (API.md ``/reports/totals/``; the manager's desk).

Each figure is one aggregate query grouped by the case's unit (or the institution, or the
local day), so a report costs the same few queries however many rows it sums; rows are then
folded into the requested groups in Python (the police tree is small).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from accounts.models import Organization
from funds.models import Case, Instruction, InstructionKind, InstructionStatus, Victim
from funds.models.money import ZERO

GROUPINGS = ("unit", "institution", "day", "week", "month")
AMOUNT_FIGURES = ("stop_requested", "stopped", "frozen", "released", "returned")
EXECUTED = {
    "stopped": InstructionKind.STOP_PAYMENT,
    "frozen": InstructionKind.FREEZE,
    "released": InstructionKind.RELEASE,
    "returned": InstructionKind.RETURN,
}


@dataclass
class Figures:
    cases: int = 0
    loss: Decimal = ZERO
    stop_requested: tuple[int, Decimal] = (0, ZERO)
    stopped: tuple[int, Decimal] = (0, ZERO)
    frozen: tuple[int, Decimal] = (0, ZERO)
    released: tuple[int, Decimal] = (0, ZERO)
    returned: tuple[int, Decimal] = (0, ZERO)
    # Of the money frozen in the period, what is still held now (never negative).
    held: Decimal = ZERO

    def add(self, other: Figures) -> None:
        self.cases += other.cases
        self.loss += other.loss
        self.held += other.held
        for name in AMOUNT_FIGURES:
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, (mine[0] + theirs[0], mine[1] + theirs[1]))

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cases": self.cases, "loss": f"{self.loss:.2f}"}
        for name in AMOUNT_FIGURES:
            count, amount = getattr(self, name)
            data[name] = {"count": count, "amount": f"{amount:.2f}"}
        data["held"] = f"{self.held:.2f}"
        return data


@dataclass
class Row:
    key: str
    label: str
    figures: Figures


def _local_range(
    date_from: date | None, date_to: date | None
) -> tuple[datetime | None, datetime | None]:
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(date_from, time.min, tzinfo=zone) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone) if date_to else None
    return start, end


def _in_range(
    queryset: QuerySet[Any], field: str, start: datetime | None, end: datetime | None
) -> QuerySet[Any]:
    if start:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def _group_expression(group_by: str, field: str) -> Any:
    zone = ZoneInfo(settings.TIME_ZONE)
    if group_by == "day":
        return TruncDay(field, tzinfo=zone)
    if group_by == "week":
        return TruncWeek(field, tzinfo=zone)
    if group_by == "month":
        return TruncMonth(field, tzinfo=zone)
    raise ValueError(group_by)


def totals(
    *,
    scope: Organization,
    group_by: str,
    date_from: date | None = None,
    date_to: date | None = None,
) -> tuple[list[Row], Figures]:
    """The figures of ``scope``'s subtree between two local dates, grouped; and their total."""
    if group_by not in GROUPINGS:
        raise ValueError(group_by)
    start, end = _local_range(date_from, date_to)
    cases = Case.objects.filter(unit__path__startswith=scope.path)
    instructions = Instruction.objects.filter(case__unit__path__startswith=scope.path)

    # key of each raw group -> Figures; the raw key is the unit id, institution id or period.
    raw: dict[Any, Figures] = defaultdict(Figures)
    by_time = group_by in ("day", "week", "month")

    def key_field(prefix: str, time_field: str) -> Any:
        if group_by == "unit":
            return F(f"{prefix}unit_id")
        if group_by == "institution":
            return None
        return _group_expression(group_by, time_field)

    if group_by != "institution":
        case_rows = _in_range(cases, "reported_at", start, end).annotate(
            k=key_field("", "reported_at")
        )
        for row in case_rows.values("k").annotate(n=Count("id")).order_by():
            raw[row["k"]].cases = row["n"]
        victims = _in_range(
            Victim.objects.filter(case__in=cases), "case__reported_at", start, end
        ).annotate(k=key_field("case__", "case__reported_at"))
        for row in victims.values("k").annotate(total=Sum("loss_amount")).order_by():
            raw[row["k"]].loss = row["total"] or ZERO

    def instruction_key(time_field: str) -> Any:
        if group_by == "institution":
            return F("institution_id")
        return key_field("case__", time_field)

    asked = _in_range(
        instructions.filter(kind=InstructionKind.STOP_PAYMENT).exclude(
            status=InstructionStatus.CANCELLED
        ),
        "requested_at",
        start,
        end,
    ).annotate(k=instruction_key("requested_at"))
    for row in asked.values("k").annotate(n=Count("id"), total=Sum("requested_amount")).order_by():
        raw[row["k"]].stop_requested = (row["n"], row["total"] or ZERO)

    done = _in_range(
        instructions.filter(status=InstructionStatus.EXECUTED, executed_amount__gt=0),
        "responded_at",
        start,
        end,
    ).annotate(k=instruction_key("responded_at"))
    for row in (
        done.values("k", "kind").annotate(n=Count("id"), total=Sum("executed_amount")).order_by()
    ):
        for figure, kind in EXECUTED.items():
            if row["kind"] == kind:
                setattr(raw[row["k"]], figure, (row["n"], row["total"] or ZERO))

    held = (
        done.filter(kind=InstructionKind.FREEZE)
        .values("k")
        .annotate(total=Sum(F("executed_amount") - F("released_amount") - F("returned_amount")))
    )
    for row in held.order_by():
        raw[row["k"]].held = row["total"] or ZERO

    if group_by == "institution":
        # Cases in which the institution was asked for anything in the period.
        involved = _in_range(instructions, "requested_at", start, end)
        for row in (
            involved.values("institution_id").annotate(n=Count("case_id", distinct=True)).order_by()
        ):
            raw[row["institution_id"]].cases = row["n"]

    rows = _fold(raw, scope=scope, group_by=group_by, by_time=by_time)
    total = Figures()
    for figures in raw.values():
        total.add(figures)
    return rows, total


def _fold(
    raw: dict[Any, Figures], *, scope: Organization, group_by: str, by_time: bool
) -> list[Row]:
    if group_by == "unit":
        children = list(Organization.objects.filter(parent=scope).order_by("code"))
        units = {
            u.pk: u for u in Organization.objects.filter(pk__in=[k for k in raw if k is not None])
        }
        rows = {child.pk: Row(child.code, child.name, Figures()) for child in children}
        own = Row(scope.code, scope.name, Figures())
        for unit_id, figures in raw.items():
            unit = units.get(unit_id)
            if unit is None:
                continue
            target = next((rows[c.pk] for c in children if unit.path.startswith(c.path)), own)
            target.figures.add(figures)
        ordered = list(rows.values())
        if own.figures != Figures():
            ordered.insert(0, own)
        return ordered
    if group_by == "institution":
        institutions = Organization.objects.institutions().order_by("code")
        return [Row(i.code, i.name, raw.get(i.pk, Figures())) for i in institutions]
    periods = sorted(k for k in raw if k is not None)
    return [Row(_period_key(k, group_by), _period_key(k, group_by), raw[k]) for k in periods]


def _period_key(moment: datetime | date, group_by: str) -> str:
    day = timezone.localtime(moment).date() if isinstance(moment, datetime) else moment
    if group_by == "month":
        return f"{day:%Y-%m}"
    if group_by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def rows_as_json(rows: Iterable[Row], total: Figures) -> dict[str, Any]:
    return {
        "rows": [{"key": r.key, "label": r.label, **r.figures.as_json()} for r in rows],
        "total": total.as_json(),
    }
