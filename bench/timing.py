"""Clocks for figures: throughput over a whole run, medians over single calls."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a micro-timing (as ``timeit`` does)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def seconds(work: Callable[[], object]) -> float:
    """Wall-clock seconds one call of ``work`` takes."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def median_rate(work: Callable[[], int], rounds: int) -> float:
    """The median over ``rounds`` calls of (items ``work`` reports done) / seconds taken.

    A median, not a mean: the machine is shared, and one round slowed by a
    neighbour should not move the figure.
    """
    rates = []
    with collector_paused():
        for _ in range(rounds):
            start = time.perf_counter()
            done = work()
            rates.append(done / (time.perf_counter() - start))
    return statistics.median(rates)


def paired_medians(first: Callable[[int], object], second: Callable[[int], object], samples: int) -> tuple[float, float]:
    """Median microseconds per call of ``first(k)`` and of ``second(k)``, for k in range(samples).

    The two are timed alternately, call by call, so that a burst of load on
    the machine falls on both sides of the ratio and not on one.
    """
    first_times: list[int] = []
    second_times: list[int] = []
    with collector_paused():
        for sample in range(samples):
            for work, times in ((first, first_times), (second, second_times)):
                start = time.perf_counter_ns()
                work(sample)
                times.append(time.perf_counter_ns() - start)
    return statistics.median(first_times) / 1000, statistics.median(second_times) / 1000


def paired_rates(first: Callable[[], int], second: Callable[[], int], rounds: int) -> tuple[float, float]:
    """Median rates (items done / seconds) of ``first()`` and of ``second()`` over ``rounds`` rounds each.

    The two alternate round by round, as in :func:`paired_medians`, so that
    load from elsewhere on the machine falls on both rates, not on one.
    """
    first_rates: list[float] = []
    second_rates: list[float] = []
    with collector_paused():
        for _ in range(rounds):
            for work, rates in ((first, first_rates), (second, second_rates)):
                start = time.perf_counter()
                done = work()
                rates.append(done / (time.perf_counter() - start))
    return statistics.median(first_rates), statistics.median(second_rates)
