"""No input gives a 500 (API.md, "Errors"): malformed ids, dates, numbers, bodies and ranges
are a 400 (or 404 for an id in the path) with a message, and nothing changes."""

from __future__ import annotations

import json

from django.test import override_settings

from funds.models import Case, Notification
from tests.funds.helpers import FundsTestCase


class MalformedIdTest(FundsTestCase):
    def test_a_non_numeric_id_in_a_path_is_a_json_404(self):
        for method, path in [
            ("post", "/api/v1/notifications/abc/read/"),
            ("get", "/api/v1/cases/abc/"),
            ("get", "/api/v1/cases/0.5/accounts/"),
            ("get", "/api/v1/instructions/1e3/"),
            ("get", "/api/v1/allocations/-1/"),
        ]:
            with self.subTest(path=path):
                response = getattr(self.api(self.officer_lx), method)(path)
                assert response.status_code == 404
                assert response["Content-Type"] == "application/json"
                assert response.json()["code"] == "not_found"

    def test_an_id_beyond_the_database_range_is_a_404(self):
        response = self.api(self.officer_lx).get("/api/v1/cases/99999999999999999999/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_a_malformed_id_does_not_mark_anything_read(self):
        before = Notification.objects.filter(read_at__isnull=False).count()
        self.api(self.officer_lx).post("/api/v1/notifications/abc/read/")
        assert Notification.objects.filter(read_at__isnull=False).count() == before


class MalformedPageTest(FundsTestCase):
    def test_a_page_that_is_not_a_positive_number_is_a_400_on_page(self):
        for page in ("0", "-1", "abc", "999999"):
            with self.subTest(page=page):
                response = self.api(self.officer_lx).get(f"/api/v1/cases/?page={page}")
                assert response.status_code == 400
                assert list(response.json()) == ["page"]


class MalformedDateTest(FundsTestCase):
    def test_reports_refuse_dates_outside_the_years_the_system_holds(self):
        client = self.api(self.manager_jn)
        for query, field in [
            ("group_by=month&to=9999-12-31", "to"),
            ("group_by=month&from=0001-01-01", "from"),
            ("group_by=unit&to=2026-02-30", "to"),
            ("group_by=unit&from=1999-12-31", "from"),
        ]:
            with self.subTest(query=query):
                response = client.get(f"/api/v1/reports/totals/?{query}")
                assert response.status_code == 400
                assert list(response.json()) == [field]

    def test_totals_by_day_refuse_a_span_of_more_than_the_set_days(self):
        response = self.api(self.manager_jn).get(
            "/api/v1/reports/totals/?group_by=day&from=2000-01-01&to=2099-12-31"
        )
        assert response.status_code == 400
        assert "group_by" in response.json()
        # By month the same span is fine.
        response = self.api(self.manager_jn).get(
            "/api/v1/reports/totals/?group_by=month&from=2000-01-01&to=2099-12-31"
        )
        assert response.status_code == 200
        assert len(response.json()["rows"]) == 100 * 12

    def test_totals_by_day_measure_the_span_from_the_first_figures_without_from(self):
        self.frozen_account()
        response = self.api(self.manager_jn).get("/api/v1/reports/totals/?group_by=day")
        assert response.status_code == 200
        response = self.api(self.manager_jn).get(
            "/api/v1/reports/totals/?group_by=day&to=2099-12-31"
        )
        assert response.status_code == 400
        assert "group_by" in response.json()

    def test_a_case_reported_in_year_362_is_refused(self):
        before = Case.objects.count()
        response = self.api(self.officer_lx).post(
            "/api/v1/cases/",
            {"title": "x", "fraud_type": "romance", "reported_at": "0362-12-28T13:18:44Z"},
            format="json",
        )
        assert response.status_code == 400
        assert list(response.json()) == ["reported_at"]
        assert Case.objects.count() == before

    def test_list_filters_refuse_dates_and_offsets_the_database_cannot_hold(self):
        client = self.api(self.manager_sd)
        for query in (
            "/api/v1/cases/?reported_from=0216-09-29T01:32:02%2B19:20",
            "/api/v1/cases/?reported_to=0217-06-07T15:22:55Z",
            "/api/v1/cases/?reported_from=2026-03-01T10:00:00%2B19:20",
            "/api/v1/reports/periodic/?period_from=0001-01-01",
        ):
            with self.subTest(query=query):
                response = client.get(query)
                assert response.status_code == 400, response.content
        assert (
            client.get("/api/v1/cases/?reported_from=2026-03-01T10:00:00%2B08:00").status_code
            == 200
        )


class MalformedNumberTest(FundsTestCase):
    def test_an_amount_beyond_numeric_16_2_is_a_400(self):
        case = self.filed_case()
        for amount in ("1e20", "99999999999999999.99", "NaN", "Infinity"):
            with self.subTest(amount=amount):
                response = self.api(self.officer_lx).post(
                    f"/api/v1/cases/{case['id']}/victims/",
                    {"name": "张三", "loss_amount": amount},
                    format="json",
                )
                assert response.status_code == 400
                assert "loss_amount" in response.json()


class MalformedBodyTest(FundsTestCase):
    def post_raw(self, body: bytes, content_type: str = "application/json"):
        return self.api(self.officer_lx).generic(
            "POST", "/api/v1/cases/", body, content_type=content_type
        )

    def test_json_nested_too_deeply_is_a_400(self):
        before = Case.objects.count()
        for depth in (40, 100_000):
            with self.subTest(depth=depth):
                response = self.post_raw(("[" * depth + "]" * depth).encode())
                assert response.status_code == 400
                assert "嵌套超过 32 层" in response.json()["detail"]
        assert Case.objects.count() == before

    def test_a_body_that_is_not_json_is_a_400_with_a_message(self):
        response = self.post_raw(b"\x00")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
    def test_an_oversize_body_is_a_413(self):
        body = json.dumps({"title": "x" * 4096, "fraud_type": "romance"}).encode()
        response = self.post_raw(body)
        assert response.status_code == 413
        assert response.json()["code"] == "request_too_large"
        assert Case.objects.filter(title__startswith="xxxx").count() == 0
