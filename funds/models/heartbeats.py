from django.db import models
from django.utils.translation import gettext_lazy as _


class HeartbeatName(models.TextChoices):
    SWEEP = "sweep", _("Deadline sweep")


class Heartbeat(models.Model):
    """When each piece of periodic work last finished (wall-clock time), one row per piece:
    the readiness check (casetracker.health) reports work that has stopped running, such as
    a beat that died. (The report fold keeps its own time: ReportSummaryState.folded_at.)"""

    name = models.CharField(_("name"), primary_key=True, max_length=20, choices=HeartbeatName)
    at = models.DateTimeField(_("last finished at"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} @ {self.at:%Y-%m-%d %H:%M:%S}"
