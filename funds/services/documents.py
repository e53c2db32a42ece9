"""Issuing the instruments: render once, store the bytes, record their hash (docs/documents.md).

An instrument exists once its instruction is requested (a stop-payment) or approved (any
other kind); its number is issued in that transaction (funds.services.numbering). The PDF is
rendered after the transaction commits, outside any lock (CPU work never runs while a case
is locked): within the request for the few documents of one request, by the worker for the
many of an intake or a round, and at the latest on its first download. Whoever renders
first stores the bytes and writes the ``document_issued`` event with their SHA-256; later
downloads answer the stored bytes, so a printed copy can always be checked against the trail.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from funds.documents.instruments import INSTRUMENT_SELECT, instrument_pdf, issued
from funds.errors import InvalidState
from funds.models import Document, EventType, Instruction, InstrumentSource
from funds.services.audit import record_event
from funds.tasks import issue_documents_task

logger = logging.getLogger(__name__)


def document_issue(*, instruction: Instruction, actor: User | None) -> Document:
    """The instrument of ``instruction``, rendered and stored on the first call.

    Safe under concurrency: two first calls render the same bytes; the one whose row goes in
    first writes the event, the other reads that row."""
    existing = Document.objects.filter(instruction=instruction.pk).first()
    if existing is not None:
        return existing
    instruction = Instruction.objects.select_related(*INSTRUMENT_SELECT).get(pk=instruction.pk)
    if not issued(instruction):
        raise InvalidState(_not_yet(instruction))
    pdf = instrument_pdf(instruction)
    digest = hashlib.sha256(pdf).hexdigest()
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO funds_document
                    (instruction_id, instrument_number, issued_at, pdf, sha256, size)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (instruction_id) DO NOTHING
                RETURNING id
                """,
                [instruction.pk, instruction.instrument_number, now, pdf, digest, len(pdf)],
            )
            inserted = cursor.fetchone()
        if inserted is not None:
            issuer = instruction.issuing_unit
            record_event(
                case=instruction.case,
                type=EventType.DOCUMENT_ISSUED,
                actor=actor,
                instruction=instruction,
                kind=instruction.kind,
                instrument_number=instruction.instrument_number,
                issuing_unit=issuer.code if issuer is not None else None,
                sha256=digest,
                size=len(pdf),
            )
    return Document.objects.get(instruction=instruction.pk)


def _not_yet(instruction: Instruction) -> str:
    if instruction.instrument_source == InstrumentSource.LEGACY:
        return _("This instruction was requested before casetracker numbered instruments.")
    return _("The instrument is issued once the request is approved.")


class _Batch:
    """The instructions whose instruments one transaction issued, rendered once it commits."""

    def __init__(self, actor_id: int | None) -> None:
        self.actor_id = actor_id
        self.instruction_ids: list[int] = []

    def __call__(self) -> None:
        ids = self.instruction_ids
        if len(ids) > settings.DOCUMENTS_RENDER_INLINE_MAX:
            try:
                issue_documents_task.delay(ids, self.actor_id)
            except Exception:
                # The first download of each renders it instead.
                logger.exception("Could not queue the rendering of %d instruments", len(ids))
            return
        documents_issue_now(ids, actor_id=self.actor_id)


def documents_issue_now(instruction_ids: list[int], *, actor_id: int | None) -> None:
    """Render and store what is not yet stored; a failure is logged and left to the first
    download, which renders again (the approval it follows stands either way)."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    for instruction in Instruction.objects.filter(pk__in=instruction_ids).order_by("pk"):
        try:
            document_issue(instruction=instruction, actor=actor)
        except Exception:
            logger.exception("Rendering the instrument of instruction %s failed", instruction.pk)


def documents_issue_after_commit(instruction: Instruction, *, actor: User | None) -> None:
    """Queue the rendering of ``instruction``'s instrument for when the transaction commits.

    The instructions of one transaction share one callback, so an intake of 200 accounts
    hands its 200 stop-payments to the worker in one task instead of rendering them in the
    request. (A savepoint rolled back after joining a batch can take the batch with it; those
    instruments are then rendered on their first download.)"""
    actor_id = actor.pk if actor is not None else None
    for entry in connection.run_on_commit:
        callback = entry[1]
        if isinstance(callback, _Batch) and callback.actor_id == actor_id:
            callback.instruction_ids.append(instruction.pk)
            return
    batch = _Batch(actor_id)
    batch.instruction_ids.append(instruction.pk)
    transaction.on_commit(batch)
