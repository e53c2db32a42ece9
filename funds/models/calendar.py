from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from funds.models.append_only import AppendOnly


class CalendarSource(models.TextChoices):
    LIBRARY = "library", _("chinesecalendar package")
    ADMINISTRATOR = "administrator", _("Entered by an administrator")


class CalendarYear(models.Model):
    """One year of the Chinese working-day calendar (R11), and whether it is complete.

    Its days (CalendarDay) are the exceptions to Monday-Friday. A year without a row, or
    with ``covered`` off, counts Monday-Friday provisionally (funds.working_days). Changed
    only by funds.services.calendar, which recomputes the deadlines that depend on it.
    """

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    covered = models.BooleanField(
        _("schedule complete"),
        default=False,
        help_text=_("The State Council's holidays and adjusted working days are all entered."),
    )
    source = models.CharField(_("source"), max_length=16, choices=CalendarSource.choices)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(year__gte=2000, year__lte=2100), name="calendaryear_plausible"
            ),
        ]

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A public holiday (off) or an adjusted working day (调休上班, a weekend that works)."""

    year = models.ForeignKey(CalendarYear, on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(_("working day"))
    name = models.CharField(_("name"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]
        constraints = [
            models.CheckConstraint(condition=Q(date__year=F("year")), name="calendarday_in_year"),
            # An adjusted working day is a weekend (Sunday 1, Saturday 7); a weekday that
            # works needs no row.
            models.CheckConstraint(
                condition=Q(is_working_day=False) | Q(date__week_day__in=[1, 7]),
                name="calendarday_working_day_is_a_weekend",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class CalendarChange(AppendOnly):
    """One change of a calendar year: who, when, the days before and after, and the
    deadlines recomputed. The audit trail of the calendar, which belongs to no case (the
    recomputed deadlines are also recorded on their cases, as ``deadline_recomputed``).
    Never edited, never deleted."""

    year = models.ForeignKey(CalendarYear, on_delete=models.PROTECT, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Empty for the system (a migration or a command)."),
    )
    at = models.DateTimeField(_("at"))
    data = models.JSONField(_("data"), default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("calendar change")
        verbose_name_plural = _("calendar changes")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.year_id} @ {self.at:%Y-%m-%d %H:%M}"
