"""List filters, shared by the API's lists and the pages' (the officer's case list); DRF's flavour
of django-filter, so that booleans read `true`/`false` as API.md writes them."""

from datetime import date, datetime
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from funds.account_numbers import normalise_account_number
from funds.api.fields import EARLIEST_DATE, LATEST_DATE, OUT_OF_RANGE, check_moment
from funds.models import (
    Case,
    CaseStatus,
    Flag,
    FlagKind,
    FlagLevel,
    FraudType,
    Instruction,
    InstructionKind,
    InstructionStatus,
)


class BoundedDateTimeField(forms.DateTimeField):
    """A time the database can hold (funds.api.fields.check_moment), else the filter's 400."""

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is not None:
            check_moment(moment, forms.ValidationError)
        return moment


class BoundedDateField(forms.DateField):
    def to_python(self, value: Any) -> date | None:
        day = super().to_python(value)
        if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
            raise forms.ValidationError(
                OUT_OF_RANGE % {"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()}
            )
        return day


class DateTimeFilter(filters.DateTimeFilter):
    field_class = BoundedDateTimeField


class DateFilter(filters.DateFilter):
    field_class = BoundedDateField


class CaseFilter(filters.FilterSet):
    """The case list's filters in the address: nothing personal (see CaseSearchFilter)."""

    status = filters.ChoiceFilter(choices=CaseStatus.choices)
    fraud_type = filters.ChoiceFilter(choices=FraudType.choices)
    reported_from = DateTimeFilter(field_name="reported_at", lookup_expr="gte")
    reported_to = DateTimeFilter(field_name="reported_at", lookup_expr="lt")

    class Meta:
        model = Case
        fields = ["status", "fraud_type"]


class CaseSearchFilter(CaseFilter):
    """The filters and the search term ``q``, which may be a victim's name or an account
    number: personal data, so it never travels in an address (PIPL art. 28). The API takes
    it in the body of ``POST /cases/search/``; the pages keep it in the session behind an
    opaque key (funds.views.officer.case_list)."""

    q = filters.CharFilter(
        method="search", label="number, title, victim or account number", max_length=200
    )

    class Meta(CaseFilter.Meta):
        pass

    def search(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        value = value.strip()
        if not value:
            return queryset
        matching = (
            Q(number__icontains=value)
            | Q(title__icontains=value)
            | Q(pk__in=Case.objects.filter(victims__name__icontains=value).values("pk"))
        )
        # Numbers are stored normalised: a card typed with spaces finds its account too.
        if number := normalise_account_number(value):
            matching |= Q(
                pk__in=Case.objects.filter(
                    involved_accounts__account__number__icontains=number
                ).values("pk")
            )
        return queryset.filter(matching)


class InstructionFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=InstructionStatus.choices)
    kind = filters.ChoiceFilter(choices=InstructionKind.choices)
    case = filters.NumberFilter(field_name="case_id")

    class Meta:
        model = Instruction
        fields = ["status", "kind", "case"]


class FlagFilter(filters.FilterSet):
    case = filters.NumberFilter(field_name="case_id")
    kind = filters.ChoiceFilter(choices=FlagKind.choices)
    level = filters.ChoiceFilter(choices=FlagLevel.choices)
    open = filters.BooleanFilter(field_name="resolved_at", lookup_expr="isnull", label="open")

    class Meta:
        model = Flag
        fields = ["case", "kind", "level", "open"]
