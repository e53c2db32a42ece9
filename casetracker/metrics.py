"""Prometheus metrics at ``/metrics``: the business gauges an operations centre watches
(requests waiting at each bank, overdue flags, how far behind the sweep, the report fold and
the mail are), read from PostgreSQL at each scrape, so every web process answers the same
figures whatever host Prometheus reaches; plus the process's own (prometheus-client's).

The endpoint answers only with ``Authorization: Bearer <METRICS_TOKEN>``; without
METRICS_TOKEN set it is off (404).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from funds.models import (
    Flag,
    HeartbeatName,
    Instruction,
    InstructionStatus,
    ReportSummaryState,
)
from funds.services.heartbeats import heartbeats
from funds.services.mail import mail_backlog


class BusinessCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        pending = GaugeMetricFamily(
            "casetracker_pending_instructions",
            "Requests waiting for the institution's answer.",
            labels=["institution", "kind"],
        )
        rows = (
            Instruction.objects.filter(status=InstructionStatus.PENDING)
            .values_list("institution__code", "kind")
            .annotate(n=Count("id"))
            .order_by()
        )
        for institution, kind, n in rows:
            pending.add_metric([institution, kind], n)
        yield pending

        flags = GaugeMetricFamily(
            "casetracker_open_flags",
            "Deadline flags not yet resolved, by kind and level.",
            labels=["kind", "level"],
        )
        for kind, level, n in (
            Flag.objects.filter(resolved_at__isnull=True)
            .values_list("kind", "level")
            .annotate(n=Count("id"))
            .order_by()
        ):
            flags.add_metric([kind, level], n)
        yield flags

        beats = heartbeats()
        folded = ReportSummaryState.objects.filter(pk=1).values_list("folded_at", flat=True).first()
        for name, moment, help_text in (
            ("sweep", beats.get(HeartbeatName.SWEEP), "Seconds since the deadline sweep ended."),
            ("report_fold", folded, "Seconds since the report figures were folded."),
        ):
            gauge = GaugeMetricFamily(f"casetracker_{name}_age_seconds", help_text)
            # Never run: NaN, which an alert on "absent or too old" catches.
            gauge.add_metric([], (now - moment).total_seconds() if moment else float("nan"))
            yield gauge

        backlog = mail_backlog(settings.READY_MAIL_MAX_AGE)
        mail = GaugeMetricFamily(
            "casetracker_mail",
            "Mail of the outbox: unsent, of which late (older than READY_MAIL_MAX_AGE) and "
            "due now, and given up.",
            labels=["state"],
        )
        for state in ("unsent", "late", "due", "given_up"):
            mail.add_metric([state], getattr(backlog, state))
        yield mail


def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BusinessCollector())
    registry.register(ProcessCollector(registry=None))
    return registry


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise Http404
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
