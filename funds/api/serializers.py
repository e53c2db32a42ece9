"""Serializers of API v1 (../shared/API.md): field names and shapes are the contract."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Role, User
from funds import acting_time
from funds.api.fields import FieldsBuiltOnce, ModelSerializer
from funds.masking import mask_account_number, mask_id_number, mask_phone
from funds.models import (
    AllocationObjection,
    AllocationRound,
    AllocationShare,
    Case,
    CaseStatus,
    Document,
    Event,
    Flag,
    FlagEscalation,
    FraudType,
    Instruction,
    InstructionKind,
    InvolvedAccount,
    Notification,
    Transfer,
    Victim,
)
from funds.models.instructions import EndReason
from funds.models.money import MAX_DIGITS, ZERO
from funds.personal_data import PersonalDataError, normalise_id_number, normalise_phone
from funds.selectors import victim_owed
from funds.services import intake
from funds.services.approvals import ApprovalStep, approval_steps
from funds.services.freeze_queue import queue_position


def money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=2, **kwargs)


def positive_money(**kwargs: Any) -> serializers.DecimalField:
    return money(min_value=Decimal("0.01"), **kwargs)


class UnitSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()


class TotalsSerializer(serializers.Serializer[Any]):
    stop_requested = money()
    stopped = money()
    frozen = money()
    released = money()
    returned = money()
    held = money()
    queued = money(help_text="R12: freezes waiting behind another case's; never in frozen or held.")


class CaseSerializer(FieldsBuiltOnce, ModelSerializer[Case]):
    unit = UnitSerializer(read_only=True)
    loss_amount = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()
    fraud_type = serializers.ChoiceField(choices=FraudType.choices)

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "title",
            "fraud_type",
            "status",
            "unit",
            "reported_at",
            "description",
            "filing_number",
            "accepted_at",
            "filed_at",
            "closed_at",
            "loss_amount",
            "totals",
        ]
        read_only_fields = [
            "number",
            "status",
            "filing_number",
            "accepted_at",
            "filed_at",
            "closed_at",
        ]

    @extend_schema_field(money())
    def get_loss_amount(self, case: Case) -> str:
        return f"{case.loss_total:.2f}"  # type: ignore[attr-defined]

    @extend_schema_field(TotalsSerializer)
    def get_totals(self, case: Case) -> dict[str, str]:
        return {
            name: f"{getattr(case, f'{name}_total'):.2f}"
            for name in (
                "stop_requested",
                "stopped",
                "frozen",
                "released",
                "returned",
                "held",
                "queued",
            )
        }

    def validate_reported_at(self, value: Any) -> Any:
        # A report cannot come from the future (a few minutes of clock skew allowed).
        if value > timezone.now() + timedelta(minutes=5):
            raise serializers.ValidationError(_("The report time cannot be in the future."))
        return value


class FilingSerializer(serializers.Serializer[Any]):
    filing_number = serializers.CharField(max_length=64)


class VictimAccountSerializer(serializers.Serializer[Any]):
    """The victim's own account (R9); answered with the number masked to its last four."""

    institution = serializers.CharField(max_length=32, help_text="The institution's code.")
    number = serializers.CharField(max_length=64)
    holder_name = serializers.CharField(max_length=100)


def victim_account(victim: Victim) -> dict[str, str] | None:
    """The victim's account as every answer and page shows it: the number masked."""
    if not victim.has_account:
        return None
    assert victim.account_institution is not None
    return {
        "institution": victim.account_institution.code,
        "number": mask_account_number(victim.account_number),
        "holder_name": victim.account_holder_name,
    }


