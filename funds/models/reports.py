"""Reports: the maintained totals and speed samples they read, and the periodic reports kept.

The totals and speed reports do not scan cases and instructions at request time. Database
triggers (migration funds 0005, PostgreSQL) write what every change of a case, victim,
instruction or flag adds to or takes from the figures:

* ``TotalsChange``: one row per statement and (local day, case's unit, institution), the
  difference the statement made; appended only, so writers never wait on each other;
* ``SpeedSample``: one measured interval (report to first stop-payment, request to the
  bank's answer, stop to freeze, freeze to return) as soon as it ends.

The periodic task funds.tasks.refresh_reports folds the changes into ``ReportTotal``, rolled
up to every unit above the case's unit, by day and by month. A report reads the folded
totals of the few units and periods it needs plus the changes not yet folded, in one
statement, so it is exact at every moment and its cost follows the tree and the number of
periods, not the number of instructions. docs/reports.md explains the design.
"""

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from funds.models.money import money_field

# The zone whose days the triggers count in (migration funds 0005). settings.TIME_ZONE must
# be the same zone: the system check funds.E001 (funds.reports.checks) refuses another.
REPORT_ZONE = "Asia/Shanghai"


class FigureColumns(models.Model):
    """The additive figures of the totals report, for one key (abstract).

    Rows without an institution carry what belongs to the case (``cases``: cases reported,
    ``loss``) and the overdue flags that are not a bank's; rows with an institution carry
    what was asked of and done by it, and ``cases`` counts the cases it was asked about.
    """

    cases = models.IntegerField(default=0)
    loss = money_field(_("loss"))
    stop_requested_count = models.IntegerField(default=0)
    stop_requested_amount = money_field(_("stop-payment requested"))
    stopped_count = models.IntegerField(default=0)
    stopped_amount = money_field(_("stopped"))
    frozen_count = models.IntegerField(default=0)
    frozen_amount = money_field(_("frozen"))
    released_count = models.IntegerField(default=0)
    released_amount = money_field(_("released"))
    returned_count = models.IntegerField(default=0)
    returned_amount = money_field(_("returned"))
    # Of the money frozen that day, what is still held now.
    held = money_field(_("held"))
    # R12: of the freezes asked for that day, those still waiting behind another case's
    # (not yet confirmed by the bank as holding), and the amounts they wait for.
    queued_count = models.IntegerField(default=0)
    queued_amount = money_field(_("queued"))
    # Overdue flags raised that day, and how many of them are still open now.
    overdue_flags = models.IntegerField(default=0)
    overdue_open = models.IntegerField(default=0)

    class Meta:
        abstract = True


class TotalsGrain(models.TextChoices):
    DAY = "day", _("Day")
    MONTH = "month", _("Month")


