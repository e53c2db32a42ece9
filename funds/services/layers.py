"""Layers derived from the money's path (API.md, "Statements and the fund flow").

An account that received money from a victim's own account is layer 1 (一级卡); one that
received from layer n is layer n+1, the smallest such n. The case's transfers form a graph;
its shortest distances from the victims' accounts are the layers, found by one pass over
the edges (a breadth-first search from several sources, which cycles cannot fool: an
account is settled once, at its smallest distance).

Decisions:

- A layer an officer typed (``layer_derived`` False) is kept as typed, and counts as a
  source at that layer, whatever path reaches it: money it passed on reaches layer
  typed+1 (unless a shorter path reaches the receiver).
- Derived layers are recomputed whenever transfers are added (by import or by hand,
  ``transfer_add``): they only ever move to the smallest distance the transfers show.
- An account that no victim's money reaches does not join the case as an involved
  account (``InvolvedAccount.layer`` is at least 1): its transfers are kept, and it joins
  as soon as a transfer connects it.
- A victim's own account never becomes an involved account.

Every call runs under the case's lock (funds.services.cases.lock_case) and costs the same
few queries however many transfers the case holds.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection

from accounts.models import User
from funds.models import EventType, InvolvedAccount
from funds.services.audit import new_event, record_events

# Changed layers listed in one ``layers_derived`` event (all are counted).
EVENT_LIST_MAX = 1000


@dataclass(frozen=True)
class LayerChange:
    added: int
    changed: int


def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def layers_derive(
    *, actor: User, case_id: int, statement_import_id: int | None = None
) -> LayerChange:
    """Add the accounts that victims' money reaches to the case at their derived layer and
    bring the derived layers of those already in it up to date (caller holds the case lock)."""
    victim_accounts = {
        row[0]
        for row in _fetch(
            """
            SELECT b.id FROM funds_victim v
            JOIN funds_bankaccount b
              ON b.institution_id = v.account_institution_id AND b.number = v.account_number
            WHERE v.case_id = %s
            """,
            [case_id],
        )
    }
    involved = {
        account_id: (pk, layer, derived)
        for pk, account_id, layer, derived in _fetch(
            "SELECT id, account_id, layer, layer_derived FROM funds_involvedaccount"
            " WHERE case_id = %s",
            [case_id],
        )
    }
    edges: defaultdict[int, list[int]] = defaultdict(list)
    for source, target in _fetch(
        "SELECT DISTINCT from_account_id, to_account_id FROM funds_transfer WHERE case_id = %s",
        [case_id],
    ):
        edges[source].append(target)

    # Sources: the victims' accounts at 0, the typed layers as typed (and never reached at
    # another: what the officer typed stands for the account, downstream too).
    typed = {a: layer for a, (_pk, layer, derived) in involved.items() if not derived}
    distance: dict[int, int] = {}
    queue: list[tuple[int, int]] = [(0, a) for a in victim_accounts if a not in typed]
    queue += [(layer, a) for a, layer in typed.items()]
    heapq.heapify(queue)
    while queue:
        layer, account = heapq.heappop(queue)
        if account in distance:
            continue
        distance[account] = layer
        for target in edges.get(account, ()):
            if target not in distance and target not in typed:
                heapq.heappush(queue, (layer + 1, target))

    new = {
        account: layer
        for account, layer in distance.items()
        if layer >= 1 and account not in involved and account not in victim_accounts
    }
    changed = [
        (pk, layer, distance[account])
        for account, (pk, layer, derived) in involved.items()
        if derived and account in distance and distance[account] >= 1
        and distance[account] != layer
    ]  # fmt: skip
    if new:
        _add_involved(actor=actor, case_id=case_id, new=new, import_id=statement_import_id)
    if changed:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE funds_involvedaccount i SET layer = u.layer
                FROM unnest(%s::bigint[], %s::int[]) AS u(id, layer) WHERE i.id = u.id
                """,
                [[c[0] for c in changed], [c[2] for c in changed]],
            )
        record_events(
            [
                new_event(
                    case_id=case_id,
                    type=EventType.LAYERS_DERIVED,
                    actor=actor,
                    statement_import=statement_import_id,
                    count=len(changed),
                    changed=[
                        {"involved_account": pk, "before": before, "after": after}
                        for pk, before, after in changed[:EVENT_LIST_MAX]
                    ],
                )
            ]
        )
    return LayerChange(added=len(new), changed=len(changed))


def _add_involved(*, actor: User, case_id: int, new: dict[int, int], import_id: int | None) -> None:
    ids = list(new)
    # The holder each account's transfers recorded in this case, a named one first.
    holders = dict(
        _fetch(
            """
            SELECT DISTINCT ON (account) account, holder FROM (
              SELECT to_account_id AS account, to_holder_name AS holder, occurred_at
              FROM funds_transfer WHERE case_id = %s AND to_account_id = ANY(%s)
              UNION ALL
              SELECT from_account_id, from_holder_name, occurred_at
              FROM funds_transfer WHERE case_id = %s AND from_account_id = ANY(%s)
            ) h
            ORDER BY account, holder = '', occurred_at
            """,
            [case_id, ids, case_id, ids],
        )
    )
    accounts = {
        pk: (code, number)
        for pk, code, number in _fetch(
            "SELECT b.id, o.code, b.number FROM funds_bankaccount b"
            " JOIN accounts_organization o ON o.id = b.institution_id WHERE b.id = ANY(%s)",
            [ids],
        )
    }
    others: dict[int, list[str]] = dict(
        _fetch(
            """
            SELECT i.account_id, array_agg(c.number ORDER BY c.number)
            FROM funds_involvedaccount i JOIN funds_case c ON c.id = i.case_id
            WHERE i.account_id = ANY(%s) AND i.case_id <> %s GROUP BY i.account_id
            """,
            [ids, case_id],
        )
    )
    created = InvolvedAccount.objects.bulk_create(
        [
            InvolvedAccount(
                case_id=case_id,
                account_id=account,
                holder_name=(holders.get(account) or "")[:100],
                layer=layer,
                layer_derived=True,
                created_by=actor,
            )
            for account, layer in sorted(new.items(), key=lambda item: (item[1], item[0]))
        ],
        batch_size=1000,
    )
    record_events(
        new_event(
            case_id=case_id,
            type=EventType.ACCOUNT_ADDED,
            actor=actor,
            involved_account=involved.pk,
            institution=accounts[involved.account_id][0],
            number=accounts[involved.account_id][1],
            holder_name=involved.holder_name,
            layer=involved.layer,
            derived=True,
            statement_import=import_id,
            other_cases=others.get(involved.account_id, []),
        )
        for involved in created
    )
