"""Forms of the pages: validation of input only; the rules live in the services."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from funds.account_numbers import normalise_account_number
from funds.masking import mask_account_number
from funds.models import FraudType, InstructionKind, InvolvedAccount, Victim
from funds.models.money import MAX_DIGITS
from funds.personal_data import PersonalDataError, normalise_id_number, normalise_phone
from funds.services.intake import MAX_ACCOUNTS, MAX_VICTIMS


def money_field(label: Any, *, required: bool = True, minimum: str = "0.01") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        max_digits=MAX_DIGITS,
        decimal_places=2,
        min_value=Decimal(minimum),
        required=required,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class AccountNumberField(forms.CharField):
    """An account number as typed, refused beside its field when nothing of it identifies an
    account; the service normalises it (funds.account_numbers) and refuses it too."""

    def __init__(self, label: Any) -> None:
        super().__init__(label=label, max_length=64)

    def clean(self, value: Any) -> str:
        number = super().clean(value)
        if number and not normalise_account_number(number):
            raise forms.ValidationError(
                _(
                    "Enter the account number (spaces, hyphens and invisible characters do not count)."
                ),
                code="required",
            )
        return str(number)


def set_choices(field: forms.Field, choices: Sequence[tuple[object, str]]) -> None:
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def institution_choices() -> list[tuple[str, str]]:
    return [
        (o.code, f"{o.name}（{o.code}）")
        for o in Organization.objects.institutions().order_by("code")
    ]


class CaseReportForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    fraud_type = forms.ChoiceField(label=_("Fraud type"), choices=FraudType.choices)
    reported_at = forms.DateTimeField(label=_("Reported at"), widget=LocalDateTimeInput())
    description = forms.CharField(
        label=_("What happened"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    def clean_reported_at(self) -> Any:
        value = self.cleaned_data["reported_at"]
        if value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError(_("The report time cannot be in the future."))
        return value


class FilingForm(forms.Form):
    filing_number = forms.CharField(label=_("Filing number"), max_length=64)


class VictimForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    id_number = forms.CharField(label=_("Identity number"), max_length=32)
    phone = forms.CharField(label=_("Phone"), max_length=32)
    loss_amount = money_field(_("Reported loss (yuan)"))
    account_institution = forms.ChoiceField(label=_("Victim's bank"), required=False)
    account_number = forms.CharField(
        label=_("Victim's account number"), max_length=64, required=False
    )
    account_holder_name = forms.CharField(
        label=_("Victim's account holder"), max_length=100, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self.fields["account_institution"], [("", "—"), *institution_choices()])

    def clean_id_number(self) -> str:
        try:
            return normalise_id_number(self.cleaned_data["id_number"])
        except PersonalDataError as error:
            raise forms.ValidationError(error.message) from None

    def clean_phone(self) -> str:
        try:
            return normalise_phone(self.cleaned_data["phone"])
        except PersonalDataError as error:
            raise forms.ValidationError(error.message) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # R9: returns are paid to this account, so half of one is no account at all.
        if data.get("account_institution") and not data.get("account_number", "").strip():
            self.add_error("account_number", _("Give the number of the victim's account."))
        if data.get("account_number", "").strip() and not data.get("account_institution"):
            self.add_error("account_institution", _("Name the bank of the victim's account."))
        return data


class RevealForm(forms.Form):
    """Why an officer reads a victim's own account number in full (PIPL art. 28)."""

    reason = forms.CharField(
        label=_("Why the full number is needed (kept in the audit trail)"), max_length=500
    )


class CaseSearchForm(forms.Form):
    """The case list's search term: posted, kept in the session, never in the address."""

    q = forms.CharField(max_length=200, required=False)


