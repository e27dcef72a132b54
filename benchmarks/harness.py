"""What every section of the harness shares: sizes (Config), the quiet-machine guard, the
installed systems and the training-workload timer.

The sections (sec_training, sec_latency, sec_gemm, sec_system) import from here; run.py drives
them. Module state (``versions``, ``QUIET``) is set by run.run() once per run.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import peak as peak_probe
import peers
from peers import NetSpec
from timing import BackgroundLoad, best_of, run_when_quiet


@dataclasses.dataclass
class Config:
    """Workload sizes and repetitions; FULL is the benchmark, SMOKE keeps the harness honest."""

    peak_seconds: float = 0.2
    peak_runs: int = 3
    import_repeats: int = 7
    w1_epochs: int = 1000
    w1_repeats: int = 5
    # seconds of timed training runs every system gets at least: runs of a few milliseconds are
    # repeated past `*_repeats` (up to 200), so that their best is not at the mercy of one
    # interruption
    train_budget: float = 0.5
    # turns of every workload's systems (training, latency and each GEMM case), taken in order,
    # then in reverse order... (in_turns): the host here slows the cores by up to 1.5x for
    # seconds to minutes, and one system's runs falling in such a spell moved a ratio by as much
    turns: int = 2
    w1m_rows: int = 2000
    w1m_batch: int = 32
    w1m_epochs: int = 100
    w1m_repeats: int = 3
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
    #: output layers' training-step GEMMs, (batch, n_in, n_out): W2's softmax layer and a
    #: regression output, whose C of one column puts its rows in the vector lanes
    gemm_outputs: tuple = ((128, 256, 10), (512, 128, 1))
    gemm_budget: float = 0.3
    memory_samples: int = 60_000
    overhead_epochs: int = 2000
    overhead_repeats: int = 7
    neighbour_calls: int = 300
    #: the sections where torch.compile runs (None: all); each shape compiles for seconds
    torch_compile_sections: Optional[tuple] = None


FULL = Config()
SMOKE = Config(
    peak_seconds=0.01,
    peak_runs=1,
    import_repeats=1,
    w1_epochs=5,
    w1_repeats=1,
    train_budget=0.0,
    w1m_rows=200,
    w1m_batch=32,
    w1m_epochs=2,
    w1m_repeats=1,
    w2_sizes=(32, 16, 8, 10),
    w2_samples=256,
    w2_batch=64,
    w2_repeats=1,
    w2n_repeats=1,
    w3_sizes=(16, 32, 32, 16),
    w3_batch=32,
    w3_steps=2,
    w3_repeats=1,
    w4_calls=20,
    gemm_sizes=(8, 33),
    gemm_batch=8,
    gemm_layers=(24, 16, 8),
    gemm_outputs=((8, 16, 3), (20, 8, 1)),
    gemm_budget=0.001,
    memory_samples=256,
    overhead_epochs=40,
    overhead_repeats=2,
    neighbour_calls=5,
    torch_compile_sections=("W1", "W4"),
)

SEED = 42


def repeats_note(cfg: "Config", repeats: int) -> str:
    """How train_workload's runs are counted, for a section's timing note."""
    if cfg.train_budget <= 0:
        return f"{repeats}"
    return f"{repeats} or more (as many as fit in {cfg.train_budget:g} s, up to 200)"


def turns_note(cfg: "Config") -> str:
    """How the systems shared a workload's time, for its timing note."""
    if cfg.turns <= 1:
        return ""
    return (
        f"; the systems take turns, {cfg.turns} each (the order reversed every other "
        "turn, the warm-up repeated), and each keeps its best"
    )


def in_turns(systems, turns: int):
    """(turn, system) for ``turns`` turns of ``systems`` (at least one), the order reversed
    every other turn: how every section shares the machine's time between its systems."""
    systems = list(systems)
    for turn in range(max(1, turns)):
        for system in systems if turn % 2 == 0 else systems[::-1]:
            yield turn, system


SHUFFLE_SEED = 7  # the generator state of every shuffled workload's epoch orders

#: Versions of the systems (None: not installed), set by run.run().
versions: Dict[str, Optional[str]] = {}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- background load -------------------------------------------------------------------------

LOAD = BackgroundLoad()
# log: (label, others' share, waited, the host probe's seconds)
QUIET: Dict[str, Any] = dict(max_wait=0.0, log=[])


def guarded(
    label: str, fn: Callable[[], Any], record: Optional[Dict] = None, attempts: int = 3
) -> Any:
    """Run ``fn`` once the machine is quiet (other processes below 10% of the CPUs, waiting up
    to --max-wait seconds), again if other processes took 10% or more meanwhile (up to
    ``attempts`` runs, keeping the least disturbed), and record their share of the CPUs. A
    workload's ``record`` also gets the host probe and the vCPUs' round trip (pingpong.cpp)
    before and after: the host moves the vCPUs between one die and two while a section runs,
    and peers measured one after another can find different placements."""
    before = peak_probe.core_round_trip() if record is not None else None
    out, share, waited = run_when_quiet(fn, LOAD, QUIET["max_wait"], attempts)
    QUIET["log"].append((label, share, waited, LOAD.last_probe))
    if record is not None:
        record["background"] = share
        record["host_probe"] = LOAD.last_probe
        record["round_trip"] = [before, peak_probe.core_round_trip()]
    if share is not None and share >= 0.05:
        log(f"    ({label}: other processes used {100 * share:.0f}% of the CPUs meanwhile)")
    return out


