"""Celery tasks: thin, taking ids, safe to run again (CONVENTIONS.md).

Each task imports the services it calls inside its body, and services import tasks at the
top (HackSoft's direction), so that the two modules never import each other in a cycle. The
names Celery knows the tasks by (``name=``) are the wire format of queued messages and of the
beat schedule: they stay as they are when a function is renamed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(name="funds.tasks.sweep_deadlines", ignore_result=True)
def sweep_deadlines_task() -> dict[str, int]:
    from funds.services.sweep import sweep_run

    result = sweep_run()
    logger.info("Deadline sweep: %s", result)
    return result


@shared_task(name="funds.tasks.notify_institution", ignore_result=True)
def notify_institution_task(instruction_id: int) -> None:
    from funds.services.notifications import institution_notify

    institution_notify(instruction_id=instruction_id)


@shared_task(name="funds.tasks.notify_queue_effect", ignore_result=True)
def notify_queue_effect_task(instruction_id: int) -> None:
    from funds.services.notifications import queue_effect_notify

    queue_effect_notify(instruction_id=instruction_id)


@shared_task(name="funds.tasks.refresh_reports", ignore_result=True)
def refresh_reports_task() -> dict[str, object]:
    """Fold the totals' changes (or rebuild them), then tell the reports never told."""
    from funds.reports.folding import report_totals_refresh
    from funds.reports.periodic import catch_up_report_mail

    result: dict[str, object] = asdict(report_totals_refresh())
    result["mailed"] = catch_up_report_mail()
    logger.info("Reports refreshed: %s", result)
    return result


@shared_task(name="funds.tasks.generate_periodic_reports", ignore_result=True)
def generate_periodic_reports_task(kind: str) -> int:
    """Keep the daily, weekly or monthly reports of every reporting unit (idempotent)."""
    from funds.reports.periodic import periodic_reports_generate

    generated = periodic_reports_generate(kind=kind)
    logger.info("Periodic %s reports generated: %s", kind, generated)
    return generated


# Mail goes out here, never in the sweep: a slow mail server delays mail, not deadlines. The
# time limits stop a run stuck on a server (EMAIL_TIMEOUT bounds each operation); the claims
# it left are settled by funds.services.mail (lease, never resent blindly).
@shared_task(
    name="funds.tasks.deliver_mail",
    ignore_result=True,
    soft_time_limit=settings.MAIL_TASK_TIME_LIMIT - 15,
    time_limit=settings.MAIL_TASK_TIME_LIMIT,
)
def deliver_mail_task() -> dict[str, int]:
    from funds.services.mail import mail_deliver

    result = mail_deliver().as_json()
    if any(result.values()):
        logger.info("Mail delivered: %s", result)
    return result


@shared_task(name="funds.tasks.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys_task() -> int:
    """Delete the answers kept for Idempotency-Keys past IDEMPOTENCY_KEY_TTL (idempotent)."""
    from funds.services.idempotency import idempotency_keys_purge

    purged = idempotency_keys_purge()
    if purged:
        logger.info("Idempotency keys purged: %s", purged)
    return purged


@shared_task(name="funds.tasks.verify_audit_chain", ignore_result=True)
def verify_audit_chain_task() -> bool:
    """Check the whole audit chain and record the outcome: the alarm (idempotent)."""
    from funds.services.audit_chain import audit_chain_check

    check = audit_chain_check()
    logger.info("Audit chain checked: %s events, intact=%s", check.checked, check.ok)
    return check.ok


@shared_task(name="funds.tasks.run_statement_import", ignore_result=True)
def run_statement_import_task(import_id: int) -> None:
    """Process a large statement import; a second delivery finds it claimed and does nothing."""
    from funds.services.imports import statement_import_run

    statement_import_run(import_id=import_id)


@shared_task(name="funds.tasks.issue_documents", ignore_result=True)
def issue_documents_task(instruction_ids: list[int], actor_id: int | None) -> None:
    """Render and store the instruments of instructions issued in bulk (an intake's
    stop-payments, a round's returns); what is stored already is left as it is."""
    from funds.services.documents import documents_issue_now

    documents_issue_now(instruction_ids, actor_id=actor_id)