@extend_schema_field(VictimAccountSerializer(allow_null=True))
class VictimAccountField(serializers.Field):
    """``account`` in and out: validated by VictimAccountSerializer, answered masked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, allow_null=True, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:  # "account": null is no account
            return True, {}
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        serializer = VictimAccountSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return {"account": dict(serializer.validated_data)}

    def to_representation(self, value: Victim) -> dict[str, str] | None:
        return victim_account(value)


class VictimSerializer(ModelSerializer[Victim]):
    loss_amount = positive_money()
    returned_amount = money(read_only=True)
    owed_amount = serializers.SerializerMethodField()
    account = VictimAccountField()
    # The first shape of the victim's account, still taken; ``account`` is the one to use.
    account_institution = serializers.CharField(required=False, allow_blank=True, write_only=True)

    class Meta:
        model = Victim
        fields = [
            "id",
            "name",
            "id_number",
            "phone",
            "loss_amount",
            "account",
            # Extensions of the contract:
            "returned_amount",
            "owed_amount",
            "account_institution",
            "account_number",
        ]
        extra_kwargs = {
            "account_number": {"required": False, "help_text": "Masked to its last four digits."}
        }

    def validate_id_number(self, value: str) -> str:
        try:
            return normalise_id_number(value)
        except PersonalDataError as error:
            raise serializers.ValidationError(error.message) from None

    def validate_phone(self, value: str) -> str:
        try:
            return normalise_phone(value)
        except PersonalDataError as error:
            raise serializers.ValidationError(error.message) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("account") and (
            attrs.get("account_institution") or attrs.get("account_number")
        ):
            raise serializers.ValidationError(
                {"account": [_("Give the victim's account once, as account.")]}
            )
        return attrs

    @extend_schema_field(money())
    def get_owed_amount(self, instance: Victim) -> str:
        """R9: the loss less what was returned, is awaiting return or is reserved by a round
        in notice."""
        owed = getattr(instance, "owed", None)
        if owed is None:
            owed = victim_owed(instance)
        return f"{max(owed, ZERO):.2f}"

    def to_representation(self, instance: Victim) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["id_number"] = mask_id_number(instance.id_number)
        data["phone"] = mask_phone(instance.phone)
        data["account_institution"] = (
            instance.account_institution.code if instance.account_institution_id else None  # type: ignore[union-attr]
        )
        data["account_number"] = mask_account_number(instance.account_number)
        return data


class AmountsSerializer(serializers.Serializer[Any]):
    stopped = money()
    frozen = money()
    released = money()
    returned = money()


class InvolvedAccountSerializer(ModelSerializer[InvolvedAccount]):
    institution = serializers.CharField(max_length=32)
    number = serializers.CharField(
        max_length=64,
        help_text="As typed; spaces, hyphens, full-width digits and invisible characters do "
        "not count (one account, one identity). Answered normalised.",
    )
    holder_name = serializers.CharField(
        max_length=100, help_text="The holder as this case recorded it."
    )
    layer = serializers.IntegerField(min_value=1, max_value=50)
    amounts = serializers.SerializerMethodField()
    other_cases = serializers.SerializerMethodField()

    class Meta:
        model = InvolvedAccount
        fields = [
            "id",
            "institution",
            "number",
            "holder_name",
            "layer",
            "stage",
            "amounts",
            "other_cases",
        ]
        read_only_fields = ["stage"]

    def to_representation(self, instance: InvolvedAccount) -> dict[str, Any]:
        account = instance.account
        return {
            "id": instance.pk,
            "institution": account.institution.code,
            "number": account.number,
            "holder_name": instance.holder_name,
            "layer": instance.layer,
            "stage": instance.stage,
            "amounts": self.get_amounts(instance),
            "other_cases": self.get_other_cases(instance),
        }

    @extend_schema_field(AmountsSerializer)
    def get_amounts(self, instance: InvolvedAccount) -> dict[str, str]:
        return {
            "stopped": f"{instance.stopped_amount:.2f}",
            "frozen": f"{instance.frozen_amount:.2f}",
            "released": f"{instance.released_amount:.2f}",
            "returned": f"{instance.returned_amount:.2f}",
        }

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_other_cases(self, instance: InvolvedAccount) -> list[str]:
        involvements = getattr(instance.account, "all_involvements", None)
        if involvements is None:
            involvements = instance.account.involvements.select_related("case")
        return sorted({i.case.number for i in involvements if i.case_id != instance.case_id})


class AccountRefSerializer(serializers.Serializer[Any]):
    institution = serializers.CharField(max_length=32)
    number = serializers.CharField(
        max_length=64, help_text="As typed; answered normalised, as on the involved account."
    )
    holder_name = serializers.CharField(
        max_length=100, help_text="The holder as this case recorded it for this transfer."
    )


class TransferSerializer(ModelSerializer[Transfer]):
    """A money movement; a side that is a victim's own account answers its number masked."""

    from_account = AccountRefSerializer()
    to_account = AccountRefSerializer()
    amount = positive_money()

    class Meta:
        model = Transfer
        fields = ["id", "from_account", "to_account", "amount", "occurred_at", "reference"]

    def to_representation(self, instance: Transfer) -> dict[str, Any]:
        # A victim's own account (the money left it) is masked here too; the views give the
        # case's victims' accounts in the context (selectors.victim_account_keys).
        victims: set[tuple[int, str]] = self.context.get("victim_accounts") or set()

        def ref(account: Any, holder_name: str) -> dict[str, str]:
            own = (account.institution_id, account.number) in victims
            return {
                "institution": account.institution.code,
                "number": mask_account_number(account.number) if own else account.number,
                "holder_name": holder_name,
            }

        return {
            "id": instance.pk,
            "from_account": ref(instance.from_account, instance.from_holder_name),
            "to_account": ref(instance.to_account, instance.to_holder_name),
            "amount": f"{instance.amount:.2f}",
            "occurred_at": serializers.DateTimeField().to_representation(instance.occurred_at),
            "reference": instance.reference,
        }


class CaseRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    number = serializers.CharField()


class PayeeSerializer(serializers.Serializer[Any]):
    institution = serializers.CharField()
    number = serializers.CharField(
        help_text="In full to the liaisons of the paying institution, else masked."
    )


class ApprovalStepSerializer(serializers.Serializer[Any]):
    """One step of an instruction's approval (funds.services.approvals.approval_steps)."""

    action = serializers.ChoiceField(
        choices=["requested", "sent_back", "resubmitted", "approved", "declined"]
    )
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)
    actor_name = serializers.SerializerMethodField()
    unit = serializers.CharField(source="unit_name")
    text = serializers.CharField(
        help_text="The approver's opinion, the reason of a decline or send-back, or the "
        "officer's note on a resubmission."
    )
    changes = serializers.DictField(
        child=serializers.ListField(),
        help_text="On a resubmission, each corrected field as [before, after].",
    )

    def get_actor_name(self, step: ApprovalStep) -> str:
        actor = step.actor
        return (actor.get_full_name() or actor.username) if actor is not None else ""


def _reads_approvals(context: Mapping[str, Any]) -> bool:
    """The police read the approval's steps; a bank's liaison never (internal opinions)."""
    user = getattr(context.get("request"), "user", None)
    return not (isinstance(user, User) and user.role == Role.LIAISON)


class InstructionListSerializer(serializers.ListSerializer[Instruction]):
    """Reads the approval steps of a whole page in one query."""

    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if hasattr(data, "all") else data)
        if _reads_approvals(self.context):
            steps = approval_steps(item.pk for item in items)
            for item in items:
                item._approval_steps = steps.get(item.pk, [])
        return super().to_representation(items)


