"""How the benchmarks time a call: the median of RUNS warm runs (RUNS from the environment)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

RUNS = int(os.environ.get("RUNS", "5"))


def timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """Median milliseconds of ``runs`` runs after one warm-up, and the last result."""
    value = fn()
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times), value
