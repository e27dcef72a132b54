"""The benchmark issues' targets, checked against one run's results (Report.target records each
as met or missed). Ratios are a peer's time over chainrule's, measured side by side."""

from __future__ import annotations

from typing import Any, Dict, Optional

import report_gemm

US = 1e6


def peak_needed(rep: Any, key: str, peer: str, goal: float, dtype: str) -> str:
    """What meeting ``goal`` (chainrule ``goal`` times as fast as ``peer`` on workload ``key``)
    takes, as a share of the measured peak: above 100% no code on this machine meets it."""
    pct = rep.pct_peak(rep.gflops(key, peer), dtype)
    return "" if pct is None else f"meeting it takes {goal * pct:.3g}% of the {dtype} peak"


def time_ratio(rep: Any, key: str, system: str, other: str) -> Optional[float]:
    """``system``'s time over ``other``'s on workload ``key`` (a system over its variant: W2n's
    cost of its layers over ``-plain``, W3's scaling as ``-1t`` over two threads), or None when
    either row is missing."""
    a, b = rep.seconds(key, system), rep.seconds(key, other)
    return None if not (a and b) else a / b


def read_needed(floor: Optional[Dict], goal_us: float) -> str:
    """What a latency of ``goal_us`` for reading ``floor``'s weights takes, as a share of the
    cache read rate readrate.cpp measured (``floor``: peak.read_floor's figure, or None):
    above 100% no code on this machine meets it."""
    if not floor:
        return ""
    return (
        f"meeting it takes {100 * floor['seconds'] * US / goal_us:.3g}% of the measured read "
        f"rate: reading the {floor['bytes'] / 2**20:.2f} MiB of weights once on "
        f"{floor['threads']} thread{'s' * (floor['threads'] > 1)} takes at least "
        f"{floor['seconds'] * US:.3g} µs, benchmarks/readrate.cpp"
    )


