"""The outbox: every mail is queued with what it tells of, and sent by one task, once.

``mail_queue`` writes rows inside the caller's transaction (so a mail exists exactly when
its notice or report does) and kicks the delivery task after commit. ``mail_deliver`` (the
task funds.tasks.deliver_mail, every MAIL_DELIVERY_SECONDS under beat) claims due rows with
``SELECT ... FOR UPDATE SKIP LOCKED``, commits the claim, then sends each outside any
transaction and records the outcome: sent, or the error and the next attempt after an
exponential backoff, or given up after MAIL_MAX_ATTEMPTS.

Never twice: a row is claimed (committed) before its send, so no other run takes it, and
only the run holding the claim records its outcome. A claim left without an outcome longer
than its lease (twice the task's hard time limit, so its worker is gone) means the worker
died mid-send: the server may have taken the mail, so it is given up as "outcome unknown"
rather than sent again; readiness counts it and an administrator may retry it (admin).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, QuerySet

from accounts.models import User
from funds import acting_time
from funds.models import Notification, OutgoingMail, PeriodicReport
from funds.tasks import deliver_mail_task

logger = logging.getLogger(__name__)

MAIL_BATCH = 50
OUTCOME_UNKNOWN = "outcome unknown: the worker stopped while sending"


@dataclass(frozen=True)
class Mail:
    """A mail to be queued: to one address, maybe with an attachment and a subject row."""

    to: str
    subject: str
    body: str
    notification: Notification | None = None
    report: PeriodicReport | None = None
    attachment: bytes | None = None
    attachment_name: str = ""
    attachment_type: str = ""


def mail_queue(mails: Iterable[Mail]) -> int:
    """Write the mails to the outbox in the current transaction; kick delivery after commit."""
    now = acting_time.now()
    rows = [
        OutgoingMail(
            to=m.to,
            subject=m.subject[:900].replace("\n", " "),
            body=m.body,
            notification=m.notification,
            report=m.report,
            attachment=m.attachment,
            attachment_name=m.attachment_name,
            attachment_type=m.attachment_type,
            created_at=now,
            next_attempt_at=now,
        )
        for m in mails
        if m.to
    ]
    if not rows:
        return 0
    OutgoingMail.objects.bulk_create(rows)
    transaction.on_commit(_kick_delivery)
    return len(rows)


def _kick_delivery() -> None:
    # Beat runs the task every MAIL_DELIVERY_SECONDS anyway: a broker down only delays mail.
    try:
        deliver_mail_task.delay()
    except Exception:
        logger.exception("Could not queue the mail delivery; beat will run it.")


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    outcome_unknown: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "gave_up": self.gave_up,
            "outcome_unknown": self.outcome_unknown,
        }


def claim_lease() -> timedelta:
    return timedelta(seconds=2 * settings.MAIL_TASK_TIME_LIMIT)


def retry_delay(attempts: int) -> timedelta:
    """How long after the ``attempts``-th failure the next attempt is due: doubling."""
    base: timedelta = settings.MAIL_RETRY_BACKOFF
    return base * 2 ** max(attempts - 1, 0)


def mail_deliver(*, batch: int = MAIL_BATCH, budget_seconds: float | None = None) -> DeliveryResult:
    """Send the due mail of the outbox, each at most once; answer what happened.

    Claims ``batch`` rows at a time while there are due rows and ``budget_seconds`` (half the
    task's time limit by default) have not run out.
    """
    result = DeliveryResult()
    result.outcome_unknown = _give_up_lost_claims()
    budget = settings.MAIL_TASK_TIME_LIMIT / 2 if budget_seconds is None else budget_seconds
    started = time.monotonic()
    while time.monotonic() - started <= budget:
        claimed_at, mails = _claim(batch)
        if not mails:
            break
        _send_claimed(mails, claimed_at, result)
        if len(mails) < batch:
            break
    return result


def _give_up_lost_claims() -> int:
    now = acting_time.now()
    return OutgoingMail.objects.filter(
        sent_at__isnull=True, gave_up_at__isnull=True, claimed_at__lt=now - claim_lease()
    ).update(gave_up_at=now, last_error=OUTCOME_UNKNOWN)


def _claim(batch: int) -> tuple[datetime, list[OutgoingMail]]:
    """Claim due rows (partial index mail_due) and commit the claim before any send."""
    now = acting_time.now()
    with transaction.atomic():
        ids = list(
            OutgoingMail.objects.select_for_update(skip_locked=True)
            .filter(
                sent_at__isnull=True,
                gave_up_at__isnull=True,
                claimed_at__isnull=True,
                next_attempt_at__lte=now,
            )
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:batch]
        )
        OutgoingMail.objects.filter(pk__in=ids).update(claimed_at=now)
    return now, list(OutgoingMail.objects.filter(pk__in=ids).order_by("next_attempt_at", "id"))


def _ours(row: OutgoingMail, claimed_at: datetime) -> QuerySet[OutgoingMail]:
    # Only the run that holds the claim records an outcome.
    return OutgoingMail.objects.filter(pk=row.pk, claimed_at=claimed_at)


def _send_claimed(mails: list[OutgoingMail], claimed_at: datetime, result: DeliveryResult) -> None:
    for index, row in enumerate(mails):
        try:
            _send(row)
        except SoftTimeLimitExceeded:
            # Stopped mid-send: this row's outcome is unknown (its lease settles it); the
            # rows not yet tried are released for the next run.
            untried = [m.pk for m in mails[index + 1 :]]
            OutgoingMail.objects.filter(pk__in=untried, claimed_at=claimed_at).update(
                claimed_at=None
            )
            raise
        except Exception as error:
            # The mail's id, never its address: no personal data in the logs (PIPL art. 28).
            logger.warning("Mail %s failed: %s", row.pk, type(error).__name__)
            _record_failure(row, claimed_at, error, result)
            continue
        _record_sent(row, claimed_at)
        result.sent += 1


def _send(row: OutgoingMail) -> None:
    message = EmailMessage(row.subject, row.body, to=[row.to])
    if row.attachment is not None:
        message.attach(row.attachment_name, bytes(row.attachment), row.attachment_type)
    message.send()


def _record_sent(row: OutgoingMail, claimed_at: datetime) -> None:
    now = acting_time.now()
    with transaction.atomic():
        _ours(row, claimed_at).update(
            sent_at=now, attempts=F("attempts") + 1, claimed_at=None, last_error=""
        )
        if row.notification_id is not None:
            Notification.objects.filter(pk=row.notification_id, mailed_at__isnull=True).update(
                mailed_at=now
            )
        if row.report_id is not None:
            PeriodicReport.objects.filter(pk=row.report_id, mailed_at__isnull=True).update(
                mailed_at=now
            )


def _record_failure(
    row: OutgoingMail, claimed_at: datetime, error: Exception, result: DeliveryResult
) -> None:
    now = acting_time.now()
    attempts = row.attempts + 1
    message = f"{type(error).__name__}: {error}"[:500]
    changes: dict[str, Any] = {"attempts": attempts, "claimed_at": None, "last_error": message}
    if attempts >= settings.MAIL_MAX_ATTEMPTS:
        changes["gave_up_at"] = now
        result.gave_up += 1
        logger.error("Mail %s given up after %s attempts.", row.pk, attempts)
    else:
        changes["next_attempt_at"] = now + retry_delay(attempts)
        result.failed += 1
    _ours(row, claimed_at).update(**changes)
    result.errors.append(message)


def mail_retry(*, actor: User, mail_ids: Iterable[int]) -> int:
    """Make given-up mail due again now, with a fresh count of attempts; answer how many.

    For mail given up as "outcome unknown" the administrator takes the risk of a second copy.
    """
    now = acting_time.now()
    ids = list(mail_ids)
    retried = OutgoingMail.objects.filter(
        pk__in=ids, gave_up_at__isnull=False, sent_at__isnull=True
    ).update(gave_up_at=None, claimed_at=None, attempts=0, next_attempt_at=now)
    logger.warning("Mail %s retried by %s (%s given up).", ids, actor.username, retried)
    if retried:
        transaction.on_commit(_kick_delivery)
    return retried


@dataclass(frozen=True)
class Backlog:
    late: int
    unsent: int
    due: int
    given_up: int


def mail_backlog(max_age: timedelta) -> Backlog:
    """The outbox as readiness sees it: unsent (of which older than ``max_age``, and due now)
    and given up."""
    now = acting_time.now()
    unsent = OutgoingMail.objects.filter(sent_at__isnull=True, gave_up_at__isnull=True)
    return Backlog(
        late=unsent.filter(created_at__lte=now - max_age).count(),
        unsent=unsent.count(),
        due=unsent.filter(claimed_at__isnull=True, next_attempt_at__lte=now).count(),
        given_up=OutgoingMail.objects.filter(gave_up_at__isnull=False).count(),
    )
