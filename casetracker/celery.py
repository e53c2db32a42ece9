"""The Celery application; tasks are discovered in each app's tasks.py."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

from casetracker.logs import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")

app = Celery("casetracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _log_as_the_task(task_id: str | None = None, **kwargs: Any) -> None:
    """A worker's log lines carry the id of the task they belong to (casetracker/logs.py)."""
    request_id.set(f"task:{task_id}")


@task_postrun.connect
def _log_as_nothing(**kwargs: Any) -> None:
    request_id.set("-")
