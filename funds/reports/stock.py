"""What is held now: a stock, whatever period a report covers (在冻).

The totals (funds.reports.totals) are flows over a period: asked, stopped, frozen, released,
returned between two days. What a manager means by "still held" is the money frozen at this
moment: the remainder of every freeze in force whose hold the bank confirmed, and apart
from it what queued freezes wait for (R12). Both are read from the instructions themselves
(the partial index ``instruction_live_freeze`` covers the freezes not ended), per unit of the
case and per institution; the desk adds them up per child unit or per bank.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connections

from accounts.models import Organization
from funds.models.money import ZERO
from funds.replica import report_database

STOCK = """
    SELECT c.unit_id, i.institution_id,
           coalesce(sum(i.executed_amount - i.released_amount - i.returned_amount)
                    FILTER (WHERE i.hold_confirmed_at IS NOT NULL AND i.effective_until > %(now)s),
                    0),
           coalesce(sum(coalesce(i.executed_amount, i.requested_amount))
                    FILTER (WHERE i.queued AND i.hold_confirmed_at IS NULL
                            AND (i.status IN ('awaiting_approval', 'pending')
                                 OR i.executed_amount > 0)),
                    0)
    FROM funds_instruction i
    JOIN funds_case c ON c.id = i.case_id
    JOIN accounts_organization u ON u.id = c.unit_id
    WHERE i.kind = 'freeze' AND i.ended_at IS NULL
      AND i.status IN ('awaiting_approval', 'pending', 'executed')
      AND u.path LIKE %(path)s
    GROUP BY 1, 2
"""


@dataclass
class Stock:
    """Held now and queued now, in total, per child unit (code) and per institution (code)."""

    held: Decimal = ZERO
    queued: Decimal = ZERO
    held_by_unit: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    held_by_institution: dict[str, Decimal] = field(
        default_factory=lambda: defaultdict(lambda: ZERO)
    )


def stock(*, scope: Organization, now: datetime) -> Stock:
    """What the freezes of cases in ``scope``'s subtree hold at ``now``, and what waits."""
    with connections[report_database()].cursor() as cursor:
        cursor.execute(STOCK, {"now": now, "path": f"{scope.path}%"})
        rows = cursor.fetchall()
    units = {u.pk: u for u in Organization.objects.filter(path__startswith=scope.path)}
    children = [u for u in units.values() if u.parent_id == scope.pk]
    result = Stock()
    by_institution_id: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for unit_id, institution_id, held, queued in rows:
        result.held += held
        result.queued += queued
        path = units[unit_id].path
        child = next((c for c in children if path.startswith(c.path)), scope)
        result.held_by_unit[child.code] += held
        by_institution_id[institution_id] += held
    codes = dict(
        Organization.objects.filter(pk__in=list(by_institution_id)).values_list("pk", "code")
    )
    for institution_id, held in by_institution_id.items():
        result.held_by_institution[codes[institution_id]] += held
    return result
