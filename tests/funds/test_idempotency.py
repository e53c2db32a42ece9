"""Idempotent retries: ``Idempotency-Key`` on every POST of API v1 (API.md, "Retries").

The retried request answers what the first one answered, with ``Idempotent-Replayed: true``,
and changes nothing; the concurrent tests at the end race real connections (as
tests/funds/test_concurrency.py does).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any
from unittest import mock

from django.conf import settings
from django.db import connection, transaction
from django.test import TransactionTestCase
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.credentials import api_token_issue
from accounts.models import User
from devdata.world import build_demo_world
from funds.api.idempotency import Idempotent
from funds.api.views import CaseViewSet
from funds.models import Case, Event, IdempotencyKey, Instruction, InstructionKind
from funds.services import idempotency as idempotency_services
from funds.services.idempotency import _lock_id, idempotency_keys_purge
from funds.tasks import purge_idempotency_keys_task
from tests.funds.helpers import FundsTestCase
from tests.funds.test_concurrency import run_at_once

CASES = "/api/v1/cases/"
REPLAYED = "Idempotent-Replayed"


def case_body(title: str = "冒充客服退款诈骗") -> dict[str, Any]:
    return {
        "title": title,
        "fraud_type": "impersonating_customer_service",
        "reported_at": "2026-03-02T10:00:00+08:00",
    }


class IdempotencyTestCase(FundsTestCase):
    def send(self, user: User, path: str, body: Any = None, key: str | None = "retry-1") -> Any:
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        return self.api(user).post(path, body or {}, format="json", **headers)

    def assert_replayed(self, first: Any, again: Any) -> None:
        assert REPLAYED not in first
        assert again[REPLAYED] == "true"
        assert again.status_code == first.status_code
        assert again.json() == first.json()


class ReplayTest(IdempotencyTestCase):
    def test_a_retried_case_report_answers_the_same_case_and_logs_no_second(self):
        first = self.send(self.officer_lx, CASES, case_body())
        assert first.status_code == 201, first.content
        events = Event.objects.count()

        again = self.send(self.officer_lx, CASES, case_body())

        self.assert_replayed(first, again)
        assert Case.objects.count() == 1
        assert Event.objects.count() == events
        kept = IdempotencyKey.objects.get()
        assert (kept.user, kept.key, kept.method, kept.path) == (
            self.officer_lx,
            "retry-1",
            "POST",
            CASES,
        )
        assert kept.response_status == 201 and kept.response_body == first.json()

    def test_a_json_body_matches_whatever_its_whitespace_and_key_order(self):
        body = case_body()
        first = self.api(self.officer_lx).post(
            CASES, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
        )
        reordered = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=True)
        again = self.api(self.officer_lx).post(
            CASES, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
        )

        self.assert_replayed(first, again)
        assert Case.objects.count() == 1

    def test_a_retried_execution_by_the_bank_gets_its_own_success_not_a_conflict(self):
        case = self.report()
        account = self.add_account(case["id"])
        stop = self.ask(
            case["id"], {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"}
        )
        path = f"/api/v1/instructions/{stop['id']}/execute/"
        body = {"executed_amount": "5000.00", "bank_reference": "ICBC-20260302-1"}
        first = self.send(self.liaison_icbc, path, body, key="icbc-exec-1")
        assert first.status_code == 200, first.content
        events = Event.objects.count()

        with self.captureOnCommitCallbacks() as queued:
            again = self.send(self.liaison_icbc, path, body, key="icbc-exec-1")

        self.assert_replayed(first, again)
        assert again.json()["status"] == "executed"
        assert Event.objects.count() == events
        assert queued == []  # no second notice to anyone
        # Without the key the same retry is what it always was: a 409 on an executed one.
        assert self.send(self.liaison_icbc, path, body, key=None).status_code == 409

    def test_a_retried_return_asks_for_one_return(self):
        case, _account, freeze = self.frozen_account("8000.00")
        victim = self.add_victim(case["id"], "5000.00", "张三")
        path = f"/api/v1/cases/{case['id']}/instructions/"
        body = {
            "kind": "return",
            "freeze": freeze["id"],
            "victim": victim["id"],
            "amount": "3000.00",
        }

        first = self.send(self.officer_lx, path, body, key="return-1")
        again = self.send(self.officer_lx, path, body, key="return-1")

        assert first.status_code == 201, first.content
        self.assert_replayed(first, again)
        assert Instruction.objects.filter(kind=InstructionKind.RETURN).count() == 1

    def test_a_refusal_is_kept_and_replayed_as_it_was(self):
        case = self.report()
        self.post(self.officer_lx, f"/api/v1/cases/{case['id']}/accept/")
        path = f"/api/v1/cases/{case['id']}/accept/"

        first = self.send(self.officer_lx, path, key="accept-again")
        again = self.send(self.officer_lx, path, key="accept-again")

        assert first.status_code == 409 and first.json()["code"] == "invalid_state"
        self.assert_replayed(first, again)

    def test_without_the_header_every_post_is_processed_and_nothing_is_kept(self):
        self.send(self.officer_lx, CASES, case_body(), key=None)
        second = self.send(self.officer_lx, CASES, case_body(), key=None)

        assert second.status_code == 201 and REPLAYED not in second
        assert Case.objects.count() == 2
        assert not IdempotencyKey.objects.exists()

    def test_a_get_ignores_the_header(self):
        response = self.api(self.officer_lx).get(CASES, HTTP_IDEMPOTENCY_KEY="\x01 not checked")

        assert response.status_code == 200
        assert not IdempotencyKey.objects.exists()

    def test_the_token_endpoint_ignores_the_key_and_keeps_no_credential(self):
        response = APIClient().post(
            "/api/v1/auth/token/",
            {"username": "officer_lx", "password": "demo-pass-2026"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="sign-in",
        )

        assert response.status_code == 200 and "token" in response.json()
        assert not IdempotencyKey.objects.exists()


class MisuseTest(IdempotencyTestCase):
    def test_the_same_key_with_another_body_is_refused_and_changes_nothing(self):
        self.send(self.officer_lx, CASES, case_body("冒充客服退款诈骗"))

        response = self.send(self.officer_lx, CASES, case_body("刷单返利诈骗"))

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert "/api/v1/cases/" in response.json()["detail"]
        assert Case.objects.count() == 1
        assert IdempotencyKey.objects.count() == 1

    def test_the_same_key_on_another_path_is_refused(self):
        case = self.send(self.officer_lx, CASES, case_body()).json()

        response = self.send(self.officer_lx, f"/api/v1/cases/{case['id']}/accept/")

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert Case.objects.get().status == "reported"

    def test_two_users_keys_never_collide(self):
        mine = self.send(self.officer_lx, CASES, case_body("冒充客服退款诈骗"))
        theirs = self.send(self.officer_station, CASES, case_body("刷单返利诈骗"))

        assert mine.status_code == theirs.status_code == 201
        assert REPLAYED not in theirs
        assert mine.json()["id"] != theirs.json()["id"]
        assert IdempotencyKey.objects.filter(key="retry-1").count() == 2

    def test_an_invalid_key_is_a_400_naming_the_header_and_changes_nothing(self):
        for key in ("", "x" * 256, "重试-1", "tab\there", "bell\x07"):
            with self.subTest(key=key):
                response = self.send(self.officer_lx, CASES, case_body(), key=key)

                assert response.status_code == 400, response.content
                assert "可打印的 ASCII 字符" in response.json()["Idempotency-Key"][0]
        assert not Case.objects.exists()
        assert not IdempotencyKey.objects.exists()

    def test_a_key_of_255_printable_characters_is_taken(self):
        key = ("Abc-123 ~!" * 26)[:255]

        first = self.send(self.officer_lx, CASES, case_body(), key=key)
        again = self.send(self.officer_lx, CASES, case_body(), key=key)

        assert first.status_code == 201
        self.assert_replayed(first, again)

    def test_an_unauthenticated_post_is_a_401_and_keeps_nothing(self):
        response = self.api().post(CASES, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k")

        assert response.status_code == 401
        assert not IdempotencyKey.objects.exists()


class FailureTest(IdempotencyTestCase):
    def test_an_exception_keeps_no_answer_so_the_retry_is_processed(self):
        client = self.api(self.officer_lx)
        client.raise_request_exception = False
        with mock.patch(
            "funds.api.views.case_services.case_report", side_effect=RuntimeError("disk full")
        ):
            failed = client.post(CASES, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert failed.status_code == 500
        assert not IdempotencyKey.objects.exists()

        retried = client.post(CASES, case_body(), format="json", HTTP_IDEMPOTENCY_KEY="k")

        assert retried.status_code == 201 and REPLAYED not in retried
        assert Case.objects.count() == 1

    def test_a_5xx_answer_rolls_back_its_effect_and_keeps_nothing(self):
        create = CaseViewSet.create

        def create_then_fail(view: Any, request: Any, *args: Any, **kwargs: Any) -> Response:
            create(view, request, *args, **kwargs)
            return Response({"detail": "the bank's system is down"}, status=503)

        with mock.patch.object(CaseViewSet, "create", create_then_fail):
            failed = self.send(self.officer_lx, CASES, case_body())

        assert failed.status_code == 503
        assert not Case.objects.exists()
        assert not IdempotencyKey.objects.exists()
        assert self.send(self.officer_lx, CASES, case_body()).status_code == 201


class PurgeTest(IdempotencyTestCase):
    def keep(self, key: str, age: timedelta) -> IdempotencyKey:
        return IdempotencyKey.objects.create(
            user=self.officer_lx,
            key=key,
            method="POST",
            path=CASES,
            fingerprint="0" * 64,
            response_status=201,
            response_body={},
            created_at=timezone.now() - age,
        )

    def test_the_purge_deletes_only_answers_older_than_the_ttl(self):
        old = [self.keep(f"old-{n}", timedelta(hours=24, seconds=1 + n)) for n in range(5)]
        young = self.keep("young", timedelta(hours=23, minutes=59))

        with mock.patch.object(idempotency_services, "PURGE_BATCH", 2):
            assert purge_idempotency_keys_task() == len(old)

        assert list(IdempotencyKey.objects.all()) == [young]
        assert idempotency_keys_purge() == 0

    def test_the_purge_follows_the_ttl_setting(self):
        self.keep("two-days", timedelta(days=2))
        self.keep("four-days", timedelta(days=4))

        with self.settings(IDEMPOTENCY_KEY_TTL=timedelta(days=3)):
            assert idempotency_keys_purge() == 1

        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["two-days"]

    def test_a_purged_key_is_processed_afresh(self):
        first = self.send(self.officer_lx, CASES, case_body())
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
        idempotency_keys_purge()

        again = self.send(self.officer_lx, CASES, case_body())

        assert again.status_code == 201 and REPLAYED not in again
        assert again.json()["id"] != first.json()["id"]


def test_the_ttl_defaults_to_a_day_and_shorter_stops_the_process():
    from tests.casetracker.test_settings import run_manage

    assert settings.IDEMPOTENCY_KEY_TTL / timedelta(hours=1) == 24
    assert settings.CELERY_BEAT_SCHEDULE["purge-idempotency-keys"]["task"] == (
        purge_idempotency_keys_task.name
    )
    result = run_manage("check", DEBUG="1", IDEMPOTENCY_KEY_TTL="23h")
    assert result.returncode != 0
    assert "IDEMPOTENCY_KEY_TTL must be at least 24h" in result.stderr
    assert run_manage("check", DEBUG="1", IDEMPOTENCY_KEY_TTL="2d").returncode == 0


# -- every POST route honours the key ------------------------------------------------------

# The token endpoint has no user before it runs: it ignores the key (funds.api.idempotency).
# The revocations of accounts (below funds, so without funds' Idempotent) are idempotent by
# nature: a repeat changes nothing and answers as the first did (204; or 401 once the
# calling token itself has ended, as any answer to it would be).
# Enrolment in the second factor answers secrets (the TOTP key, the recovery codes) that
# must never be kept: a retry of it makes a new unconfirmed device, of its confirmation 409.
# Reading a victim's full account number (PIPL art. 28) is never kept either: each reading
# is recorded in the trail, a retry reads and is recorded again.
WITHOUT_KEY = {
    "cases/<int:pk>/victims/<int:victim_id>/reveal/",
    "auth/token/",
    "auth/token/revoke/",
    "auth/tokens/<int:pk>/revoke/",
    "auth/mfa/totp/",
    "auth/mfa/totp/confirm/",
}


def post_routes() -> list[tuple[str, type]]:
    """Every route under /api/v1/ that answers POST, with its view class."""
    found: list[tuple[str, type]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                view = getattr(pattern.callback, "cls", None)
                actions = getattr(pattern.callback, "actions", None)
                posts = "post" in actions if actions is not None else hasattr(view, "post")
                if view is not None and posts:
                    found.append((route.removeprefix("api/v1/"), view))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_post_route_under_the_api_honours_the_key():
    routes = post_routes()
    assert any(route.startswith("^cases/$") for route, _view in routes)
    assert any("execute" in route for route, _view in routes)
    for route, view in routes:
        if route in WITHOUT_KEY:
            continue
        assert issubclass(view, Idempotent), route
        mro = view.__mro__
        assert mro.index(Idempotent) < mro.index(APIView), route
        for hook in ("dispatch", "handle_exception", "finalize_response"):
            assert getattr(view, hook) is getattr(Idempotent, hook), (route, hook)


# -- real concurrency --------------------------------------------------------------------


class ConcurrentRetriesTest(TransactionTestCase):
    """Each request in its own thread and connection, released together by a barrier."""

    def setUp(self) -> None:
        build_demo_world()
        self.officer = User.objects.get(username="officer_lx")
        self.token = api_token_issue(user=self.officer).secret

    def post(self, path: str, body: dict[str, Any], key: str, token: str | None = None) -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token or self.token}")
        return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    def assert_one_answer(self, responses: list[Any], success: int) -> None:
        assert not [r for r in responses if isinstance(r, BaseException)], responses
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {success, 409}, statuses
        answered = [r for r in responses if r.status_code == success]
        assert answered, statuses
        assert len({json.dumps(r.json(), sort_keys=True) for r in answered}) == 1
        assert len([r for r in answered if REPLAYED not in r]) == 1
        for busy in (r for r in responses if r.status_code == 409):
            assert busy.json()["code"] == "idempotency_key_in_use"

    def test_six_identical_case_reports_at_once_log_one_case(self):
        responses = run_at_once(*[lambda: self.post(CASES, case_body(), "alarm-42")] * 6)

        self.assert_one_answer(responses, 201)
        assert Case.objects.count() == 1
        assert IdempotencyKey.objects.count() == 1

    def test_six_identical_intakes_at_once_log_one_case_and_its_stops(self):
        from tests.funds.test_intake import INTAKE
        from tests.funds.test_intake import body as intake_body

        data = intake_body()
        responses = run_at_once(*[lambda: self.post(INTAKE, data, "alarm-43")] * 6)

        self.assert_one_answer(responses, 201)
        assert Case.objects.count() == 1
        assert Instruction.objects.filter(kind="stop_payment").count() == 2

    def test_six_identical_executions_at_once_execute_once(self):
        liaison = User.objects.get(username="liaison_icbc")
        liaison_token = api_token_issue(user=liaison).secret
        case = self.post(CASES, case_body(), "setup-case").json()
        account = self.post(
            f"/api/v1/cases/{case['id']}/accounts/",
            {
                "institution": "ICBC",
                "number": "6222020000000001",
                "holder_name": "王某",
                "layer": 1,
            },
            "setup-account",
        ).json()
        stop = self.post(
            f"/api/v1/cases/{case['id']}/instructions/",
            {"kind": "stop_payment", "account": account["id"], "amount": "5000.00"},
            "setup-stop",
        ).json()
        path = f"/api/v1/instructions/{stop['id']}/execute/"
        body = {"executed_amount": "5000.00", "bank_reference": "ICBC-20260302-1"}

        responses = run_at_once(*[lambda: self.post(path, body, "icbc-exec", liaison_token)] * 6)

        self.assert_one_answer(responses, 200)
        executed = Event.objects.filter(instruction_id=stop["id"], type="instruction_executed")
        assert executed.count() == 1

    def test_a_request_while_the_first_is_in_flight_is_a_409_at_once(self):
        key = "in-flight"
        answers: list[Any] = []

        def retry() -> None:
            try:
                answers.append(self.post(CASES, case_body(), key))
            finally:
                connection.close()

        # The first request's transaction holds the key's lock until it ends: hold it here.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(self.officer.pk, key)])
            thread = threading.Thread(target=retry)
            thread.start()
            thread.join(timeout=60)
        assert not thread.is_alive()

        (busy,) = answers
        assert busy.status_code == 409
        assert busy.json()["code"] == "idempotency_key_in_use"
        assert "detail" in busy.json()
        assert not Case.objects.exists()
        assert self.post(CASES, case_body(), key).status_code == 201
