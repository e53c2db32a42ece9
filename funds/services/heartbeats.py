"""Recording that periodic work finished, for the readiness check (casetracker.health)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from funds.models import Heartbeat, HeartbeatName


def heartbeat_record(*, name: HeartbeatName) -> None:
    """Note that ``name`` finished just now (wall-clock time, even for a sweep ``--at`` another
    moment: what matters is that the work runs). One upsert, safe for two workers at once."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=name, at=timezone.now())],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["at"],
    )


def heartbeats() -> dict[str, datetime]:
    return dict(Heartbeat.objects.values_list("name", "at"))
