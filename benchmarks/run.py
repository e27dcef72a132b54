"""chainrule's benchmark harness: chainrule and its peers on the same workloads, in one run.

    python benchmarks/run.py                    # everything; writes benchmarks/RESULTS.md
    python benchmarks/run.py --only W1,GEMM     # a selection (sections: see SECTIONS)
    python benchmarks/run.py --smoke            # tiny sizes, a few seconds, no file unless --output

Sections: the machine's fp32/fp64 peak (peak.cpp, always measured), import time, peak memory of
W2 training, W1 (the demo's tiny network), W2 (MNIST-shaped training), W2n (W2 with a BatchNorm
and a Dropout after each hidden layer, and its cost over plain W2), W3 (wide layers), W4
(single-sample predict latency), GEMM (chainrule's kernels against numpy.matmul under the
OpenBLAS kernels this machine offers) and epoch (the per-epoch cost of fit's Python layer, with
nothing attached and with a no-op callback, validation or progress output). Peers that are not
installed are reported as such.
Every system gets the same thread budget (--threads, default 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

import peak as peak_probe
import peers
from gemm import mlp_cases, square_cases
from memory import w2_data
from numpy_mlp import NumpyMLP
from peers import NetSpec
from report import Report
from timing import BackgroundLoad, best_of, median_latency, run_when_quiet

HERE = Path(__file__).resolve().parent
SECTIONS = ("import", "memory", "W1", "W2", "W2n", "W3", "W4", "GEMM", "epoch")
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
AVX512_KERNELS = {"skylakex", "cooperlake", "sapphirerapids"}  # OpenBLAS core names


@dataclasses.dataclass
class Config:
    """Workload sizes and repetitions; FULL is the benchmark, SMOKE keeps the harness honest."""
    peak_seconds: float = 0.2
    peak_runs: int = 3
    import_repeats: int = 7
    w1_epochs: int = 1000
    w1_repeats: int = 5
    w2_sizes: tuple = (784, 512, 256, 10)
    w2_samples: int = 60_000
    w2_batch: int = 128
    w2_repeats: int = 2
    w2n_dropout: float = 0.1
    w2n_repeats: int = 3
    w3_sizes: tuple = (1024, 4096, 4096, 1024)
    w3_batch: int = 512
    w3_steps: int = 20
    w3_repeats: int = 2
    w4_calls: int = 5000
    gemm_sizes: tuple = (64, 128, 256, 512, 1024, 2048, 4096)
    gemm_batch: int = 128  # the skinny GEMMs of a training step of W2's hidden layers
    gemm_layers: tuple = (784, 512, 256)
    gemm_budget: float = 0.3
    memory_samples: int = 60_000
    overhead_epochs: int = 2000
    overhead_repeats: int = 7


FULL = Config()
SMOKE = Config(peak_seconds=0.01, peak_runs=1, import_repeats=1, w1_epochs=5, w1_repeats=1,
               w2_sizes=(32, 16, 8, 10), w2_samples=256, w2_batch=64, w2_repeats=1,
               w2n_repeats=1,
               w3_sizes=(16, 32, 32, 16), w3_batch=32, w3_steps=2, w3_repeats=1, w4_calls=20,
               gemm_sizes=(8, 33), gemm_batch=8, gemm_layers=(24, 16, 8), gemm_budget=0.001,
               memory_samples=256, overhead_epochs=40, overhead_repeats=2)

W1_SPEC = NetSpec([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], "mse", "float64")
SEED = 42


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- background load -------------------------------------------------------------------------

LOAD = BackgroundLoad()
_quiet = dict(max_wait=0.0, log=[])  # set by run(); log: (label, other processes' share, waited)


def guarded(label: str, fn: Callable[[], Any], record: Optional[Dict] = None,
            attempts: int = 3) -> Any:
    """Run ``fn`` once the machine is quiet (other processes below 10% of the CPUs, waiting up
    to --max-wait seconds), again if other processes took 10% or more meanwhile (up to
    ``attempts`` runs, keeping the least disturbed), and record their share of the CPUs."""
    out, share, waited = run_when_quiet(fn, LOAD, _quiet["max_wait"], attempts)
    _quiet["log"].append((label, share, waited))
    if record is not None:
        record["background"] = share
    if share is not None and share >= 0.05:
        log(f"    ({label}: other processes used {100 * share:.0f}% of the CPUs meanwhile)")
    return out


def train_flops(sizes) -> int:
    """Flops of one training step per sample: 2 per multiply-add forward, 4 backward."""
    return 6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# ---- machine -------------------------------------------------------------------------------

def cpu_steal() -> Optional[tuple]:
    """(steal, total) jiffies from /proc/stat, to report how much the hypervisor took."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[7], sum(fields)
    except (OSError, IndexError, ValueError):
        return None


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def chainrule_build() -> str:
    """Identity of the installed extension module (others may reinstall it during a run)."""
    import hashlib
    import chainrule._core
    path = Path(chainrule._core.__file__)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
    return f"{path.name} sha256 {digest}, built {stamp}"


