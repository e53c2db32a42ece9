"""Money columns: exact decimal yuan with two places, never floating point."""

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

ZERO = Decimal("0.00")
MAX_DIGITS = 16


def money_field(verbose_name: "str | _StrPromise", **kwargs: Any) -> Any:
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(verbose_name, max_digits=MAX_DIGITS, decimal_places=2, **kwargs)
