"""Latency: one-row predict, timed call by call (median). W4: W2's network (float32, softmax
output); W4d: the derivation's demo networks (float64), the smallest a user predicts with."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import peak
import peers
from harness import (
    SEED,
    Config,
    compile_note,
    guarded,
    in_turns,
    log,
    skipped,
    system_threads,
    turns_note,
    versions,
)
from memory import w2_data
from numpy_mlp import NumpyMLP
from peers import NetSpec
from sec_training import W1_SPEC, W1B_SPEC
from timing import LATENCY_BLOCKS, LATENCY_PAUSE, median_latency


def _torch_eager(spec: NetSpec, weights, x: np.ndarray) -> Callable[[], Any]:
    """Under torch.no_grad(), the input already a tensor."""
    import torch

    model = peers.torch_model(spec, weights).eval()
    xt = torch.from_numpy(x)
    softmax = spec.activations[-1] == "softmax"

    def call():
        with torch.no_grad():
            out = model(xt)
            return torch.softmax(out, dim=1) if softmax else out

    return call


def _prepare(
    system: str, spec: NetSpec, weights, x: np.ndarray
) -> Tuple[Callable[[], Any], Optional[float]]:
    """(a one-row predict of ``x`` by ``system``, its compile time or None)."""
    if system in ("chainrule", peers.BASELINE):
        module = importlib.import_module(
            "chainrule" if system == "chainrule" else peers.BASELINE_MODULE
        )
        net = module.Network(
            spec.sizes, spec.activations, loss=spec.loss, dtype=spec.dtype, seed=SEED
        )  # the same initial weights as the peers'
        return (lambda: net.predict(x)), None
    if system == "numpy":
        mlp = NumpyMLP(spec.sizes, spec.activations, spec.loss, dtype=spec.dtype, weights=weights)
        return (lambda: mlp.predict(x)), None
    if system == "torch":
        return _torch_eager(spec, weights, x), None
    module = importlib.import_module("peer_jax" if system == "jax" else "peer_torch_compile")
    return module.predict_call(spec, weights, x)


def latency_rows(
    key: str,
    spec: NetSpec,
    x: np.ndarray,
    systems,
    calls: int,
    threads: int,
    notes: Dict[str, str],
    skip: Dict[str, str],
    turns: int = 1,
) -> List[Dict]:
    """Every system's one-row predict latency, the systems taking ``turns`` turns (the order
    reversed every other turn), each keeping its lowest."""
    weights = peers.initial_weights(spec, SEED)
    rows: Dict[str, Dict[str, Any]] = {}
    ready: Dict[str, Callable[[], Any]] = {}
    for system in systems:
        row: Dict[str, Any] = dict(system=system, note=notes.get(system, ""))
        rows[system] = row
        if versions.get(system) is None:
            row["status"] = "not installed"
            continue
        if system in skip:
            row["status"] = skip[system]
            continue
        try:
            ready[system], compiled = _prepare(system, spec, weights, x)
        except Exception as exc:  # a peer failing must not stop the harness
            row["status"] = f"error: {type(exc).__name__}: {exc}"[:200]
            log(f"    {system}: {row['status']}")
            continue
        if compiled is not None:
            row["compile_seconds"] = compiled
            row["note"] = "; ".join(n for n in (row["note"], compile_note(compiled)) if n)
    for turn, system in in_turns(ready, turns):
        record: Dict[str, Any] = {}
        call = ready[system]
        seconds = guarded(f"{key} {system}", lambda: median_latency(call, calls), record)
        row = rows[system]
        row.setdefault("turns", []).append(seconds)
        if "seconds" not in row or seconds < row["seconds"]:
            row.update(record, seconds=seconds, threads=system_threads(system, threads))
        log(f"    {system}: {seconds * 1e6:.3g} us (turn {turn + 1})")
    return list(rows.values())


def latency_timing(cfg: Config) -> str:
    return (
        f"the lowest median of {LATENCY_BLOCKS} blocks of {cfg.w4_calls // LATENCY_BLOCKS} "
        f"individually timed calls, {LATENCY_PAUSE:g} s apart, after 100 warm-up calls"
        + turns_note(cfg)
    )


_NOTES = {
    "torch": "under torch.no_grad(), input already a tensor",
    "torch-compile": "torch.compile(model + softmax), under torch.no_grad()",
    "jax": "jit, input already on the device, block_until_ready",
}


def run_w4(cfg: Config, threads: int) -> Dict:
    sizes = list(cfg.w2_sizes)
    spec = NetSpec(sizes, ["relu"] * (len(sizes) - 2) + ["softmax"], "cross_entropy", "float32")
    x = w2_data(1, sizes[0], sizes[-1])[0]  # (1, n0) float32, C-contiguous
    systems = (
        ("chainrule",)
        + ((peers.BASELINE,) if peers.HAS_BASELINE else ())
        + ("numpy", "torch", "torch-compile", "jax")
    )
    rows = latency_rows(
        "W4", spec, x, systems, cfg.w4_calls, threads, _NOTES, skipped(cfg, "W4"), cfg.turns
    )
    # the weights and biases, float32: what every one-row predict reads once
    weight_bytes = 4 * sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    floor = peak.read_floor(weight_bytes, system_threads("chainrule", threads))
    if floor:
        log(f"    reading the weights once: at least {floor['seconds'] * 1e6:.3g} us")
    return dict(
        title=f"W4 latency: predict of 1 sample on W2's network "
        f"({'-'.join(map(str, sizes))}, float32)",
        dtype="fp32",
        rows=rows,
        latency=True,
        timing=latency_timing(cfg),
        read_floor=floor,
    )


def run_w4d(cfg: Config, threads: int) -> Dict:
    """The demo's first network against every peer, and chainrule on its second network."""
    from chainrule.demo import make_data

    x = make_data(1)[0]  # (1, 2) float64
    systems = (
        ("chainrule",)
        + ((peers.BASELINE,) if peers.HAS_BASELINE else ())
        + ("numpy", "torch", "torch-compile", "jax")
    )
    rows = latency_rows(
        "W4d", W1_SPEC, x, systems, cfg.w4_calls, threads, _NOTES, skipped(cfg, "W4d"), cfg.turns
    )
    second = latency_rows(
        "W4d", W1B_SPEC, x, ("chainrule",), cfg.w4_calls, threads, {}, {}, cfg.turns
    )
    second[0].update(system="chainrule (2-15-1)", note="the demo's second network")
    return dict(
        title="W4d latency: predict of 1 sample on the demo's first network (2-10-8-5-1 "
        "relu/tanh/relu/linear, float64; the row marked 2-15-1: its second, "
        "sigmoid/linear)",
        dtype="fp64",
        rows=rows + second,
        latency=True,
        timing=latency_timing(cfg),
    )
