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