def collect(rep: Any) -> None:
    """Add every target whose section was measured to the report ``rep``."""
    r, target, speedup = rep.r, rep.target, rep.speedup

    def with_marks(detail: str, key: str, systems) -> str:
        """``detail`` and, when any of the ``systems``' rows of workload ``key`` is marked in
        the notes (load, a slow host, vCPUs far apart), which"""
        marked = rep.marked(key, systems)
        return "; ".join(d for d in (detail, marked and f"marked in the notes: {marked}") if d)

    def ratio(name: str, key: str, peer: str, goal: float, detail: str = "") -> None:
        """chainrule ``goal`` times as fast as ``peer`` on workload ``key``"""
        target(
            name, speedup(key, peer), goal, True, "x", with_marks(detail, key, ("chainrule", peer))
        )

    def peak_share(key: str, goal: float) -> None:
        """chainrule at ``goal`` % or more of the measured fp32 peak on workload ``key``"""
        gflops = rep.gflops(key, "chainrule")
        detail = with_marks("", key, ("chainrule",))
        target(f"{key} % of fp32 peak", rep.pct_peak(gflops, "fp32"), goal, True, "%", detail)

    def peer_target(name: str, key: str, peer: str, goal: float, dtype: str) -> None:
        """A ratio to a peer on a workload whose flops are counted, with the share of the
        peak it takes"""
        ratio(name, key, peer, goal, peak_needed(rep, key, peer, goal, dtype))

    if "W1" in r:
        ratio("W1 vs JAX (jit, the whole loop in one fori_loop)", "W1", "jax", 4)
        ratio("W1 vs NumPy", "W1", "numpy", 25)
        ratio("W1 vs PyTorch eager", "W1", "torch", 80)
    if "W1b" in r:
        ratio("W1b vs JAX (jit, the whole loop in one fori_loop)", "W1b", "jax", 4)
        ratio("W1b vs NumPy", "W1b", "numpy", 25)
    if "W1m" in r:
        peer_target("W1m vs JAX (jit, an epoch per lax.scan)", "W1m", "jax", 3, "fp32")
        ratio("W1m vs PyTorch eager", "W1m", "torch", 10)
    if "W2" in r:
        peer_target("W2 vs JAX (jit, an epoch per lax.scan)", "W2", "jax", 1.5, "fp32")
        peer_target("W2 samples/s vs PyTorch", "W2", "torch", 2.0, "fp32")
        peak_share("W2", 65)
    if "W2n" in r:
        ratio("W2n (W2 + BatchNorm, Dropout) samples/s vs PyTorch", "W2n", "torch", 2.0)
        cost = {s: time_ratio(rep, "W2n", s, f"{s}-plain") for s in ("chainrule", "torch")}
        target(
            "W2n cost of BatchNorm + Dropout over plain W2",
            None if cost["chainrule"] is None else 100 * (cost["chainrule"] - 1),
            25,
            False,
            "%",
            with_marks(
                "chainrule; PyTorch: "
                + ("n/a" if cost["torch"] is None else f"{100 * (cost['torch'] - 1):+.0f}%"),
                "W2n",
                ("chainrule", "chainrule-plain", "torch", "torch-plain"),
            ),
        )
    if "W3" in r:
        peak_share("W3", 85)
        peer_target("W3 vs JAX (jit train step)", "W3", "jax", 1.2, "fp32")
        peer_target("W3 vs PyTorch", "W3", "torch", 2.0, "fp32")
        # PyTorch's scaling: what the host allowed two threads in this run
        torch_scaling = time_ratio(rep, "W3", "torch-1t", "torch")
        target(
            "W3 2 threads vs 1 thread",
            time_ratio(rep, "W3", "chainrule-1t", "chainrule"),
            1.8,
            True,
            "x",
            with_marks(
                "chainrule; PyTorch: "
                + ("n/a" if torch_scaling is None else f"{torch_scaling:.3g}x"),
                "W3",
                ("chainrule", "chainrule-1t", "torch", "torch-1t"),
            ),
        )
        same = r["W3"].get("bitwise_threads")
        if same is not None:
            target(
                "W3 weights after 2 steps, 1 vs 2 threads, bitwise equal",
                1.0 if same else 0.0,
                1.0,
                True,
                "",
                "yes" if same else "NO",
            )
    if "W4" in r:
        s = rep.seconds("W4", "chainrule")
        target(
            "W4 predict latency (median, Python call included)",
            None if s is None else s * US,
            8,
            False,
            " µs",
            with_marks(read_needed(r["W4"].get("read_floor"), 8), "W4", ("chainrule",)),
        )
        ratio("W4 vs PyTorch eager", "W4", "torch", 5.0)
    if "W4d" in r:
        for system, net in (("chainrule", "2-10-8-5-1"), ("chainrule (2-15-1)", "2-15-1")):
            s = rep.seconds("W4d", system)
            target(
                f"one-row predict of the demo network {net}",
                None if s is None else s * US,
                1.0,
                False,
                " µs",
                with_marks("", "W4d", (system,)),
            )
    if "GEMM" in r:
        gemm_targets(rep)
    if "epoch" in r:
        row = r["epoch"]["rows"][1]
        below = row["overhead"] < 0  # the two slopes' difference within their noise
        target(
            "fit per-epoch overhead, nothing attached",
            row["overhead"] * US,
            50,
            False,
            " µs",
            "vs the core's epoch loop" + ("; below it: within the timings' noise" if below else ""),
        )
    if "import" in r:
        target("import chainrule", r["import"]["rows"].get("chainrule"), 0.15, False, " s")
    if "memory" in r:
        mem = r["memory"]
        row = mem["rows"].get("chainrule", {})
        bound = sum(mem["bound_mb"].values())
        target(
            "W2 peak RSS <= bound + 50 MB",
            row.get("maxrss_mb"),
            bound + 50,
            False,
            " MB",
            f"bound {bound:.0f} MB",
        )


def gemm_targets(rep: Any) -> None:
    g = rep.r["GEMM"]
    ref = report_gemm.reference(rep.r)
    label = "NumPy " + (
        f"AVX-512 ({ref['kernel']})"
        if ref and g["reference_is_avx512"]
        else f"best available ({ref['kernel']})"
        if ref
        else "n/a"
    )
    for dt in ("float32", "float64"):
        for lo, hi, goal, where in ((512, None, 0.9, "n >= 512"), (None, 256, 1.0, "n <= 256")):
            worst = report_gemm.worst(rep.r, dt, lo, hi)
            rep.target(
                f"GEMM {dt} vs {label}, square {where}",
                None if worst is None else worst[0],
                goal,
                True,
                "x",
                "worst: " + worst[1] if worst else "",
            )
