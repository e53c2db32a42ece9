"""Logs with a request id, in JSON, and the Prometheus metrics."""

from __future__ import annotations

import json
import logging
import math
from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from casetracker.logs import RequestIdFilter, request_id
from funds.models import Heartbeat, HeartbeatName
from tests.funds.helpers import FundsTestCase

TOKEN = "scrape-token-0123456789"


class RequestIdTests(FundsTestCase):
    def test_every_response_carries_an_id_and_a_sane_one_from_the_proxy_is_kept(self) -> None:
        first = self.client.get("/healthz")
        second = self.client.get("/healthz")
        assert len(first["X-Request-ID"]) == 32
        assert first["X-Request-ID"] != second["X-Request-ID"]
        kept = self.client.get("/healthz", HTTP_X_REQUEST_ID="f3a9c2-nginx-77")
        assert kept["X-Request-ID"] == "f3a9c2-nginx-77"
        # One that could forge a log line is replaced.
        forged = self.client.get("/healthz", HTTP_X_REQUEST_ID="x\n2026 ERROR fake")
        assert "\n" not in forged["X-Request-ID"] and len(forged["X-Request-ID"]) == 32

    def test_the_log_lines_of_a_request_carry_its_id(self) -> None:
        seen: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                seen.append(getattr(record, "request_id", "?"))

        handler = Keep()
        handler.addFilter(RequestIdFilter())
        logger = logging.getLogger("django.request")
        logger.addHandler(handler)
        try:
            response = self.client.get("/api/v1/me/", HTTP_X_REQUEST_ID="req-42")  # 401: logged
        finally:
            logger.removeHandler(handler)
        assert response.status_code == 401
        assert seen == ["req-42"]
        assert request_id.get() == "-"  # nothing leaks into the next request

    def test_the_json_formatter_writes_one_object_a_line_with_the_id(self) -> None:
        from django.conf import settings
        from pythonjsonlogger.json import JsonFormatter

        config = settings.LOGGING["formatters"]["json"]
        formatter = JsonFormatter(
            config["format"],
            rename_fields=config["rename_fields"],
            json_ensure_ascii=config["json_ensure_ascii"],
        )
        record = logging.LogRecord(
            "funds", logging.WARNING, __file__, 1, "止付 %s", ("超时",), None
        )
        RequestIdFilter().filter(record)
        line = formatter.format(record)
        data = json.loads(line)
        assert data["message"] == "止付 超时"
        assert data["level"] == "WARNING" and data["logger"] == "funds"
        assert data["request_id"] == "-" and "time" in data


@override_settings(METRICS_TOKEN=TOKEN)
class MetricsTests(FundsTestCase):
    def scrape(self, token: str = TOKEN) -> tuple[int, str]:
        response = self.client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
        return response.status_code, response.content.decode()

    def value(self, text: str, line_start: str) -> float:
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{line_start} not in\n{text}")

    def test_the_business_gauges_count_what_the_tables_hold(self) -> None:
        case = self.report()
        for number in ("6222020000000001", "6222020000000002"):
            account = self.add_account(case["id"], number=number)
            self.post(
                self.officer_lx,
                f"/api/v1/cases/{case['id']}/instructions/",
                {"kind": "stop_payment", "account": account["id"], "amount": "100.00"},
                201,
            )
        Heartbeat.objects.create(name=HeartbeatName.SWEEP, at=timezone.now() - timedelta(minutes=3))
        status, text = self.scrape()
        assert status == 200
        pending = 'casetracker_pending_instructions{institution="ICBC",kind="stop_payment"}'
        assert self.value(text, pending) == 2.0
        assert 170 <= self.value(text, "casetracker_sweep_age_seconds") <= 400
        assert math.isnan(self.value(text, "casetracker_report_fold_age_seconds")) or (
            self.value(text, "casetracker_report_fold_age_seconds") >= 0
        )
        assert self.value(text, 'casetracker_mail{state="unsent"}') >= 0
        assert "process_resident_memory_bytes" in text or "process_cpu_seconds_total" in text

    def test_without_the_token_there_is_nothing_to_see(self) -> None:
        assert self.scrape("wrong")[0] == 404
        assert self.client.get("/metrics").status_code == 404
        with override_settings(METRICS_TOKEN=""):
            assert self.scrape("")[0] == 404
