"""The training workloads: W1 and W1b (the derivation's two demo networks, full batch), W1m
(a small network in shuffled mini-batches with Adam), W2 (MNIST-shaped), W2n (W2 with
BatchNorm and Dropout) and W3 (wide layers). Each returns its section of the results."""

from __future__ import annotations

from typing import Dict

import numpy as np
import peers
from harness import (
    SEED,
    SHUFFLE_SEED,
    Config,
    repeats_note,
    skipped,
    train_workload,
    turns_note,
)
from memory import w2_data
from peers import NetSpec

W1_SPEC = NetSpec([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], "mse", "float64")
W1B_SPEC = NetSpec([2, 15, 1], ["sigmoid", "linear"], "mse", "float64")
W1M_SPEC = NetSpec([8, 64, 64, 1], ["tanh", "tanh", "linear"], "mse", "float32", optimizer="adam")
W1M_LR = 1e-3

_TORCH_NOTE = "eager, manual loop, optim.SGD"
_COMPILE_NOTE = "the loss (model + MSE) compiled (inductor), eager optim.SGD"
_JAX_WHOLE = "jit: all the epochs in one lax.fori_loop"
_JAX_EPOCH = "jit: each epoch one lax.scan over its batches"


def _full_batch(
    key: str, spec: NetSpec, lr: float, cfg: Config, threads: int, sklearn_note: str
) -> Dict:
    """A demo network trained on the demo's data, every epoch one full-batch SGD step."""
    from chainrule.demo import make_data

    X, Y = make_data()
    rows = train_workload(
        key,
        spec,
        X,
        Y,
        lr=lr,
        epochs=cfg.w1_epochs,
        batch=None,
        repeats=cfg.w1_repeats,
        budget=cfg.train_budget,
        turns=cfg.turns,
        systems=peers.SYSTEMS,
        threads=threads,
        skip=skipped(cfg, key),
        notes={
            "sklearn": sklearn_note,
            "torch": _TORCH_NOTE,
            "torch-compile": _COMPILE_NOTE,
            "jax": _JAX_WHOLE,
        },
    )
    return dict(
        title=f"{'-'.join(map(str, spec.sizes))} {'/'.join(spec.activations)}, MSE, "
        f"lr {lr}, {len(X)} samples, {cfg.w1_epochs} full-batch epochs, float64",
        dtype="fp64",
        rows=rows,
        timing=f"best of {repeats_note(cfg, cfg.w1_repeats)} after 1 warm-up run" + turns_note(cfg),
    )


def run_w1(cfg: Config, threads: int) -> Dict:
    out = _full_batch(
        "W1", W1_SPEC, 0.01, cfg, threads, "MLPRegressor: relu in every hidden layer, own init"
    )
    out["title"] = "W1 tiny (the demo's first network): " + out["title"]
    return out


def run_w1b(cfg: Config, threads: int) -> Dict:
    out = _full_batch(
        "W1b", W1B_SPEC, 0.1, cfg, threads, "MLPRegressor (logistic hidden layer), own init"
    )
    out["title"] = "W1b (the demo's second network): " + out["title"]
    return out


