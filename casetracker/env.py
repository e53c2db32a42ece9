"""Typed readers for settings taken from the environment.

Each reader fails at start-up with a message naming the variable when its value cannot be
understood: a typo in production configuration must stop the process, not be read as a
default.
"""

import json
import os
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = _raw(name)
    if value:
        return value
    if required or default is None:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return default


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE - {''})}."
    )


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(name: str, value: str) -> timedelta:
    number, unit = value[:-1], value[-1:].lower()
    if unit not in _UNITS or not number.isdigit():
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a duration; write a whole number and one of "
            "s, m, h, d (e.g. 48h)."
        )
    return timedelta(seconds=int(number) * _UNITS[unit])


def env_duration(name: str, default: timedelta) -> timedelta:
    """Read a duration written as a number and a unit: ``90s``, ``30m``, ``48h``, ``10d``."""
    value = _raw(name)
    if not value:
        return default
    return _duration(name, value)


def env_durations(name: str, default: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
    """Read a comma-separated list of durations (``2h,4h``), each above zero, at least one."""
    value = _raw(name)
    if not value:
        return default
    parts = [part.strip() for part in value.split(",")]
    if not all(parts):
        raise ImproperlyConfigured(
            f"{name}={value!r} has an empty item; write durations separated by commas (e.g. 2h,4h)."
        )
    durations = tuple(_duration(name, part) for part in parts)
    if not all(durations):
        raise ImproperlyConfigured(f"{name}={value!r}: every duration must be above zero.")
    return durations


def env_retired(name: str, *, use: str) -> None:
    """Refuse a variable that no longer has any effect, naming the one that replaced it."""
    if _raw(name) is not None:
        raise ImproperlyConfigured(f"{name} is no longer read; set {use} instead.")


def env_month_day(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """Read a day of the year written ``MM-DD`` (``11-01``), as (month, day)."""
    value = _raw(name)
    if not value:
        return default
    month, _, day = value.partition("-")
    try:
        answer = (int(month), int(day))
        date(2000, *answer)  # a leap year, so that 02-29 is allowed
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a day of the year as MM-DD.") from None
    return answer


_RATE_PERIODS = ("sec", "min", "hour", "day")


def env_rate(name: str, default: str) -> str:
    """Read a DRF throttle rate, requests per period: ``600/min`` (sec, min, hour, day)."""
    value = _raw(name) or default
    number, slash, period = value.partition("/")
    if not slash or not number.isdigit() or int(number) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate; write a whole number above zero, a slash and "
            "one of sec, min, hour, day (e.g. 600/min)."
        )
    return value


def legal_basis_file(path: str, *, kinds: Iterable[str]) -> dict[str, str]:
    """Read the operator's legal basis per instrument kind: a JSON object of non-empty texts
    (DOCUMENT_LEGAL_BASIS_FILE, docs/documents.md)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"DOCUMENT_LEGAL_BASIS_FILE={path!r} cannot be read: {exc}"
        ) from None
    known = set(kinds)
    if not isinstance(value, dict) or not all(
        key in known and isinstance(text, str) and text.strip() for key, text in value.items()
    ):
        raise ImproperlyConfigured(
            f"DOCUMENT_LEGAL_BASIS_FILE={path!r} must hold a JSON object whose keys are among "
            f"{', '.join(sorted(known))} and whose values are non-empty texts."
        )
    return {key: text.strip() for key, text in value.items()}
