"""Dates and times the API accepts: within the years the system can hold and show.

A year like 0 or 9999 parses, then breaks what follows: Asia/Shanghai's offset before 1901 is
its local mean time (+08:05:43, not RFC 3339), the day after 9999-12-31 does not exist. Such
inputs are a 400 on their field (API.md, "Errors").
"""

from __future__ import annotations

import copy
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


# No docstring: drf-spectacular describes a serializer by the first docstring of its classes,
# and the schema's descriptions stay those of ModelSerializer above.
class FieldsBuiltOnce:
    # Build a serializer's fields once per process and give each instance a copy. DRF's
    # ModelSerializer builds its fields from the model's meta on every instantiation, half
    # the cost of validating or rendering a small object (issue 16: POST /cases/ does both).
    # Only for serializers whose fields depend on nothing but the class: no context, instance
    # or request. The copy is DRF's own (each field re-made from its arguments), as for
    # declared fields.

    _built_fields: dict[str, serializers.Field[Any, Any, Any, Any]]

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()  # type: ignore[misc]
            cls._built_fields = built
        return copy.deepcopy(built)
