from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from funds.models.money import money_field


class FraudType(models.TextChoices):
    INVESTMENT = "investment", _("Investment and financial management")
    REBATE_TASK = "rebate_task", _("Order brushing and rebate tasks")
    FAKE_LOAN = "fake_loan", _("Fake loans")
    IMPERSONATING_OFFICIALS = "impersonating_officials", _("Impersonating police or officials")
    IMPERSONATING_CUSTOMER_SERVICE = (
        "impersonating_customer_service",
        _("Impersonating e-commerce or logistics customer service"),
    )
    ROMANCE = "romance", _("Online romance")
    IMPERSONATING_ACQUAINTANCE = (
        "impersonating_acquaintance",
        _("Impersonating leaders or acquaintances"),
    )
    GAME_TRADE = "game_trade", _("Fake game-item trading")
    CREDIT_REPAIR = "credit_repair", _("Fake credit repair")
    OTHER = "other", _("Other")


class CaseStatus(models.TextChoices):
    REPORTED = "reported", _("Reported")
    ACCEPTED = "accepted", _("Accepted")
    FILED = "filed", _("Filed")
    CLOSED = "closed", _("Closed")


class Case(models.Model):
    """One fraud incident, one file (一案一档)."""

    number = models.CharField(_("case number"), max_length=40, unique=True, editable=False)
    unit = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("unit"),
        on_delete=models.PROTECT,
        related_name="cases",
    )
    title = models.CharField(_("title"), max_length=200)
    fraud_type = models.CharField(_("fraud type"), max_length=40, choices=FraudType.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.REPORTED
    )
    description = models.TextField(_("description"), blank=True)
    reported_at = models.DateTimeField(_("reported at"))
    filing_number = models.CharField(_("filing number"), max_length=64, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    filed_at = models.DateTimeField(_("filed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-reported_at", "-id"]
        indexes = [
            models.Index(fields=["unit", "-reported_at"], name="case_unit_reported"),
            models.Index(fields=["status"], name="case_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=CaseStatus.ACCEPTED) | Q(accepted_at__isnull=False),
                name="case_accepted_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status=CaseStatus.FILED)
                | Q(filed_at__isnull=False) & ~Q(filing_number=""),
                name="case_filed_has_number_and_date",
            ),
            models.CheckConstraint(
                condition=~Q(status=CaseStatus.CLOSED) | Q(closed_at__isnull=False),
                name="case_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class CaseNumberCounter(models.Model):
    """The last case number given out per unit and year; its row lock serialises numbering."""

    unit = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["unit", "year"], name="case_counter_unit_year")
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}/{self.year}: {self.last}"


class Victim(models.Model):
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="victims", verbose_name=_("case")
    )
    name = models.CharField(_("name"), max_length=100)
    id_number = models.CharField(_("identity number"), max_length=32)
    phone = models.CharField(_("phone"), max_length=32)
    loss_amount = money_field(_("reported loss"))
    # The victim's own account, where returned money is paid (R9).
    account_institution = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account institution"),
    )
    # Kept as normalised by funds.account_numbers; shown masked to all but the paying bank.
    account_number = models.CharField(_("account number"), max_length=64, blank=True)
    account_holder_name = models.CharField(_("account holder"), max_length=100, blank=True)
    # What executed returns paid the victim (R9); never more than the loss
    # (victim_returned_within_loss). What the victim is still owed also deducts the returns
    # asked and the shares reserved by rounds in notice (funds.selectors.victim_owed).
    returned_amount = money_field(_("returned"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("victim")
        verbose_name_plural = _("victims")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(loss_amount__gt=0), name="victim_loss_positive"),
            models.CheckConstraint(
                condition=Q(returned_amount__gte=0), name="victim_returned_not_negative"
            ),
            # R9: a return never pays a victim beyond the loss, whatever the race.
            models.CheckConstraint(
                condition=Q(returned_amount__lte=F("loss_amount")),
                name="victim_returned_within_loss",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_account(self) -> bool:
        """Whether the victim's own account is on file, so that a return can be paid (R9)."""
        return self.account_institution_id is not None and bool(self.account_number)
