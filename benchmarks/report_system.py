"""The report's sections on what surrounds the training (memory, epoch overhead, neighbours,
import time): Markdown lines from the results of sec_system.py, for report.Report.render."""

from __future__ import annotations

from typing import Dict, List

from report_format import fmt_time, section_head, table_head


def memory_section(r: Dict) -> List[str]:
    """## Memory: peak RSS of W2's training, each system in a fresh process, against the
    lower bound of its data."""
    mem = r["memory"]
    b = mem["bound_mb"]
    out = section_head(
        "Memory (W2, one epoch)",
        f"Lower bound: data {b['data']:.1f} MB ({mem['samples']:,} x "
        f"({r['config']['w2_sizes'][0]} + {r['config']['w2_sizes'][-1]}) float32) + "
        f"parameters {b['params']:.2f} MB + gradients {b['grads']:.2f} MB + "
        f"activations {b['activations']:.2f} MB (Z, H, dZ of every layer for one "
        f"batch) = **{sum(b.values()):.1f} MB**. Each system trains in a fresh "
        "process; peak RSS is that process's `ru_maxrss` (VmHWM agrees).",
        ("system", "peak RSS", "RSS after import", "peak RSS - bound"),
    )
    for system, row in mem["rows"].items():
        if "maxrss_mb" in row:
            out.append(
                f"| {system} | {row['maxrss_mb']:.1f} MB | {row['import_mb']:.1f} MB"
                f" | {row['maxrss_mb'] - sum(b.values()):+.1f} MB |"
            )
        else:
            out.append(f"| {system} | {row.get('status')} | | |")
    out.append("")
    return out


def epoch_section(ep: Dict) -> List[str]:
    """## Epoch overhead: fit's Python layer per epoch, against the core's loop."""
    out = section_head(
        "Epoch overhead",
        f"{ep['title']}; best of {ep['repeats']} runs each, the variants taking turns "
        "(a run of each in every round). The core runs the epoch "
        "loop and re-enters Python at most once per epoch, only when callbacks, "
        "progress output or early stopping are attached. Overhead = the variant's "
        "time per epoch minus the core loop's (below zero: a difference within the "
        "timings' noise); fixed = the cost of a call itself: a one-epoch call's best time "
        "less one epoch.",
        ("fit variant", "time per epoch", "overhead per epoch", "fixed per call"),
    )
    out += [
        f"| {row['label']} | {row['per_epoch'] * 1e6:.2f} µs | "
        f"{row['overhead'] * 1e6:+.2f} µs | {row['fixed'] * 1e6:.0f} µs |"
        for row in ep["rows"]
    ] + [""]
    return out


def neighbours_section(nb: Dict) -> List[str]:
    """## Neighbours: calls right after another library's, against the same calls alone."""
    out = section_head(
        "Neighbours",
        "A chainrule call right after a NumPy product (OpenBLAS's threads then spin on "
        "the other cores for a while) and a NumPy product right after a chainrule call "
        "(chainrule's pool workers spin likewise), against the same calls alone: "
        f"medians of {nb['calls']} calls each, {nb['threads']} threads, in a fresh "
        "process (`benchmarks/neighbours.py`). chainrule's caller runs the tasks of a "
        "worker that has not started, so such a call should take about one thread's time.",
        ("call", "alone", "right after a NumPy product", "the same, one thread"),
    )
    for row in nb["chainrule"]:
        out.append(
            f"| {row['label']} | {row['alone']:.1f} µs | {row['after_numpy']:.1f} µs "
            f"({row['after_numpy'] / row['alone']:.2g}x) | "
            f"{row['one_thread_after_numpy']:.1f} µs |"
        )
    npr = nb["numpy"]
    out += [
        "",
        *table_head(("call", "alone", "right after a chainrule call")),
        f"| {npr['label']} | {npr['alone']:.1f} µs | {npr['after_chainrule']:.1f} µs "
        f"({npr['after_chainrule'] / npr['alone']:.2g}x) |",
        "",
    ]
    return out


def import_section(imp: Dict) -> List[str]:
    """## Import time."""
    out = section_head(
        "Import time",
        f'`python -c "import X"`, best of {imp["repeats"]} runs, minus the bare '
        f"interpreter start (`python -c pass`: {fmt_time(imp['bare'])}).",
        ("module", "import time"),
    )
    for module, s in imp["rows"].items():
        out.append(f"| {module} | {'not installed' if s is None else fmt_time(s)} |")
    out.append("")
    return out
