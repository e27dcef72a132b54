"""The benchmark harness runs end to end at tiny sizes, so it cannot rot; with or without the
optional peers (PyTorch, torch.compile, JAX, scikit-learn: absent ones are reported as such).

Timing is never asserted (docs/design.md section 5): speed lives in benchmarks/RESULTS.md. What
is asserted is that every peer that starts from chainrule's initial weights and runs the same
maths ends with the same loss."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: the peers that start from chainrule's weights and run its maths
SAME_MATHS = ("numpy", "torch", "torch-compile", "jax")


def benchmarks_module(name: str):
    """benchmarks/<name>.py, imported with benchmarks/ on the path only while it loads (the
    benchmarks are scripts that import one another, not a package)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out, raw = tmp / "RESULTS.md", tmp / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "run.py"),
            "--smoke",
            "--output",
            str(out),
            "--json",
            str(raw),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out.read_text(), json.loads(raw.read_text())


def test_benchmark_harness_runs_end_to_end(smoke):
    text, _ = smoke
    for heading in (
        "## Machine",
        "## Targets",
        "## Workloads",
        "## GEMM",
        "## Memory",
        "## Import time",
        "## Epoch overhead",
        "## Neighbours",
    ):
        assert heading in text, f"{heading} missing from the smoke report"
    for workload in ("W1", "W1b", "W1m", "W2", "W2n", "W3", "W4", "W4d"):
        assert f"| {workload} | chainrule |" in text, f"{workload} missing from the smoke report"
    assert "one-row predict of the demo network 2-15-1" in text
    if len(os.sched_getaffinity(0)) >= 2 and shutil.which("g++"):
        assert "| core-to-core round trip | start " in text  # where the vCPUs sit


def test_the_pool_counts_of_each_section_are_recorded(smoke):
    """Each section's change in chainrule.runtime.thread_pool_stats, for the report's line on
    the worker parts the calling thread ran itself."""
    text, results = smoke
    pool = results["pool"]
    assert set(pool) == set(results["sections"])
    for name, counts in pool.items():
        assert set(counts) == {"jobs", "worker_parts", "worker_parts_run_by_caller"}, name
        assert 0 <= counts["worker_parts_run_by_caller"] <= counts["worker_parts"], name
    if any(c["worker_parts"] for c in pool.values()):
        assert "| chainrule's worker away | " in text


def test_every_peer_is_timed_or_reported_absent(smoke):
    _, results = smoke
    for key in ("W1", "W1b", "W1m", "W2", "W3", "W4"):
        for row in results[key]["rows"]:
            installed = results["versions"].get(row["system"]) is not None
            if row["system"] == "torch-compile" and not any(
                shutil.which(c) for c in ("g++", "c++", "clang++")
            ):
                continue  # inductor needs a C++ compiler: its error is the row's note
            if installed:  # timed, or left out of --smoke (torch.compile: compile time)
                assert "seconds" in row or row["status"].startswith("not run here"), (
                    f"{key} {row['system']}: {row.get('status')}"
                )
            else:
                assert row["status"] == "not installed"


@pytest.mark.parametrize("key, rtol", [("W1", 1e-9), ("W1b", 1e-9), ("W1m", 1e-3)])
def test_peers_from_the_same_weights_reach_the_same_loss(smoke, key, rtol):
    _, results = smoke
    losses = {r["system"]: r["final_loss"] for r in results[key]["rows"] if "final_loss" in r}
    reference = losses["chainrule"]
    for system in SAME_MATHS:
        if system in losses:
            assert losses[system] == pytest.approx(reference, rel=rtol), (system, losses)