class InstructionSerializer(ModelSerializer[Instruction]):
    """An instruction as API.md lists it, with a few read-only extensions."""

    case = serializers.SerializerMethodField()
    account = serializers.IntegerField(source="involved_account_id", read_only=True)
    institution = serializers.CharField(source="institution.code", read_only=True)
    approved_by = serializers.CharField(
        source="approved_by.username", read_only=True, default=None, allow_null=True
    )
    account_number = serializers.CharField(source="involved_account.account.number", read_only=True)
    # The holder as the instruction's own case recorded it.
    holder_name = serializers.CharField(source="involved_account.holder_name", read_only=True)
    requested_amount = money(read_only=True)
    executed_amount = money(read_only=True, allow_null=True)
    payee_account = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField(
        help_text="R12: how many freezes of other cases are ahead of a freeze still in line."
    )
    document_sha256 = serializers.SerializerMethodField(
        help_text="The SHA-256 of the instrument's PDF (GET /instructions/{id}/document/), "
        "null until it is issued: a stop-payment once requested, any other kind once approved."
    )
    issuing_unit = serializers.CharField(
        source="issuing_unit.code",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="The code of the unit whose numbering instrument_number belongs to.",
    )
    # Empty ("") until the instruction has ended (ended_at).
    end_reason = serializers.ChoiceField(
        choices=EndReason.choices, allow_blank=True, read_only=True
    )
    sent_back = serializers.SerializerMethodField(
        help_text="Sent back for correction (退回): the approval waits for the officer's "
        "POST /instructions/{id}/resubmit/."
    )
    approval_steps = serializers.SerializerMethodField(
        help_text="The approval's steps, oldest first; empty for a bank's liaison."
    )

    class Meta:
        model = Instruction
        list_serializer_class = InstructionListSerializer
        fields = [
            "id",
            "kind",
            "status",
            "case",
            "account",
            "institution",
            "requested_amount",
            "executed_amount",
            "requested_at",
            "response_due_at",
            "responded_at",
            "bank_reference",
            "instrument_number",
            "effective_until",
            "approved_by",
            # Extensions of the contract:
            "approved_at",
            "account_number",
            "holder_name",
            "term_months",
            "freeze",
            "victim",
            "reason",
            "reject_reason",
            "queued",
            "effective_from",
            "queue_position",
            "hold_confirmed_at",
            "hold_reference",
            "ended_at",
            "end_reason",
            "payee_account",
            "deadline_provisional",
            "document_sha256",
            "issuing_unit",
            "instrument_source",
            "approval_opinion",
            "decline_reason",
            "declined_at",
            "sent_back",
            "approval_steps",
        ]
        read_only_fields = fields

    def get_sent_back(self, instance: Instruction) -> bool:
        return instance.sent_back_at is not None

    @extend_schema_field(ApprovalStepSerializer(many=True))
    def get_approval_steps(self, instance: Instruction) -> list[dict[str, Any]]:
        if not _reads_approvals(self.context):
            return []
        steps = getattr(instance, "_approval_steps", None)
        if steps is None:
            steps = approval_steps([instance.pk]).get(instance.pk, [])
        return ApprovalStepSerializer(steps, many=True).data  # type: ignore[return-value]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_document_sha256(self, instance: Instruction) -> str | None:
        """Annotated by funds.selectors.with_document_hash on lists; read here otherwise."""
        if hasattr(instance, "document_sha256"):
            return instance.document_sha256
        document = Document.objects.filter(instruction=instance.pk).values("sha256").first()
        return document["sha256"] if document else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_queue_position(self, instance: Instruction) -> int | None:
        return queue_position(instance, acting_time.now())

    @extend_schema_field(PayeeSerializer(allow_null=True))
    def get_payee_account(self, instance: Instruction) -> dict[str, str] | None:
        """A return's destination: the victim's own account (R9), without the victim's identity
        (not even the holder's name, which is the victim's own).

        The liaisons of the addressed institution pay it, so they read the number in full;
        everyone else (the police) reads it masked, as everywhere else."""
        victim = instance.victim
        if instance.kind != InstructionKind.RETURN or victim is None:
            return None
        institution = victim.account_institution
        request = self.context.get("request")
        user = getattr(request, "user", None)
        pays = (
            isinstance(user, User)
            and user.role == Role.LIAISON
            and user.organization_id == instance.institution_id
        )
        return {
            "institution": institution.code if institution else "",
            "number": victim.account_number if pays else mask_account_number(victim.account_number),
        }

    @extend_schema_field(CaseRefSerializer)
    def get_case(self, instance: Instruction) -> dict[str, Any]:
        return {"id": instance.case_id, "number": instance.case.number}


class InstructionCreateSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=InstructionKind.choices)
    account = serializers.IntegerField(required=False, help_text="The involved account's id.")
    amount = positive_money(required=False)
    instrument_number = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="A number issued outside casetracker, kept unique in the issuing unit and "
        "kind; left out, casetracker issues the next of the unit's numbering (a stop-payment at "
        "once, any other kind at its approval).",
    )
    term_months = serializers.IntegerField(required=False, min_value=1)
    freeze = serializers.IntegerField(
        required=False, help_text="The freeze's id (renewal, release, return)."
    )
    victim = serializers.IntegerField(required=False, help_text="The victim's id (return).")
    reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["kind"]
        errors: dict[str, list[str]] = {}
        if (
            kind in (InstructionKind.STOP_PAYMENT, InstructionKind.FREEZE)
            and "account" not in attrs
        ):
            errors["account"] = [str(_("This field is required."))]
        if (
            kind
            in (
                InstructionKind.STOP_PAYMENT,
                InstructionKind.FREEZE,
                InstructionKind.RELEASE,
                InstructionKind.RETURN,
            )
            and "amount" not in attrs
        ):
            errors["amount"] = [str(_("This field is required."))]
        if (
            kind in (InstructionKind.RENEWAL, InstructionKind.RELEASE, InstructionKind.RETURN)
            and "freeze" not in attrs
        ):
            errors["freeze"] = [str(_("This field is required."))]
        if kind == InstructionKind.RETURN and "victim" not in attrs:
            errors["victim"] = [str(_("This field is required."))]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ExecuteSerializer(serializers.Serializer[Any]):
    executed_amount = money(min_value=Decimal("0.00"))
    bank_reference = serializers.CharField(max_length=64)


