from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext_lazy as _

from funds.models.money import ZERO, money_field


class InstructionKind(models.TextChoices):
    STOP_PAYMENT = "stop_payment", _("Stop-payment")
    FREEZE = "freeze", _("Freeze")
    RENEWAL = "renewal", _("Renewal")
    RELEASE = "release", _("Release")
    RETURN = "return", _("Return")


class InstructionStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    PENDING = "pending", _("Pending at the institution")
    EXECUTED = "executed", _("Executed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    # Refused by the approving manager (驳回), with a reason; the request never went out.
    DECLINED = "declined", _("Declined at approval")


OPEN_STATUSES = (InstructionStatus.AWAITING_APPROVAL, InstructionStatus.PENDING)
# R12: a queued freeze still in line, not yet confirmed by the bank as holding money
# (Instruction.waiting_in_queue; the report triggers of migration 0018 test the same).
WAITING_IN_QUEUE = Q(
    kind="freeze", queued=True, hold_confirmed_at__isnull=True, ended_at__isnull=True
) & (Q(status__in=OPEN_STATUSES) | Q(status="executed", executed_amount__gt=0))


# A liaison's inbox, most urgent first (funds.selectors.instruction_list): what waits for the
# bank, soonest due first, then the rest, newest first. The index instruction_liaison_inbox
# holds the rows in exactly this order, so that a page is read from it and the next page
# starts where the last one ended (funds.api.pagination.InboxPagination). The due time is
# never null in the key (a row comparison with a null is null): no due time sorts last.
INBOX_WAITING = Case(
    When(status="pending", then=Value(0)), default=Value(1), output_field=IntegerField()
)
NO_DUE_TIME = Cast(Value("infinity"), output_field=models.DateTimeField())
INBOX_DUE = Coalesce(F("response_due_at"), NO_DUE_TIME)
# What a bank's institution has been sent (funds.access.instructions_visible_to).
SENT_TO_INSTITUTION = Q(kind="stop_payment") | Q(approved_at__isnull=False)


class InstrumentSource(models.TextChoices):
    """Where an instruction's instrument number comes from (docs/documents.md)."""

    ISSUED = "issued", _("Issued by casetracker")
    ENTERED = "entered", _("Issued elsewhere, entered by the officer")
    # Instructions from before numbering (funds 0031): their numbers stay as they were typed.
    LEGACY = "legacy", _("Typed before numbering")


NUMBERED = ("issued", "entered")


class EndReason(models.TextChoices):
    """Why an executed stop-payment or freeze is no longer in force."""

    LAPSED = "lapsed", _("Lapsed after its term (R2)")
    SUPERSEDED = "superseded", _("Superseded by a freeze")
    EXPIRED = "expired", _("Expired without renewal (R5)")
    EMPTIED = "emptied", _("Everything released or returned")
    NOTHING_LEFT = "nothing_left", _("Nothing left to hold when its turn came (R12)")


class Instruction(models.Model):
    """A request from a police unit to the institution that holds an account.

    Stop-payments, freezes, renewals, releases and returns share this table; the rules of
    each kind live in funds.services.instructions and the allowed transitions in
    funds.transitions.
    """

    case = models.ForeignKey("funds.Case", on_delete=models.CASCADE, related_name="instructions")
    # The column keeps its first name: the report triggers of migration funds 0005 read it.
    involved_account = models.ForeignKey(
        "funds.InvolvedAccount",
        on_delete=models.CASCADE,
        related_name="instructions",
        db_column="involved_id",
    )
    # The addressed institution, copied from the account so that a liaison's inbox is one
    # indexed lookup.
    institution = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=InstructionKind.choices)
    status = models.CharField(_("status"), max_length=20, choices=InstructionStatus.choices)
    requested_amount = money_field(_("requested amount"), default=None)
    executed_amount = money_field(_("executed amount"), default=None, null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    response_due_at = models.DateTimeField(_("answer due at"), null=True, blank=True)
    # R11: the due time was counted over days of a year whose calendar is not entered yet
    # (funds.working_days); recomputed when the calendar changes (funds.services.calendar).
    deadline_provisional = models.BooleanField(
        _("deadline provisional"),
        default=False,
        help_text=_(
            "R11: the answer deadline was counted over days whose public holidays are not "
            "entered yet (Monday to Friday assumed); it is recomputed when they are."
        ),
    )
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    responded_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)
    reject_reason = models.TextField(_("reason for rejection"), blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    # The approval (funds.services.approvals): the approver's opinion (审批意见); a decline
    # (驳回) with its reason; a send-back (退回) waits, still awaiting approval, for the
    # officer's correction and resubmission. Every step is an audit event too.
    # Database defaults, so that bulk writers naming their columns (generate_data's COPY)
    # need not name these.
    approval_opinion = models.TextField(_("approval opinion"), blank=True, db_default="")
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    declined_at = models.DateTimeField(_("declined at"), null=True, blank=True)
    decline_reason = models.TextField(_("reason for declining"), blank=True, db_default="")
    sent_back_at = models.DateTimeField(_("sent back for correction at"), null=True, blank=True)
    instrument_number = models.CharField(_("legal instrument number"), max_length=64, blank=True)
    # The unit whose numbering the instrument number belongs to (funds.services.documents):
    # numbers are unique per issuing unit and kind. Empty on instructions from before
    # numbering (funds 0030), whose free-text numbers are kept as they were typed.
    issuing_unit = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issuing unit"),
    )
    instrument_source = models.CharField(
        _("instrument number from"), max_length=8, choices=InstrumentSource.choices, blank=True
    )
    term_months = models.PositiveSmallIntegerField(_("term in months"), null=True, blank=True)
    freeze = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="follow_ups",
        help_text=_("The freeze that a renewal, release or return acts on."),
    )
    victim = models.ForeignKey(
        "funds.Victim", on_delete=models.PROTECT, null=True, blank=True, related_name="returns"
    )
    reason = models.TextField(_("reason"), blank=True)
    # R12: when requested, another case held the account's funds frozen (or had a freeze on
    # it waiting), so this freeze waits its turn (轮候冻结, funds.services.freeze_queue).
    queued = models.BooleanField(_("queued behind another freeze"), default=False)
    # When a stop-payment or freeze took hold: its execution, or for a queued freeze the
    # moment the freezes ahead of it ended. Its term (R2, R5) runs from here.
    effective_from = models.DateTimeField(_("in force from"), null=True, blank=True)
    effective_until = models.DateTimeField(_("in force until"), null=True, blank=True)
    # On a freeze: when the institution confirmed the amount it holds. A freeze that takes
    # hold at its execution is confirmed by that answer; a queued one, whose earlier answer
    # only registered it in the queue, by a second answer once it takes effect
    # (funds.services.instructions.freeze_confirm_hold). Only confirmed money is frozen.
    hold_confirmed_at = models.DateTimeField(_("hold confirmed at"), null=True, blank=True)
    hold_reference = models.CharField(_("bank reference of the hold"), max_length=64, blank=True)
    # When the officer and the liaisons were told that a queued freeze took effect.
    effect_notified_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(
        _("end reason"), max_length=16, choices=EndReason.choices, blank=True
    )
    # On a freeze: R8, the funds verified as linked to the case; R7, found unrelated.
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unrelated_found_at = models.DateTimeField(_("found unrelated at"), null=True, blank=True)
    # When the institution's liaisons were told of this instruction (funds.services.notifications).
    institution_notified_at = models.DateTimeField(null=True, blank=True)
    # On a freeze: what executed releases and returns have taken out of it.
    released_amount = money_field(_("released"))
    returned_amount = money_field(_("returned"))

    class Meta:
        verbose_name = _("instruction")
        verbose_name_plural = _("instructions")
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["case", "kind"], name="instruction_case_kind"),
            models.Index(
                fields=["institution", "response_due_at"],
                name="instruction_inbox",
                condition=Q(status="pending"),
            ),
            # R12: the freezes still in line or in force on each bank account are found
            # through their involved account; this keeps "who is waiting" one probe.
            models.Index(
                fields=["involved_account", "id"],
                name="instruction_live_freeze",
                condition=Q(kind="freeze", ended_at__isnull=True)
                & Q(status__in=["awaiting_approval", "pending", "executed"]),
            ),
            models.Index(fields=["institution", "status"], name="instruction_institution_status"),
            models.Index(
                F("institution"),
                INBOX_WAITING,
                INBOX_DUE,
                F("requested_at").desc(),
                F("id").desc(),
                name="instruction_liaison_inbox",
                condition=SENT_TO_INSTITUTION,
            ),
            # R12: the freezes registered in line, read by every sweep
            # (funds.services.freeze_queue.queues_advance_all).
            models.Index(
                fields=["involved_account"],
                name="instruction_registered_in_line",
                condition=Q(
                    kind="freeze",
                    status="executed",
                    effective_from__isnull=True,
                    ended_at__isnull=True,
                    executed_amount__gt=0,
                ),
            ),
            # Read by funds.services.notifications.catch_up_queue_effects (the sweep).
            models.Index(
                fields=["effective_from"],
                name="instruction_effect_unnotified",
                condition=Q(queued=True, effect_notified_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(requested_amount__gt=0), name="instruction_requested_positive"
            ),
            models.CheckConstraint(
                condition=Q(executed_amount__isnull=True)
                | Q(executed_amount__gte=0) & Q(executed_amount__lte=F("requested_amount")),
                name="instruction_executed_within_requested",
            ),
            models.CheckConstraint(
                condition=~Q(status=InstructionStatus.EXECUTED)
                | Q(executed_amount__isnull=False, responded_at__isnull=False),
                name="instruction_executed_has_answer",
            ),
            models.CheckConstraint(
                condition=~Q(status=InstructionStatus.REJECTED)
                | Q(responded_at__isnull=False) & ~Q(reject_reason=""),
                name="instruction_rejected_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        InstructionKind.RENEWAL,
                        InstructionKind.RELEASE,
                        InstructionKind.RETURN,
                    ],
                    freeze__isnull=False,
                )
                | Q(
                    kind__in=[InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE],
                    freeze__isnull=True,
                ),
                name="instruction_follow_up_names_its_freeze",
            ),
            models.CheckConstraint(
                condition=~Q(status=InstructionStatus.DECLINED)
                | Q(declined_at__isnull=False, declined_by__isnull=False, approved_at__isnull=True)
                & ~Q(decline_reason=""),
                name="instruction_declined_has_reason",
            ),
            # Sent back is a pause of the approval, nothing else.
            models.CheckConstraint(
                condition=Q(sent_back_at__isnull=True)
                | Q(status=InstructionStatus.AWAITING_APPROVAL),
                name="instruction_sent_back_awaits_approval",
            ),
            models.CheckConstraint(
                condition=~Q(kind=InstructionKind.RETURN) | Q(victim__isnull=False),
                name="instruction_return_names_a_victim",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=[InstructionKind.FREEZE, InstructionKind.RENEWAL])
                | Q(term_months__gte=1, term_months__isnull=False),
                name="instruction_freeze_has_term",
            ),
            # "" until numbered; issued or entered, a number of an issuing unit; legacy, as typed.
            models.CheckConstraint(
                condition=Q(instrument_source="", instrument_number="", issuing_unit__isnull=True)
                | Q(instrument_source="legacy", issuing_unit__isnull=True)
                | Q(instrument_source__in=NUMBERED, issuing_unit__isnull=False)
                & ~Q(instrument_number=""),
                name="instruction_numbered_by_a_unit",
            ),
            # The bank acts on a numbered instrument: a stop-payment from its request on,
            # every other kind from its approval on (R4).
            models.CheckConstraint(
                condition=~Q(instrument_source="")
                | Q(approved_at__isnull=True) & ~Q(kind=InstructionKind.STOP_PAYMENT),
                name="instruction_numbered_once_issued",
            ),
            # Numbers are unique per issuing unit and kind; a request that never went out
            # (cancelled or declined before approval) gives an entered number up again.
            models.UniqueConstraint(
                fields=["issuing_unit", "kind", "instrument_number"],
                condition=Q(instrument_source__in=NUMBERED)
                & ~(
                    Q(status__in=["cancelled", "declined"], approved_at__isnull=True)
                    & ~Q(kind="stop_payment")
                ),
                name="instruction_instrument_number_unique",
            ),
            models.CheckConstraint(
                condition=Q(released_amount__gte=0)
                & Q(returned_amount__gte=0)
                & Q(
                    released_amount__lte=Coalesce(F("executed_amount"), ZERO) - F("returned_amount")
                ),
                name="instruction_taken_out_within_frozen",
            ),
            # One open stop-payment and one open freeze per involved account at a time.
            models.UniqueConstraint(
                fields=["involved_account", "kind"],
                condition=Q(
                    kind__in=["stop_payment", "freeze"], status__in=["awaiting_approval", "pending"]
                ),
                name="instruction_one_open_stop_or_freeze",
            ),
            models.CheckConstraint(
                condition=Q(hold_confirmed_at__isnull=True)
                | Q(kind=InstructionKind.FREEZE, effective_from__isnull=False),
                name="instruction_hold_confirmed_once_in_force",
            ),
            models.CheckConstraint(
                condition=Q(effective_from__isnull=True) | Q(status=InstructionStatus.EXECUTED),
                name="instruction_in_force_only_when_executed",
            ),
            # One open renewal per freeze.
            models.UniqueConstraint(
                fields=["freeze"],
                condition=Q(kind="renewal", status__in=["awaiting_approval", "pending"]),
                name="instruction_one_open_renewal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def waiting_in_queue(self) -> bool:
        """A queued freeze that has not taken hold yet (R12): counted as ``queued``."""
        return waiting_in_queue(self)

    @property
    def held_amount(self) -> Decimal:
        """On an executed freeze: what it still holds."""
        return (self.executed_amount or ZERO) - self.released_amount - self.returned_amount


def waiting_in_queue(instruction: Any) -> bool:
    """R12: ``instruction`` (a model or anything with its attributes) is a queued freeze
    still in line or not yet confirmed as holding: the test of WAITING_IN_QUEUE."""
    return bool(
        instruction.kind == InstructionKind.FREEZE
        and instruction.queued
        and instruction.hold_confirmed_at is None
        and instruction.ended_at is None
        and (
            instruction.status in OPEN_STATUSES
            or (instruction.status == InstructionStatus.EXECUTED and instruction.executed_amount)
        )
    )
