"""System checks of the reports: the days the figures are counted in.

The triggers of migration funds 0005 date every figure by its day in REPORT_ZONE
(funds.reports.figures). The reports read them by the local dates of settings.TIME_ZONE
("today", the periods asked for), so the two must be one zone, or every figure near
midnight would be reported on the wrong day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from funds.models.reports import REPORT_ZONE


def report_zone_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if settings.TIME_ZONE == REPORT_ZONE:
        return []
    return [
        Error(
            f"TIME_ZONE is {settings.TIME_ZONE!r}, but the report triggers count days in "
            f"{REPORT_ZONE!r}.",
            hint="Set TIME_ZONE to that zone, or redefine the triggers of migration funds 0005 "
            "for the new zone in a new migration and change REPORT_ZONE with them.",
            id="funds.E001",
        )
    ]