class ReportTotal(FigureColumns):
    """The figures of ``unit``'s whole subtree for one day or month, per institution.

    Written only by funds.reports.folding (folding TotalsChange rows, or a rebuild).
    """

    # Indexed by the unique key below, which leads with the unit.
    unit = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, db_index=False, related_name="+"
    )
    institution = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        null=True,
        db_index=False,
        related_name="+",
    )
    grain = models.CharField(max_length=5, choices=TotalsGrain.choices)
    # The day, or the first day of the month.
    start = models.DateField()

    class Meta:
        verbose_name = _("report total")
        verbose_name_plural = _("report totals")
        constraints = [
            # Also the index every report reads: a few units, one grain, a range of periods.
            models.UniqueConstraint(
                "unit",
                "grain",
                "start",
                Coalesce("institution", Value(0)),
                name="report_total_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.grain} {self.start}"


class TotalsChange(FigureColumns):
    """What one statement changed in the figures of a day, a unit and an institution.

    Appended by the triggers of migration funds 0005; folded into ReportTotal and deleted
    by funds.tasks.refresh_reports.
    """

    day = models.DateField()
    unit = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    institution = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("totals change")
        verbose_name_plural = _("totals changes")

    def __str__(self) -> str:
        return f"{self.day} {self.unit_id}/{self.institution_id}"


class SpeedMeasure(models.TextChoices):
    FIRST_STOP = "first_stop", _("Report to first stop-payment request")
    STOP_ANSWER = "stop_answer", _("Stop-payment request to the bank's answer")
    FREEZE_ANSWER = "freeze_answer", _("Freeze sent to the bank's answer")
    RETURN_ANSWER = "return_answer", _("Return sent to the bank's answer")
    STOP_TO_FREEZE = "stop_to_freeze", _("Stop-payment to freeze")
    FREEZE_TO_RETURN = "freeze_to_return", _("Freeze to first return")


class SpeedSample(models.Model):
    """One measured interval, written by the triggers of migration funds 0005 when it ends.

    ``subject_id`` is what was measured: the case (first_stop), the instruction (the three
    answers), the involved account (stop_to_freeze) or the freeze (freeze_to_return).
    ``day`` is the local day the interval started, which is the period it is reported in.
    """

    measure = models.CharField(max_length=20, choices=SpeedMeasure.choices)
    subject_id = models.BigIntegerField()
    case = models.ForeignKey(
        "funds.Case",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    unit = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    institution = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    started_at = models.DateTimeField()
    day = models.DateField()
    seconds = models.BigIntegerField()

    class Meta:
        verbose_name = _("speed sample")
        verbose_name_plural = _("speed samples")
        indexes = [
            # The speed report reads a range of days; the index alone answers it (an
            # index-only scan over all its key columns).
            models.Index(
                fields=["day", "measure", "unit", "institution", "seconds"],
                name="speed_sample_day",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["measure", "subject_id"], name="speed_sample_once"),
            models.CheckConstraint(condition=Q(seconds__gte=0), name="speed_sample_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.measure} #{self.subject_id}: {self.seconds}s"


class ReportSummaryState(models.Model):
    """The one row that says what the folded totals were built against.

    ``unit_paths`` are the police tree's paths when ReportTotal was last rebuilt: a unit moved
    since then (its subtree totals belong elsewhere) makes the next refresh rebuild. The
    triggers set ``stale`` when a case changes unit or report time (no service does that).
    """

    unit_paths = models.JSONField(default=dict)
    stale = models.BooleanField(default=True)
    rebuilt_at = models.DateTimeField(null=True)
    folded_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("report summary state")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="report_state_one_row")]

    def __str__(self) -> str:
        return f"rebuilt {self.rebuilt_at}, folded {self.folded_at}"


class ReportKind(models.TextChoices):
    DAILY = "daily", _("Daily report")
    WEEKLY = "weekly", _("Weekly report")
    MONTHLY = "monthly", _("Monthly report")


class PeriodicReport(models.Model):
    """A daily, weekly or monthly report of one unit's subtree, kept as generated.

    Generated once per unit, kind and period (funds.reports.periodic, run by Celery beat);
    generating it again changes nothing. Told once to the unit's managers after commit: a
    notice each and the mail of the outbox, written under a compare-and-set claim on
    ``mail_claimed_at``; ``mailed_at`` is when the first of its mails was sent.
    """

    unit = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("unit"),
        on_delete=models.CASCADE,
        related_name="periodic_reports",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=ReportKind.choices)
    period_start = models.DateField(_("first day"))
    period_end = models.DateField(_("last day"))
    generated_at = models.DateTimeField(_("generated at"))
    figures = models.JSONField(_("figures"))
    mail_claimed_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(_("mailed at"), null=True, blank=True)
    mail_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("periodic report")
        verbose_name_plural = _("periodic reports")
        ordering = ["-period_start", "kind", "unit_id"]
        indexes = [
            models.Index(fields=["unit", "-period_start"], name="periodic_report_unit"),
            models.Index(
                fields=["generated_at"],
                name="periodic_report_unmailed",
                condition=Q(mail_claimed_at__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "kind", "period_start"], name="periodic_report_once"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="periodic_report_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.unit_id} {self.period_start}"
