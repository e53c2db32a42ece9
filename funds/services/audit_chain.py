"""Checking the global audit chain (docs/audit.md) and raising the alarm when it is broken.

PostgreSQL links every event as it is inserted (triggers of accounts 0006 and funds 0026):
``hash`` = SHA-256 of ``prev_hash``, the position and the row's canonical text. Here the
chain is read back in order of position, one range of positions at a time, and
every link is recomputed with Python's hashlib from the stored columns: an event changed,
removed or slipped in behind the application's back breaks a link, and the first one that
does is named.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AuditChainHead, Role, User
from funds.models import AuditCheck
from funds.services.mail import Mail, mail_queue

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
CHUNK = 5000

# Both chained tables, in one stream ordered by position (a merge of two index scans).
# The canonical text comes from the same SQL functions the insert triggers use, so that
# Python and SQL only have to agree on the hash over it.
_LINKS = """
SELECT * FROM (
    SELECT 'funds_event' AS tbl, e.id, e.chain_seq, e.prev_hash, e.hash,
           funds_event_chain_content(e) AS content
      FROM funds_event e
     WHERE e.chain_seq BETWEEN %(lo)s AND %(hi)s
    UNION ALL
    SELECT 'accounts_securityevent', s.id, s.chain_seq, s.prev_hash, s.hash,
           accounts_securityevent_chain_content(s)
      FROM accounts_securityevent s
     WHERE s.chain_seq BETWEEN %(lo)s AND %(hi)s
) links
ORDER BY chain_seq, tbl, id
"""

_LAST = """
SELECT greatest((SELECT max(chain_seq) FROM funds_event),
                (SELECT max(chain_seq) FROM accounts_securityevent))
"""

_UNCHAINED = """
SELECT 'funds_event', id FROM funds_event WHERE chain_seq IS NULL
UNION ALL
SELECT 'accounts_securityevent', id FROM accounts_securityevent WHERE chain_seq IS NULL
ORDER BY 1, 2 LIMIT 1
"""

_HASH_AT = """
SELECT hash FROM funds_event WHERE chain_seq = %(seq)s
UNION ALL
SELECT hash FROM accounts_securityevent WHERE chain_seq = %(seq)s
LIMIT 1
"""


def link_hash(prev_hash: str, seq: int, content: str) -> str:
    """The hash of the link at ``seq``: the same formula as audit_chain_next() in SQL."""
    return hashlib.sha256(f"{prev_hash}\n{seq}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What a verification found: ``problem`` is empty when the chain is intact."""

    checked: int
    last_seq: int | None
    last_hash: str
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def _name(table: str, pk: int, seq: int | None) -> str:
    where = f"position {seq}" if seq is not None else "no position"
    return f"{table} id {pk} ({where})"


def _links(lo: int, hi: int) -> Iterator[tuple[str, int, int, str, str, str]]:
    """The links from position ``lo`` to ``hi`` in order, CHUNK positions a query: each
    query is a range scan of both unique indexes and a sort of a few thousand rows, so a
    million events stream in constant memory (one query over all of them would sort it all)."""
    with connection.cursor() as cursor:
        cursor.execute(_LAST)
        last = cursor.fetchone()[0]
        hi = min(hi, last or 0)
        while lo <= hi:
            cursor.execute(_LINKS, {"lo": lo, "hi": min(lo + CHUNK - 1, hi)})
            yield from cursor.fetchall()
            lo += CHUNK


