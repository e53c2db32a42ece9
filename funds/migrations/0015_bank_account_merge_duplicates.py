"""Make each bank account one row: normalise every number and merge the accounts that were
one account typed two ways (DOMAIN.md, "Money across cases").

Numbers are normalised as funds.account_numbers does (copied below: a migration never imports
app code). Accounts of one institution whose numbers normalise alike are one account; the
lowest id survives, with the normalised number, and the others go:

- transfers point at the survivor;
- a case that involved one of the duplicates has its involvement point at the survivor;
- a case that involved two or more of them keeps one involvement, the lowest id: the amounts
  summed, the lowest layer, its own holder name (the case's other names are kept in the event),
  the instructions of all of them, and its stage derived again (funds.services.stages, copied
  below);
- every case that involves the account or moved money through it gets one
  ``accounts_merged`` event (by the system) naming the numbers that became one. Audit events
  already written are never changed (PostgreSQL refuses): they keep the numbers as typed.

An account typed with separators that has no duplicate only has its number rewritten,
normalised: it stays the same account, so no case is told.

The migration stops, changing nothing, where merging would make a record that no rule allows,
and says which case, institution and numbers; fix those records by hand, then migrate again:

- two open stop-payments, or two open freezes, of one case on the account
  (``instruction_one_open_stop_or_freeze``): which to keep is a decision for the officer;
- a transfer whose two sides turn out to be the same account
  (``transfer_between_two_accounts``): a typing error, which only the case can correct;
- two transfers of one case from the account under one reference
  (``transfer_reference_once_per_case``) that differ in what they say (receiving account,
  amount or time). Where they say the same, they are one movement recorded twice: the later
  record is dropped and the event names it.

Left as they are: numbers that normalise to nothing or to more than 64 characters (not an
identity; they keep their row), the report's speed samples (they keep the id of the
involvement they measured, as history), and freezes of different cases now seen on one
account (R12 decides their order from here on). Not reversible: backwards does nothing.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from decimal import Decimal

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

# -- funds.account_numbers, as of this migration ------------------------------------------

DASHES = frozenset("-‐‑‒–—―−－﹘﹣")
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs"})
INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)
NUMBER_MAX_LENGTH = 64


def _keep(ch):
    return (
        ch not in DASHES
        and ch not in INVISIBLE
        and not ch.isspace()
        and unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    )


def normalise_account_number(raw):
    kept = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if _keep(ch))
    return unicodedata.normalize("NFKC", kept)


# -- funds.services.stages.derive_stage, as of this migration -----------------------------

OPEN = ("awaiting_approval", "pending")


def _in_force(instruction, now):
    return (
        instruction.status == "executed"
        and (instruction.executed_amount or 0) > 0
        and instruction.ended_at is None
        and instruction.effective_until is not None
        and instruction.effective_until > now
    )


def derive_stage(involved, instructions, now):
    stops = [i for i in instructions if i.kind == "stop_payment"]
    freezes = [i for i in instructions if i.kind == "freeze"]
    if involved.frozen_amount > 0:
        held = involved.frozen_amount - involved.released_amount - involved.returned_amount
        if held == 0:
            return "returned" if involved.returned_amount > 0 else "released"
        if any(_in_force(f, now) for f in freezes):
            return "frozen"
        if not any(f.status in OPEN for f in freezes):
            return "expired"
    if any(f.status in OPEN for f in freezes):
        return "freeze_requested"
    if any(_in_force(s, now) for s in stops):
        return "stopped"
    if any(s.status in OPEN for s in stops):
        return "stop_requested"
    answered = [i for i in stops + freezes if i.status in ("executed", "rejected")]
    if answered:
        latest = max(answered, key=lambda i: (i.responded_at, i.pk))
        failed = latest.status == "rejected" or latest.executed_amount == 0
        if latest.kind == "freeze":
            return "freeze_failed" if failed else "expired"
        if failed:
            return "stop_failed"
        if latest.end_reason == "lapsed" or (
            latest.effective_until is not None and latest.effective_until <= now
        ):
            return "lapsed"
    return "identified"


# -- the merge ------------------------------------------------------------------------------

AMOUNTS = ("stopped_amount", "frozen_amount", "released_amount", "returned_amount")


def _no_changes():
    return {"transfers": [], "dropped_transfers": []}


class DuplicateAccountsConflict(Exception):
    """Merging would break a rule; the message lists every such place."""


def merge_duplicates(apps, schema_editor):
    BankAccount = apps.get_model("funds", "BankAccount")
    InvolvedAccount = apps.get_model("funds", "InvolvedAccount")
    Transfer = apps.get_model("funds", "Transfer")
    Instruction = apps.get_model("funds", "Instruction")
    Event = apps.get_model("funds", "Event")
    Case = apps.get_model("funds", "Case")
    Organization = apps.get_model("accounts", "Organization")

    groups = defaultdict(list)  # (institution id, normalised number) -> [(id, number)]
    for pk, institution_id, number in (
        BankAccount.objects.order_by("pk").values_list("pk", "institution_id", "number").iterator()
    ):
        normalised = normalise_account_number(number)
        if normalised and len(normalised) <= NUMBER_MAX_LENGTH:
            groups[(institution_id, normalised)].append((pk, number))

    renames = {}  # survivor id -> normalised number, where it changes
    survivor_of = {}  # every id of a group of duplicates (the survivor's too) -> survivor id
    merged = {}  # survivor id -> (institution id, normalised number, the numbers as stored)
    for (institution_id, normalised), rows in groups.items():
        survivor = rows[0][0]
        if rows[0][1] != normalised:
            renames[survivor] = normalised
        if len(rows) > 1:
            merged[survivor] = (institution_id, normalised, sorted({n for _, n in rows}))
            for pk, _number in rows:
                survivor_of[pk] = survivor
    if not merged:
        _rename(BankAccount, renames)
        return
    removed = [pk for pk, survivor in survivor_of.items() if pk != survivor]
    group_ids = list(survivor_of)

    institutions = {institution_id for institution_id, _, _ in merged.values()}
    codes = dict(Organization.objects.filter(pk__in=institutions).values_list("pk", "code"))

    def describe(survivor):
        institution_id, _normalised, numbers = merged[survivor]
        return f"{codes[institution_id]} {' / '.join(repr(n) for n in numbers)}"

    conflicts = []
    # (case, survivor) -> its transfers on the account, and those dropped: every case that
    # involves the account or moved money through it is told of the merge.
    touched = defaultdict(_no_changes)

    # Transfers: every one that names an account of a group, with both sides as they will be.
    transfers = list(
        Transfer.objects.filter(
            Q(from_account_id__in=group_ids) | Q(to_account_id__in=group_ids)
        ).order_by("pk")
    )
    case_numbers = dict(
        Case.objects.filter(
            Q(pk__in={t.case_id for t in transfers})
            | Q(involved_accounts__account_id__in=group_ids)
        ).values_list("pk", "number").distinct()
    )
    by_reference = defaultdict(list)
    for transfer in transfers:
        source = survivor_of.get(transfer.from_account_id, transfer.from_account_id)
        target = survivor_of.get(transfer.to_account_id, transfer.to_account_id)
        for side in {source, target} & set(merged):
            touched[(transfer.case_id, side)]["transfers"].append(transfer.pk)
        if source == target:
            conflicts.append(
                f"case {case_numbers[transfer.case_id]}: transfer #{transfer.pk} "
                f"({transfer.reference}) would go from {describe(source)} to itself"
            )
            continue
        by_reference[(transfer.case_id, source, transfer.reference)].append((transfer, target))
    dropped = []
    for (case_id, source, reference), same in by_reference.items():
        if len(same) < 2:
            continue
        kept, kept_target = same[0]
        what = (kept_target, kept.amount, kept.occurred_at)
        if all((target, t.amount, t.occurred_at) == what for t, target in same[1:]):
            for t, _target in same[1:]:
                dropped.append(t.pk)
                touched[(case_id, source)]["dropped_transfers"].append(t.pk)
        else:
            conflicts.append(
                f"case {case_numbers[case_id]}: transfers "
                f"{', '.join(f'#{t.pk}' for t, _ in same)} from {describe(source)} share the "
                f"reference {reference!r} but differ in receiving account, amount or time"
            )

    # Involvements: per case and account, the ones that become one.
    involvements = defaultdict(list)  # (case, survivor) -> [involved account], lowest id first
    for involved in InvolvedAccount.objects.filter(account_id__in=group_ids).order_by("pk"):
        involvements[(involved.case_id, survivor_of[involved.account_id])].append(involved)
    for (case_id, survivor), rows in involvements.items():
        touched.setdefault((case_id, survivor), _no_changes())
        if len(rows) < 2:
            continue
        open_holds = defaultdict(list)
        for instruction in Instruction.objects.filter(
            involved_account_id__in=[r.pk for r in rows],
            kind__in=("stop_payment", "freeze"),
            status__in=OPEN,
        ).order_by("pk"):
            open_holds[instruction.kind].append(instruction.pk)
        for kind, pks in sorted(open_holds.items()):
            if len(pks) > 1:
                conflicts.append(
                    f"case {case_numbers[case_id]}: {describe(survivor)} would have "
                    f"{len(pks)} open {kind.replace('_', '-')}s "
                    f"({', '.join(f'#{pk}' for pk in pks)}); cancel all but one"
                )

    if conflicts:
        raise DuplicateAccountsConflict(
            "Bank accounts typed two ways cannot be merged as they stand; nothing was changed. "
            "Correct these records, then migrate again:\n- " + "\n- ".join(conflicts)
        )

    now = timezone.now()
    Transfer.objects.filter(pk__in=dropped).delete()
    merged_involvements = {}  # (case, survivor) -> (kept id, removed ids, holder names)
    for (case_id, survivor), rows in involvements.items():
        kept, others = rows[0], rows[1:]
        if not others:
            continue
        other_ids = [r.pk for r in others]
        Instruction.objects.filter(involved_account_id__in=other_ids).update(
            involved_account_id=kept.pk
        )
        InvolvedAccount.objects.filter(pk__in=other_ids).delete()
        for amount in AMOUNTS:
            setattr(kept, amount, sum((getattr(r, amount) for r in rows), Decimal(0)))
        kept.layer = min(r.layer for r in rows)
        kept.account_id = survivor
        holds = list(
            Instruction.objects.filter(
                involved_account_id=kept.pk, kind__in=("stop_payment", "freeze")
            ).exclude(status="cancelled")
        )
        kept.stage = derive_stage(kept, holds, now)
        kept.save(update_fields=[*AMOUNTS, "layer", "account", "stage"])
        merged_involvements[(case_id, survivor)] = (
            kept.pk,
            other_ids,
            sorted({r.holder_name for r in rows}),
        )
    for pk in removed:
        survivor = survivor_of[pk]
        InvolvedAccount.objects.filter(account_id=pk).update(account_id=survivor)
        Transfer.objects.filter(from_account_id=pk).update(from_account_id=survivor)
        Transfer.objects.filter(to_account_id=pk).update(to_account_id=survivor)
    BankAccount.objects.filter(pk__in=removed).delete()
    _rename(BankAccount, renames)

    events = []
    for (case_id, survivor), changes in sorted(touched.items()):
        institution_id, normalised, numbers = merged[survivor]
        rows = involvements.get((case_id, survivor), [])
        kept_id, other_ids, names = merged_involvements.get(
            (case_id, survivor), (rows[0].pk if rows else None, [], [])
        )
        events.append(
            Event(
                case_id=case_id,
                actor=None,
                type="accounts_merged",
                at=now,
                data={
                    "institution": codes[institution_id],
                    "number": normalised,
                    "numbers": numbers,
                    "involved_account": kept_id,
                    "merged_involved_accounts": other_ids,
                    "holder_names": names,
                    "transfers": sorted(set(changes["transfers"]) - set(dropped)),
                    "dropped_transfers": sorted(changes["dropped_transfers"]),
                },
            )
        )
    Event.objects.bulk_create(events, batch_size=1000)


def _rename(BankAccount, renames):
    """Store the normalised numbers; every duplicate is gone by now, so none collides."""
    accounts = [BankAccount(pk=pk, number=number) for pk, number in renames.items()]
    BankAccount.objects.bulk_update(accounts, ["number"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('funds', '0014_bank_account_drop_holder_name'),
    ]

    operations = [
        migrations.RunPython(merge_duplicates, migrations.RunPython.noop),
    ]