def machine_info(threads: int) -> Dict[str, Any]:
    import chainrule
    from gemm import blas_info
    return dict(cpu=peak_probe.cpu_model(), logical_cpus=os.cpu_count(), threads=threads,
                chainrule_threads=peers.chainrule_threads(),
                chainrule_get_num_threads=hasattr(chainrule, "get_num_threads"),
                avx512f="avx512f" in peak_probe.cpu_flags(), python=platform.python_version(),
                chainrule_path=str(Path(chainrule.__file__).parent), git=git_revision(),
                chainrule_build=chainrule_build(),
                blas=blas_info(), openblas_env={v: os.environ.get(v) for v in OPENBLAS_VARS},
                date=datetime.datetime.now().isoformat(timespec="seconds"))


# ---- training workloads ------------------------------------------------------------------

def train_workload(key: str, spec: NetSpec, X: np.ndarray, Y: np.ndarray, *, lr: float, epochs: int,
                   batch: Optional[int], repeats: int, systems, threads: int,
                   warmup_rows: Optional[int] = None, eval_rows: Optional[int] = None,
                   notes: Optional[Dict[str, str]] = None) -> List[Dict]:
    """Time ``epochs`` of SGD for every system from the same initial weights (best of
    ``repeats``, each run from fresh weights). Warm-up: one untimed run, or with
    ``warmup_rows`` one epoch on that many rows."""
    weights = peers.initial_weights(spec, SEED)
    n = X.shape[0]
    flops = train_flops(spec.sizes) * n * epochs
    rows = []
    for system in systems:
        row: Dict[str, Any] = dict(system=system, note=(notes or {}).get(system, ""))
        rows.append(row)
        if versions.get(system) is None:
            row["status"] = "not installed"
            continue

        def make(system=system):
            trainer = peers.make_trainer(system, spec, weights, X, Y, lr, epochs, batch)

            def go():
                trainer.run()
                return trainer
            return go
        def measure(system=system, make=make):
            warmup = 1
            if warmup_rows is not None:
                rows_w = min(warmup_rows, n)
                peers.make_trainer(system, spec, weights, X[:rows_w], Y[:rows_w], lr, 1,
                                   batch).run()
                warmup = 0
            return best_of(make, repeats, warmup=warmup)
        try:
            seconds, trainer = guarded(f"{key} {system}", measure, row)
        except Exception as exc:  # a peer failing must not stop the harness
            row["status"] = f"error: {type(exc).__name__}: {exc}"[:200]
            log(f"    {system}: {row['status']}")
            continue
        m = n if eval_rows is None else min(eval_rows, n)
        row.update(seconds=seconds, samples_per_s=n * epochs / seconds,
                   gflops=flops / seconds / 1e9,
                   threads=peers.chainrule_threads() if system == "chainrule" else threads,
                   final_loss=peers.loss_value(spec, trainer.predict(X[:m]), Y[:m]))
        log(f"    {system}: {seconds:.4g} s")
    return rows


