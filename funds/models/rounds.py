"""R10: allocation rounds, the proportional returns of a freeze's funds after a public notice.

When the money cannot be traced to the victims one by one, an officer opens a round over a
freeze: the shares are computed over what each victim is still owed and stored; the round is
published for the public notice (RULE_PUBLIC_NOTICE), during which objections are recorded;
then a manager at city level or above confirms it and one approved return per share goes to
the bank (funds.services.rounds). While a round is in notice its shares are reserved: the
freeze's available amount and each victim's owed amount deduct them (funds.selectors), so
that no other return, release or round can take that money before the round is confirmed or
withdrawn.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from funds.models.money import money_field


class RoundStatus(models.TextChoices):
    NOTICE = "notice", _("In public notice")
    CONFIRMED = "confirmed", _("Confirmed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class AllocationRound(models.Model):
    """One sharing of a freeze's available funds among the case's victims (R10)."""

    case = models.ForeignKey(
        "funds.Case", on_delete=models.PROTECT, related_name="allocation_rounds"
    )
    freeze = models.ForeignKey(
        "funds.Instruction", on_delete=models.PROTECT, related_name="allocation_rounds"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=RoundStatus.choices, default=RoundStatus.NOTICE
    )
    # What the freeze had available when the round opened (held, less open releases and
    # returns), and what the round shares: that, at most what the victims were still owed.
    # The rest stays frozen for a later round.
    freeze_available = money_field(_("available in the freeze"))
    available = money_field(_("shared"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(_("opened at"))
    # R10: the public notice ends here; objections until then, confirmation from then on.
    notice_until = models.DateTimeField(_("notice until"))
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdraw_reason = models.TextField(_("reason for withdrawing"), blank=True)

    class Meta:
        verbose_name = _("allocation round")
        verbose_name_plural = _("allocation rounds")
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["case", "status"], name="round_case_status")]
        constraints = [
            # One round in notice per freeze: its shares are what the freeze reserves.
            models.UniqueConstraint(
                fields=["freeze"],
                condition=Q(status="notice"),
                name="round_one_in_notice_per_freeze",
            ),
            models.CheckConstraint(
                condition=Q(available__gt=0) & Q(available__lte=F("freeze_available")),
                name="round_shares_within_available",
            ),
            models.CheckConstraint(
                condition=Q(notice_until__gte=F("opened_at")), name="round_notice_after_opening"
            ),
            models.CheckConstraint(
                condition=~Q(status=RoundStatus.CONFIRMED)
                | Q(confirmed_by__isnull=False, confirmed_at__gte=F("notice_until")),
                name="round_confirmed_after_notice",
            ),
            models.CheckConstraint(
                condition=~Q(status=RoundStatus.WITHDRAWN)
                | Q(withdrawn_by__isnull=False, withdrawn_at__isnull=False)
                & ~Q(withdraw_reason=""),
                name="round_withdrawn_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"R10 #{self.pk} ({self.get_status_display()})"


class AllocationShare(models.Model):
    """One victim's share of a round, with the figures it was computed from."""

    round = models.ForeignKey(AllocationRound, on_delete=models.CASCADE, related_name="shares")
    victim = models.ForeignKey(
        "funds.Victim", on_delete=models.PROTECT, related_name="allocation_shares"
    )
    loss_amount = money_field(_("reported loss"))
    # The loss less what the victim was still owed at opening: returned, asked to be
    # returned, or reserved by another round in notice.
    already_returned = money_field(_("returned or awaiting return"))
    amount = money_field(_("share"))
    # Set at confirmation: the approved return that pays this share (none for a zero share).
    return_instruction = models.OneToOneField(
        "funds.Instruction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocation_share",
    )

    class Meta:
        verbose_name = _("allocation share")
        verbose_name_plural = _("allocation shares")
        ordering = ["round", "victim"]
        constraints = [
            models.UniqueConstraint(fields=["round", "victim"], name="share_once_per_victim"),
            models.CheckConstraint(
                condition=Q(amount__gte=0)
                & Q(already_returned__gte=0)
                & Q(amount__lte=F("loss_amount") - F("already_returned")),
                name="share_within_owed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.victim_id}: {self.amount}"

    @property
    def owed(self) -> Decimal:
        """What the victim was still owed when the round opened."""
        return self.loss_amount - self.already_returned


class AllocationObjection(models.Model):
    """An objection raised during a round's public notice, shown to the confirming manager."""

    round = models.ForeignKey(AllocationRound, on_delete=models.CASCADE, related_name="objections")
    victim = models.ForeignKey("funds.Victim", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        verbose_name = _("objection")
        verbose_name_plural = _("objections")
        ordering = ["recorded_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="objection_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.round_id}/{self.victim_id}"
