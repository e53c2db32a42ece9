"""A Celery beat scheduler that cannot set up its schedule, as the shelve-backed default did
on Python 3.13 ("dbm.sqlite3.error: locking protocol"), for test_celery_integration."""

from celery import beat


class Scheduler(beat.Scheduler):
    def setup_schedule(self) -> None:
        raise RuntimeError("the schedule cannot be read")