def run_w1(cfg: Config, threads: int) -> Dict:
    from chainrule.demo import make_data
    X, Y = make_data()
    rows = train_workload("W1", W1_SPEC, X, Y, lr=0.01, epochs=cfg.w1_epochs, batch=None,
                          repeats=cfg.w1_repeats, systems=peers.SYSTEMS, threads=threads,
                          notes={"sklearn": "MLPRegressor: relu in every hidden layer, own init",
                                 "torch": "eager, manual loop, optim.SGD"})
    return dict(title=f"W1 tiny: 2-10-8-5-1 relu/tanh/relu/linear, MSE, {len(X)} samples, "
                      f"{cfg.w1_epochs} full-batch epochs, float64",
                dtype="fp64", rows=rows, timing=f"best of {cfg.w1_repeats} after 1 warm-up run")


def run_w2(cfg: Config, threads: int) -> Dict:
    sizes = list(cfg.w2_sizes)
    spec = NetSpec(sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "cross_entropy", "float32")
    X, Y = w2_data(cfg.w2_samples, sizes[0], sizes[-1])
    rows = train_workload("W2", spec, X, Y, lr=0.01, epochs=1, batch=cfg.w2_batch,
                          repeats=cfg.w2_repeats, systems=peers.SYSTEMS, threads=threads,
                          warmup_rows=8 * cfg.w2_batch, eval_rows=4096,
                          notes={"sklearn": "MLPClassifier, own init",
                                 "torch": "F.cross_entropy on logits"})
    return dict(title=f"W2 MNIST-shaped: {'-'.join(map(str, sizes))} relu/relu/softmax, "
                      f"cross-entropy, batch {cfg.w2_batch}, {cfg.w2_samples:,} synthetic samples, "
                      "1 epoch, float32",
                dtype="fp32", rows=rows,
                timing=f"best of {cfg.w2_repeats} epochs after a warm-up epoch on "
                       f"{8 * cfg.w2_batch} rows")


def run_w2n(cfg: Config, threads: int) -> Dict:
    """W2's network with a BatchNorm and a Dropout after each hidden layer, chainrule against
    the same torch.nn.Sequential in eager mode, and each system's plain W2 timed in the same
    run (each measurement waits for a quiet machine): the cost of the layers is
    t(W2n) / t(W2) - 1."""
    sizes = list(cfg.w2_sizes)
    spec = NetSpec(sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "cross_entropy", "float32",
                   dropout=cfg.w2n_dropout)
    X, Y = w2_data(cfg.w2_samples, sizes[0], sizes[-1])
    rows = train_workload("W2n", spec, X, Y, lr=0.01, epochs=1, batch=cfg.w2_batch,
                          repeats=cfg.w2n_repeats,
                          systems=("chainrule", "chainrule-plain")
                          + ((peers.BASELINE,) if peers.HAS_BASELINE else ())
                          + ("torch", "torch-plain"),
                          threads=threads, warmup_rows=8 * cfg.w2_batch, eval_rows=4096,
                          notes={"chainrule-plain": "plain W2 (no BatchNorm, Dropout): the "
                                                    "baseline of the layers' cost",
                                 "torch": "eager nn.Sequential, F.cross_entropy on logits",
                                 "torch-plain": "plain W2 in torch"})
    p = cfg.w2n_dropout
    return dict(title=f"W2n: W2 ({'-'.join(map(str, sizes))} relu/relu/softmax, batch "
                      f"{cfg.w2_batch}, {cfg.w2_samples:,} samples, 1 epoch, float32) with "
                      f"BatchNorm and Dropout({p}) after each hidden layer; GFLOP/s count the "
                      "dense layers only; final loss in inference mode (running statistics, no "
                      "dropout; the two systems draw different masks)",
                dtype="fp32", rows=rows,
                timing=f"best of {cfg.w2n_repeats} epochs after a warm-up epoch on "
                       f"{8 * cfg.w2_batch} rows")


