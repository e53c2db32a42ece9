"""Dates and times the API accepts: within the years the system can hold and show.

A year like 0 or 9999 parses, then breaks what follows: Asia/Shanghai's offset before 1901 is
its local mean time (+08:05:43, not RFC 3339), the day after 9999-12-31 does not exist. Such
inputs are a 400 on their field (API.md, "Errors").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
OUT_OF_RANGE = _("Give a date from %(first)s to %(last)s.")


def check_date_range(day: date) -> None:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise serializers.ValidationError(
            OUT_OF_RANGE % {"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()}
        )


class BoundedDateField(serializers.DateField):
    def to_internal_value(self, value: Any) -> date:
        day = super().to_internal_value(value)
        check_date_range(day)
        return day


# The widest offsets in use (UTC-12 to UTC+14); PostgreSQL refuses anything past ±15:59.
MAX_OFFSET = timedelta(hours=14)
BAD_OFFSET = _("Give a time zone offset from -12:00 to +14:00.")


def check_moment(moment: datetime, error: type[Exception] = serializers.ValidationError) -> None:
    """A time the database can hold: a year in range and a real time zone offset."""
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise error(BAD_OFFSET)
    if not EARLIEST_DATE <= moment.date() <= LATEST_DATE:
        raise error(
            OUT_OF_RANGE % {"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()}
        )


class BoundedDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value: Any) -> datetime:
        moment = super().to_internal_value(value)
        check_moment(moment)
        return moment


_M = TypeVar("_M", bound=models.Model)


class ModelSerializer(serializers.ModelSerializer[_M]):
    """DRF's, with the model's dates and times bounded as above."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: BoundedDateTimeField,
        models.DateField: BoundedDateField,
    }