class ConfirmHoldSerializer(serializers.Serializer[Any]):
    held_amount = money(
        min_value=Decimal("0.00"),
        help_text="What the queued freeze holds now that it took effect; at most the amount asked.",
    )
    bank_reference = serializers.CharField(max_length=64)


class RejectSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField()


class ApproveSerializer(serializers.Serializer[Any]):
    opinion = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="The approver's opinion (审批意见), e.g. 同意; shown on the approval form.",
    )


class ResubmitSerializer(serializers.Serializer[Any]):
    """The officer's corrections of a request sent back; an absent field stays as it was."""

    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    amount = positive_money(required=False)
    term_months = serializers.IntegerField(required=False, min_value=1, max_value=32767)
    instrument_number = serializers.CharField(required=False, allow_blank=True, max_length=64)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class EventSerializer(ModelSerializer[Event]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = Event
        # chain_seq, prev_hash and hash: the event's link of the audit chain (docs/audit.md).
        fields = ["at", "actor", "type", "data", "chain_seq", "prev_hash", "hash"]

    def get_actor(self, event: Event) -> str | None:
        return event.actor.username if event.actor_id else None  # type: ignore[union-attr]


class ShareSerializer(serializers.Serializer[Any]):
    victim = serializers.IntegerField()
    name = serializers.CharField()
    loss_amount = money()
    already_returned = money(help_text="Returned, awaiting return, or reserved by a round.")
    owed = money(help_text="What the victim is still owed: the loss less already_returned.")
    amount = money()


class AllocationSerializer(serializers.Serializer[Any]):
    freeze = serializers.IntegerField()
    available = money(help_text="What is shared: the freeze's available funds, at most all owed.")
    freeze_available = money(help_text="What the freeze holds less open releases and returns.")
    shares = ShareSerializer(many=True)


class ObjectionSerializer(ModelSerializer[AllocationObjection]):
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)

    class Meta:
        model = AllocationObjection
        fields = ["id", "victim", "reason", "recorded_by", "recorded_at"]
        read_only_fields = fields


class ObjectionCreateSerializer(serializers.Serializer[Any]):
    victim = serializers.IntegerField(help_text="The objecting victim's id.")
    reason = serializers.CharField()


class RoundCreateSerializer(serializers.Serializer[Any]):
    freeze = serializers.IntegerField(help_text="The freeze's id.")


class RoundShareSerializer(ModelSerializer[AllocationShare]):
    name = serializers.CharField(source="victim.name", read_only=True)
    loss_amount = money(read_only=True)
    already_returned = money(read_only=True)
    owed = money(read_only=True)
    amount = money(read_only=True)
    return_instruction = serializers.IntegerField(
        source="return_instruction_id", read_only=True, allow_null=True
    )

    class Meta:
        model = AllocationShare
        fields = [
            "victim",
            "name",
            "loss_amount",
            "already_returned",
            "owed",
            "amount",
            "return_instruction",
        ]
        read_only_fields = fields


