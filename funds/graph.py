"""The fund flow of a case (API.md, "Statements and the fund flow"): who paid whom, how much.

Nodes are the case's involved accounts, the victims (whose own accounts the money left) and
the accounts that appear in the case's transfers without being involved accounts; edges are
the case's transfers summed per pair of nodes by one GROUP BY. The graph costs four queries
whatever its size (tests/funds/test_graph.py pins it), and reads rows as tuples with amounts
as PostgreSQL's text, not model instances; bench/graph.py times it against the bare
aggregate of the edges.

Node ids are strings: ``a<bank account id>`` for an account, ``v<victim id>`` for a victim.

- A transfer paid from a victim's own account (same institution and normalised number, as
  both are stored) starts at the victim's node. Where two victims of the case recorded the
  same account, the first one recorded stands for it. An account that the case also lists
  as involved stays an account node: the case's own listing wins.
- An account seen only in transfers is an ``account`` node with ``involved: false``, layer
  ``null`` and stage ``identified`` (it was identified in a statement, nothing was asked of
  its bank), so that a client that only knows the contract's stages can still draw it.
- Victims' account numbers are masked to their last four digits (funds.masking), as
  everywhere else; a victim's node has layer 0 and stage ``null``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from funds.masking import mask_account_number
from funds.models import Case, Stage, Victim

UNLISTED_STAGE = Stage.IDENTIFIED


def account_node_id(bank_account_id: int) -> str:
    return f"a{bank_account_id}"


def victim_node_id(victim_id: int) -> str:
    return f"v{victim_id}"


# The involved accounts, with how many other cases involve each one's bank account (a join
# to the grouped other involvements, not a subquery per row). Amounts come as text: numeric
# keeps its two places, and Python need not format 5,000 Decimals.
INVOLVED_SQL = """
SELECT ia.id, ia.account_id, o.code, ba.number, ia.holder_name, ia.layer, ia.stage,
    ia.stopped_amount::text, ia.frozen_amount::text, ia.released_amount::text,
    ia.returned_amount::text, (ia.frozen_amount - ia.released_amount - ia.returned_amount)::text,
    coalesce(oc.n, 0)
FROM funds_involvedaccount ia
JOIN funds_bankaccount ba ON ba.id = ia.account_id
JOIN accounts_organization o ON o.id = ba.institution_id
LEFT JOIN (
    SELECT other.account_id, count(*) AS n
    FROM funds_involvedaccount other
    JOIN funds_involvedaccount mine ON mine.account_id = other.account_id AND mine.case_id = %(case)s
    WHERE other.case_id <> %(case)s
    GROUP BY other.account_id
) oc ON oc.account_id = ia.account_id
WHERE ia.case_id = %(case)s
ORDER BY ia.layer, ia.id
"""

# The bank accounts at the ends of the edges that are not the case's involved accounts (their
# ids come from the edges, so the transfers are not read twice), each with the holder name of
# the latest transfer it received in the case, else of the latest it paid (by the transfers'
# account indexes).
UNLISTED_SQL = """
SELECT ba.id, ba.institution_id, o.code, ba.number, coalesce(
    (SELECT t.to_holder_name FROM funds_transfer t
     WHERE t.to_account_id = ba.id AND t.case_id = %(case)s
     ORDER BY t.occurred_at DESC, t.id DESC LIMIT 1),
    (SELECT t.from_holder_name FROM funds_transfer t
     WHERE t.from_account_id = ba.id AND t.case_id = %(case)s
     ORDER BY t.occurred_at DESC, t.id DESC LIMIT 1),
    '')
FROM funds_bankaccount ba
JOIN accounts_organization o ON o.id = ba.institution_id
WHERE ba.id = ANY(%(ids)s)
ORDER BY ba.id
"""

# The edges: one GROUP BY over the case's transfers (funds_transfer's case index).
EDGES_SQL = """
SELECT from_account_id, to_account_id, sum(amount)::text, count(*)
FROM funds_transfer
WHERE case_id = %(case)s
GROUP BY from_account_id, to_account_id
"""


def case_graph(case: Case) -> dict[str, list[dict[str, Any]]]:
    """The case's nodes and edges, as ``GET /cases/{id}/graph/`` answers them."""
    nodes: dict[str, dict[str, Any]] = {}
    by_bank_account: dict[int, str] = {}
    params = {"case": case.pk}
    with connection.cursor() as cursor:
        cursor.execute(INVOLVED_SQL, params)
        involved = cursor.fetchall()
        cursor.execute(EDGES_SQL, params)
        sums = cursor.fetchall()
        listed = {row[1] for row in involved}
        ends = {source for source, _t, _a, _n in sums} | {target for _f, target, _a, _n in sums}
        cursor.execute(UNLISTED_SQL, {**params, "ids": sorted(ends - listed)})
        unlisted = cursor.fetchall()

    for (
        involved_id,
        bank_account_id,
        institution,
        number,
        holder_name,
        layer,
        stage,
        stopped,
        frozen,
        released,
        returned,
        held,
        other_cases,
    ) in involved:
        node_id = f"a{bank_account_id}"
        by_bank_account[bank_account_id] = node_id
        nodes[node_id] = {
            "id": node_id,
            "kind": "account",
            "institution": institution,
            "number": number,
            "holder_name": holder_name,
            "layer": layer,
            "stage": stage,
            "involved": True,
            "involved_account": involved_id,
            "amounts": {
                "stopped": stopped,
                "frozen": frozen,
                "released": released,
                "returned": returned,
                "held": held,
            },
            "other_cases": other_cases,
        }

    # The victims, with their own accounts as stored (institution id, normalised number).
    victim_accounts: dict[tuple[int, str], str] = {}
    victims = (
        Victim.objects.filter(case=case)
        .order_by("id")
        .values_list(
            "id",
            "name",
            "account_institution_id",
            "account_institution__code",
            "account_number",
            "account_holder_name",
        )
    )
    for victim_id, name, institution_id, institution, number, holder_name in victims:
        node_id = victim_node_id(victim_id)
        nodes[node_id] = {
            "id": node_id,
            "kind": "victim",
            "institution": institution or "",
            "number": mask_account_number(number) if number else "",
            "holder_name": holder_name or name,
            "layer": 0,
            "stage": None,
            "involved": False,
            "involved_account": None,
            "amounts": None,
            "other_cases": 0,
        }
        if institution_id is not None and number:
            victim_accounts.setdefault((institution_id, number), node_id)

    for bank_account_id, institution_id, institution, number, holder_name in unlisted:
        victim_node = victim_accounts.get((institution_id, number))
        if victim_node is not None:
            by_bank_account[bank_account_id] = victim_node
            continue
        node_id = f"a{bank_account_id}"
        by_bank_account[bank_account_id] = node_id
        nodes[node_id] = {
            "id": node_id,
            "kind": "account",
            "institution": institution,
            "number": number,
            "holder_name": holder_name,
            "layer": None,
            "stage": UNLISTED_STAGE,
            "involved": False,
            "involved_account": None,
            "amounts": None,
            "other_cases": 0,
        }

    edges = [
        {
            "from": by_bank_account[source],
            "to": by_bank_account[target],
            "amount": total,
            "count": n,
        }
        for source, target, total, n in sums
    ]
    return {"nodes": list(nodes.values()), "edges": edges}