def run_w3(cfg: Config, threads: int) -> Dict:
    sizes = list(cfg.w3_sizes)
    spec = NetSpec(sizes, ["relu"] * (len(sizes) - 2) + ["linear"], "mse", "float32")
    rng = np.random.default_rng(3)
    n = cfg.w3_batch * cfg.w3_steps
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    Y = rng.standard_normal((n, sizes[-1]), dtype=np.float32)
    rows = train_workload("W3", spec, X, Y, lr=1e-4, epochs=1, batch=cfg.w3_batch,
                          repeats=cfg.w3_repeats,
                          systems=("chainrule", "chainrule-1t")
                          + ((peers.BASELINE,) if peers.HAS_BASELINE else ()) + ("numpy", "torch"),
                          threads=threads, warmup_rows=cfg.w3_batch, eval_rows=cfg.w3_batch,
                          notes={"chainrule-1t": "chainrule.set_num_threads(1): the scaling "
                                                 "baseline"})
    for r in rows:
        if r["system"] == "chainrule-1t" and "threads" in r:
            r["threads"] = 1
    # the same two steps with 1 and with `threads` threads must give the same bits
    weights = peers.initial_weights(spec, SEED)
    outs = []
    for system in ("chainrule-1t", "chainrule"):
        trainer = peers.make_trainer(system, spec, weights, X[:2 * cfg.w3_batch],
                                     Y[:2 * cfg.w3_batch], 1e-4, 1, cfg.w3_batch)
        trainer.run()
        outs.append(trainer.predict(X[:cfg.w3_batch]))
    return dict(title=f"W3 wide: {'-'.join(map(str, sizes))} relu/relu/linear, MSE, batch "
                      f"{cfg.w3_batch}, {cfg.w3_steps} SGD steps, float32",
                dtype="fp32", rows=rows, bitwise_threads=bool(np.array_equal(outs[0], outs[1])),
                timing=f"best of {cfg.w3_repeats} after a 1-step warm-up")


def run_w4(cfg: Config, threads: int) -> Dict:
    import chainrule
    sizes = list(cfg.w2_sizes)
    spec = NetSpec(sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "cross_entropy", "float32")
    weights = peers.initial_weights(spec, SEED)
    x = w2_data(1, sizes[0], sizes[-1])[0]  # (1, n0) float32, C-contiguous
    calls: Dict[str, Callable[[], Any]] = {}
    net = chainrule.Network(sizes, spec.activations, loss=spec.loss, dtype="float32", seed=SEED)
    calls["chainrule"] = lambda: net.predict(x)
    if peers.HAS_BASELINE:
        base = importlib.import_module(peers.BASELINE_MODULE).Network(
            sizes, spec.activations, loss=spec.loss, dtype="float32", seed=SEED)
        calls[peers.BASELINE] = lambda: base.predict(x)
    mlp = NumpyMLP(sizes, spec.activations, spec.loss, dtype=np.float32, weights=weights)
    calls["numpy"] = lambda: mlp.predict(x)
    rows = []
    for system in ("chainrule",) + ((peers.BASELINE,) if peers.HAS_BASELINE else ()) + \
            ("numpy", "torch"):
        row: Dict[str, Any] = dict(system=system, note="")
        rows.append(row)
        if versions.get(system) is None:
            row["status"] = "not installed"
            continue
        if system == "torch":
            import torch
            model = peers.torch_model(spec, weights).eval()
            xt = torch.from_numpy(x)
            row["note"] = "under torch.no_grad(), input already a tensor"
            call = lambda: torch.softmax(model(xt), dim=1)

            def measure(call=call):
                with torch.no_grad():
                    return median_latency(call, cfg.w4_calls)
        else:
            measure = lambda system=system: median_latency(calls[system], cfg.w4_calls)
        row["seconds"] = guarded(f"W4 {system}", measure, row)
        row["threads"] = peers.chainrule_threads() if system == "chainrule" else threads
        log(f"    {system}: {row['seconds'] * 1e6:.3g} us")
    return dict(title=f"W4 latency: predict of 1 sample on W2's network "
                      f"({'-'.join(map(str, sizes))}, float32)",
                dtype="fp32", rows=rows, latency=True,
                timing=f"median of {cfg.w4_calls} individually timed calls after 100 warm-up calls")