class AccountForm(forms.Form):
    """An account that received the money, with its stop-payment in the same step."""

    institution = forms.ChoiceField(label=_("Bank or payment institution"))
    number = AccountNumberField(label=_("Account number"))
    holder_name = forms.CharField(label=_("Holder name"), max_length=100)
    layer = forms.IntegerField(label=_("Layer"), min_value=1, max_value=50, initial=1)
    ask_stop = forms.BooleanField(
        label=_("Ask the institution to stop payment now"), required=False, initial=True
    )
    stop_amount = money_field(_("Amount to stop (yuan)"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self.fields["institution"], institution_choices())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("ask_stop") and not data.get("stop_amount"):
            self.add_error("stop_amount", _("Say how much to stop."))
        return data


class IntakeAccountForm(forms.Form):
    """On the new report: an account that received the money (layer 1), to be stopped."""

    institution = forms.ChoiceField(label=_("Bank or payment institution"))
    number = AccountNumberField(label=_("Account number"))
    holder_name = forms.CharField(label=_("Holder name"), max_length=100)
    amount = money_field(_("Amount to stop (yuan)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An untouched row is no account: it starts on "—" so the formset can leave it out.
        set_choices(self.fields["institution"], [("", "—"), *institution_choices()])


def intake_formsets(
    data: Any = None,
) -> tuple[forms.BaseFormSet[VictimForm], forms.BaseFormSet[IntakeAccountForm]]:
    """The victims (at least one) and the accounts of a new report; rows left empty are
    left out, and more rows are added on the page (static/js/intake.js)."""
    victims = forms.formset_factory(
        VictimForm, min_num=1, validate_min=True, extra=0, max_num=MAX_VICTIMS, validate_max=True
    )
    accounts = forms.formset_factory(
        IntakeAccountForm, extra=3, max_num=MAX_ACCOUNTS, validate_max=True
    )
    return victims(data, prefix="victims"), accounts(data, prefix="accounts")


class TransferForm(forms.Form):
    from_institution = forms.ChoiceField(label=_("From: institution"))
    from_number = AccountNumberField(label=_("From: account number"))
    from_holder = forms.CharField(label=_("From: holder"), max_length=100)
    to_institution = forms.ChoiceField(label=_("To: institution"))
    to_number = AccountNumberField(label=_("To: account number"))
    to_holder = forms.CharField(label=_("To: holder"), max_length=100)
    amount = money_field(_("Amount (yuan)"))
    occurred_at = forms.DateTimeField(label=_("Time of the transfer"), widget=LocalDateTimeInput())
    reference = forms.CharField(label=_("Transaction reference"), max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self.fields["from_institution"], institution_choices())
        set_choices(self.fields["to_institution"], institution_choices())


class InstructionForm(forms.Form):
    """A freeze, renewal, release or return (a stop-payment is asked with the account)."""

    kind = forms.ChoiceField(label=_("Kind"), choices=InstructionKind.choices)
    account = forms.TypedChoiceField(label=_("Account"), coerce=int, required=False)
    freeze = forms.TypedChoiceField(label=_("Freeze"), coerce=int, required=False)
    victim = forms.TypedChoiceField(label=_("Victim"), coerce=int, required=False)
    amount = money_field(_("Amount (yuan)"), required=False)
    instrument_number = forms.CharField(
        label=_("Legal instrument number"),
        max_length=64,
        required=False,
        help_text=_(
            "Only for a number issued outside casetracker; left empty, the unit's next number "
            "is issued (a stop-payment at once, anything else at its approval)."
        ),
    )
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, required=False)
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    def __init__(
        self,
        *args: Any,
        accounts: list[InvolvedAccount],
        freezes: list[tuple[int, str]],
        victims: list[Victim],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_choices(
            self.fields["account"],
            [("", "—")] + [(a.pk, f"{a.account.number} {a.holder_name}") for a in accounts],
        )
        set_choices(self.fields["freeze"], [("", "—"), *freezes])
        set_choices(self.fields["victim"], [("", "—")] + [(v.pk, victim_label(v)) for v in victims])


def victim_label(victim: Victim) -> str:
    """A victim as the return form offers them: the masked account and what is still owed
    (``owed`` annotated by funds.selectors.with_owed), so the officer sees the limit."""
    owed = getattr(victim, "owed", None)
    parts = [victim.name]
    if victim.has_account:
        parts.append(mask_account_number(victim.account_number))
    else:
        parts.append(str(_("no account on file")))
    if owed is not None:
        parts.append(str(_("owed ¥%(owed)s")) % {"owed": f"{max(owed, 0):,.2f}"})
    return " · ".join(parts)


class RoundForm(forms.Form):
    """R10: open an allocation round over a freeze in force."""

    freeze = forms.TypedChoiceField(label=_("Freeze"), coerce=int)

    def __init__(self, *args: Any, freezes: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self.fields["freeze"], [("", "—"), *freezes])


class ObjectionForm(forms.Form):
    """An objection to a round during its public notice."""

    victim = forms.TypedChoiceField(label=_("Objecting victim"), coerce=int)
    reason = forms.CharField(label=_("Objection"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, victims: list[Victim], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self.fields["victim"], [("", "—")] + [(v.pk, v.name) for v in victims])


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for withdrawing"), widget=forms.Textarea(attrs={"rows": 2})
    )


class ExecuteForm(forms.Form):
    executed_amount = money_field(_("Amount actually found (yuan)"), minimum="0.00")
    bank_reference = forms.CharField(label=_("Your reference"), max_length=64)


class ConfirmHoldForm(forms.Form):
    """R12: what a queued freeze holds now that its turn came."""

    held_amount = money_field(_("Amount now held (yuan)"), minimum="0.00")
    bank_reference = forms.CharField(label=_("Your reference"), max_length=64)


class ResubmitForm(forms.Form):
    """The officer's corrections of a request sent back (funds.services.approvals); a field
    left empty stays as it was."""

    amount = money_field(_("Amount (yuan)"), required=False)
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, required=False)
    instrument_number = forms.CharField(
        label=_("Legal instrument number"), max_length=64, required=False
    )
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    note = forms.CharField(
        label=_("What was corrected"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for rejecting"), widget=forms.Textarea(attrs={"rows": 2})
    )
