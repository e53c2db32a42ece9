"""The officer's ``POST /cases/``: what it costs and that its answer is the case as read back.

bench/write_path.py measures it under gunicorn (issue 16); here its queries are pinned and
the shortcuts it takes are checked against the long way round.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from funds.api.serializers import CaseSerializer
from funds.models import Case, CaseNumberCounter, Deadline, DeadlineKind, Event, EventType
from tests.funds.helpers import FundsTestCase

# The token with its user, BEGIN, the officer's unit, the case (its number from the year's
# counter in the same INSERT, funds 0035), its first-stop clock (R13), its case_reported
# event, COMMIT. No read of the case afterwards.
POST_CASE_QUERIES = 7
# With an Idempotency-Key: and the key's lock, its look-up, the service's savepoint (taken
# and released inside the request's one transaction) and the kept answer.
POST_CASE_QUERIES_WITH_KEY = POST_CASE_QUERIES + 5

BODY = {
    "title": "冒充客服退款诈骗",
    "fraud_type": "impersonating_customer_service",
    "description": "受害人接到自称客服的电话",
}


class PostCaseTest(FundsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.reported_at = timezone.now().isoformat()

    def post_case(self, **headers: str) -> tuple[int, dict]:
        client = self.api(self.officer_lx)  # the token exists before counting starts
        body = {**BODY, "reported_at": self.reported_at}
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/cases/", body, format="json", headers=headers)
        self.assertEqual(response.status_code, 201, response.content)
        return len(queries.captured_queries), response.json()

    def test_it_costs_a_fixed_number_of_queries(self):
        first, _ = self.post_case()
        second, _ = self.post_case()
        self.assertEqual((first, second), (POST_CASE_QUERIES, POST_CASE_QUERIES))

    def test_it_costs_five_queries_more_with_an_idempotency_key(self):
        count, _ = self.post_case(**{"Idempotency-Key": "case-1"})
        self.assertEqual(count, POST_CASE_QUERIES_WITH_KEY)

    def test_its_answer_is_the_case_as_get_reads_it(self):
        _, created = self.post_case()
        read = self.ok(self.api(self.officer_lx).get(f"/api/v1/cases/{created['id']}/"))
        self.assertEqual(created, read)
        self.assertEqual(created["loss_amount"], "0.00")
        self.assertEqual(set(created["totals"].values()), {"0.00"})
        self.assertEqual(created["unit"], {"code": "370102", "name": self.lixia.name})

    def test_it_keeps_the_event_and_the_first_stop_clock(self):
        _, created = self.post_case()
        case = Case.objects.get(pk=created["id"])
        self.assertEqual(
            list(Event.objects.filter(case=case).values_list("type", "actor")),
            [(EventType.CASE_REPORTED, self.officer_lx.pk)],
        )
        self.assertTrue(
            Deadline.objects.filter(case=case, kind=DeadlineKind.FIRST_STOP, met_at=None).exists()
        )

    def test_a_replay_answers_the_same_case(self):
        _, created = self.post_case(**{"Idempotency-Key": "case-2"})
        _, replayed = self.post_case(**{"Idempotency-Key": "case-2"})
        self.assertEqual(replayed, created)
        self.assertEqual(Case.objects.filter(created_by=self.officer_lx).count(), 1)


class FieldsBuiltOnceTest(FundsTestCase):
    def test_each_case_serializer_has_fields_of_its_own(self):
        first = CaseSerializer(data={**BODY, "fraud_type": "no_such_type"})
        second = CaseSerializer(data={**BODY, "reported_at": timezone.now().isoformat()})
        self.assertFalse(first.is_valid())
        self.assertTrue(second.is_valid(), second.errors)
        self.assertEqual(set(first.errors), {"fraud_type", "reported_at"})
        for name, field in first.fields.items():
            self.assertIsNot(field, second.fields[name])
            self.assertIs(field.parent, first)


class CaseNumberTest(FundsTestCase):
    def test_numbers_run_on_per_unit_and_year_past_five_digits(self):
        year = timezone.localtime().year
        first = self.report()["number"]
        second = self.report()["number"]
        self.assertEqual((first, second), (f"370102-{year}-00001", f"370102-{year}-00002"))
        self.assertEqual(self.report(self.officer_sn)["number"], f"370202-{year}-00001")
        CaseNumberCounter.objects.filter(unit=self.lixia, year=year).update(last=99_999)
        self.assertEqual(self.report()["number"], f"370102-{year}-100000")
