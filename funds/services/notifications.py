"""Telling people: liaisons of new instructions, officers and liaisons of queued freezes in
force, officers and managers of flags.

Every notice is a Notification row, in the page whatever mail does (intranets often have
no mail); whoever has an address also gets it by mail, through the outbox
(funds.services.mail), written in the same transaction as the notice. Notices of an
instruction are created once, under a compare-and-set claim on the instruction
(``institution_notified_at``, ``effect_notified_at``), by a task queued after commit; a
broker that cannot be reached is logged, never allowed to fail the user's request: the
periodic sweep catches up on whatever was not queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import Http404

from accounts.models import Role, User
from funds import acting_time
from funds.models import Instruction, InstructionStatus, Notification, NotificationReason
from funds.notices import notice_mail
from funds.services.mail import Mail, mail_queue
from funds.tasks import notify_institution_task, notify_queue_effect_task

logger = logging.getLogger(__name__)

MAIL_BATCH = 200


def _enqueue_after_commit(task: Any, instruction_id: int, *, what: str) -> None:
    """Once committed, queue ``task`` for the instruction; a broker that cannot be reached
    is logged, never allowed to fail the request: the sweep catches up on what was not
    sent (catch_up_institutions, catch_up_queue_effects)."""

    def enqueue() -> None:
        try:
            task.delay(instruction_id)
        except Exception:
            logger.exception(
                "Could not queue the notice of %s %s; the sweep will send it.", what, instruction_id
            )

    transaction.on_commit(enqueue)


def notify_institution_after_commit(instruction: Instruction) -> None:
    """Once committed, queue the notices to the institution's liaisons of a new instruction."""
    _enqueue_after_commit(notify_institution_task, instruction.pk, what="instruction")


def queue_effect_notify_after_commit(instruction_id: int) -> None:
    """Once committed, queue the notices that a queued freeze took effect (R12)."""
    _enqueue_after_commit(notify_queue_effect_task, instruction_id, what="freeze")


def _notify(instruction: Instruction, recipients: list[User], reason: str) -> None:
    """Notices of ``reason`` to every recipient (with or without an address), and the mail
    of those with one, in the caller's transaction (under its claim, so once)."""
    now = acting_time.now()
    notes = Notification.objects.bulk_create(
        Notification(instruction=instruction, recipient=user, reason=reason, created_at=now)
        for user in recipients
    )
    mail_queue(notice_mails(notes))


def requester_notify(instruction: Instruction, reason: str) -> None:
    """Tell the officer who asked that the approval sent the request back or declined it,
    in the caller's transaction. A request is sent back again after its correction: the
    notice is then shown again as new and unread (its mail went out the first time; a
    notice has one mail)."""
    refreshed = Notification.objects.filter(
        instruction=instruction, recipient_id=instruction.requested_by_id, reason=reason
    ).update(created_at=acting_time.now(), read_at=None)
    if not refreshed:
        _notify(instruction, [instruction.requested_by], reason)


def notice_mails(notes: Iterable[Notification]) -> Iterator[Mail]:
    """The mail of each notice whose recipient has an address."""
    for note in notes:
        if note.recipient.email:
            text = notice_mail(note)
            yield Mail(
                to=note.recipient.email, subject=text.subject, body=text.body, notification=note
            )


def _instruction(instruction_id: int) -> Instruction:
    return Instruction.objects.select_related(
        "case", "involved_account__account", "institution", "requested_by"
    ).get(pk=instruction_id)


def queue_effect_notify(*, instruction_id: int) -> bool:
    """Tell the requesting officer and the bank's liaisons, once, that a queued freeze took
    effect and that the bank is to confirm what it holds; answer whether this call told."""
    with transaction.atomic():
        claimed = Instruction.objects.filter(
            pk=instruction_id, effective_from__isnull=False, effect_notified_at__isnull=True
        ).update(effect_notified_at=acting_time.now())
        if not claimed:
            return False
        freeze = _instruction(instruction_id)
        recipients = [*_liaisons(freeze.institution_id), freeze.requested_by]
        _notify(freeze, recipients, NotificationReason.FREEZE_IN_FORCE)
    return True


def catch_up_queue_effects(*, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Send the notices of queued freezes that took effect but were never queued for mail."""
    cutoff = acting_time.now() - older_than
    missed = Instruction.objects.filter(
        effective_from__lte=cutoff, effect_notified_at__isnull=True, queued=True
    ).values_list("pk", flat=True)[:MAIL_BATCH]
    return sum(queue_effect_notify(instruction_id=pk) for pk in missed)


def notification_read(*, actor: User, notification: Notification) -> Notification:
    """Mark one of the actor's own notifications read; reading it again changes nothing."""
    if notification.recipient_id != actor.pk:
        raise Http404
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=acting_time.now()
    )
    notification.refresh_from_db(fields=["read_at"])
    return notification


def _liaisons(institution_id: int) -> list[User]:
    """Every active liaison of the institution, with an address or not."""
    return list(
        User.objects.filter(
            role=Role.LIAISON, organization_id=institution_id, is_active=True
        ).order_by("pk")
    )


def institution_notify(*, instruction_id: int) -> bool:
    """Tell the liaisons of a pending instruction once; answer whether this call told them."""
    with transaction.atomic():
        # Compare-and-set claim: of two workers (or a worker and the sweep), one wins; the
        # notices are written in the claim's transaction, so they exist once it committed.
        claimed = Instruction.objects.filter(
            pk=instruction_id,
            status=InstructionStatus.PENDING,
            institution_notified_at__isnull=True,
        ).update(institution_notified_at=acting_time.now())
        if not claimed:
            return False
        instruction = _instruction(instruction_id)
        _notify(
            instruction, _liaisons(instruction.institution_id), NotificationReason.NEW_INSTRUCTION
        )
    return True


def catch_up_institutions(*, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Tell of the instructions whose notices were never queued (the broker was down)."""
    cutoff = acting_time.now() - older_than
    pending = Instruction.objects.filter(
        status=InstructionStatus.PENDING, institution_notified_at__isnull=True
    ).filter(Q(approved_at__lte=cutoff) | Q(approved_at__isnull=True, requested_at__lte=cutoff))
    sent = 0
    for instruction_id in pending.values_list("pk", flat=True)[:MAIL_BATCH]:
        sent += institution_notify(instruction_id=instruction_id)
    return sent


def flag_mail_queue(*, created_at: datetime, from_id: int) -> int:
    """Queue the mail of the flags' notices created at ``created_at`` (by the sweep, in its
    transaction) that have none yet; answer how many mails were queued.

    ``from_id`` is the first notice of the sweep's batch: the notices are read by a range of
    the primary key, not by ``created_at`` (not indexed), which would read every notice ever
    written at each batch."""
    notes = (
        Notification.objects.filter(
            pk__gte=from_id, created_at=created_at, flag__isnull=False, mail__isnull=True
        )
        .exclude(recipient__email="")
        .select_related("recipient", "flag__case")
        .order_by("id")
    )
    return mail_queue(notice_mails(notes))


def notifications_mark_all_read(*, actor: User) -> int:
    """Mark every unread notice of the actor read; answer how many were unread."""
    return Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(
        read_at=acting_time.now()
    )