def w1m_data(rows: int, seed: int = 5):
    """8 standard-normal features, a smooth nonlinear target, float32."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 8)).astype(np.float32)
    y = np.sin(X[:, :4].sum(axis=1)) * 0.5 + 0.25 * X[:, 4] * X[:, 5] - 0.1 * X[:, 6]
    return X, y.reshape(-1, 1).astype(np.float32)


def run_w1m(cfg: Config, threads: int) -> Dict:
    X, Y = w1m_data(cfg.w1m_rows)
    systems = (
        ("chainrule",)
        + ((peers.BASELINE,) if peers.HAS_BASELINE else ())
        + ("numpy", "torch", "torch-compile", "jax", "sklearn")
    )
    rows = train_workload(
        "W1m",
        W1M_SPEC,
        X,
        Y,
        lr=W1M_LR,
        epochs=cfg.w1m_epochs,
        batch=cfg.w1m_batch,
        repeats=cfg.w1m_repeats,
        budget=cfg.train_budget,
        turns=cfg.turns,
        systems=systems,
        threads=threads,
        shuffle_seed=SHUFFLE_SEED,
        skip=skipped(cfg, "W1m"),
        notes={
            "numpy": "Adam written in NumPy",
            "torch": "eager, manual loop, optim.Adam",
            "torch-compile": "the loss compiled (inductor), eager optim.Adam",
            "jax": _JAX_EPOCH + " (the epoch's rows gathered in its order "
            "inside), Adam written in jax.numpy",
            "sklearn": "MLPRegressor(solver='adam'), own init, its own shuffling order",
        },
    )
    return dict(
        title=f"W1m small: 8-64-64-1 tanh/tanh/linear, MSE, {cfg.w1m_rows:,} samples, "
        f"batch {cfg.w1m_batch}, shuffled every epoch, {cfg.w1m_epochs} epochs, "
        f"Adam (lr {W1M_LR}), float32; every system but scikit-learn visits the "
        "rows in the same orders (those chainrule's fit(shuffle=True) draws)",
        dtype="fp32",
        rows=rows,
        timing=f"best of {repeats_note(cfg, cfg.w1m_repeats)} after 1 warm-up run"
        + turns_note(cfg),
    )


def _w2_spec(cfg: Config, **kwargs) -> NetSpec:
    sizes = list(cfg.w2_sizes)
    return NetSpec(
        sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "cross_entropy", "float32", **kwargs
    )


def run_w2(cfg: Config, threads: int) -> Dict:
    spec = _w2_spec(cfg)
    sizes = spec.sizes
    X, Y = w2_data(cfg.w2_samples, sizes[0], sizes[-1])
    rows = train_workload(
        "W2",
        spec,
        X,
        Y,
        lr=0.01,
        epochs=1,
        batch=cfg.w2_batch,
        repeats=cfg.w2_repeats,
        budget=cfg.train_budget,
        turns=cfg.turns,
        systems=peers.SYSTEMS,
        threads=threads,
        warmup_rows=8 * cfg.w2_batch,
        eval_rows=4096,
        skip=skipped(cfg, "W2"),
        notes={
            "sklearn": "MLPClassifier, own init",
            "torch": "F.cross_entropy on logits",
            "torch-compile": "the loss (model + F.cross_entropy) compiled "
            "(inductor), eager optim.SGD",
            "jax": _JAX_EPOCH + " (then the remainder batch)",
        },
    )
    return dict(
        title=f"W2 MNIST-shaped: {'-'.join(map(str, sizes))} relu/relu/softmax, "
        f"cross-entropy, batch {cfg.w2_batch}, {cfg.w2_samples:,} synthetic samples, "
        "1 epoch (rows in order), float32",
        dtype="fp32",
        rows=rows,
        timing=f"best of {repeats_note(cfg, cfg.w2_repeats)} epochs after a warm-up epoch on {8 * cfg.w2_batch} rows"
        + turns_note(cfg),
    )


def run_w2n(cfg: Config, threads: int) -> Dict:
    """W2's network with a BatchNorm and a Dropout after each hidden layer, chainrule against
    the same torch.nn.Sequential in eager mode, and each system's plain W2 timed in the same
    run (each measurement waits for a quiet machine): the cost of the layers is
    t(W2n) / t(W2) - 1."""
    spec = _w2_spec(cfg, dropout=cfg.w2n_dropout)
    sizes = spec.sizes
    X, Y = w2_data(cfg.w2_samples, sizes[0], sizes[-1])
    rows = train_workload(
        "W2n",
        spec,
        X,
        Y,
        lr=0.01,
        epochs=1,
        batch=cfg.w2_batch,
        repeats=cfg.w2n_repeats,
        budget=cfg.train_budget,
        turns=cfg.turns,
        systems=("chainrule", "chainrule-plain")
        + ((peers.BASELINE,) if peers.HAS_BASELINE else ())
        + ("torch", "torch-plain"),
        threads=threads,
        warmup_rows=8 * cfg.w2_batch,
        eval_rows=4096,
        notes={
            "chainrule-plain": "plain W2 (no BatchNorm, Dropout): the baseline of the layers' cost",
            "torch": "eager nn.Sequential, F.cross_entropy on logits",
            "torch-plain": "plain W2 in torch",
        },
    )
    p = cfg.w2n_dropout
    return dict(
        title=f"W2n: W2 ({'-'.join(map(str, sizes))} relu/relu/softmax, batch "
        f"{cfg.w2_batch}, {cfg.w2_samples:,} samples, 1 epoch, float32) with "
        f"BatchNorm and Dropout({p}) after each hidden layer; GFLOP/s count the "
        "dense layers only; final loss in inference mode (running statistics, no "
        "dropout; the two systems draw different masks)",
        dtype="fp32",
        rows=rows,
        timing=f"best of {repeats_note(cfg, cfg.w2n_repeats)} epochs after a warm-up epoch on {8 * cfg.w2_batch} rows"
        + turns_note(cfg),
    )


def run_w3(cfg: Config, threads: int) -> Dict:
    sizes = list(cfg.w3_sizes)
    spec = NetSpec(sizes, ["relu"] * (len(sizes) - 2) + ["linear"], "mse", "float32", loop="step")
    rng = np.random.default_rng(3)
    n = cfg.w3_batch * cfg.w3_steps
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    Y = rng.standard_normal((n, sizes[-1]), dtype=np.float32)
    rows = train_workload(
        "W3",
        spec,
        X,
        Y,
        lr=1e-4,
        epochs=1,
        batch=cfg.w3_batch,
        repeats=cfg.w3_repeats,
        budget=cfg.train_budget,
        turns=cfg.turns,
        systems=("chainrule", "chainrule-1t")
        + ((peers.BASELINE,) if peers.HAS_BASELINE else ())
        + ("numpy", "torch", "torch-1t", "torch-compile", "jax"),
        threads=threads,
        warmup_rows=cfg.w3_batch,
        eval_rows=cfg.w3_batch,
        skip=skipped(cfg, "W3"),
        notes={
            "chainrule-1t": "chainrule.set_num_threads(1): the scaling baseline",
            "torch-1t": "torch.set_num_threads(1): PyTorch's scaling in the same run",
            "torch-compile": _COMPILE_NOTE,
            "jax": "jit: one compiled call per training step",
        },
    )
    # the same two steps with 1 and with `threads` threads must give the same bits
    weights = peers.initial_weights(spec, SEED)
    outs = []
    for system in ("chainrule-1t", "chainrule"):
        trainer = peers.make_trainer(
            system,
            spec,
            weights,
            X[: 2 * cfg.w3_batch],
            Y[: 2 * cfg.w3_batch],
            1e-4,
            1,
            cfg.w3_batch,
        )
        trainer.run()
        outs.append(trainer.predict(X[: cfg.w3_batch]))
    return dict(
        title=f"W3 wide: {'-'.join(map(str, sizes))} relu/relu/linear, MSE, batch "
        f"{cfg.w3_batch}, {cfg.w3_steps} SGD steps, float32",
        dtype="fp32",
        rows=rows,
        bitwise_threads=bool(np.array_equal(outs[0], outs[1])),
        timing=f"best of {repeats_note(cfg, cfg.w3_repeats)} after a 1-step warm-up"
        + turns_note(cfg),
    )
