"""What surrounds the training: peak memory of W2 training and import time (each in fresh
processes), the per-epoch cost of fit's Python layer (on W1's network), and what NumPy's idle
threads and chainrule's cost each other's next call (neighbours.py, in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
from harness import SEED, Config, guarded, log, versions
from sec_training import W1_SPEC

HERE = Path(__file__).resolve().parent


def run_memory(cfg: Config, threads: int) -> Dict:
    sizes = list(cfg.w2_sizes)
    n, batch, itemsize = cfg.memory_samples, cfg.w2_batch, 4
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    bound = dict(
        data=n * (sizes[0] + sizes[-1]) * itemsize,
        params=params * itemsize,
        grads=params * itemsize,
        activations=3 * batch * sum(sizes[1:]) * itemsize,
    )  # Z, H, dZ of every layer
    out: Dict[str, Any] = dict(
        bound_mb={k: v / 2**20 for k, v in bound.items()}, samples=n, rows={}
    )
    for system in ("chainrule", "torch"):
        if versions.get(system) is None:
            out["rows"][system] = dict(status="not installed")
            continue
        # Through a forking shell: Linux copies the parent's high-water mark into ru_maxrss at
        # exec, and this process is large by now; sh's small child starts from sh's size.
        cmd = [
            "/bin/sh",
            "-c",
            '"$@"; exit $?',
            "sh",
            sys.executable,
            str(HERE / "memory.py"),
            system,
            "--sizes",
            ",".join(map(str, sizes)),
            "--samples",
            str(n),
            "--batch",
            str(batch),
            "--threads",
            str(threads),
        ]
        proc = guarded(
            f"memory {system}", lambda cmd=cmd: subprocess.run(cmd, capture_output=True, text=True)
        )
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


#: one-epoch calls of each fit variant a round (for its fixed cost per call)
ONE_EPOCH_CALLS = 5


def run_epoch_overhead(cfg: Config, threads: int) -> Dict:
    """What fit's Python layer costs per epoch, on W1 (the demo's 2-10-8-5-1 network, 100
    samples, one full batch per epoch, so an epoch is a few microseconds of C++).

    Each variant's cost per epoch is the slope (t(2E) - t(E)) / E of its best times over
    rounds in which the variants take turns, which leaves out the fixed cost of a call;
    "overhead" is that slope minus the slope of the core's own epoch loop (`Network64.fit`
    called directly, no hooks). The fixed cost is a one-epoch call's best time less one
    epoch's slope, timed directly: extrapolated from t(E), its 100 µs or less were within
    the noise of E epochs' 10 ms or more."""
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
        "core epoch loop (Network64.fit, no hooks)": lambda e: net._core.fit(
            X, Y, e, 0.01, 0, None, None, None, None, None, None, None, []
        ),
        "Network.fit, nothing attached": lambda e: net.fit(X, Y, epochs=e, lr=0.01),
        "Network.fit + a no-op callback": lambda e: net.fit(
            X, Y, epochs=e, lr=0.01, callbacks=[lambda ep, logs, n: None]
        ),
        "Network.fit + validation_data (20 rows) and metrics=['r2']": lambda e: net.fit(
            X, Y, epochs=e, lr=0.01, validation_data=(Xv, Yv), metrics=["r2"]
        ),
        "Network.fit + verbose=1 (tqdm, to a buffer)": lambda e: net.fit(
            X, Y, epochs=e, lr=0.01, verbose=1
        ),
    }

    def timed(fn: Callable[[int], Any], epochs: int) -> float:
        for l in range(net.n_layers):  # the same starting point every time
            net.weights[l], net.biases[l] = start[2 * l], start[2 * l + 1]
        with contextlib.redirect_stderr(io.StringIO()):
            t0 = time.perf_counter()
            fn(epochs)
            return time.perf_counter() - t0

    def measure() -> Dict[str, List[float]]:
        """The variants take turns, E and 2E epochs each a round, so that the host's slow
        spells (seconds long on the shared machines) reach every variant alike; each keeps
        its best times."""
        for fn in variants.values():
            timed(fn, E)  # warm-up
        runs = [(0, E), (1, 2 * E)] + [(2, 1)] * ONE_EPOCH_CALLS  # (slot of best, epochs)
        best = {label: [float("inf")] * 3 for label in variants}
        for _ in range(max(1, cfg.overhead_repeats)):
            for label, fn in variants.items():
                for slot, epochs in runs:
                    best[label][slot] = min(best[label][slot], timed(fn, epochs))
        return best

    rows = []
    core_slope = None
    for label, (t1, t2, t_one) in guarded("epoch overhead", measure).items():
        slope = max(0.0, (t2 - t1) / E)
        if core_slope is None:
            core_slope = slope
        rows.append(
            dict(
                label=label,
                per_epoch=slope,
                overhead=slope - core_slope,
                fixed=max(0.0, t_one - slope),
            )
        )
        log(f"    {label}: {slope * 1e6:.2f} µs per epoch ({(slope - core_slope) * 1e6:+.2f} µs)")
    return dict(
        epochs=E,
        repeats=cfg.overhead_repeats,
        rows=rows,
        title=f"W1 network, {len(X)} samples, full batch: slope over {E} and {2 * E} epochs",
    )


def run_neighbours(cfg: Config, threads: int) -> Dict:
    """chainrule calls right after a NumPy product (whose OpenBLAS threads then spin on the
    other cores) and a NumPy product right after a chainrule call, against the same calls
    alone; medians of ``cfg.neighbour_calls`` calls, in a fresh process (neighbours.py)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "neighbours.py"),
            "--threads",
            str(threads),
            "--calls",
            str(cfg.neighbour_calls),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-300:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for row in out["chainrule"]:
        log(
            f"    {row['label']}: alone {row['alone']:.1f} µs, after a NumPy product "
            f"{row['after_numpy']:.1f} µs (one thread {row['one_thread_after_numpy']:.1f} µs)"
        )
    np_row = out["numpy"]
    log(
        f"    {np_row['label']}: alone {np_row['alone']:.1f} µs, "
        f"after a chainrule call {np_row['after_chainrule']:.1f} µs"
    )
    return out
