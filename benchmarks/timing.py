"""Timing helpers shared by the harness and its subprocess workers (time.perf_counter only)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, List, Optional, Tuple


def best_of(
    make: Callable[[], Callable[[], Any]],
    repeats: int,
    warmup: int = 1,
    budget: float = 0.0,
    max_runs: int = 200,
) -> Tuple[float, Any]:
    """Best (minimum) wall time of at least ``repeats`` runs after ``warmup`` untimed runs, and
    of more while the timed runs have taken less than ``budget`` seconds in all (up to
    ``max_runs``): a run of a few milliseconds is timed many times, so that its best is not one
    that a stray interruption spoiled, and a long one ``repeats`` times.

    ``make()`` builds fresh state outside the clock and returns the callable to time, so every
    run starts from the same state (a training run, for example, from the same weights).
    Returns (seconds, what the last timed run returned)."""
    for _ in range(warmup):
        make()()
    best, out, spent, runs = float("inf"), None, 0.0, 0
    while runs < max(1, repeats) or (spent < budget and runs < max_runs):
        fn = make()
        t0 = time.perf_counter()
        out = fn()
        took = time.perf_counter() - t0
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best, out


#: calls adaptive_best times at most: a call of a few microseconds (a 64 x 64 GEMM) runs as
#: many as fit in the budget up to this, so its best call is the best of a thousand, not of the
#: 30 that once were the cap (whose best moved by +-10% from run to run)
MAX_REPS = 1000


def adaptive_best(
    fn: Callable[[], Any], budget: float = 0.3, max_reps: int = MAX_REPS, single_above: float = 1.0
) -> Tuple[float, int]:
    """Time ``fn`` adaptively: the first call is timed; if it took longer than ``single_above``
    seconds that single figure is the result (large GEMMs), otherwise the call is repeated until
    ``budget`` seconds or ``max_reps`` calls and the best call is reported (the first call
    counting as the warm-up). Returns (best seconds, number of timed calls)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > single_above:
        return first, 1
    times: List[float] = []
    spent = first
    while len(times) < 3 or (spent < budget and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return min(times), len(times)


LATENCY_BLOCKS = 5
LATENCY_PAUSE = 0.2  # seconds between blocks


def median_latency(fn: Callable[[], Any], calls: int, warmup: int = 100) -> float:
    """Wall time of one call of ``fn``: the lowest median of LATENCY_BLOCKS blocks of
    individually timed calls (``calls`` in all), LATENCY_PAUSE seconds apart.

    A block's median, not the fastest call, and the best of a few blocks as the training
    workloads take the best of a few runs: on a shared VM the speed of a core can change for
    seconds at a time (on one such machine a pure-Python loop took 2.0 µs, then 3.4 µs for a
    few seconds, then 2.0 again, with no process of this machine busy), and one block of a
    few milliseconds falls wholly in one such state."""
    for _ in range(warmup):
        fn()
    per_block = max(1, calls // LATENCY_BLOCKS)
    medians = []
    for block in range(LATENCY_BLOCKS):
        if block:
            time.sleep(LATENCY_PAUSE)
        times = []
        for _ in range(per_block):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times))
    return min(medians)


#: A measurement whose host probe read this much over the run's fastest ran while the host was
#: slow (a neighbour on the VM's core, presumably): the report marks it.
SLOW_HOST = 1.2


def scalar_probe() -> float:
    """Seconds of a fixed pure-Python loop of integer arithmetic (the best of three).

    On a shared VM the host can slow this machine's cores for seconds at a time with nothing of
    the VM busy (/proc/stat shows no load and little steal): on one such machine this probe
    took 1.7x as long, a one-row predict 1.8x, a 64 x 64 matmul 1.1x. Comparing it with its
    fastest reading in the run tells such a state apart."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(3000):
            total += i * i
        best = min(best, time.perf_counter() - t0)
    return best


class BackgroundLoad:
    """CPU time that processes other than this one (and its waited-for children) take while we
    measure, from /proc/stat: a busy machine makes every figure, and multi-threaded peers most
    of all, slower. Linux only; elsewhere every share reads as None."""

    def __init__(self) -> None:
        import os

        self.cpus = os.cpu_count() or 1
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.fastest = float("inf")  # the fastest scalar_probe so far
        self.last_probe: Optional[float] = None  # the slower probe around the last run

    def probe(self) -> float:
        """scalar_probe(), keeping the fastest reading."""
        seconds = scalar_probe()
        self.fastest = min(self.fastest, seconds)
        return seconds

    def snapshot(self) -> Optional[Tuple[float, float, float]]:
        """(wall seconds, busy CPU seconds of the machine, CPU seconds of this process tree)."""
        import resource

        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        busy = (sum(fields) - fields[3] - fields[4]) / self.tick  # all but idle and iowait
        own = sum(
            getattr(resource.getrusage(who), attr)
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            for attr in ("ru_utime", "ru_stime")
        )
        return time.perf_counter(), busy, own

    def share(self, start, end) -> Optional[float]:
        """Fraction of the machine's CPU time other processes used between two snapshots;
        None over less than 0.2 s, too short for /proc/stat's clock ticks."""
        if start is None or end is None or end[0] - start[0] < 0.2:
            return None
        others = (end[1] - start[1]) - (end[2] - start[2])
        return min(1.0, max(0.0, others / (self.cpus * (end[0] - start[0]))))

    def wait_until_quiet(
        self, max_wait: float, threshold: float = 0.1, window: float = 0.5
    ) -> float:
        """Wait (up to ``max_wait`` seconds) for a ``window`` in which other processes use less
        than ``threshold`` of the CPUs; returns the seconds waited. (It does not wait for a fast
        host probe: on one such machine, fast readings came seldom and singly, a slow host the
        rule for minutes.)"""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < max_wait:
            start = self.snapshot()
            time.sleep(window)
            share = self.share(start, self.snapshot())
            if share is None or share < threshold:
                break
        return time.perf_counter() - t0


def run_when_quiet(
    fn: Callable[[], Any],
    load: BackgroundLoad,
    max_wait: float,
    attempts: int = 3,
    threshold: float = 0.1,
    window: float = 0.5,
) -> Tuple[Any, Optional[float], float]:
    """Run ``fn`` after waiting (up to ``max_wait`` s) for a quiet machine; while other
    processes took ``threshold`` or more of the CPUs during the run, wait and run it again, up
    to ``attempts`` runs in all. Returns (result of the least disturbed run, the share of the
    CPUs other processes took during it, seconds spent waiting). The host probe before and
    after that run, the slower, is left in ``load.last_probe``."""
    best: Optional[Tuple[Any, Optional[float], float]] = None
    waited = 0.0
    for _ in range(max(1, attempts)):
        waited += load.wait_until_quiet(max_wait, threshold, window)
        before = load.probe()
        start = load.snapshot()
        out = fn()
        share = load.share(start, load.snapshot())
        probe = max(before, load.probe())
        if best is None or (share is not None and (best[1] is None or share < best[1])):
            best = (out, share, probe)
        if share is None or share < threshold or max_wait <= 0:
            break
    load.last_probe = best[2]
    return best[0], best[1], waited