@pytest.mark.parametrize("workload", ["W1", "W1b"])
def test_profile_driver_runs(workload):
    """benchmarks/profile_fit.py, the loop a sampling profiler watches (docs/performance.md)."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "profile_fit.py"), workload, "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCHMARKS,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(f"{workload}: best of 1 fits ")


def test_no_benchmark_module_shadows_the_standard_library():
    """run.py puts benchmarks/ first on sys.path: a file named like a standard module (a
    profile.py once) would be imported in its place by the peers (PyTorch imports cProfile)."""
    clashes = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem in sys.stdlib_module_names)
    assert clashes == []


@pytest.mark.parametrize(
    "key, peer, line_start, goal",
    [
        ("W1m", "jax", "W1m vs JAX", 3),
        ("W2", "jax", "W2 vs JAX", 1.5),
        ("W2", "torch", "W2 samples/s vs PyTorch", 2),
        ("W3", "jax", "W3 vs JAX", 1.2),
        ("W3", "torch", "W3 vs PyTorch", 2),
    ],
)
def test_a_ratio_to_a_peer_says_what_share_of_the_peak_it_takes(smoke, key, peer, line_start, goal):
    """The targets 'goal x a peer' on workloads with counted flops state the share of the
    measured peak that meeting them takes (above 100%: no code on the machine meets them)."""
    text, results = smoke
    row = next(r for r in results[key]["rows"] if r["system"] == peer)
    peak = results["peak"].get("fp32", {}).get(str(results["machine"]["threads"]))
    line = next(t for t in text.splitlines() if t.startswith(f"| {line_start}"))
    if not row.get("gflops") or not peak:  # the peer absent, or no peak measured
        assert "meeting it takes" not in line
        return
    pct = float(line.split("meeting it takes ")[1].split("%")[0])
    assert pct == pytest.approx(100 * goal * row["gflops"] / peak, rel=1e-2)


def test_the_w4_target_says_what_share_of_the_read_rate_it_takes(smoke):
    """W4's latency target states the share of the cache read rate that meeting it takes: the
    least time readrate.cpp needs to read W4's weights once, on chainrule's threads, over the
    8 µs goal (above 100%: no code on the machine meets it)."""
    text, results = smoke
    floor = results["W4"]["read_floor"]
    line = next(t for t in text.splitlines() if t.startswith("| W4 predict latency"))
    if floor is None:  # no g++ or not Linux: nothing measured, nothing claimed
        assert shutil.which("g++") is None or not hasattr(os, "sched_getaffinity")
        assert "read rate" not in line
        return
    sizes = results["config"]["w2_sizes"]
    assert floor["bytes"] == 4 * sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    assert floor["threads"] == results["machine"]["chainrule_threads"]
    assert 0 < floor["seconds"] < 1
    pct = float(line.split("meeting it takes ")[1].split("%")[0])
    assert pct == pytest.approx(100 * floor["seconds"] * 1e6 / 8, rel=1e-2)


def test_every_workload_s_systems_take_turns_and_keep_their_best(smoke):
    """Each training and latency workload measures its systems in turns (the order reversed
    every other turn), so that a slow spell of the host falls on all of them rather than on one;
    a system's figure is the best of its turns, and the timing note says so."""
    text, results = smoke
    turns = results["config"]["turns"]
    assert turns >= 2
    measured = 0
    for key in ("W1", "W1b", "W1m", "W2", "W2n", "W3", "W4", "W4d"):
        assert "the systems take turns" in results[key]["timing"], key
        for row in results[key]["rows"]:
            if "status" in row:
                continue
            measured += 1
            assert len(row["turns"]) == turns, (key, row["system"])
            assert row["seconds"] == min(row["turns"]), (key, row["system"])
            assert row["host_probe"] > 0 and "background" in row, (key, row["system"])
    assert measured >= 8
    assert f"the systems take turns, {turns} each" in text


def test_the_gemm_section_alternates_the_systems_case_by_case(smoke):
    """chainrule and each NumPy variant take turns on every case (a NumPy variant in a process
    of its own, asked case by case), so a slow spell of the host falls on all of them rather
    than on one system's pass; each keeps its best turn. The vCPUs' round trip before and after
    the section is recorded and shown."""
    text, results = smoke
    g = results["GEMM"]
    assert g["rounds"] >= 2
    assert len(g["chainrule"]) == len(g["cases"])
    variants = [v for v in g["numpy"] if "results" in v]
    assert variants, g["numpy"]
    for v in variants:
        assert len(v["results"]) == len(g["cases"])
    for x in [*g["chainrule"], *(x for v in variants for x in v["results"])]:
        assert x["calls"] >= 1 and len(x["turns"]) == g["rounds"]
        assert x["gflops"] == max(x["turns"]) > 0
    assert f"The systems take turns case by case, {g['rounds']} turns each" in text
    for system in ["chainrule", *(f"NumPy ({v['label']})" for v in variants)]:
        assert any(e["label"] == f"GEMM {system}" for e in results["background"]), system
    placement = g["placement"]
    assert list(placement) == ["section"]
    if all(placement["section"]):  # measurable here (two CPUs and g++)
        assert "Core-to-core round trip before / after the section: " in text