# ---- GEMM ----------------------------------------------------------------------------------

def numpy_gemm_variant(label: str, env: Dict[str, str], cases, threads: int, budget: float) -> Dict:
    cmd = [sys.executable, str(HERE / "gemm.py"), "numpy", "--threads", str(threads),
           "--budget", str(budget)]
    cmd += ["--max-wait", str(_quiet["max_wait"])]  # it waits for a quiet machine per case
    proc = guarded(f"GEMM numpy ({label})", lambda: subprocess.run(
        cmd, input=json.dumps(cases), capture_output=True, text=True, env=env), attempts=1)
    if proc.returncode != 0:
        return dict(label=label, error=proc.stderr.strip()[-300:])
    out = json.loads(proc.stdout)
    blas = out["blas"][0] if out["blas"] else {}
    return dict(label=label, kernel=blas.get("architecture") or "unknown", blas=blas,
                results=out["results"])


def run_gemm(cfg: Config, threads: int) -> Dict:
    cases = square_cases(cfg.gemm_sizes) + mlp_cases(cfg.gemm_batch, cfg.gemm_layers)
    from gemm import measure
    log(f"    chainrule: {len(cases)} cases")
    chainrule_results = guarded("GEMM chainrule", lambda: measure(
        "chainrule", cases, cfg.gemm_budget, _quiet["max_wait"]), attempts=1)
    baseline_results = None
    if peers.HAS_BASELINE:
        log(f"    {peers.BASELINE}: {len(cases)} cases")
        baseline_results = guarded(f"GEMM {peers.BASELINE}", lambda: measure(
            peers.BASELINE, cases, cfg.gemm_budget, _quiet["max_wait"]), attempts=1)

    base = dict(os.environ)
    variants = [("environment as is", base)]
    if any(v in base for v in OPENBLAS_VARS):
        variants.append((f"{' and '.join(OPENBLAS_VARS)} unset",
                         {k: v for k, v in base.items() if k not in OPENBLAS_VARS}))
    measured = []
    for label, env in variants:
        log(f"    numpy ({label})")
        measured.append(numpy_gemm_variant(label, env, cases, threads, cfg.gemm_budget))
    has_avx512 = lambda v: v.get("kernel", "").lower() in AVX512_KERNELS
    if "avx512f" in peak_probe.cpu_flags() and not has_avx512(measured[-1]):
        env = {k: v for k, v in base.items() if k not in OPENBLAS_VARS}
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
        log("    numpy (OPENBLAS_CORETYPE=SkylakeX)")
        measured.append(numpy_gemm_variant("OPENBLAS_CORETYPE=SkylakeX", env, cases, threads,
                                           cfg.gemm_budget))
    usable = [v for v in measured if "results" in v]
    reference = next((v for v in usable if has_avx512(v)), usable[-1] if usable else None)
    return dict(cases=cases, chainrule=chainrule_results, chainrule_base=baseline_results,
                numpy=measured,
                reference=None if reference is None else reference["label"],
                reference_is_avx512=reference is not None and has_avx512(reference),
                chainrule_threads=peers.chainrule_threads())


# ---- memory and import time ------------------------------------------------------------------

