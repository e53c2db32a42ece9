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
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection

from accounts.models import User
from funds import acting_time
from funds.models import EventType, Stage
from funds.services.arrays import pg_array
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
                FROM unnest(%s::text::bigint[], %s::text::int[]) AS u(id, layer)
                WHERE i.id = u.id
                """,
                [pg_array(c[0] for c in changed), pg_array(c[2] for c in changed)],
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


# One account_added event per account that joins, as the hand path writes, in one statement
# however many join (the events' data built here, the audit chain linked by its trigger).
_ADD_EVENTS = """
INSERT INTO funds_event (case_id, instruction_id, actor_id, type, at, data)
SELECT %s, NULL, %s, %s, %s, u.data
FROM unnest(%s::text::jsonb[]) WITH ORDINALITY AS u(data, n)
ORDER BY u.n
"""


def _add_involved(*, actor: User, case_id: int, new: dict[int, int], import_id: int | None) -> None:
    id_array = pg_array(new)
    # The holder each account's transfers into it recorded in this case, a named one first
    # (every account a victim's money reaches received a transfer).
    holders = dict(
        _fetch(
            """
            SELECT DISTINCT ON (t.to_account_id) t.to_account_id, t.to_holder_name
            FROM unnest(%s::text::bigint[]) AS w(id)
            JOIN funds_transfer t ON t.to_account_id = w.id AND t.case_id = %s
            ORDER BY t.to_account_id, t.to_holder_name = '', t.occurred_at
            """,
            [id_array, case_id],
        )
    )
    accounts = {
        pk: (code, number)
        for pk, code, number in _fetch(
            "SELECT b.id, o.code, b.number FROM unnest(%s::text::bigint[]) AS w(id)"
            " JOIN funds_bankaccount b ON b.id = w.id"
            " JOIN accounts_organization o ON o.id = b.institution_id",
            [id_array],
        )
    }
    others: dict[int, list[str]] = dict(
        _fetch(
            """
            SELECT i.account_id, array_agg(c.number ORDER BY c.number)
            FROM unnest(%s::text::bigint[]) AS w(id)
            JOIN funds_involvedaccount i ON i.account_id = w.id
            JOIN funds_case c ON c.id = i.case_id
            WHERE i.case_id <> %s
            GROUP BY i.account_id
            """,
            [id_array, case_id],
        )
    )
    ordered = sorted(new.items(), key=lambda item: (item[1], item[0]))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO funds_involvedaccount (
                case_id, account_id, holder_name, layer, layer_derived, stage, stopped_amount,
                frozen_amount, released_amount, returned_amount, created_by_id, created_at
            )
            SELECT %s, a, h, l, true, %s, 0, 0, 0, 0, %s, now()
            FROM unnest(%s::text::bigint[], %s::text::text[], %s::text::int[]) AS u(a, h, l)
            RETURNING id, account_id, holder_name, layer
            """,
            [
                case_id,
                Stage.IDENTIFIED,
                actor.pk,
                pg_array(account for account, _layer in ordered),
                pg_array((holders.get(account) or "")[:100] for account, _layer in ordered),
                pg_array(layer for _account, layer in ordered),
            ],
        )
        created = cursor.fetchall()
        cursor.execute(
            _ADD_EVENTS,
            [
                case_id,
                actor.pk,
                EventType.ACCOUNT_ADDED,
                acting_time.now(),
                pg_array(
                    json.dumps(
                        {
                            "involved_account": pk,
                            "institution": accounts[account][0],
                            "number": accounts[account][1],
                            "holder_name": holder,
                            "layer": layer,
                            "derived": True,
                            "statement_import": import_id,
                            "other_cases": others.get(account, []),
                        },
                        ensure_ascii=False,
                    )
                    for pk, account, holder, layer in created
                ),
            ],
        )