def test_a_gemm_server_answers_case_by_case_and_reports_a_failure():
    """gemm.py's NumPy process: a line describing the BLAS, then one answer per case asked for;
    a process that dies is reported as that variant's error, not as a hang."""
    square_cases = benchmarks_module("gemm").square_cases
    Server = benchmarks_module("sec_gemm").Server
    server = Server("as is", dict(os.environ), threads=1, budget=0.001)
    first, second = square_cases((8,), dtypes=("float64",))[:2]
    assert server.error is None and server.blas is not None
    for case in (first, second):
        got = server.measure(case)
        assert got["gflops"] > 0 and got["calls"] >= 1
    server.results = ["one", "two"]
    assert server.close() == dict(
        label="as is",
        kernel=server.kernel,
        blas=server.blas[0] if server.blas else {},
        results=["one", "two"],
    )
    broken = Server("broken", dict(os.environ), threads=1, budget=0.001)
    broken.proc.kill()
    broken.proc.wait()
    assert broken.measure(first) is None
    assert broken.measure(second) is None  # and stays so
    assert set(broken.close()) == {"label", "error"}


def test_each_measurement_records_the_host_probe_and_slow_ones_are_marked(smoke):
    """A fixed pure-Python loop is timed before and after every measurement (the host can slow
    the VM's cores for seconds with nothing of the VM busy); the report counts and marks the
    measurements whose probe took SLOW_HOST times the run's fastest or longer."""
    text, results = smoke
    timing = benchmarks_module("timing")
    row_note = benchmarks_module("report").row_note
    entries = results["background"]
    assert entries and all(e["probe"] > 0 for e in entries)
    fastest = results["probe_fastest"]
    assert 0 < fastest <= min(e["probe"] for e in entries)
    slow = sum(e["probe"] >= timing.SLOW_HOST * fastest for e in entries)
    assert f"the host was slow around {slow} of {len(entries)} measurements" in text
    # every workload row got its probe, and a row made slow here is marked in its notes
    row = next(r for r in results["W4d"]["rows"] if r["system"] == "chainrule")
    assert row["host_probe"] > 0
    assert "slow host" not in row_note(results, {**row, "host_probe": fastest})
    slowed = row_note(results, {**row, "host_probe": 2 * timing.SLOW_HOST * fastest})
    assert f"**slow host: the probe took {2 * timing.SLOW_HOST:.2g}x its fastest time**" in slowed


def test_each_workload_row_records_where_the_vcpus_sat_and_far_ones_are_marked(smoke):
    """The host moves the vCPUs between one die and two while a section runs, so the round
    trip before and after each measurement is recorded, and a row measured with them far apart
    is marked in its notes."""
    _, results = smoke
    row_note = benchmarks_module("report").row_note
    FAR_APART_NS = benchmarks_module("report_machine").FAR_APART_NS
    rows = [r for key in ("W1", "W2", "W4") for r in results[key]["rows"] if "seconds" in r]
    assert rows and all(len(r["round_trip"]) == 2 for r in rows)
    if len(os.sched_getaffinity(0)) >= 2 and shutil.which("g++"):
        assert all(v > 0 for r in rows for v in r["round_trip"])
    row = {**rows[0], "host_probe": None, "background": None}
    assert "far apart" not in row_note(results, {**row, "round_trip": [150.0, FAR_APART_NS]})
    far = row_note(results, {**row, "round_trip": [150.0, FAR_APART_NS + 100]})
    assert (
        f"**vCPUs far apart: core-to-core round trip 150 ns before, {FAR_APART_NS + 100} ns after**"
        in far
    )
    assert "far apart" in row_note(results, {**row, "round_trip": [None, FAR_APART_NS + 1]})
    assert "far apart" not in row_note(results, {**row, "round_trip": [None, None]})


def test_a_target_says_when_its_figures_are_marked(smoke):
    """A ratio or a latency met or missed because the host disturbed a measurement says so: the
    target line names the systems whose figure is marked in the notes."""
    _, results = smoke
    Report = benchmarks_module("report").Report
    FAR_APART_NS = benchmarks_module("report_machine").FAR_APART_NS
    r = json.loads(json.dumps(results))  # a copy, every row's disturbances cleared
    for section in r.values():
        for row in section.get("rows", []) if isinstance(section, dict) else []:
            if isinstance(row, dict):
                row.update(background=None, host_probe=None, round_trip=[None, None])

    def lines():
        rep = Report(r)
        rep.collect_targets()
        return {name: measured for name, _, measured, _ in rep.targets}

    assert not any("marked in the notes" in v for v in lines().values())
    row = next(x for x in r["W1"]["rows"] if x["system"] == "chainrule")
    row["round_trip"] = [150.0, FAR_APART_NS + 100]
    now = lines()
    assert now["W1 vs NumPy"].endswith("(marked in the notes: chainrule)")
    assert "marked" not in now["W1b vs NumPy"]
    # and a latency target, from its own row
    name = "one-row predict of the demo network 2-10-8-5-1"
    assert "marked" not in now[name]
    row = next(x for x in r["W4d"]["rows"] if x["system"] == "chainrule")
    row["round_trip"] = [FAR_APART_NS + 1, 150.0]
    assert lines()[name].endswith("(marked in the notes: chainrule)")
    # and the targets on chainrule's figures alone: a share of the peak, a cost, a scaling
    for key, system, name in (
        ("W2", "chainrule", "W2 % of fp32 peak"),
        ("W2n", "chainrule-plain", "W2n cost of BatchNorm + Dropout over plain W2"),
        ("W3", "chainrule-1t", "W3 2 threads vs 1 thread"),
    ):
        assert "marked" not in lines()[name]
        row = next(x for x in r[key]["rows"] if x["system"] == system)
        row["round_trip"] = [FAR_APART_NS + 1, 150.0]
        assert lines()[name].endswith(f"marked in the notes: {system})")