class RoundSerializer(ModelSerializer[AllocationRound]):
    """An allocation round (R10) as API.md lists it, with read-only extensions."""

    case = serializers.SerializerMethodField()
    available = money(read_only=True)
    freeze_available = money(read_only=True)
    shares = RoundShareSerializer(many=True, read_only=True)
    objections = ObjectionSerializer(many=True, read_only=True)
    returns = serializers.SerializerMethodField()
    opened_by = serializers.CharField(source="opened_by.username", read_only=True)
    confirmed_by = serializers.CharField(
        source="confirmed_by.username", read_only=True, default=None, allow_null=True
    )
    withdrawn_by = serializers.CharField(
        source="withdrawn_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = AllocationRound
        fields = [
            "id",
            "freeze",
            "status",
            "notice_until",
            "available",
            "shares",
            "returns",
            # Extensions of the contract:
            "case",
            "freeze_available",
            "opened_by",
            "opened_at",
            "objections",
            "confirmed_by",
            "confirmed_at",
            "withdrawn_by",
            "withdrawn_at",
            "withdraw_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(CaseRefSerializer)
    def get_case(self, instance: AllocationRound) -> dict[str, Any]:
        return {"id": instance.case_id, "number": instance.case.number}

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_returns(self, instance: AllocationRound) -> list[int]:
        """The approved return instructions that pay the shares, once confirmed."""
        return [s.return_instruction_id for s in instance.shares.all() if s.return_instruction_id]


class FlagEscalationSerializer(ModelSerializer[FlagEscalation]):
    """One step of an overdue flag's escalation: the unit whose managers were told, and when."""

    unit = serializers.CharField(source="unit.code", read_only=True)
    unit_name = serializers.CharField(source="unit.name", read_only=True)

    class Meta:
        model = FlagEscalation
        fields = ["step", "unit", "unit_name", "at"]
        read_only_fields = fields


class FlagSerializer(ModelSerializer[Flag]):
    escalations = FlagEscalationSerializer(many=True, read_only=True)

    class Meta:
        model = Flag
        fields = [
            "id",
            "kind",
            "level",
            "case",
            "instruction",
            "due_at",
            "raised_at",
            "resolved_at",
            "escalations",
        ]
        read_only_fields = fields


class NotificationSerializer(ModelSerializer[Notification]):
    """A notice of exactly one of a flag, an instruction or a periodic report (the others
    null), with its line and its link in the product."""

    flag = FlagSerializer(read_only=True, allow_null=True)
    case_number = serializers.CharField(read_only=True, allow_null=True)
    headline = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "reason",
            "created_at",
            "read_at",
            "mailed_at",
            "case_number",
            "flag",
            "instruction",
            "report",
            "headline",
            "url",
        ]
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField()


class IntakeVictimSerializer(VictimSerializer):
    """A victim of the report, with the victim's own account when known."""

    class Meta(VictimSerializer.Meta):
        fields = ["name", "id_number", "phone", "loss_amount", "account"]


class IntakeAccountSerializer(serializers.Serializer[Any]):
    """An account that received the money (layer 1) and the amount to stop on it."""

    institution = serializers.CharField(max_length=32, help_text="The institution's code.")
    number = serializers.CharField(max_length=64)
    holder_name = serializers.CharField(max_length=100)
    amount = positive_money(help_text="The amount to stop, in yuan.")


class IntakeSerializer(CaseSerializer):
    """``POST /cases/intake/``: the report, its victims and the accounts to stop (R13)."""

    victims: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=IntakeVictimSerializer(), min_length=1, max_length=intake.MAX_VICTIMS
    )
    accounts: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=IntakeAccountSerializer(),
        required=False,
        default=list,
        max_length=intake.MAX_ACCOUNTS,
    )

    class Meta(CaseSerializer.Meta):
        fields = ["title", "fraud_type", "reported_at", "description", "victims", "accounts"]


class IntakeResultSerializer(serializers.Serializer[Any]):
    case = CaseSerializer()
    instructions = InstructionSerializer(many=True, help_text="The stop-payments, one an account.")
    # Extension of the contract:
    victims = VictimSerializer(many=True)


class CaseSearchSerializer(serializers.Serializer[Any]):
    """``POST /cases/search/``: the term in the body, never in the address (PIPL art. 28)."""

    q = serializers.CharField(
        max_length=200,
        help_text="Case number, title, victim's name or account number (spaces and hyphens "
        "in a number do not count).",
    )
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    fraud_type = serializers.ChoiceField(choices=FraudType.choices, required=False)
    reported_from = serializers.DateTimeField(required=False)
    reported_to = serializers.DateTimeField(required=False)


class RevealSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=500, help_text="Why the full number is needed; kept in the audit trail."
    )


class RevealedAccountSerializer(serializers.Serializer[Any]):
    victim = serializers.IntegerField()
    account = VictimAccountSerializer(help_text="The number in full.")