def audit_chain_verify(*, from_seq: int = 1, to_seq: int | None = None) -> ChainReport:
    """Check the links from position ``from_seq`` to ``to_seq`` (default: the end).

    A whole-chain check (``from_seq`` 1, no ``to_seq``) also finds events inserted with the
    chain trigger off (no position), and events removed from the end (the head remembers
    the last link). A range starts from the stored hash of the link before it.
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("The audit chain is kept by PostgreSQL only.")
    whole = from_seq <= 1 and to_seq is None
    from_seq = max(from_seq, 1)
    # One snapshot for the head and the links: writers commit in the chain's order, so the
    # snapshot holds a prefix of the chain, and the head of the same snapshot ends it.
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
        if whole:
            with connection.cursor() as cursor:
                cursor.execute(_UNCHAINED)
                unchained = cursor.fetchone()
            if unchained:
                return ChainReport(
                    0,
                    None,
                    "",
                    f"{_name(unchained[0], unchained[1], None)} is not in the chain "
                    "(inserted with the chain trigger off).",
                )
        prev = GENESIS
        if from_seq > 1:
            with connection.cursor() as cursor:
                cursor.execute(_HASH_AT, {"seq": from_seq - 1})
                before = cursor.fetchone()
            if before is None:
                return ChainReport(
                    0, None, "", f"No event holds position {from_seq - 1}, before the range."
                )
            prev = before[0]
        expected = from_seq
        checked = 0
        last_hash = ""
        for table, pk, seq, prev_hash, stored, content in _links(from_seq, to_seq or 2**62):
            name = _name(table, pk, seq)
            if seq < expected:
                problem = f"{name} holds a position already taken (an event slipped in)."
            elif seq > expected:
                what = (
                    f"position {expected}"
                    if seq == expected + 1
                    else (f"positions {expected} to {seq - 1}")
                )
                problem = f"{name} follows a gap: no event holds {what} (removed)."
            elif prev_hash != prev:
                problem = f"{name} does not link to the event before it (prev_hash differs)."
            elif stored != link_hash(prev, seq, content):
                problem = f"{name} does not match its hash (changed, or forged)."
            else:
                problem = ""
            if problem:
                return ChainReport(checked, expected - 1 if checked else None, prev, problem)
            checked += 1
            prev = last_hash = stored
            expected += 1
        last_seq = expected - 1 if checked else None
        if whole and head is not None:
            head_seq, head_hash = head
            if (last_seq or 0) < head_seq:
                return ChainReport(
                    checked,
                    last_seq,
                    last_hash,
                    f"The chain ends at position {last_seq or 0} but its head is at {head_seq}: "
                    "the last events were removed.",
                )
            if last_seq == head_seq and last_hash != head_hash:
                return ChainReport(
                    checked,
                    last_seq,
                    last_hash,
                    f"The last event (position {last_seq}) does not match the chain's head.",
                )
        return ChainReport(checked, last_seq, last_hash)


def audit_chain_check() -> AuditCheck:
    """Verify the whole chain, record the outcome (the alarm readiness and the
    administrators' pages read), and mail the administrators when it has just broken."""
    report = audit_chain_verify()
    with transaction.atomic():
        previous = AuditCheck.objects.order_by("-at", "-id").first()
        check = AuditCheck.objects.create(
            at=timezone.now(),
            ok=report.ok,
            checked=report.checked,
            head_seq=report.last_seq,
            head_hash=report.last_hash,
            problem=report.problem,
        )
        if not report.ok:
            logger.error("The audit chain is broken: %s", report.problem)
            if previous is None or previous.ok:
                mail_queue(_alarm_mail(report))
    return check


def _alarm_mail(report: ChainReport) -> list[Mail]:
    addresses = {email for _name, email in settings.ADMINS}
    addresses.update(
        User.objects.filter(role=Role.ADMIN, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    subject = _("The audit trail no longer verifies")
    body = _(
        "verify_audit found the audit chain broken after %(checked)s intact events:\n\n"
        "%(problem)s\n\nSomething changed the trail behind the application. Keep the "
        "database as it is and run `python manage.py verify_audit` to see it again."
    ) % {"checked": report.checked, "problem": report.problem}
    return [Mail(to=address, subject=subject, body=body) for address in sorted(addresses)]


def audit_chain_status() -> AuditCheck | None:
    """The latest check of the chain, or None when none ran yet."""
    return AuditCheck.objects.order_by("-at", "-id").first()
