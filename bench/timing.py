"""Timing shared by the benchmarks of pages and endpoints: the median of repeated runs after a warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(function: Callable[[], object], runs: int = 7) -> float:
    """Milliseconds, the median of ``runs`` calls after one warm-up call (caches, connections)."""
    function()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)
