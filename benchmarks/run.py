"""chainrule's benchmark harness: chainrule and its peers on the same workloads, in one run.

    python benchmarks/run.py                    # everything; writes benchmarks/RESULTS.md
    python benchmarks/run.py --only W1,GEMM     # a selection (sections: see SECTIONS)
    python benchmarks/run.py --smoke            # tiny sizes, a few seconds, no file unless --output

Sections: the machine's fp32/fp64 peak (peak.cpp, always measured), import time, peak memory of
W2 training, W1 and W1b (the demo's two tiny networks, full batch), W1m (a small network in
shuffled mini-batches with Adam), W2 (MNIST-shaped training), W2n (W2 with a BatchNorm and a
Dropout after each hidden layer, and its cost over plain W2), W3 (wide layers), W4 (single-sample
predict latency on W2's network, with the least time in which chainrule's threads can read its
weights once, readrate.cpp), W4d (the same on the demo's networks), GEMM (chainrule's
kernels against numpy.matmul under the OpenBLAS kernels this machine offers) and epoch (the
per-epoch cost of fit's Python layer, with nothing attached and with a no-op callback,
validation or progress output) and neighbours (chainrule calls right after a NumPy product,
and the reverse, against the same calls alone). Peers that are not installed (PyTorch,
torch.compile, JAX, scikit-learn) are reported as such. Every system gets the same thread budget (--threads,
default 2).

This file drives the run; the sections live in sec_training.py, sec_latency.py, sec_gemm.py
and sec_system.py, what they share in harness.py, the peers in peers.py, peer_jax.py,
peer_torch_compile.py and peer_sklearn.py, the report in report.py (its sections on memory, epoch overhead,
neighbours and import time in report_system.py, the machine table's lines on load, vCPU
placement and chainrule's pool in report_machine.py, number formats and section heads in
report_format.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import peak as peak_probe
import peers
from harness import FULL, LOAD, QUIET, SMOKE, Config, guarded, log, versions
from machine import chainrule_build, cpu_steal, machine_info
from report import Report
from sec_gemm import run_gemm
from sec_latency import run_w4, run_w4d
from sec_system import run_epoch_overhead, run_import, run_memory, run_neighbours
from sec_training import run_w1, run_w1b, run_w1m, run_w2, run_w2n, run_w3

HERE = Path(__file__).resolve().parent
RUNNERS = {
    "import": run_import,
    "memory": run_memory,
    "W1": run_w1,
    "W1b": run_w1b,
    "W1m": run_w1m,
    "W2": run_w2,
    "W2n": run_w2n,
    "W3": run_w3,
    "W4": run_w4,
    "W4d": run_w4d,
    "GEMM": run_gemm,
    "epoch": run_epoch_overhead,
    "neighbours": run_neighbours,
}
SECTIONS = tuple(RUNNERS)


def pool_stats() -> Optional[Dict[str, int]]:
    """chainrule's thread-pool counters (chainrule.runtime.thread_pool_stats), None where the
    installed chainrule has none: the workers' parts that the calling thread ran itself show
    when the other core was away while a section measured chainrule in this process."""
    try:
        import chainrule

        return chainrule.runtime.thread_pool_stats()
    except (ImportError, AttributeError):
        return None


def run(
    config: Config = FULL,
    sections=SECTIONS,
    threads: int = 2,
    output: Optional[os.PathLike] = None,
    json_output: Optional[os.PathLike] = None,
    max_wait: float = 0.0,
) -> Dict:
    """Measure the selected sections and return the results (the Markdown report in
    ``results["report"]``); write the report to ``output`` and the raw results as JSON to
    ``json_output`` when given. Before each
    measurement wait up to ``max_wait`` seconds for other processes to leave the CPUs."""
    start, steal0 = time.perf_counter(), cpu_steal()
    QUIET.update(max_wait=max_wait, log=[])
    versions.clear()
    versions.update(peers.versions())
    command = "python benchmarks/run.py" + (" --smoke" if config is SMOKE else "")
    if list(sections) != list(SECTIONS):
        command += f" --only {','.join(sections)}"
    if threads != 2:
        command += f" --threads {threads}"
    results: Dict[str, Any] = dict(
        config=dataclasses.asdict(config),
        command=command,
        sections=list(sections),
        versions=dict(versions),
    )
    results["machine"] = machine_info(threads)
    log(f"peak: compiling and running {peak_probe.SOURCE.name}")
    n_cpus = os.cpu_count() or 1
    probe = lambda: peak_probe.measure(
        sorted({1, threads, n_cpus}), config.peak_seconds, config.peak_runs
    )
    results["peak"] = guarded("peak", probe)
    log(f"    {results['peak']}")
    restore_threads = peers.set_threads(threads)
    try:
        results["round_trip"] = {"start": peak_probe.core_round_trip()}
        results["pool"] = {}
        for name in sections:
            results["round_trip"][name] = rt = peak_probe.core_round_trip()
            log(f"{name}" + (f" (core-to-core round trip {rt:.0f} ns)" if rt else ""))
            before = pool_stats()
            results[name] = RUNNERS[name](config, threads)
            after = pool_stats()
            if before is not None and after is not None:
                results["pool"][name] = {k: after[k] - before[k] for k in after}
        results["round_trip"]["end"] = peak_probe.core_round_trip()
    finally:
        restore_threads()
    if sections:  # the peak again: the best of both probes is the machine's peak
        again = guarded("peak again", probe)
        log(f"peak again: {again}")
        results["peak"] = peak_probe.best_of_two(results["peak"], again)
    steal1 = cpu_steal()
    if steal0 and steal1 and steal1[1] > steal0[1]:
        results["steal_percent"] = 100 * (steal1[0] - steal0[0]) / (steal1[1] - steal0[1])
    results["elapsed"] = time.perf_counter() - start
    build = chainrule_build()
    if build != results["machine"]["chainrule_build"]:
        results["machine"]["chainrule_rebuilt"] = build
        log("WARNING: chainrule was reinstalled during the run")
    results["background"] = [
        dict(label=label, share=share, waited=waited, probe=probe)
        for label, share, waited, probe in QUIET["log"]
    ]
    results["probe_fastest"] = LOAD.fastest
    results["max_wait"] = max_wait
    results["report"] = text = Report(results).render()
    if output is not None:
        Path(output).write_text(text + "\n")
        log(f"wrote {output}")
    if json_output is not None:
        Path(json_output).write_text(json.dumps(results, indent=1, default=str))
    return results


def smoke(output: Optional[os.PathLike] = None) -> Dict:
    """Every section at tiny sizes (a few seconds), so the harness cannot rot. Returns the
    results, the rendered report in ``results["report"]``; writes it to ``output`` if given."""
    return run(SMOKE, SECTIONS, threads=2, output=output)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark chainrule against its peers.")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, a few seconds; writes no file unless --output is given",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections out of {','.join(SECTIONS)} (the peak is always measured)",
    )
    parser.add_argument("--threads", type=int, default=2, help="thread budget of every system")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown report (default: benchmarks/RESULTS.md; none with --smoke)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=None,
        help="seconds to wait, before each measurement, for other processes to "
        "leave the CPUs (default 60; 0 with --smoke)",
    )
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    by_lower = {s.lower(): s for s in SECTIONS}
    unknown = [s for s in sections if s.lower() not in by_lower]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sections = [by_lower[s.lower()] for s in sections]
    output = args.output if args.output or args.smoke else HERE / "RESULTS.md"
    max_wait = args.max_wait if args.max_wait is not None else 0.0 if args.smoke else 60.0
    run(SMOKE if args.smoke else FULL, sections, args.threads, output, args.json, max_wait)


if __name__ == "__main__":
    main()
