"""Celery beat that runs on one host at a time.

Several hosts may each start beat (a second one by mistake, or one per host on purpose for
failover): every beat ticks only while it holds a lock in Redis, renewed at each tick, and
the others stand by. When the holder stops, its lock expires after ``BEAT_LOCK_SECONDS`` and a
standby takes over; its schedule is then behind, so it runs each periodic task once at once,
which changes nothing (every periodic task is idempotent per period, docs/operations.md).

Without Redis (the demo's filesystem broker) there is nobody to share with: beat runs
unlocked, as Celery's own Scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

import redis
from celery.beat import Scheduler
from django.conf import settings
from redis.exceptions import LockError, RedisError

logger = logging.getLogger(__name__)

LOCK_NAME = "casetracker:beat"


class BeatLock:
    """The lock one beat holds while it ticks (redis-py's Lock: a token and a time-out)."""

    def __init__(self, url: str, seconds: float, name: str = LOCK_NAME) -> None:
        self.client = redis.Redis.from_url(url)
        self.lock = self.client.lock(name, timeout=seconds, blocking=False)
        self.held = False

    def hold(self) -> bool:
        """Take the lock, or renew it for another full time-out; answer whether we hold it."""
        try:
            if self.held:
                try:
                    self.lock.reacquire()
                    return True
                except LockError:  # expired and perhaps taken by another beat meanwhile
                    self.held = False
                    logger.warning("beat lost its lock; standing by")
            self.held = bool(self.lock.acquire(blocking=False))
            if self.held:
                logger.info("beat holds the lock on %s: ticking", socket.gethostname())
        except RedisError:
            # Redis down: the broker is down too, so nothing could be sent anyway.
            logger.exception("beat cannot reach Redis for its lock; standing by")
            self.held = False
        return self.held

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(LockError, RedisError):
                self.lock.release()
            self.held = False


class LockedScheduler(Scheduler):
    """Celery's in-memory Scheduler, ticking only while this beat holds the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        url = settings.REDIS_URL
        self.beat_lock = BeatLock(url, settings.BEAT_LOCK_SECONDS) if url else None
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.beat_lock is not None and not self.beat_lock.hold():
            return float(settings.BEAT_STANDBY_SECONDS)
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        if self.beat_lock is not None:
            self.beat_lock.release()
