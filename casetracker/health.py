"""Health for load balancers and monitoring: ``/healthz`` (alive) and ``/healthz/ready``.

Readiness checks what the product needs to do its work, each check on its own so that one
failure does not hide another: the database, the Celery broker, that the periodic sweep and
the report fold have run lately (a beat that died shows here), that mail is not piling up,
that R11's working-day calendar covers the coming year, and that the audit chain was
last found intact. Any failing check answers 503, for an alert; the JSON says which and by how much.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from casetracker.celery import app as celery_app
from funds.models import HeartbeatName, ReportSummaryState
from funds.services.audit_chain import audit_chain_status
from funds.services.calendar import calendar_coverage
from funds.services.heartbeats import heartbeats
from funds.services.mail import mail_backlog

Check = dict[str, Any]


@never_cache
@require_GET
def liveness(request: HttpRequest) -> HttpResponse:
    """Liveness and database reachability, for the load balancer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readiness(request: HttpRequest) -> HttpResponse:
    checks = {name: _run(check) for name, check in readiness_checks().items()}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "failing", "checks": checks}, status=200 if ready else 503
    )


def readiness_checks() -> dict[str, Callable[[], Check]]:
    """The checks by name; each answers a dict with ``ok`` and what it measured."""
    return {
        "database": _database,
        "broker": _broker,
        "sweep": lambda: _heartbeat(HeartbeatName.SWEEP, settings.READY_SWEEP_MAX_AGE),
        "report_fold": _report_fold,
        "mail": _mail,
        "calendar": _calendar,
        "audit_chain": _audit_chain,
    }


def _run(check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as error:  # a check that cannot run has failed; say why
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}


def _calendar() -> Check:
    """R11's working-day calendar covers this year, and the coming one from
    CALENDAR_WARN_FROM (1 November) on (funds.services.calendar)."""
    coverage = calendar_coverage()
    return {"ok": not coverage.warning, **coverage.as_json()}


def _audit_chain() -> Check:
    """The last check of the audit chain (funds.tasks.verify_audit_chain) found it intact,
    within READY_AUDIT_MAX_AGE; a broken chain fails until a check finds it intact again."""
    last = audit_chain_status()
    if last is None:  # a new deployment, before the first run: nothing found broken
        return {"ok": True, "last": None, "intact": None}
    recent = _recent(last.at, settings.READY_AUDIT_MAX_AGE)
    return {
        **recent,
        "ok": last.ok and recent["ok"],
        "intact": last.ok,
        "events_checked": last.checked,
        "problem": last.problem,
    }


def _database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _broker() -> Check:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    return {"ok": True}


def _age(moment: datetime | None) -> float | None:
    return None if moment is None else round((timezone.now() - moment).total_seconds(), 1)


def _heartbeat(name: HeartbeatName, max_age: timedelta) -> Check:
    """The periodic work ``name`` finished within ``max_age`` (never: failing)."""
    return _recent(heartbeats().get(name), max_age)


def _report_fold() -> Check:
    """The report totals were folded (or rebuilt) within READY_REPORT_FOLD_MAX_AGE."""
    folded = ReportSummaryState.objects.filter(pk=1).values_list("folded_at", flat=True).first()
    return _recent(folded, settings.READY_REPORT_FOLD_MAX_AGE)


def _recent(last: datetime | None, max_age: timedelta) -> Check:
    age = _age(last)
    return {
        "ok": age is not None and age <= max_age.total_seconds(),
        "last": timezone.localtime(last).isoformat() if last else None,
        "age_seconds": age,
        "max_age_seconds": max_age.total_seconds(),
    }


def _mail() -> Check:
    """The outbox (funds.services.mail): no mail unsent longer than READY_MAIL_MAX_AGE (sent
    late, or failing and retried), and none given up (until an administrator retries it)."""
    max_age = settings.READY_MAIL_MAX_AGE
    backlog = mail_backlog(max_age)
    return {
        "ok": backlog.late == 0 and backlog.given_up == 0,
        "waiting_longer_than_max_age": backlog.late,
        "unsent": backlog.unsent,
        "due": backlog.due,
        "given_up": backlog.given_up,
        "max_age_seconds": max_age.total_seconds(),
    }