def run_memory(cfg: Config, threads: int) -> Dict:
    sizes = list(cfg.w2_sizes)
    n, batch, itemsize = cfg.memory_samples, cfg.w2_batch, 4
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    bound = dict(data=n * (sizes[0] + sizes[-1]) * itemsize,
                 params=params * itemsize, grads=params * itemsize,
                 activations=3 * batch * sum(sizes[1:]) * itemsize)  # Z, H, dZ of every layer
    out: Dict[str, Any] = dict(bound_mb={k: v / 2**20 for k, v in bound.items()},
                               samples=n, rows={})
    for system in ("chainrule", "torch"):
        if versions.get(system) is None:
            out["rows"][system] = dict(status="not installed")
            continue
        # Through a forking shell: Linux copies the parent's high-water mark into ru_maxrss at
        # exec, and this process is large by now; sh's small child starts from sh's size.
        cmd = ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, str(HERE / "memory.py"),
               system, "--sizes", ",".join(map(str, sizes)), "--samples", str(n),
               "--batch", str(batch), "--threads", str(threads)]
        proc = guarded(f"memory {system}",
                       lambda cmd=cmd: subprocess.run(cmd, capture_output=True, text=True))
        if proc.returncode != 0:
            out["rows"][system] = dict(status="error: " + proc.stderr.strip()[-200:])
        else:
            out["rows"][system] = json.loads(proc.stdout.strip().splitlines()[-1])
        log(f"    {system}: {out['rows'][system]}")
    return out


def run_import(cfg: Config, threads: int) -> Dict:
    def best(code: str) -> float:
        times = []
        with tempfile.TemporaryDirectory() as cwd:  # away from the source tree
            for _ in range(cfg.import_repeats):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, cwd=cwd)
                times.append(time.perf_counter() - t0)
        return min(times)
    bare = best("pass")
    out: Dict[str, Any] = dict(bare=bare, repeats=cfg.import_repeats, rows={})
    for module in ("chainrule", "torch"):
        if versions.get(module) is None:
            out["rows"][module] = None
            continue
        out["rows"][module] = guarded(f"import {module}", lambda: best(f"import {module}")) - bare
        log(f"    import {module}: {out['rows'][module]:.3f} s")
    return out


# ---- orchestration -------------------------------------------------------------------------

def run_epoch_overhead(cfg: Config, threads: int) -> Dict:
    """What fit's Python layer costs per epoch, on W1 (the demo's 2-10-8-5-1 network, 100
    samples, one full batch per epoch, so an epoch is a few microseconds of C++).

    Each variant's cost per epoch is the slope (t(2E) - t(E)) / E of its best times over
    repeats, which leaves out the fixed cost of a call; "overhead" is that slope minus the slope
    of the core's own epoch loop (`Network64.fit` called directly, no hooks)."""
    import contextlib
    import io
    import chainrule
    from chainrule.demo import make_data
    X, Y = make_data()
    E = cfg.overhead_epochs
    net = chainrule.Network(W1_SPEC.sizes, W1_SPEC.activations, loss="mse", seed=SEED)
    start = [np.array(p) for W, b in zip(net.weights, net.biases) for p in (W, b)]
    Xv, Yv = X[:20], Y[:20]
    variants: Dict[str, Callable[[int], Any]] = {
        "core epoch loop (Network64.fit, no hooks)":
            lambda e: net._core.fit(X, Y, e, 0.01, 0, None, None, None, None, None, None, None, []),
        "Network.fit, nothing attached": lambda e: net.fit(X, Y, epochs=e, lr=0.01),
        "Network.fit + a no-op callback":
            lambda e: net.fit(X, Y, epochs=e, lr=0.01, callbacks=[lambda ep, logs, n: None]),
        "Network.fit + validation_data (20 rows) and metrics=['r2']":
            lambda e: net.fit(X, Y, epochs=e, lr=0.01, validation_data=(Xv, Yv), metrics=["r2"]),
        "Network.fit + verbose=1 (tqdm, to a buffer)":
            lambda e: net.fit(X, Y, epochs=e, lr=0.01, verbose=1),
    }

    def best(fn: Callable[[int], Any], epochs: int) -> float:
        times = []
        for _ in range(max(1, cfg.overhead_repeats)):
            for l in range(net.n_layers):  # the same starting point every time
                net.weights[l], net.biases[l] = start[2 * l], start[2 * l + 1]
            with contextlib.redirect_stderr(io.StringIO()):
                t0 = time.perf_counter()
                fn(epochs)
                times.append(time.perf_counter() - t0)
        return min(times)

    rows = []
    core_slope = None
    for label, fn in variants.items():
        def measure(fn=fn):
            with contextlib.redirect_stderr(io.StringIO()):
                fn(E)  # warm-up
            t1, t2 = best(fn, E), best(fn, 2 * E)
            return t1, t2
        t1, t2 = guarded(f"epoch: {label}", measure)
        slope = max(0.0, (t2 - t1) / E)
        if core_slope is None:
            core_slope = slope
        rows.append(dict(label=label, per_epoch=slope, overhead=slope - core_slope,
                         fixed=max(0.0, t1 - slope * E)))
        log(f"    {label}: {slope * 1e6:.2f} µs per epoch ({(slope - core_slope) * 1e6:+.2f} µs)")
    return dict(epochs=E, repeats=cfg.overhead_repeats, rows=rows,
                title=f"W1 network, {len(X)} samples, full batch: slope over {E} and {2 * E} epochs")


