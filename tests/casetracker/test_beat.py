"""Two beats, one ticking: the lock of casetracker/beat.py, on the real Redis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings

from casetracker.beat import LOCK_NAME, LockedScheduler
from casetracker.celery import app


class RecordingScheduler(LockedScheduler):
    """Beat as it runs, except that a due task is noted instead of sent to the broker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[str] = []
        self.entries: list[str] = []
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        self.sent.append(entry.task)
        self.entries.append(entry.name)

    def fall_due(self) -> None:
        """Every periodic task last ran a day ago: all are due at the next ticks."""
        for entry in self.schedule.values():
            entry.last_run_at = self.app.now() - timedelta(days=1)
        self._heap = None


@pytest.fixture
def lock_key():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(LOCK_NAME)
    yield client
    client.delete(LOCK_NAME)


def run(scheduler: RecordingScheduler, ticks: int = 20) -> None:
    scheduler.fall_due()
    for _ in range(ticks):
        scheduler.tick()


def test_a_second_beat_stands_by_while_the_first_ticks(lock_key):
    first, second = RecordingScheduler(app=app), RecordingScheduler(app=app)
    try:
        run(first)
        run(second)
        # The periodic tasks fell due: the first beat sent them, each once.
        assert {"funds.tasks.sweep_deadlines", "funds.tasks.deliver_mail"} <= set(first.sent)
        assert len(first.entries) == len(set(first.entries))
        assert second.sent == []
        assert second.tick() == settings.BEAT_STANDBY_SECONDS
        # The holder's lock is renewed at each tick, for the full time-out.
        assert lock_key.pttl(LOCK_NAME) > (settings.BEAT_LOCK_SECONDS - 5) * 1000
    finally:
        first.close()
        second.close()


def test_the_standby_takes_over_when_the_holders_lock_ends(lock_key):
    first, second = RecordingScheduler(app=app), RecordingScheduler(app=app)
    try:
        run(first)
        run(second)
        assert second.sent == []
        # The first beat's host dies: nobody renews its lock, which expires.
        lock_key.delete(LOCK_NAME)
        run(second)
        assert {"funds.tasks.sweep_deadlines", "funds.tasks.deliver_mail"} <= set(second.sent)
        # The first beat comes back: it finds the lock taken and stands by.
        sent_before = list(first.sent)
        run(first)
        assert first.sent == sent_before
    finally:
        first.close()
        second.close()


def test_a_beat_that_stops_cleanly_hands_over_at_once(lock_key):
    first, second = RecordingScheduler(app=app), RecordingScheduler(app=app)
    run(first)
    first.close()
    assert not lock_key.exists(LOCK_NAME)
    try:
        run(second)
        assert "funds.tasks.sweep_deadlines" in second.sent
    finally:
        second.close()