def test_the_w3_scaling_target_gives_pytorch_s_scaling_in_the_same_run(smoke):
    """W3's two-thread scaling is read beside PyTorch's, measured in the same run (the row
    torch-1t: PyTorch on one thread), so that a miss shows how much of it the host takes."""
    _, results = smoke
    Report = benchmarks_module("report").Report
    rows = {row["system"]: row for row in results["W3"]["rows"]}
    if results["versions"].get("torch") is not None:
        assert rows["torch-1t"]["threads"] == 1 and rows["torch"]["threads"] > 1
    r = json.loads(json.dumps(results))
    for row in r["W3"]["rows"]:
        row.update(background=None, host_probe=None, round_trip=[None, None])
        row.pop("status", None)
        row["seconds"] = {"chainrule": 2.0, "chainrule-1t": 3.0, "torch": 4.0, "torch-1t": 7.0}.get(
            row["system"], 1.0
        )

    def line():
        rep = Report(r)
        rep.collect_targets()
        return next(m for name, _, m, _ in rep.targets if name == "W3 2 threads vs 1 thread")

    assert line() == "1.5x (chainrule; PyTorch: 1.75x)"
    r["W3"]["rows"] = [row for row in r["W3"]["rows"] if row["system"] != "torch-1t"]
    assert line() == "1.5x (chainrule; PyTorch: n/a)"


def test_the_epoch_overhead_says_when_it_is_below_the_core_loop(smoke):
    """Fit's overhead per epoch is its slope minus the core loop's, both measured in the same
    rounds: a difference below zero is noise, and the target line says so."""
    text, results = smoke
    rows = results["epoch"]["rows"]
    assert rows[0]["label"].startswith("core epoch loop") and rows[0]["overhead"] == 0
    assert len(rows) == 5 and all(row["per_epoch"] >= 0 for row in rows)
    assert "the variants taking turns" in text and "a one-epoch call's best time" in text
    Report = benchmarks_module("report").Report
    r = json.loads(json.dumps(results))

    def line(overhead):
        r["epoch"]["rows"][1]["overhead"] = overhead
        rep = Report(r)
        rep.collect_targets()
        return next(
            m for name, _, m, _ in rep.targets if name == "fit per-epoch overhead, nothing attached"
        )

    assert line(1.5e-6) == "1.5 µs (vs the core's epoch loop)"
    assert (
        line(-0.25e-6) == "-0.25 µs (vs the core's epoch loop; below it: within the timings' noise)"
    )


def test_train_flops_count_the_products_a_step_runs(monkeypatch) -> None:
    """GFLOP/s and % of peak count the products the NumPy reference trainer (and every peer)
    runs in a step: each layer's forward and dW, and dH for every layer but the first. The
    count is checked against the reference trainer's own products, counted as it runs."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import numpy as np
    from harness import train_flops
    from numpy_mlp import NumpyMLP

    sizes, m = [7, 5, 4, 3], 6
    net = NumpyMLP(sizes, ["relu", "tanh", "linear"], "mse", "float64", seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((m, sizes[0])), rng.standard_normal((m, sizes[-1]))
    flops = []

    class Counting(np.ndarray):
        def __matmul__(self, other):
            a, b = np.asarray(self), np.asarray(other)
            flops.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
            return (a @ b).view(Counting)

        def __rmatmul__(self, other):
            return Counting.__matmul__(np.asarray(other).view(Counting), self)

    net.weights = [W.view(Counting) for W in net.weights]
    net.train_step(X.view(Counting), Y, 0.01)
    assert len(flops) == 3 + 3 + 2  # forward, dW, dH of layers 2 and 3
    assert sum(flops) == train_flops(sizes) * m
