"""RESULTS.md from the harness's results: machine, targets, workloads, GEMM, memory, import.

Pure formatting: every figure comes from the results dict that run.py measured; the targets
(targets.py, from the benchmark issues) are reported as met or missed, and by how much.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import peak as peak_probe
import report_gemm
import targets
import timing
from report_format import fmt, fmt_time, ratio_text
from report_machine import (
    background_summary,
    far_apart,
    host_slowdown,
    pool_summary,
    round_trip_summary,
)
from report_system import epoch_section, import_section, memory_section, neighbours_section

#: the workload sections, in the order of the table
WORKLOADS = ("W1", "W1b", "W1m", "W2", "W2n", "W3", "W4", "W4d")


def row_marks(results: Dict, row: Dict) -> List[str]:
    """What disturbed a workload row's measurement: other processes' load, a slow host (its
    probe at timing.SLOW_HOST times the run's fastest or more), vCPUs far apart
    (report_machine.FAR_APART_NS)."""
    marks = []
    if (row.get("background") or 0) >= 0.05:
        marks.append(
            f"**under load: other processes took {100 * row['background']:.0f}% of the CPUs**"
        )
    slowdown = host_slowdown(results, row.get("host_probe"))
    if slowdown is not None and slowdown >= timing.SLOW_HOST:
        marks.append(f"**slow host: the probe took {slowdown:.2g}x its fastest time**")
    far = far_apart(row.get("round_trip"))
    if far:
        marks.append(far)
    return marks


def row_note(results: Dict, row: Dict) -> str:
    """A workload row's note, then its marks (row_marks)."""
    return "; ".join(([row["note"]] if row["note"] else []) + row_marks(results, row))


class Report:
    def __init__(self, results: Dict) -> None:
        self.r = results
        self.threads = results["machine"]["threads"]
        self.peak = results["peak"]
        self.targets: List[tuple] = []

    def peak_of(self, dtype: str) -> Optional[float]:
        return peak_probe.peak_at(self.peak, dtype, self.threads)

    def pct_peak(self, gflops: Optional[float], dtype: str) -> Optional[float]:
        peak = self.peak_of(dtype)
        return None if gflops is None or not peak else 100 * gflops / peak

    def target(
        self,
        name: str,
        measured: Optional[float],
        goal: float,
        higher_is_better: bool,
        unit: str = "",
        detail: str = "",
    ) -> None:
        if measured is None:
            status = "not measured"
        else:
            met = measured >= goal if higher_is_better else measured <= goal
            factor = measured / goal if higher_is_better else goal / measured if measured else 0
            status = (
                "**met**"
                if met and factor <= 0  # a cost of 0 or less
                else f"**met** ({factor:.2f}x the target)"
                if met
                else f"missed: {factor:.3g}x of target, needs {1 / factor:.3g}x"
                if factor
                else "missed"
            )
        sign = ">=" if higher_is_better else "<="
        self.targets.append(
            (
                name,
                f"{sign} {fmt(goal)}{unit}",
                "n/a"
                if measured is None
                else f"{fmt(measured)}{unit}" + (f" ({detail})" if detail else ""),
                status,
            )
        )

    # -- sections

    def header(self) -> List[str]:
        m, v = self.r["machine"], self.r["versions"]
        peak = self.peak
        if "unavailable" in peak:
            peak_lines = [f"| fp32 / fp64 peak | unavailable: {peak['unavailable']} |"]
        else:

            def line(dt):
                return ", ".join(
                    f"{n} thread{'s' * (n > 1)}: **{g:.4g} GFLOP/s**"
                    for n, g in sorted(peak[dt].items())
                )

            peak_lines = [
                f"| fp32 peak | {line('fp32')} |",
                f"| fp64 peak | {line('fp64')} |",
                f"| peak probe | benchmarks/peak.cpp, g++ -O2 {' '.join(peak['flags'])}"
                f" ({peak['isa']}, {peak['accumulators']} independent FMA chains per "
                f"thread), iterations calibrated to {self.r['config']['peak_seconds']} s,"
                f" best of {2 * 3 * self.r['config']['peak_runs']} runs (half at the "
                "start of the harness, half at its end) |",
            ]
        blas = (
            "; ".join(
                f"{b.get('library')}: {b.get('internal_api')} {b.get('version')} kernel "
                f"**{b.get('architecture')}**, {b.get('num_threads')} threads"
                for b in m["blas"]
            )
            or "unknown (threadpoolctl not installed)"
        )
        env = ", ".join(f"{k}={val}" for k, val in m["openblas_env"].items() if val) or "none set"
        installed = ", ".join(f"{k} {val}" if val else f"{k} not installed" for k, val in v.items())
        steal = self.r.get("steal_percent")
        round_trip, pool = round_trip_summary(self.r), pool_summary(self.r)
        lines = [
            "| | |",
            "|---|---|",
            f"| CPU | {m['cpu']}, {m['logical_cpus']} logical CPUs"
            f"{', AVX-512F' if m['avx512f'] else ''} |",
            f"| threads | {self.threads} per system (torch.set_num_threads, threadpoolctl for "
            f"NumPy/scikit-learn); chainrule: {m['chainrule_threads']} "
            + (
                "(`chainrule.get_num_threads()`)"
                if m["chainrule_get_num_threads"]
                else "(no `chainrule.get_num_threads()`: single-threaded)"
            )
            + " |",
            *peak_lines,
            f"| NumPy BLAS (this process) | {blas}; environment: {env} |",
            f"| versions | {installed}; Python {m['python']} |",
            f"| chainrule | {m['chainrule_path']} (git {m['git']}; {m['chainrule_build']}) |",
            *(
                [
                    f"| **warning** | chainrule was reinstalled during the run (now "
                    f"{m['chainrule_rebuilt']}); subprocess sections may have used another build |"
                ]
                if m.get("chainrule_rebuilt")
                else []
            ),
            f"| date | {m['date']}; total run {self.r['elapsed']:.0f} s"
            + (f"; CPU steal during run {steal:.1f}%" if steal is not None else "")
            + " |",
            f"| background load | {background_summary(self.r)} |",
            *([f"| core-to-core round trip | {round_trip} |"] if round_trip else []),
            *([f"| chainrule's worker away | {pool} |"] if pool else []),
        ]
        return lines

    def workload_rows(self, key: str, w: Dict) -> List[str]:
        rows = w["rows"]
        ref = next((r for r in rows if r["system"] == "chainrule" and "seconds" in r), None)
        out = []
        for r in rows:
            name = f"{key}" if r is rows[0] else ""
            if "seconds" not in r:
                out.append(f"| {name} | {r['system']} | | {r.get('status', '')} | | | | | | |")
                continue
            vs = (
                "—"
                if r is ref or r["system"].startswith("chainrule (")
                else ratio_text(r["seconds"] / ref["seconds"])
                if ref
                else "n/a"
            )
            if w.get("latency"):
                thr = gfl = pct = loss = "—"
            else:
                thr = fmt(r["samples_per_s"])
                gfl = fmt(r["gflops"])
                pct = fmt(self.pct_peak(r["gflops"], w["dtype"])) + "%"
                loss = f"{r['final_loss']:.5g}"
            note = row_note(self.r, r)
            out.append(
                f"| {name} | {r['system']} | {r['threads']} | {fmt_time(r['seconds'])} | "
                f"{thr} | {gfl} | {pct} | {vs} | {loss} | {note} |"
            )
        return out

    def seconds(self, key: str, system: str) -> Optional[float]:
        w = self.r.get(key)
        if not w:
            return None
        return next(
            (r["seconds"] for r in w["rows"] if r["system"] == system and "seconds" in r), None
        )

    def speedup(self, key: str, peer: str) -> Optional[float]:
        c, p = self.seconds(key, "chainrule"), self.seconds(key, peer)
        return None if c is None or p is None else p / c

    def marked(self, key: str, systems) -> str:
        """Those of ``systems`` whose row of workload ``key`` carries a mark in its notes (load,
        a slow host, vCPUs far apart), comma-separated; "" when none does."""
        rows = (self.r.get(key) or {}).get("rows", [])
        return ", ".join(
            r["system"] for r in rows if r["system"] in systems and row_marks(self.r, r)
        )

    def gflops(self, key: str, system: str) -> Optional[float]:
        w = self.r.get(key)
        if not w:
            return None
        row = next((r for r in w["rows"] if r["system"] == system and "gflops" in r), None)
        return None if row is None else row["gflops"]

    def collect_targets(self) -> None:
        targets.collect(self)

    def render(self) -> str:
        self.collect_targets()
        r = self.r
        out = [
            "# chainrule benchmarks",
            "",
            f"Generated by `{r['command']}`. Every figure comes from this one run on this "
            "machine; ratios compare systems measured side by side in it. Do not compare "
            "figures across runs or machines.",
            "",
            "## Machine",
            "",
            *self.header(),
            "",
        ]
        if self.targets:
            out += ["## Targets", "", "| target | goal | measured | status |", "|---|---|---|---|"]
            out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.targets] + [""]
        keys = [k for k in WORKLOADS if k in r]
        if keys:
            out += [
                "## Workloads",
                "",
                "`chainrule speed-up` is this system's time divided by chainrule's (above 1: "
                "chainrule is faster). GFLOP/s counts the flops of a training step per sample "
                "as every system runs it: 2 per multiply-add of each layer's forward product "
                "and of its dW, and of its dH but for the first layer's, which no system "
                "computes (6 x sum(n_in x n_out) - 2 n0 n1); % of peak is "
                f"against the measured peak of the workload's dtype at {self.threads} threads."
                " Final loss is on (a subset of) the training data after the timed run: "
                "chainrule, NumPy, PyTorch (eager and torch.compile) and JAX start from the "
                "same weights and run the same maths, so their final losses agree up to "
                "rounding (scikit-learn draws its own weights). JAX and torch.compile "
                "compile before the timed region; their compile time is in the notes, not "
                "in the time. JAX runs on XLA's own thread pool (every CPU). NumPy and "
                "scikit-learn run with this process's OpenBLAS settings (see Machine; the "
                "GEMM section shows what other kernels would give).",
                "",
                "| workload | system | threads | time | samples/s | GFLOP/s | % of peak | "
                "chainrule speed-up | final loss | notes |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for k in keys:
                out += self.workload_rows(k, r[k])
            out += [""] + [f"- **{k}**: {r[k]['title']}. Timing: {r[k]['timing']}." for k in keys]
            out += [""]
        if "GEMM" in r:
            out += report_gemm.section(self)
        if "memory" in r:
            out += memory_section(r)
        if "epoch" in r:
            out += epoch_section(r["epoch"])
        if "neighbours" in r:
            out += neighbours_section(r["neighbours"])
        if "import" in r:
            out += import_section(r["import"])
        return "\n".join(out)
