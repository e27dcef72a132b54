"""The machine table's lines on what the machine did during the run (other processes' load,
where the vCPUs sat, whether chainrule's pool worker was there): text from the run's results,
for report.Report.header."""

from __future__ import annotations

from typing import Dict, Optional

import timing
from report_format import fmt

#: a cache-line round trip above this (pingpong.cpp) means the two vCPUs sat on two dies
TWO_DIES_NS = 200
#: above this the two dies are far apart: on a Zen 4 VM the round trip read 124-200 ns most of
#: the time and 346-600 ns in spells of minutes, when W4 took 17.6 µs against 13.7 and W1's
#: two threads no longer paid; a row measured so is marked
FAR_APART_NS = 300


def pool_summary(r: Dict) -> str:
    """The share of chainrule's worker parts its calling thread ran itself, by section
    (chainrule.runtime.thread_pool_stats): the worker had not started a few µs into a call,
    its core taken by another program or not scheduled, and such calls ran at about one
    thread's speed. Sections that measure chainrule in other processes count nothing."""
    pool = {k: v for k, v in (r.get("pool") or {}).items() if v.get("worker_parts")}
    if not pool:
        return ""
    share = {k: v["worker_parts_run_by_caller"] / v["worker_parts"] for k, v in pool.items()}
    parts = ", ".join(
        f"{k} {fmt(100 * share[k])}% of {v['worker_parts']:,}" for k, v in pool.items()
    )
    away = [k for k in pool if share[k] >= 0.05]
    return (
        parts + " worker parts run by the calling thread (chainrule.runtime.thread_pool_stats:"
        " the worker had not started a few µs into the call, its core busy or not scheduled;"
        " such calls run at about one thread's speed"
        + (f"; 5% or more during: {', '.join(away)}" if away else "")
        + ")"
    )


def round_trip_summary(r: Dict) -> str:
    """The cache-line round trip between CPUs 0 and 1 before each section (pingpong.cpp):
    on a VM the vCPUs may sit on one die or two, which moves every 2-thread figure."""
    rt = {k: v for k, v in (r.get("round_trip") or {}).items() if v}
    if not rt:
        return ""
    parts = ", ".join(f"{k} {v:.0f} ns" for k, v in rt.items())
    far = [k for k, v in rt.items() if v > TWO_DIES_NS]
    return (
        parts + " (benchmarks/pingpong.cpp; ~50-100 ns: both vCPUs on one die; "
        f"{TWO_DIES_NS} ns and more: on two dies, where threads sharing data run slower"
        + (f"; far apart during: {', '.join(far)}" if far else "")
        + ")"
    )


def gemm_turns(g: Dict, quiet: bool) -> str:
    """How the systems shared the GEMM section's time (``quiet``: each turn waited for a quiet
    machine)."""
    rounds = g.get("rounds")
    if not rounds:  # a run from before the systems took turns: a pass each
        return ""
    return (
        f"The systems take turns case by case, {rounds} turns each (the order reversed every "
        "other round)" + (", each after a quiet 0.3 s window" if quiet else "") + ", and each "
        "keeps its best turn: a spell of a slow host falls on all of them, not on one "
        "system's pass. "
    )


def gemm_placement(g: Dict) -> str:
    """The vCPUs' round trip before and after the GEMM section (before and after each system's
    pass in runs from before the systems took turns), when measured."""
    placed = {k: v for k, v in (g.get("placement") or {}).items() if v and all(v)}
    if not placed:
        return ""
    slower = "threads that share data run slower there"
    if list(placed) == ["section"]:
        before, after = placed["section"]
        far = max(before, after) > TWO_DIES_NS
        return (
            f" Core-to-core round trip before / after the section: {before:.0f} / {after:.0f} ns"
            + (f" (on two dies at least part of the time: {slower})." if far else ".")
        )
    parts = ", ".join(f"{k} {v[0]:.0f} / {v[1]:.0f} ns" for k, v in placed.items())
    far = [k for k, v in placed.items() if max(v) > TWO_DIES_NS]
    return f" Core-to-core round trip before / after each pass: {parts}" + (
        f"; on two dies at least part of the time: {', '.join(far)} ({slower}, so ratios "
        "across placements are not like for like)."
        if far
        else "."
    )


def far_apart(round_trip) -> Optional[str]:
    """A mark for a row whose vCPUs sat far apart (round trip over FAR_APART_NS) before or
    after its measurement, else None."""
    known = [v for v in (round_trip or []) if v]
    if not known or max(known) <= FAR_APART_NS:
        return None
    before, after = (f"{v:.0f} ns" if v else "?" for v in round_trip)
    return f"**vCPUs far apart: core-to-core round trip {before} before, {after} after**"


def host_slowdown(r: Dict, probe: Optional[float]) -> Optional[float]:
    """A host probe's seconds over the run's fastest (None when either is missing)."""
    fastest = r.get("probe_fastest")
    if probe is None or not fastest or fastest == float("inf"):
        return None
    return probe / fastest


def background_summary(r: Dict) -> str:
    """Other processes' share of the CPUs while each measurement ran."""
    entries = [e for e in r.get("background", []) if e["share"] is not None]
    if not entries:
        return "not measured"
    worst = max(entries, key=lambda e: e["share"])
    busy = [e for e in entries if e["share"] >= 0.05]
    text = (
        f"other processes took {100 * worst['share']:.0f}% of the CPUs at worst "
        f"({worst['label']}); {len(busy)} of {len(entries)} measurements saw 5% or more"
    )
    waited = sum(e["waited"] for e in entries)
    if r.get("max_wait"):
        text += (
            f"; before each measurement the harness waited (up to "
            f"{r['max_wait']:.0f} s, {waited:.0f} s in all) for a quiet 0.5 s"
        )
    slowdowns = [host_slowdown(r, e.get("probe")) for e in r.get("background", [])]
    probed = [s for s in slowdowns if s is not None]
    if probed:
        slow = sum(s >= timing.SLOW_HOST for s in probed)
        text += (
            f"; the host was slow around {slow} of {len(probed)} measurements (a fixed "
            f"pure-Python loop, timed before and after each, took {timing.SLOW_HOST:g}x its "
            "fastest time in the run or longer: the VM's core shared with another guest, "
            "presumably)"
        )
    return text + (
        ". Figures taken under load, on a slow host or with the vCPUs far apart are marked in"
        " the notes"
    )
