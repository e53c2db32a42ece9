"""Load the holidays and adjusted working days of one or more years from a file.

The file is CSV with a header ``date,kind,name``, or JSON, a list of objects with those
keys; ``kind`` is ``holiday`` (a day off) or ``working_day`` (a weekend that is worked,
调休上班); ``name`` is optional::

    date,kind,name
    2027-01-01,holiday,元旦
    2027-02-20,working_day,春节

Every year named in the file is replaced whole (a year's days not in the file are removed)
and marked complete, unless ``--incomplete``; the open R11 deadlines over it are
recomputed. Nothing is written unless the whole file is good.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from funds.errors import DomainError
from funds.models import CalendarSource
from funds.services.calendar import CalendarEntry, calendar_days_validate, calendar_year_set

KINDS = ("holiday", "working_day")


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) for each row of the file, ``where`` naming it in errors."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"Cannot read {path}: {error}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"{path} is not JSON: {error}") from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise CommandError(f"{path}: the JSON must be a list of objects with date, kind, name.")
        return [(f"item {n}", item) for n, item in enumerate(data, start=1)]
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"date", "kind"} <= set(reader.fieldnames):
        raise CommandError(f"{path}: the first line must be the header date,kind,name.")
    return [(f"line {n}", row) for n, row in enumerate(reader, start=2)]


def _entries(path: Path) -> dict[int, dict[str, list[CalendarEntry]]]:
    years: dict[int, dict[str, list[CalendarEntry]]] = defaultdict(lambda: {k: [] for k in KINDS})
    for where, row in _rows(path):
        try:
            day = date.fromisoformat(str(row.get("date") or "").strip())
        except ValueError:
            raise CommandError(
                f"{path}, {where}: {row.get('date')!r} is not a date YYYY-MM-DD."
            ) from None
        kind = str(row.get("kind") or "").strip()
        if kind not in KINDS:
            raise CommandError(f"{path}, {where}: the kind must be holiday or working_day.")
        name = str(row.get("name") or "").strip()
        years[day.year][kind].append(CalendarEntry(day, name))
    if not years:
        raise CommandError(f"{path} names no days.")
    return years


class Command(BaseCommand):
    help = "Replace whole years of the working-day calendar (R11) from a CSV or JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV (date,kind,name) or .json")
        parser.add_argument(
            "--incomplete",
            action="store_true",
            help="the years are not complete yet: their deadlines stay provisional",
        )
        parser.add_argument("--actor", help="the administrator's username to record")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        actor = None
        if options["actor"]:
            actor = User.objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"No user {options['actor']!r}.")
        years = _entries(path)
        for year, days in sorted(years.items()):
            try:
                calendar_days_validate(year, days["holiday"], days["working_day"])
            except DomainError as error:
                raise CommandError(f"{path}: {error.message}") from None
        try:
            # All years or none.
            with transaction.atomic():
                for year, days in sorted(years.items()):
                    change = calendar_year_set(
                        actor=actor,
                        year=year,
                        holidays=days["holiday"],
                        working_days=days["working_day"],
                        covered=not options["incomplete"],
                        source=CalendarSource.ADMINISTRATOR,
                    )
                    recomputed = change.data["recomputed_instructions"] if change else []
                    self.stdout.write(
                        f"{year}: {len(days['holiday'])} holidays, "
                        f"{len(days['working_day'])} adjusted working days, "
                        + (
                            "unchanged"
                            if change is None
                            else f"{len(recomputed)} deadlines recomputed"
                        )
                    )
        except DomainError as error:
            raise CommandError(error.message) from None
