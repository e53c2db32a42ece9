from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class DeadlineKind(models.TextChoices):
    """The clocks of DOMAIN.md; each row of Deadline is one clock running on one subject."""

    FIRST_STOP = "first_stop", _("First stop-payment (R13)")
    BANK_RESPONSE = "bank_response", _("Institution's answer (R1, R11, R14)")
    APPROVAL = "approval", _("Approval")
    STOP_LAPSE = "stop_lapse", _("Stop-payment lapse (R2)")
    RENEWAL = "renewal", _("Renewal filing (R6)")
    FREEZE_EXPIRY = "freeze_expiry", _("Freeze expiry (R5)")
    VERIFICATION = "verification", _("Verification of frozen funds (R8)")
    RELEASE = "release", _("Release of unrelated funds (R7)")


class FlagKind(models.TextChoices):
    FIRST_STOP_OVERDUE = "first_stop_overdue", _("First stop-payment late")
    BANK_RESPONSE_OVERDUE = "bank_response_overdue", _("Institution's answer late")
    STOP_LAPSING = "stop_lapsing", _("Stop-payment about to lapse")
    STOP_LAPSED = "stop_lapsed", _("Stop-payment lapsed")
    RENEWAL_DUE = "renewal_due", _("Renewal due")
    FREEZE_EXPIRED = "freeze_expired", _("Freeze expired")
    VERIFICATION_OVERDUE = "verification_overdue", _("Verification late")
    RELEASE_OVERDUE = "release_overdue", _("Release late")
    APPROVAL_OVERDUE = "approval_overdue", _("Approval late")


class FlagLevel(models.TextChoices):
    WARNING = "warning", _("Warning")
    OVERDUE = "overdue", _("Overdue")


# Which flag a deadline raises at its warning time and at its due time (None: no flag).
FLAG_FOR = {
    DeadlineKind.FIRST_STOP: (FlagKind.FIRST_STOP_OVERDUE, FlagKind.FIRST_STOP_OVERDUE),
    DeadlineKind.BANK_RESPONSE: (FlagKind.BANK_RESPONSE_OVERDUE, FlagKind.BANK_RESPONSE_OVERDUE),
    DeadlineKind.APPROVAL: (FlagKind.APPROVAL_OVERDUE, FlagKind.APPROVAL_OVERDUE),
    DeadlineKind.STOP_LAPSE: (FlagKind.STOP_LAPSING, FlagKind.STOP_LAPSED),
    DeadlineKind.RENEWAL: (FlagKind.RENEWAL_DUE, FlagKind.RENEWAL_DUE),
    DeadlineKind.FREEZE_EXPIRY: (None, FlagKind.FREEZE_EXPIRED),
    DeadlineKind.VERIFICATION: (FlagKind.VERIFICATION_OVERDUE, FlagKind.VERIFICATION_OVERDUE),
    DeadlineKind.RELEASE: (FlagKind.RELEASE_OVERDUE, FlagKind.RELEASE_OVERDUE),
}