RUNNERS = {"import": run_import, "memory": run_memory, "W1": run_w1, "W2": run_w2,
           "W2n": run_w2n, "W3": run_w3,
           "W4": run_w4, "GEMM": run_gemm, "epoch": run_epoch_overhead}
versions: Dict[str, Optional[str]] = {}


def run(config: Config = FULL, sections=SECTIONS, threads: int = 2,
        output: Optional[os.PathLike] = None, json_output: Optional[os.PathLike] = None,
        max_wait: float = 0.0) -> Dict:
    """Measure the selected sections and return the results (the Markdown report in
    ``results["report"]``); write the report to ``output`` and the raw results as JSON to
    ``json_output`` when given. Before each
    measurement wait up to ``max_wait`` seconds for other processes to leave the CPUs."""
    start, steal0 = time.perf_counter(), cpu_steal()
    _quiet.update(max_wait=max_wait, log=[])
    versions.clear()
    versions.update(peers.versions())
    command = "python benchmarks/run.py" + (" --smoke" if config is SMOKE else "")
    if list(sections) != list(SECTIONS):
        command += f" --only {','.join(sections)}"
    if threads != 2:
        command += f" --threads {threads}"
    results: Dict[str, Any] = dict(config=dataclasses.asdict(config), command=command,
                                   sections=list(sections), versions=dict(versions))
    results["machine"] = machine_info(threads)
    log(f"peak: compiling and running {peak_probe.SOURCE.name}")
    n_cpus = os.cpu_count() or 1
    probe = lambda: peak_probe.measure(sorted({1, threads, n_cpus}), config.peak_seconds,
                                       config.peak_runs)
    results["peak"] = guarded("peak", probe)
    log(f"    {results['peak']}")
    restore_threads = peers.set_threads(threads)
    try:
        results["round_trip"] = {"start": peak_probe.core_round_trip()}
        for name in sections:
            results["round_trip"][name] = rt = peak_probe.core_round_trip()
            log(f"{name}" + (f" (core-to-core round trip {rt:.0f} ns)" if rt else ""))
            results[name] = RUNNERS[name](config, threads)
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
    results["background"] = [dict(label=label, share=share, waited=waited)
                              for label, share, waited in _quiet["log"]]
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
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few seconds; writes no file unless --output is given")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections out of {','.join(SECTIONS)} "
                             "(the peak is always measured)")
    parser.add_argument("--threads", type=int, default=2, help="thread budget of every system")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown report (default: benchmarks/RESULTS.md; none with --smoke)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results")
    parser.add_argument("--max-wait", type=float, default=None,
                        help="seconds to wait, before each measurement, for other processes to "
                             "leave the CPUs (default 60; 0 with --smoke)")
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
