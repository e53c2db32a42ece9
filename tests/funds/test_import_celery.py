"""A large statement goes to a real Celery worker: 202, then polled until done."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from funds.models import InvolvedAccount, StatementImport, Transfer, Victim
from funds.services.cases import case_report, victim_add
from tests.funds.statement_files import VICTIM_CARD, default_file
from tests.funds.test_celery_integration import (
    WORKER_STARTUP_SECONDS,
    celery_process,
    demo_users,
    token_client,
    worker_env,
)

DONE_WITHIN_SECONDS = 120  # a bound for a loaded machine, never asserted as a duration


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
@override_settings(IMPORT_SYNC_MAX_ROWS=100, IMPORT_BATCH_ROWS=50)
def test_a_large_statement_is_imported_by_the_worker_and_polled(tmp_path):
    w = demo_users()
    case = case_report(
        actor=w.officer_lx,
        title="刷单返利诈骗",
        fraud_type="rebate_task",
        reported_at=timezone.now(),
    )
    victim_add(
        actor=w.officer_lx,
        case=case,
        name="张三",
        id_number="370102199001071234",
        phone="13800000000",
        loss_amount=1000,
        account_institution_code="ICBC",
        account_number=VICTIM_CARD,
    )
    assert Victim.objects.filter(case=case).count() == 1
    rows = [
        ["2026-03-01 10:00:00", "ICBC", VICTIM_CARD, "张三", "CCB", f"62170000{i:08d}", "乙", "1.00", f"W{i}"]
        for i in range(300)
    ]  # fmt: skip
    client = token_client(w.officer_lx)
    with celery_process(tmp_path, worker_env(), "worker", "worker", "--pool=solo") as (_p, worker):
        assert worker.wait_ready(WORKER_STARTUP_SECONDS), worker.tail()
        response = client.post(
            f"/api/v1/cases/{case.pk}/imports/",
            {"file": SimpleUploadedFile("big.csv", default_file(rows))},
            format="multipart",
        )
        assert response.status_code == 202, response.content
        url = response.json()["url"]
        assert response.json()["status"] == "queued"
        waited_until = time.monotonic() + DONE_WITHIN_SECONDS
        body = client.get(url).json()
        while body["status"] in ("queued", "running") and time.monotonic() < waited_until:
            time.sleep(0.2)
            body = client.get(url).json()
        assert body["status"] == "done", (body, worker.tail())
    assert (body["rows"], body["created"], body["progress"]) == (300, 300, 100)
    assert Transfer.objects.filter(case=case).count() == 300
    assert InvolvedAccount.objects.filter(case=case, layer=1).count() == 300
    assert "funds.tasks.run_statement_import" in "".join(worker.lines)
    # A second delivery of the task finds the import claimed and changes nothing.
    from funds.services.imports import statement_import_run

    again = statement_import_run(import_id=body["id"])
    assert again.created == 300 and Transfer.objects.filter(case=case).count() == 300
    assert StatementImport.objects.get(pk=body["id"]).status == "done"
