from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import ChainedEvent
from funds.models.append_only import AppendOnly


class EventType(models.TextChoices):
    """The one list of audit event types: the model's choices, the timeline's labels and the
    table in docs/lifecycle.md (a test keeps that table equal to this list)."""

    CASE_REPORTED = "case_reported", _("Case reported")
    CASE_ACCEPTED = "case_accepted", _("Case accepted")
    CASE_FILED = "case_filed", _("Case filed")
    CASE_CLOSED = "case_closed", _("Case closed")
    VICTIM_ADDED = "victim_added", _("Victim added")
    VICTIM_ACCOUNT_REVEALED = "victim_account_revealed", _("Victim's account number shown")
    ACCOUNT_ADDED = "account_added", _("Account added")
    TRANSFER_ADDED = "transfer_added", _("Transfer recorded")
    INSTRUCTION_REQUESTED = "instruction_requested", _("Request sent")
    INSTRUCTION_APPROVED = "instruction_approved", _("Request approved")
    INSTRUCTION_DECLINED = "instruction_declined", _("Request declined at approval")
    INSTRUCTION_SENT_BACK = "instruction_sent_back", _("Request sent back for correction")
    INSTRUCTION_RESUBMITTED = "instruction_resubmitted", _("Request corrected and resubmitted")
    INSTRUCTION_EXECUTED = "instruction_executed", _("Executed by the institution")
    INSTRUCTION_REJECTED = "instruction_rejected", _("Rejected by the institution")
    INSTRUCTION_CANCELLED = "instruction_cancelled", _("Request cancelled")
    STOP_LAPSED = "stop_lapsed", _("Stop-payment lapsed")
    FREEZE_EXPIRED = "freeze_expired", _("Freeze expired")
    FREEZE_TOOK_EFFECT = "freeze_took_effect", _("Queued freeze took effect")
    FREEZE_HOLD_CONFIRMED = "freeze_hold_confirmed", _("Held amount confirmed by the institution")
    FREEZE_VERIFIED = "freeze_verified", _("Frozen funds verified")
    FREEZE_FOUND_UNRELATED = "freeze_found_unrelated", _("Frozen funds found unrelated")
    DEADLINE_RECOMPUTED = "deadline_recomputed", _("Deadline recomputed after a calendar change")
    ACCOUNTS_MERGED = "accounts_merged", _("Duplicate accounts merged")
    ROUND_OPENED = "round_opened", _("Allocation round opened for public notice")
    ROUND_OBJECTION = "round_objection", _("Objection to an allocation round recorded")
    ROUND_WITHDRAWN = "round_withdrawn", _("Allocation round withdrawn")
    ROUND_CONFIRMED = "round_confirmed", _("Allocation round confirmed and returns sent")
    FLAG_ESCALATED = "flag_escalated", _("Overdue flag escalated")
    STATEMENT_IMPORTED = "statement_imported", _("Statement imported")
    LAYERS_DERIVED = "layers_derived", _("Layers derived again from the transfers")
    DOCUMENT_ISSUED = "document_issued", _("Legal instrument issued")


class Event(AppendOnly, ChainedEvent):
    """One change of state: who, when, what, and the amounts. Never edited, never deleted.

    Besides refusing in Python, PostgreSQL refuses UPDATE, DELETE and TRUNCATE on this table
    by triggers (migrations funds 0002 and 0026), so not even a raw query can rewrite history,
    and chains every row into the global audit chain (docs/audit.md).
    """

    case = models.ForeignKey("funds.Case", on_delete=models.PROTECT, related_name="events")
    instruction = models.ForeignKey(
        "funds.Instruction", on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty for the system (deadline sweep)."),
    )
    type = models.CharField(_("type"), max_length=40, choices=EventType.choices)
    at = models.DateTimeField(_("at"))
    data = models.JSONField(_("data"), default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="event_case_at")]

    def __str__(self) -> str:
        return f"{self.type} @ {self.at:%Y-%m-%d %H:%M}"


class AuditCheck(models.Model):
    """One run of ``verify_audit`` over the whole chain (funds.services.audit_chain): whether
    the chain was intact, and its head then, kept as a record the next run can be read
    against. The latest row is the alarm: readiness and administrators' pages show it."""

    at = models.DateTimeField(_("checked at"))
    ok = models.BooleanField(_("intact"))
    checked = models.BigIntegerField(_("events checked"))
    head_seq = models.BigIntegerField(_("last position"), null=True, blank=True)
    head_hash = models.CharField(_("last hash"), max_length=64, blank=True)
    problem = models.TextField(_("first mismatch"), blank=True)

    class Meta:
        verbose_name = _("audit chain check")
        verbose_name_plural = _("audit chain checks")
        ordering = ["-at", "-id"]
        get_latest_by = ["at", "id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'BROKEN'} @ {self.at:%Y-%m-%d %H:%M}"
