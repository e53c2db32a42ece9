from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from funds.account_numbers import NUMBER_MAX_LENGTH
from funds.models.money import money_field


class BankAccount(models.Model):
    """A bank card or payment-platform account; one account can appear in several cases.

    Its identity is its institution and its number as ``normalise_account_number`` leaves
    it (funds.account_numbers), the only form ever stored. It has no holder name: each case
    keeps the name its unit recorded (InvolvedAccount.holder_name, Transfer's two), since
    units do record the same account under different names (a nickname, a company's, a
    typo) and no unit's entry may stand for, or overwrite, another's.
    """

    institution = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("institution"),
    )
    number = models.CharField(_("account number"), max_length=NUMBER_MAX_LENGTH)

    class Meta:
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "number"], name="bank_account_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Stage(models.TextChoices):
    """Where an involved account stands (API.md); derived by funds.services.stages."""

    IDENTIFIED = "identified", _("Identified")
    STOP_REQUESTED = "stop_requested", _("Stop-payment requested")
    STOPPED = "stopped", _("Stopped")
    STOP_FAILED = "stop_failed", _("Stop-payment failed")
    LAPSED = "lapsed", _("Stop-payment lapsed")
    FREEZE_REQUESTED = "freeze_requested", _("Freeze requested")
    FROZEN = "frozen", _("Frozen")
    FREEZE_FAILED = "freeze_failed", _("Freeze failed")
    EXPIRED = "expired", _("Freeze expired")
    RELEASED = "released", _("Released")
    RETURNED = "returned", _("Returned")


class InvolvedAccount(models.Model):
    """An account's involvement in one case (涉案账户), with the amounts at each stage."""

    case = models.ForeignKey(
        "funds.Case",
        on_delete=models.CASCADE,
        related_name="involved_accounts",
        verbose_name=_("case"),
    )
    account = models.ForeignKey(
        BankAccount,
        on_delete=models.PROTECT,
        related_name="involvements",
        verbose_name=_("account"),
    )
    # What this case's unit recorded as the holder: the account's holder in the case.
    holder_name = models.CharField(_("holder name"), max_length=100)
    layer = models.PositiveSmallIntegerField(_("layer"))
    # True when funds.services.layers derived the layer from the case's transfers (and
    # keeps it current); False when an officer typed it, which is then kept as typed.
    # With a database default too, so that bulk writers naming their columns (COPY in
    # devdata.generate, the imports' INSERTs) need not name this one.
    layer_derived = models.BooleanField(_("layer derived"), default=False, db_default=False)
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.IDENTIFIED
    )
    stopped_amount = money_field(_("stopped"))
    frozen_amount = money_field(_("frozen"))
    released_amount = money_field(_("released"))
    returned_amount = money_field(_("returned"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("involved account")
        verbose_name_plural = _("involved accounts")
        ordering = ["layer", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "account"], name="involved_account_once_per_case"
            ),
            models.CheckConstraint(condition=Q(layer__gte=1), name="involved_layer_from_one"),
            models.CheckConstraint(
                condition=Q(stopped_amount__gte=0)
                & Q(frozen_amount__gte=0)
                & Q(released_amount__gte=0)
                & Q(returned_amount__gte=0),
                name="involved_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(released_amount__lte=F("frozen_amount") - F("returned_amount")),
                name="involved_released_returned_within_frozen",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} @ {self.case_id}"

    @property
    def held_amount(self):  # type: ignore[no-untyped-def]
        return self.frozen_amount - self.released_amount - self.returned_amount


class Transfer(models.Model):
    """One movement of money between two accounts, as the bank records it."""

    case = models.ForeignKey("funds.Case", on_delete=models.CASCADE, related_name="transfers")
    from_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+")
    to_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+")
    # The holders as this case's unit recorded them for this movement.
    from_holder_name = models.CharField(_("holder of the paying account"), max_length=100)
    to_holder_name = models.CharField(_("holder of the receiving account"), max_length=100)
    amount = money_field(_("amount"), default=None)
    occurred_at = models.DateTimeField(_("occurred at"))
    reference = models.CharField(_("transaction reference"), max_length=64)
    # The statement import that recorded it (None: typed by hand).
    statement_import = models.ForeignKey(
        "funds.StatementImport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="transfers",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["occurred_at", "id"]
        # An import skips a row whose paying institution and reference are in the case
        # already (funds.services.imports): it looks references up by case.
        indexes = [models.Index(fields=["case", "reference"], name="transfer_case_reference")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=~Q(from_account=F("to_account")), name="transfer_between_two_accounts"
            ),
            models.UniqueConstraint(
                fields=["case", "from_account", "reference"],
                name="transfer_reference_once_per_case",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.from_account_id} -> {self.to_account_id}"