class Deadline(models.Model):
    """One legal clock on a case or an instruction: when it warns, when it falls due.

    Opened and closed by the services in the same transaction as the change that starts or
    stops the clock; read by the periodic sweep (funds.tasks.sweep_deadlines, through
    funds.services.sweep), which raises flags and applies lapses and expiries. The partial
    indexes cover only open clocks, so the sweep's cost follows what is due, not history.
    """

    kind = models.CharField(_("kind"), max_length=20, choices=DeadlineKind.choices)
    case = models.ForeignKey("funds.Case", on_delete=models.CASCADE, related_name="deadlines")
    instruction = models.ForeignKey(
        "funds.Instruction",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deadlines",
    )
    warn_at = models.DateTimeField(_("warning at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"))
    opened_at = models.DateTimeField(_("opened at"))
    # Set when the thing was done (or the clock no longer applies); resolves its flags.
    met_at = models.DateTimeField(_("met at"), null=True, blank=True)
    # Set when the sweep applied what the law does at the due time (a stop lapses, a freeze
    # ends); the clock stays open, and its flag with it, until someone acts.
    lapsed_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    # Claims of the sweep (compare-and-set): the warning and the overdue flag were raised.
    # Once set, the row drops out of the partial indexes the sweep reads, so a pass costs
    # what is newly due, not everything still open.
    warning_raised_at = models.DateTimeField(null=True, blank=True)
    overdue_raised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("deadline")
        verbose_name_plural = _("deadlines")
        indexes = [
            # Read by funds.services.sweep (the periodic task funds.tasks.sweep_deadlines).
            models.Index(
                fields=["warn_at"],
                name="deadline_to_warn",
                condition=Q(
                    met_at__isnull=True, warning_raised_at__isnull=True, warn_at__isnull=False
                ),
            ),
            models.Index(
                fields=["due_at"],
                name="deadline_to_flag_overdue",
                condition=Q(met_at__isnull=True, overdue_raised_at__isnull=True),
            ),
            models.Index(
                fields=["due_at"],
                name="deadline_to_lapse",
                condition=Q(
                    met_at__isnull=True,
                    lapsed_at__isnull=True,
                    kind__in=["stop_lapse", "freeze_expiry"],
                ),
            ),
            models.Index(fields=["instruction", "kind"], name="deadline_instruction_kind"),
            models.Index(fields=["case", "kind"], name="deadline_case_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(warn_at__isnull=True) | Q(warn_at__lte=F("due_at")),
                name="deadline_warns_before_due",
            ),
            # One open clock of a kind per subject (a case, or an instruction).
            models.UniqueConstraint(
                fields=["kind", "case"],
                condition=Q(met_at__isnull=True, instruction__isnull=True),
                name="deadline_one_open_per_case",
            ),
            models.UniqueConstraint(
                fields=["kind", "instruction"],
                condition=Q(met_at__isnull=True, instruction__isnull=False),
                name="deadline_one_open_per_instruction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} due {self.due_at:%Y-%m-%d %H:%M}"


class Flag(models.Model):
    """A deadline close or past: raised by the sweep once per deadline and level."""

    deadline = models.ForeignKey(Deadline, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(_("kind"), max_length=24, choices=FlagKind.choices)
    level = models.CharField(_("level"), max_length=8, choices=FlagLevel.choices)
    case = models.ForeignKey("funds.Case", on_delete=models.CASCADE, related_name="flags")
    instruction = models.ForeignKey(
        "funds.Instruction", on_delete=models.CASCADE, null=True, blank=True, related_name="flags"
    )
    due_at = models.DateTimeField(_("due at"))
    raised_at = models.DateTimeField(_("raised at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    # Escalation of an overdue flag left open, one level of the police tree at a time
    # (funds.services.sweep, settings.FUND_RULES["ESCALATION_STEPS"]): how many steps were
    # taken, when the last was, the highest unit whose managers were told (escalation goes
    # on above it; the case's unit when empty) and when the next step falls due (empty
    # once the province was reached or nobody above is left to tell).
    escalation_step = models.PositiveSmallIntegerField(_("escalation step"), default=0)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    reached_unit = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("reached unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    next_escalation_at = models.DateTimeField(_("next escalation at"), null=True, blank=True)

    class Meta:
        verbose_name = _("flag")
        verbose_name_plural = _("flags")
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["case", "-raised_at"], name="flag_case"),
            models.Index(
                fields=["raised_at"], name="flag_open", condition=Q(resolved_at__isnull=True)
            ),
            # Read by funds.services.sweep (the periodic task funds.tasks.sweep_deadlines).
            models.Index(
                fields=["next_escalation_at"],
                name="flag_to_escalate",
                condition=Q(resolved_at__isnull=True, next_escalation_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["deadline", "level"], name="flag_once_per_deadline_and_level"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.level}"


class FlagEscalation(models.Model):
    """One step of a flag's escalation: the unit whose managers were told, and when.

    Written by the sweep with the step's notifications and its ``flag_escalated`` audit
    event; shown on the flag (API and case page).
    """

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="escalations")
    step = models.PositiveSmallIntegerField(_("step"))
    unit = models.ForeignKey(
        "accounts.Organization", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("flag escalation")
        verbose_name_plural = _("flag escalations")
        ordering = ["flag", "step"]
        constraints = [
            models.UniqueConstraint(fields=["flag", "step"], name="flag_escalation_once_per_step"),
            models.UniqueConstraint(fields=["flag", "unit"], name="flag_escalation_once_per_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.flag_id} step {self.step} -> {self.unit_id}"


class NotificationReason(models.TextChoices):
    # Of a flag (funds.services.sweep).
    WARNING = "warning", _("Warning")
    RAISED = "raised", _("Overdue")
    ESCALATED = "escalated", _("Escalated")
    # Of an instruction (funds.services.notifications).
    NEW_INSTRUCTION = "new_instruction", _("New request")
    FREEZE_IN_FORCE = "freeze_in_force", _("Queued freeze in force")
    # To the requesting officer (funds.services.approvals).
    SENT_BACK = "sent_back", _("Sent back for correction")
    DECLINED = "declined", _("Declined at approval")
    # Of a periodic report (funds.reports.periodic).
    REPORT = "report", _("Report ready")


FLAG_REASONS = [NotificationReason.WARNING, NotificationReason.RAISED, NotificationReason.ESCALATED]
INSTRUCTION_REASONS = [
    NotificationReason.NEW_INSTRUCTION,
    NotificationReason.FREEZE_IN_FORCE,
    NotificationReason.SENT_BACK,
    NotificationReason.DECLINED,
]


class Notification(models.Model):
    """One person told of one thing, in the page and (when they have an address) by mail;
    never twice for a reason.

    The thing is exactly one of a flag, an instruction or a periodic report, each with the
    reasons of its own (the check constraint). Exactly one, not at least one: a flag's
    notice reaches its instruction through ``flag.instruction`` already, and a notice with
    two subjects would fall under two uniqueness rules at once. Escalation climbs strictly
    upwards, one unit per step, so a manager is reached at one step at most and (flag,
    recipient, reason) stays unique across the steps.

    Every notice is in the page whatever mail does (intranets often have none); its mail, if
    any, is a row of the outbox (funds.models.mail.OutgoingMail) written in the same
    transaction, and ``mailed_at`` is set when that mail was handed to the mail server.
    """

    flag = models.ForeignKey(
        Flag, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    instruction = models.ForeignKey(
        "funds.Instruction",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    report = models.ForeignKey(
        "funds.PeriodicReport",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=NotificationReason.choices)
    created_at = models.DateTimeField(_("created at"))
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    mailed_at = models.DateTimeField(_("mailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    flag__isnull=False,
                    instruction__isnull=True,
                    report__isnull=True,
                    reason__in=FLAG_REASONS,
                )
                | Q(
                    flag__isnull=True,
                    instruction__isnull=False,
                    report__isnull=True,
                    reason__in=INSTRUCTION_REASONS,
                )
                | Q(
                    flag__isnull=True,
                    instruction__isnull=True,
                    report__isnull=False,
                    reason=NotificationReason.REPORT,
                ),
                name="notification_one_subject",
            ),
            # Partial, one per subject: the sweep's INSERT ... ON CONFLICT names the flag's.
            models.UniqueConstraint(
                fields=["flag", "recipient", "reason"],
                condition=Q(flag__isnull=False),
                name="notification_once_per_flag_recipient_reason",
            ),
            models.UniqueConstraint(
                fields=["instruction", "recipient", "reason"],
                condition=Q(instruction__isnull=False),
                name="notification_once_per_instruction_recipient_reason",
            ),
            models.UniqueConstraint(
                fields=["report", "recipient", "reason"],
                condition=Q(report__isnull=False),
                name="notification_once_per_report_recipient_reason",
            ),
        ]

    def __str__(self) -> str:
        subject = self.flag_id or self.instruction_id or self.report_id
        return f"{self.reason} {subject} -> {self.recipient_id}"

    @property
    def case_id(self) -> int | None:
        """The case the notice is about (none for a report)."""
        subject = self.flag or self.instruction
        return subject.case_id if subject is not None else None

    @property
    def case_number(self) -> str | None:
        subject = self.flag or self.instruction
        return subject.case.number if subject is not None else None

    @property
    def headline(self) -> str:
        """The notice in a line, in the active language, for the bell and the notices page."""
        from funds.notices import notice_headline

        return notice_headline(self)

    @property
    def url(self) -> str:
        """Where the notice leads: the report's page, a liaison's inbox, else the case page."""
        from funds.notices import notice_url

        return notice_url(self)
