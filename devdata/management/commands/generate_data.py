"""Generate a province of cases for benchmarks: ``generate_data --cases N [--seed S]``."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from devdata.generate import generate


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"--now {value!r} is not an ISO 8601 time")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Add N generated cases with their whole history (about five instructions each), and "
        "the units and users they need, in bulk. For benchmarks: no audit trail is written. "
        "Refuses to run while DEBUG is off unless given --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, required=True, help="how many cases to add")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--days", type=int, default=365, help="spread the reports over this many days"
        )
        parser.add_argument("--now", type=_moment, help="the history ends here (default: now)")
        parser.add_argument(
            "--cities", type=int, default=16, help="in the first N of the 16 cities (default 16)"
        )
        parser.add_argument(
            "--force", action="store_true", help="generate even with DEBUG off (a benchmark box)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Generated cases, units and the demo users (with the published password) have no
        # place in a production database: checked before anything is written.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: nothing was generated. Set DEBUG=1 on a development or benchmark "
                "database, or pass --force."
            )
        if options["cases"] < 1 or options["days"] < 1 or not 1 <= options["cities"] <= 16:
            raise CommandError("--cases and --days must be at least 1, --cities 1 to 16.")
        result = generate(
            cases=options["cases"],
            seed=options["seed"],
            days=options["days"],
            now=options["now"],
            cities=options["cities"],
            progress=lambda line: self.stderr.write(line) if options["verbosity"] > 1 else None,
        )
        self.stdout.write(self.style.SUCCESS(f"Generated {result}."))
