"""Telling people: liaisons of new instructions, officers and managers of overdue flags.

Nothing here runs inside a transaction that changes domain rows: mail is sent after
commit, each delivery claimed first by a compare-and-set so that none goes out twice, and a
broker that cannot be reached is logged, never allowed to fail the user's request: the
periodic sweep catches up on whatever was not sent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Role, User
from funds import acting_time
from funds.models import Instruction, InstructionStatus, Notification
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
    """Once committed, queue a mail to the institution's liaisons about a new instruction."""
    _enqueue_after_commit(notify_institution_task, instruction.pk, what="instruction")


def queue_effect_notify_after_commit(instruction_id: int) -> None:
    """Once committed, queue the mail that a queued freeze took effect (R12)."""
    _enqueue_after_commit(notify_queue_effect_task, instruction_id, what="freeze")


def queue_effect_notify(*, instruction_id: int) -> bool:
    """Tell the requesting officer and the bank's liaisons, once, that a queued freeze took
    effect and that the bank is to confirm what it holds; answer whether this call sent it."""
    claimed = Instruction.objects.filter(
        pk=instruction_id, effective_from__isnull=False, effect_notified_at__isnull=True
    ).update(effect_notified_at=acting_time.now())
    if not claimed:
        return False
    freeze = Instruction.objects.select_related(
        "case", "involved_account__account", "institution", "requested_by"
    ).get(pk=instruction_id)
    recipients = [u.email for u in _liaisons(freeze.institution_id)]
    if freeze.requested_by.email:
        recipients.append(freeze.requested_by.email)
    if not recipients:
        return True
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Queued freeze in force: %(account)s, case %(case)s") % {
            "account": freeze.involved_account.account.number,
            "case": freeze.case.number,
        }
        due = timezone.localtime(freeze.response_due_at) if freeze.response_due_at else None
        body = _(
            "The freezes ahead of this queued freeze have ended; it is in force from "
            "%(start)s. %(institution)s is to confirm the amount it now holds by %(due)s.\n"
            "%(link)s"
        ) % {
            "start": f"{timezone.localtime(freeze.effective_from):%Y-%m-%d %H:%M}",
            "institution": freeze.institution.name,
            "due": f"{due:%Y-%m-%d %H:%M}" if due else "-",
            "link": f"{settings.SITE_URL}/cases/{freeze.case_id}/",
        }
    try:
        mail.send_mail(subject, body, None, recipients)
    except Exception:
        logger.exception("Mail about freeze %s taking effect failed.", instruction_id)
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
    return list(
        User.objects.filter(
            role=Role.LIAISON, organization_id=institution_id, is_active=True
        ).exclude(email="")
    )


def institution_notify(*, instruction_id: int) -> bool:
    """Mail the liaisons of a pending instruction once; answer whether this call sent it."""
    # Compare-and-set claim: of two workers (or a worker and the sweep), one wins.
    claimed = Instruction.objects.filter(
        pk=instruction_id, status=InstructionStatus.PENDING, institution_notified_at__isnull=True
    ).update(institution_notified_at=acting_time.now())
    if not claimed:
        return False
    instruction = Instruction.objects.select_related(
        "case", "involved_account__account", "institution"
    ).get(pk=instruction_id)
    recipients = [u.email for u in _liaisons(instruction.institution_id)]
    if not recipients:
        return True
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("New %(kind)s: %(account)s, %(amount)s yuan") % {
            "kind": instruction.get_kind_display(),
            "account": instruction.involved_account.account.number,
            "amount": f"{instruction.requested_amount:.2f}",
        }
        due = (
            timezone.localtime(instruction.response_due_at) if instruction.response_due_at else None
        )
        body = _(
            "Case %(case)s asks %(institution)s for a %(kind)s. Answer due: %(due)s.\n%(link)s"
        ) % {
            "case": instruction.case.number,
            "institution": instruction.institution.name,
            "kind": instruction.get_kind_display(),
            "due": f"{due:%Y-%m-%d %H:%M}" if due else "-",
            "link": f"{settings.SITE_URL}/inbox/",
        }
    try:
        mail.send_mail(subject, body, None, recipients)
    except Exception:
        logger.exception("Mail about instruction %s failed.", instruction_id)
    return True


def catch_up_institutions(*, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Send the instruction notices that were never queued (the broker was down)."""
    cutoff = acting_time.now() - older_than
    pending = Instruction.objects.filter(
        status=InstructionStatus.PENDING, institution_notified_at__isnull=True
    ).filter(Q(approved_at__lte=cutoff) | Q(approved_at__isnull=True, requested_at__lte=cutoff))
    sent = 0
    for instruction_id in pending.values_list("pk", flat=True)[:MAIL_BATCH]:
        sent += institution_notify(instruction_id=instruction_id)
    return sent


def deliver_flag_mail() -> int:
    """Mail the notifications of overdue flags not yet mailed; each at most once."""
    delivered = 0
    while True:
        with transaction.atomic():
            batch = list(
                Notification.objects.select_for_update(skip_locked=True)
                .filter(mail_claimed_at__isnull=True)
                .order_by("id")[:MAIL_BATCH]
                .values_list("pk", flat=True)
            )
            if not batch:
                return delivered
            Notification.objects.filter(pk__in=batch).update(mail_claimed_at=acting_time.now())
        # Sending happens outside the transaction: a slow mail server holds no locks.
        notes = Notification.objects.filter(pk__in=batch).select_related(
            "recipient", "flag__case", "flag__instruction"
        )
        for note in notes:
            if not note.recipient.email:
                Notification.objects.filter(pk=note.pk).update(mail_error="no address")
                continue
            with translation.override(settings.LANGUAGE_CODE):
                flag = note.flag
                subject = _("[%(level)s] %(kind)s: case %(case)s") % {
                    "level": flag.get_level_display(),
                    "kind": flag.get_kind_display(),
                    "case": flag.case.number,
                }
                body = _("Due %(due)s. %(reason)s\n%(link)s") % {
                    "due": f"{timezone.localtime(flag.due_at):%Y-%m-%d %H:%M}",
                    "reason": note.get_reason_display(),
                    "link": f"{settings.SITE_URL}/cases/{flag.case_id}/",
                }
            try:
                mail.send_mail(subject, body, None, [note.recipient.email])
            except Exception as error:
                logger.exception("Mail for notification %s failed.", note.pk)
                Notification.objects.filter(pk=note.pk).update(mail_error=str(error)[:500])
                continue
            Notification.objects.filter(pk=note.pk).update(mailed_at=acting_time.now())
            delivered += 1


def notifications_mark_all_read(*, actor: User) -> int:
    """Mark every unread notice of the actor read; answer how many were unread."""
    return Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(
        read_at=acting_time.now()
    )
