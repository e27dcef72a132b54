"""The report's GEMM section and the figures its targets read: Markdown lines from the
results of sec_gemm.py, for report.Report.render and targets.py."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import timing
from report_format import fmt, ratio_text
from report_machine import gemm_placement, gemm_turns


def outputs_note(config: Dict) -> str:
    """The GEMM table's output-layer rows, as (batch, n_in, n_out) (none in older results)."""
    outputs = config.get("gemm_outputs") or ()
    if not outputs:
        return ""
    return (
        ", then of output layers (batch, n_in, n_out: "
        + ", ".join(str(tuple(o)) for o in outputs)
        + ")"
    )


def reference(r: Dict) -> Optional[Dict]:
    """The NumPy variant the GEMM targets are checked against (None if it failed)."""
    g = r["GEMM"]
    return next((v for v in g["numpy"] if v["label"] == g["reference"]), None)


def worst(r: Dict, dtype: str, lo: Optional[int], hi: Optional[int]):
    """The lowest chainrule / reference ratio of the square cases of ``dtype`` with n in
    [lo, hi], and its case, or None."""
    g, ref = r["GEMM"], reference(r)
    if ref is None:
        return None
    found = None
    for case, c, n in zip(g["cases"], g["chainrule"], ref["results"]):
        if case["dtype"] != dtype or "x" in case["shape"]:
            continue
        size = case["m"]
        if (lo is not None and size < lo) or (hi is not None and size > hi):
            continue
        ratio = c["gflops"] / n["gflops"]
        if found is None or ratio < found[0]:
            found = (ratio, f"{case['op']} n={size}")
    return found


def table(rep: Any) -> List[str]:
    """The table of every case, chainrule beside each NumPy variant."""
    g = rep.r["GEMM"]
    variants = [v for v in g["numpy"] if "results" in v]
    ref = reference(rep.r)
    head = ["dtype", "shape m x k x n", "op", "chainrule GFLOP/s"]
    head += [f"NumPy {v['kernel']} ({v['label']})" for v in variants]
    kernels = [v["kernel"] for v in variants]
    head += [
        f"chainrule / NumPy {v['kernel']}"
        + (f" ({v['label']})" if kernels.count(v["kernel"]) > 1 else "")
        for v in variants
    ]
    head += ["chainrule % of peak"]
    if ref is not None:
        head += [f"NumPy {ref['kernel']} % of peak"]
    base = g.get("chainrule_base")
    if base:
        head += ["chainrule-base GFLOP/s", "chainrule / chainrule-base"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    loaded = lambda res: " †" if (res.get("background") or 0) >= 0.05 else ""
    for i, (case, c) in enumerate(zip(g["cases"], g["chainrule"])):
        dt = "fp32" if case["dtype"] == "float32" else "fp64"
        shape = (
            f"{case['m']}"
            if "x" not in case["shape"]
            else f"{case['m']} x {case['k']} x {case['n']}"
        )
        cells = [
            case["dtype"],
            shape,
            case["op"],
            fmt(c["gflops"]) + (" (1 call)" if c["calls"] == 1 else "") + loaded(c),
        ]
        cells += [fmt(v["results"][i]["gflops"]) + loaded(v["results"][i]) for v in variants]
        cells += [ratio_text(c["gflops"] / v["results"][i]["gflops"]) for v in variants]
        cells += [fmt(rep.pct_peak(c["gflops"], dt)) + "%"]
        if ref is not None:
            cells += [fmt(rep.pct_peak(ref["results"][i]["gflops"], dt)) + "%"]
        if base:
            cells += [
                fmt(base[i]["gflops"]) + loaded(base[i]),
                ratio_text(c["gflops"] / base[i]["gflops"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    note = "\n† measured while other processes took 5% or more of the CPUs"
    if rep.r.get("max_wait"):
        note += (
            " (after 3 attempts); cases under 0.2 s are too short to tell and ran right "
            "after a quiet 0.3 s window"
        )
    lines.append(note + ".")
    for v in g["numpy"]:
        if "error" in v:
            lines.append(f"\nNumPy ({v['label']}) failed: {v['error']}")
    return lines


def section(rep: Any) -> List[str]:
    """## GEMM: how the cases were measured, then their table."""
    r, g = rep.r, rep.r["GEMM"]
    return [
        "## GEMM",
        "",
        f"chainrule: `chainrule._core.kernels.matmul` ({g['chainrule_threads']} "
        f"thread{'s' * (g['chainrule_threads'] > 1)}); NumPy: `numpy.matmul` on the "
        "same operands with transposed views "
        f"(TN: A.T @ B with A (k, m); NT: A @ B.T with B (n, k)), {rep.threads} "
        "threads, each environment variant in its own process. Square rows have "
        "m = k = n; the others are the training step's GEMMs of W2's hidden layers "
        f"(NN forward, TN for dW, NT for dH){outputs_note(r['config'])}. "
        "GFLOP/s = 2mnk / time; best call after "
        f"{g['wake_seconds'] * 1e3:g} ms of untimed calls and a warm-up call, of as many "
        f"calls as fit in {r['config']['gemm_budget']} s, up to {timing.MAX_REPS:,}; a "
        "case whose first call takes over 1 s is "
        "measured once a turn (marked). "
        + gemm_turns(g, bool(r.get("max_wait")))
        + "Targets are checked against "
        f"**NumPy ({g['reference']})**." + gemm_placement(g),
        "",
        *table(rep),
        "",
    ]
