"""Pointing the Celery app at another broker for a test (an unreachable one, say)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.test.utils import override_settings

from casetracker.celery import app as celery_app


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Publish to ``url``, failing at once when it cannot be reached.

    The Celery app read its configuration from the settings when first used, and keeps a
    connection pool bound to the broker it had, so both are changed (and reset) here.
    """
    changes = {
        "broker_url": url,
        "broker_connection_retry": False,
        "broker_connection_timeout": 1,
        "task_publish_retry": False,
    }
    before = {name: celery_app.conf[name] for name in changes}

    def drop_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    with override_settings(CELERY_BROKER_URL=url):
        celery_app.conf.update(changes)
        drop_pools()
        try:
            yield
        finally:
            celery_app.conf.update(before)
            drop_pools()
