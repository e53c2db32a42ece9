"""The administrators' pages of funds: the working-day calendar of R11, the mail outbox, the
units' instrument numberings, and the audit trail with its chain and checks (read-only).

Saving a year goes through funds.services.calendar.calendar_year_set, so the deadlines
counted over it are recomputed and the change is recorded; a year is never deleted.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.audit import request_address, security_event_record
from accounts.models import SecurityEventType, User
from funds.errors import RuleViolation
from funds.models import (
    AuditCheck,
    CalendarChange,
    CalendarDay,
    CalendarYear,
    Event,
    InstrumentSeries,
    OutgoingMail,
)
from funds.services.calendar import CalendarEntry, calendar_days_validate, calendar_year_set
from funds.services.mail import mail_retry

# "2027-01-01 元旦" or "2027-02-06..2027-02-12 春节"; the name may be left out.
LINE = re.compile(
    r"^(?P<first>\d{4}-\d{2}-\d{2})(?:\s*\.\.\s*(?P<last>\d{4}-\d{2}-\d{2}))?(?:\s+(?P<name>.*))?$"
)


def parse_calendar_lines(text: str) -> list[CalendarEntry]:
    """The days of a textarea, one date or range per line; blank lines and # comments skipped."""
    entries: list[CalendarEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.replace("\u3000", " ").strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        try:
            if match is None:
                raise ValueError
            first = date.fromisoformat(match["first"])
            last = date.fromisoformat(match["last"]) if match["last"] else first
        except ValueError:
            raise ValidationError(
                _("Line %(n)d: write a date or a range and a name, e.g. %(example)s.")
                % {"n": number, "example": "2027-02-06..2027-02-12 春节"}
            ) from None
        if last < first or (last - first).days > 31:
            raise ValidationError(
                _("Line %(n)d: a range runs forwards, over at most a month.") % {"n": number}
            )
        name = (match["name"] or "").strip()
        entries.extend(
            CalendarEntry(first + timedelta(days=offset), name)
            for offset in range((last - first).days + 1)
        )
    return entries


def format_calendar_lines(days: list[CalendarDay]) -> str:
    """The inverse of parse_calendar_lines: runs of consecutive days of one name as ranges."""
    lines = []
    runs: list[list[CalendarDay]] = []
    for day in sorted(days, key=lambda day: day.date):
        if runs and runs[-1][-1].name == day.name and runs[-1][-1].date + timedelta(1) == day.date:
            runs[-1].append(day)
        else:
            runs.append([day])
    for run in runs:
        first, last = run[0].date, run[-1].date
        span = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        lines.append(f"{span} {run[0].name}".rstrip())
    return "\n".join(lines)


class CalendarYearForm(forms.ModelForm[CalendarYear]):
    holidays = forms.CharField(
        label=gettext_lazy("Public holidays"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}),
        help_text=gettext_lazy(
            "One per line: a date or a range, then the name, e.g. 2027-01-01 元旦 or "
            "2027-02-06..2027-02-12 春节. Weekends inside a holiday may be included."
        ),
    )
    working_days = forms.CharField(
        label=gettext_lazy("Adjusted working days"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text=gettext_lazy(
            "The Saturdays and Sundays that are worked (调休上班), one per line, e.g. "
            "2027-02-20 春节."
        ),
    )

    class Meta:
        model = CalendarYear
        fields = ["year", "covered"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and not self.is_bound:
            days = list(self.instance.days.all())
            self.initial["holidays"] = format_calendar_lines(
                [d for d in days if not d.is_working_day]
            )
            self.initial["working_days"] = format_calendar_lines(
                [d for d in days if d.is_working_day]
            )
        elif self.instance.pk is None:
            self.fields["covered"].initial = True

    def clean_holidays(self) -> list[CalendarEntry]:
        return parse_calendar_lines(self.cleaned_data["holidays"])

    def clean_working_days(self) -> list[CalendarEntry]:
        return parse_calendar_lines(self.cleaned_data["working_days"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        year = cleaned.get("year", self.instance.pk)
        if year is not None and "holidays" in cleaned and "working_days" in cleaned:
            try:
                calendar_days_validate(year, cleaned["holidays"], cleaned["working_days"])
            except RuleViolation as error:
                field = error.field if error.field in self.fields else None
                self.add_error(field, error.message)
        return cleaned


class CalendarChangeInline(admin.TabularInline[CalendarChange, CalendarYear]):
    model = CalendarChange
    extra = 0
    can_delete = False
    fields = ["at", "actor", "data"]
    readonly_fields = ["at", "actor", "data"]
    verbose_name_plural = gettext_lazy("History")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin[CalendarYear]):
    form = CalendarYearForm
    list_display = ["year", "covered", "source", "day_count", "updated_by", "updated_at"]
    list_filter = ["covered", "source"]
    list_select_related = ["updated_by"]
    inlines = [CalendarChangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalendarYear]:
        return super().get_queryset(request).annotate(day_count=Count("days"))

    @admin.display(description=gettext_lazy("days entered"), ordering="day_count")
    def day_count(self, obj: CalendarYear) -> int:
        return int(getattr(obj, "day_count", 0))

    def get_readonly_fields(self, request: HttpRequest, obj: CalendarYear | None = None) -> Any:
        readonly = ["source", "updated_by", "updated_at"]
        return ["year", *readonly] if obj is not None else readonly

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A year is corrected, never removed: removing it would silently bring back the
        # Monday-Friday count for deadlines already computed over it.
        return False

    def save_model(self, request: HttpRequest, obj: CalendarYear, form: Any, change: bool) -> None:
        assert isinstance(request.user, User)
        change_record = calendar_year_set(
            actor=request.user,
            year=obj.year,
            holidays=form.cleaned_data["holidays"],
            working_days=form.cleaned_data["working_days"],
            covered=form.cleaned_data["covered"],
        )
        obj.refresh_from_db()
        obj._state.adding = False
        recomputed = change_record.data["recomputed_instructions"] if change_record else []
        if recomputed:
            self.message_user(
                request,
                ngettext(
                    "%(n)d return deadline was recomputed.",
                    "%(n)d return deadlines were recomputed.",
                    len(recomputed),
                )
                % {"n": len(recomputed)},
                messages.WARNING,
            )


@admin.register(OutgoingMail)
class OutgoingMailAdmin(admin.ModelAdmin[OutgoingMail]):
    """The outbox, read-only: what was mailed, what waits and why; given-up mail retried."""

    list_display = ["created_at", "to", "subject", "state", "attempts", "next_attempt_at"]
    list_filter = [
        ("sent_at", admin.EmptyFieldListFilter),
        ("gave_up_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["to", "subject"]
    date_hierarchy = "created_at"
    actions = ["retry_now"]
    exclude = ["attachment"]

    def get_readonly_fields(self, request: HttpRequest, obj: OutgoingMail | None = None) -> Any:
        return [f.name for f in OutgoingMail._meta.fields if f.name != "attachment"]

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: OutgoingMail) -> str:
        if obj.sent_at:
            return _("Sent")
        if obj.gave_up_at:
            return _("Given up")
        if obj.claimed_at:
            return _("Sending")
        return _("Retrying") if obj.last_error else _("Waiting")

    @admin.action(description=gettext_lazy("Retry the given-up mail now"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutgoingMail]) -> None:
        assert isinstance(request.user, User)
        retried = mail_retry(actor=request.user, mail_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(n)d given-up mail will be sent again.",
                "%(n)d given-up mails will be sent again.",
                retried,
            )
            % {"n": retried},
            messages.SUCCESS if retried else messages.WARNING,
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Rows change only through the delivery task and the action (funds.services.mail).
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin[M: (Event, AuditCheck)](admin.ModelAdmin[M]):
    """Shown, never added, changed or deleted (the database refuses too)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin[Event]):
    """The case events, with their links of the audit chain (docs/audit.md)."""

    list_display = ["chain_seq", "at", "type", "case", "actor", "hash"]
    list_filter = ["type"]
    list_select_related = ["case", "actor"]
    search_fields = ["hash", "case__number"]
    ordering = ["-chain_seq"]
    show_full_result_count = False
    fields = [
        "chain_seq",
        "at",
        "type",
        "case",
        "instruction",
        "actor",
        "data",
        "prev_hash",
        "hash",
    ]


@admin.register(AuditCheck)
class AuditCheckAdmin(ReadOnlyAdmin[AuditCheck]):
    """Each periodic verification of the chain (funds.tasks.verify_audit_chain)."""

    list_display = ["at", "ok", "checked", "head_seq", "head_hash", "problem"]
    list_filter = ["ok"]


@admin.register(InstrumentSeries)
class InstrumentSeriesAdmin(admin.ModelAdmin[InstrumentSeries]):
    """How each unit numbers its instruments (docs/documents.md). A change applies to numbers
    issued from then on; issued ones stay as they are, and the change is a security event of
    the unit (organization_changed)."""

    list_display = ["unit", "kind", "pattern", "example"]
    list_filter = ["kind"]
    list_select_related = ["unit"]
    search_fields = ["unit__code", "unit__name", "pattern"]

    @admin.display(description=gettext_lazy("example"))
    def example(self, obj: InstrumentSeries) -> str:
        return obj.pattern.format(year=timezone.localtime().year, number=1, unit_code=obj.unit.code)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Removing a numbering would quietly switch the unit to the default pattern.
        return False

    def save_model(
        self, request: HttpRequest, obj: InstrumentSeries, form: Any, change: bool
    ) -> None:
        assert isinstance(request.user, User)
        before = (
            InstrumentSeries.objects.filter(pk=obj.pk).values_list("pattern", flat=True).first()
            if change
            else None
        )
        super().save_model(request, obj, form, change)
        security_event_record(
            SecurityEventType.ORGANIZATION_CHANGED,
            actor=request.user,
            ip_address=request_address(request),
            organization=obj.unit_id,
            changed={f"instrument_series.{obj.kind}": [before, obj.pattern]},
        )
