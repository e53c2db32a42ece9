"""Celery tasks: thin, taking ids, safe to run again (CONVENTIONS.md)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task

from funds import clock
from funds.services.notifications import (
    catch_up_institutions,
    deliver_flag_mail,
    institution_notify,
)
from funds.services.sweep import sweep

logger = logging.getLogger(__name__)


def run_sweep() -> dict[str, int]:
    """One sweep as of the clock, then the mail it owes, outside any transaction."""
    result = asdict(sweep(clock.now()))
    result["mailed"] = deliver_flag_mail()
    result["institution_notices"] = catch_up_institutions()
    return result


@shared_task(name="funds.tasks.sweep_deadlines", ignore_result=True)
def sweep_deadlines() -> dict[str, int]:
    result = run_sweep()
    logger.info("Deadline sweep: %s", result)
    return result


@shared_task(name="funds.tasks.notify_institution", ignore_result=True)
def notify_institution(instruction_id: int) -> None:
    institution_notify(instruction_id=instruction_id)


@shared_task(name="funds.tasks.refresh_reports", ignore_result=True)
def refresh_reports() -> dict[str, object]:
    """Fold the totals' changes (or rebuild them), then mail reports whose mail was missed."""
    from funds.reports.folding import report_totals_refresh
    from funds.reports.periodic import catch_up_report_mail

    result: dict[str, object] = asdict(report_totals_refresh())
    result["mailed"] = catch_up_report_mail()
    logger.info("Reports refreshed: %s", result)
    return result


@shared_task(name="funds.tasks.generate_periodic_reports", ignore_result=True)
def generate_periodic_reports(kind: str) -> int:
    """Keep the daily, weekly or monthly reports of every reporting unit (idempotent)."""
    from funds.reports.periodic import periodic_reports_generate

    generated = periodic_reports_generate(kind=kind)
    logger.info("Periodic %s reports generated: %s", kind, generated)
    return generated
