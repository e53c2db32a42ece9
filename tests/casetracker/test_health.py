"""Health: /healthz answers while the process and database live; /healthz/ready checks the
database, the broker, that the sweep and the report fold ran lately, and the mail backlog."""

from datetime import timedelta

import time_machine
from django.test import override_settings
from django.utils import timezone

from funds.models import Flag, OutgoingMail
from funds.reports.folding import report_totals_refresh
from funds.services.calendar import calendar_year_set
from funds.services.mail import mail_deliver
from funds.services.sweep import sweep_run
from tests.broker import broker_at
from tests.funds.helpers import FundsTestCase

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


class HealthTest(FundsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # Whatever day the suite runs, this year's and the coming year's calendars are in.
        this_year = timezone.localdate().year
        for year in (this_year, this_year + 1):
            calendar_year_set(actor=None, year=year, holidays=[], working_days=[])

    def ready(self, status: int) -> dict:
        response = self.client.get("/healthz/ready")
        assert response.status_code == status, response.content
        assert response["Cache-Control"].startswith("max-age=0")
        return response.json()

    def all_ran(self) -> None:
        sweep_run()
        report_totals_refresh()

    def test_liveness_answers_ok(self):
        response = self.client.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})

    def test_ready_when_everything_ran_lately(self):
        self.all_ran()
        body = self.ready(200)
        assert body["status"] == "ok"
        assert set(body["checks"]) == {
            "database",
            "broker",
            "sweep",
            "report_fold",
            "mail",
            "calendar",
            "audit_chain",
        }
        assert all(check["ok"] for check in body["checks"].values())
        assert body["checks"]["sweep"]["age_seconds"] < 60

    def test_not_ready_before_the_first_sweep(self):
        report_totals_refresh()
        body = self.ready(503)
        assert body["status"] == "failing"
        assert body["checks"]["sweep"] == {
            "ok": False,
            "last": None,
            "age_seconds": None,
            "max_age_seconds": 300.0,
        }
        assert body["checks"]["report_fold"]["ok"]

    def test_not_ready_when_the_last_sweep_is_stale(self):
        self.all_ran()
        with time_machine.travel(timezone.now() + timedelta(minutes=4), tick=False):
            report_totals_refresh()
            assert self.ready(200)["checks"]["sweep"]["ok"]
        with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
            report_totals_refresh()
            checks = self.ready(503)["checks"]
        assert not checks["sweep"]["ok"] and checks["sweep"]["age_seconds"] >= 360
        assert checks["report_fold"]["ok"] and checks["database"]["ok"]

    @override_settings(READY_SWEEP_MAX_AGE=timedelta(minutes=30))
    def test_the_threshold_comes_from_the_settings(self):
        self.all_ran()
        with time_machine.travel(timezone.now() + timedelta(minutes=20), tick=False):
            report_totals_refresh()
            assert self.ready(200)["checks"]["sweep"]["max_age_seconds"] == 1800

    def test_not_ready_when_the_broker_is_down(self):
        self.all_ran()
        with broker_at(UNREACHABLE_BROKER):
            checks = self.ready(503)["checks"]
        assert not checks["broker"]["ok"]
        assert checks["broker"]["error"]
        others = ("database", "sweep", "report_fold", "mail", "calendar")
        assert all(checks[name]["ok"] for name in others)
        # With the broker back, ready again.
        assert self.ready(200)["status"] == "ok"

    def test_not_ready_while_notices_wait_too_long_for_mail(self):
        self.officer_lx.email = "lixiaoming@gat.sd"
        self.officer_lx.save(update_fields=["email"])
        case = self.report()
        self.all_ran()
        with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
            sweep_run()  # raises the late first stop-payment's flag and queues its mail
            report_totals_refresh()
            flag = Flag.objects.get(case_id=case["id"])
            queued = OutgoingMail.objects.get(notification__flag=flag)
            mail = self.ready(200)["checks"]["mail"]
            assert (mail["ok"], mail["unsent"], mail["due"]) == (True, 1, 1)
            mail_deliver()
        queued.refresh_from_db()
        assert queued.sent_at is not None
        assert self.ready(200)["checks"]["mail"]["ok"]
        # A mail that nothing has sent for 20 minutes (the worker has stopped):
        OutgoingMail.objects.filter(pk=queued.pk).update(
            sent_at=None, created_at=timezone.now() - timedelta(minutes=20)
        )
        mail = self.ready(503)["checks"]["mail"]
        assert (mail["ok"], mail["waiting_longer_than_max_age"]) == (False, 1)

    @override_settings(SECURE_SSL_REDIRECT=True)
    def test_health_is_answered_over_plain_http_where_everything_else_redirects(self):
        assert self.client.get("/healthz").status_code == 200
        assert self.client.get("/healthz/ready").status_code in (200, 503)
        assert self.client.get("/login/").status_code == 301


class StaleSweepBannerTest(FundsTestCase):
    """A sweep that has not run for READY_SWEEP_MAX_AGE is visible on the admin's pages."""

    BANNER = 'id="sweep-banner"'

    def admin_page(self, user=None) -> str:
        self.client.force_login(user or self.admin)
        response = self.client.get("/admin/")
        assert response.status_code == 200
        return response.content.decode()

    def test_never_swept_and_stale_are_shown_to_administrators(self):
        html = self.admin_page()
        assert self.BANNER in html and "从未完成" in html
        sweep_run()
        assert self.BANNER not in self.admin_page()
        with time_machine.travel(timezone.now() + timedelta(minutes=6)):
            banner = self.admin_page().split(self.BANNER)[1].split("</li>")[0]
            assert "最近一次完成于" in banner and "6\xa0分钟" in banner
        later = timezone.now() + timedelta(minutes=6)
        with (
            override_settings(READY_SWEEP_MAX_AGE=timedelta(minutes=10)),
            time_machine.travel(later),
        ):
            assert self.BANNER not in self.admin_page()

    def test_other_roles_do_not_see_it(self):
        self.client.force_login(self.manager_sd)
        assert self.BANNER not in self.client.get("/desk/").content.decode()
