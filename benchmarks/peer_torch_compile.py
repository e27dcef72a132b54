"""The torch.compile peer: PyTorch's default compiler (the inductor backend, C++/OpenMP kernels
on CPU, built with the machine's C++ compiler), as a PyTorch user would apply it: the training
loss (the model's forward and the loss, whose backward AOTAutograd compiles too) goes through
``torch.compile(..., dynamic=False)``; the optimizer step is PyTorch's own (eager), the loop is
the same as the eager peer's (peers._torch).

Compilation happens on the first call for each batch shape: when a trainer is built, one
forward and backward for every batch shape the run will see (no optimizer step, so the weights
do not change), timed apart as ``Trainer.compile_seconds`` (the cumulative compile time of the
cached model). The compiled model is cached and its weights reset for every new trainer: a
fresh module would be compiled again, and after torch's recompile limit silently run eager.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Tuple

import numpy as np
import torch
from peers import (
    NetSpec,
    Trainer,
    batch_slices,
    torch_epochs,
    torch_loss,
    torch_model,
    torch_optimizer,
    torch_predict,
)

#: (model, compiled loss, compiled shapes, compile seconds so far), by network
_CACHE: Dict[tuple, list] = {}


def _reset(model, weights) -> None:
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, W in zip(linears, weights):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.zero_()
    for p in model.parameters():
        p.grad = None


def _entry(spec: NetSpec, weights) -> list:
    key = (tuple(spec.sizes), tuple(spec.activations), spec.loss, spec.dtype, spec.dropout)
    if key not in _CACHE:
        model = torch_model(spec, weights)
        _, loss_fn = torch_loss(spec, np.zeros((1, spec.sizes[-1])))

        def train_loss(x, y):
            return loss_fn(model(x), y)

        _CACHE[key] = [model, torch.compile(train_loss, dynamic=False), set(), 0.0]
    entry = _CACHE[key]
    _reset(entry[0], weights)
    return entry


def make_trainer(
    spec: NetSpec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None
) -> Trainer:
    entry = _entry(spec, weights)
    model, train_loss, shapes = entry[0], entry[1], entry[2]
    Yt, _ = torch_loss(spec, Y)
    Xt = torch.from_numpy(X)
    model.train()
    for s in batch_slices(X.shape[0], batch_size):  # compile every batch shape, untimed
        if (s.stop - s.start) not in shapes:
            t0 = time.perf_counter()
            train_loss(Xt[s], Yt[s]).backward()
            entry[3] += time.perf_counter() - t0
            shapes.add(s.stop - s.start)
    for p in model.parameters():
        p.grad = None
    opt = torch_optimizer(spec, model.parameters(), lr)
    batches = torch_epochs(X, Yt, epochs, batch_size, shuffle_seed)

    def run():
        model.train()
        for epoch in batches():
            for xb, yb in epoch:
                opt.zero_grad(set_to_none=True)
                train_loss(xb, yb).backward()
                opt.step()

    return Trainer(run=run, predict=torch_predict(spec, model), compile_seconds=entry[3])


def predict_call(spec: NetSpec, weights, x: np.ndarray) -> Tuple[Callable[[], Any], float]:
    """A compiled one-row predict (inference mode, softmax included) and its compile time."""
    model = torch_model(spec, weights).eval()
    softmax = spec.activations[-1] == "softmax"

    def predict(xt):
        out = model(xt)
        return torch.softmax(out, dim=1) if softmax else out

    compiled = torch.compile(predict, dynamic=False)
    xt = torch.from_numpy(x)

    def call():
        with torch.no_grad():
            return compiled(xt)

    t0 = time.perf_counter()
    call()
    return call, time.perf_counter() - t0