def train_flops(sizes) -> int:
    """Flops of one training step per sample, as every system runs it: 2 per multiply-add of
    each layer's forward product and of its dW, and 2 of its dH_prev but for the first layer,
    whose dH (the gradient of the data) no system computes. (The usual 6 x sum(n_in x n_out)
    counts that product too, and put W2's share of the peak a third too high: 784 x 512 of its
    535,040 weights are the first layer's.)"""
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 6 * sum(macs) - 2 * macs[0]


def system_threads(system: str, threads: int) -> int:
    if system == "chainrule":
        return peers.chainrule_threads()
    return 1 if system.endswith("-1t") else threads


def compile_note(seconds: Optional[float]) -> str:
    return "" if seconds is None else f"compile {seconds:.3g} s (apart, not in the time)"


def skipped(cfg: Config, key: str) -> Dict[str, str]:
    """The systems this configuration leaves out of section ``key``, and why."""
    allowed = cfg.torch_compile_sections
    if allowed is None or key in allowed:
        return {}
    return {
        "torch-compile": f"not run here (it runs in {', '.join(allowed)}): compiling "
        "takes seconds per shape"
    }


def join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


# ---- the training-workload timer ---------------------------------------------------------------


def train_workload(
    key: str,
    spec: NetSpec,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    lr: float,
    epochs: int,
    batch: Optional[int],
    repeats: int,
    systems,
    threads: int,
    warmup_rows: Optional[int] = None,
    eval_rows: Optional[int] = None,
    shuffle_seed: Optional[int] = None,
    notes: Optional[Dict[str, str]] = None,
    skip: Optional[Dict[str, str]] = None,
    budget: float = 0.0,
    turns: int = 1,
) -> List[Dict]:
    """Time ``epochs`` of training for every system from the same initial weights (best of
    ``repeats``, each run from fresh weights), the systems taking ``turns`` turns (the order
    reversed every other turn), each keeping its best: a slow spell of the host then falls on
    every system, not on the one measured in it. Warm-up: one untimed run, or with
    ``warmup_rows`` one epoch on that many rows. Compiling peers (JAX, torch.compile) compile
    when their trainer is first built, outside the timed region, and report the time apart.
    With ``shuffle_seed`` every system visits the rows in the same per-epoch orders; the
    systems in ``skip`` are reported with its reason and not run. ``budget``: see
    Config.train_budget."""
    weights = peers.initial_weights(spec, SEED)
    n = X.shape[0]
    flops = train_flops(spec.sizes) * n * epochs
    rows: Dict[str, Dict[str, Any]] = {}
    for system in systems:
        rows[system] = dict(system=system, note=(notes or {}).get(system, ""))
        if versions.get(system) is None:
            rows[system]["status"] = "not installed"
        elif system in (skip or {}):
            rows[system]["status"] = (skip or {})[system]
    running = [s for s in systems if "status" not in rows[s]]

    def one_turn(system: str, record: Dict[str, Any]) -> Tuple[float, Any]:
        """A system's best run of this turn and its last trainer; the compile times of the
        timed shapes go to ``record["compiled"]``."""
        compiled = record.setdefault("compiled", [])

        def build(Xs=X, Ys=Y, n_epochs=epochs):
            trainer = peers.make_trainer(
                system, spec, weights, Xs, Ys, lr, n_epochs, batch, shuffle_seed=shuffle_seed
            )
            if trainer.compile_seconds is not None and Xs is X:  # the timed shapes
                compiled.append(trainer.compile_seconds)
            return trainer

        def make():
            trainer = build()

            def go():
                trainer.run()
                return trainer

            return go

        warmup = 1
        if warmup_rows is not None:
            rows_w = min(warmup_rows, n)
            build(X[:rows_w], Y[:rows_w], 1).run()
            warmup = 0
        return best_of(make, repeats, warmup=warmup, budget=budget)

    kept: Dict[str, Tuple[float, Any, Dict]] = {}  # a system's best turn: seconds, trainer, record
    for turn, system in in_turns(running, turns):
        if "status" in rows[system]:  # it failed in an earlier turn
            continue
        record: Dict[str, Any] = {}
        try:
            seconds, trainer = guarded(f"{key} {system}", lambda: one_turn(system, record), record)
        except Exception as exc:  # a peer failing must not stop the harness
            rows[system]["status"] = f"error: {type(exc).__name__}: {exc}"[:200]
            log(f"    {system}: {rows[system]['status']}")
            continue
        rows[system].setdefault("turns", []).append(seconds)
        if system not in kept or seconds < kept[system][0]:
            kept[system] = (seconds, trainer, record)
        log(f"    {system}: {seconds:.4g} s (turn {turn + 1})")
    for system, (seconds, trainer, record) in kept.items():
        row = rows[system]
        if "status" in row:
            continue
        compiled = record.pop("compiled", [])
        row.update(record)
        m = n if eval_rows is None else min(eval_rows, n)
        if compiled:
            row["compile_seconds"] = max(compiled)
            row["note"] = join_notes(row["note"], compile_note(max(compiled)))
        row.update(
            seconds=seconds,
            samples_per_s=n * epochs / seconds,
            gflops=flops / seconds / 1e9,
            threads=system_threads(system, threads),
            final_loss=peers.loss_value(spec, trainer.predict(X[:m]), Y[:m]),
        )
        log(
            f"    {system}: best {seconds:.4g} s, final loss {row['final_loss']:.6g}"
            + (f", compile {max(compiled):.3g} s" if compiled else "")
        )
    return list(rows.values())
