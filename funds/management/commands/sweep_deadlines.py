"""Run the deadline sweep once, as of now or of ``--at``: the same code as the periodic task."""

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from funds import acting_time
from funds.services.sweep import sweep_run


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(
            f"--at {value!r} is not an ISO 8601 time, e.g. 2026-11-23T09:30:00+08:00"
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # read in Asia/Shanghai
    return moment


class Command(BaseCommand):
    help = "Raise and resolve deadline flags, lapse stop-payments, expire freezes, send notices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--at", type=_moment, help="sweep as of this ISO 8601 time (default: now)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        at = options["at"] or timezone.now()
        if isinstance(at, str):  # call_command(at="...") skips the argument parser
            at = _moment(at)
        with acting_time.acting_at(at):
            result = sweep_run()
        self.stdout.write(
            f"Swept as of {timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}: "
            + ", ".join(f"{k} {v}" for k, v in result.items())
        )
