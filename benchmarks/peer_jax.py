"""The JAX peer, written as a JAX user would: pure functions, ``jax.grad``, ``jit``.

How the training loop is compiled (NetSpec.loop): "whole" (full-batch workloads, W1 and W1b):
every epoch in one ``lax.fori_loop`` inside one jitted call; "epoch" (W1m, W2): one jitted call
per epoch, a ``lax.scan`` over its full batches (then one step on the remainder batch, in the
same call), the epoch's rows gathered in its order inside the call when the workload shuffles;
"step" (W3): one jitted call per training step. Float64 workloads need ``jax_enable_x64``,
set when this module is imported; every array is created with an explicit dtype, so float32
workloads stay float32.

Everything is compiled ahead of time (``jit(f).lower(...).compile()``) when a trainer is
first built, timed apart (``Trainer.compile_seconds``), and cached, so that the timed
``run()`` only executes; it ends with ``block_until_ready``. XLA uses its own thread pool.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from peers import NetSpec, Trainer, batch_slices, epoch_orders  # noqa: E402

_ACT = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda z: z,
    "softmax": lambda z: z,
}  # softmax: left to the loss

#: compiled functions and their compile time, by everything they were specialised on
_CACHE: Dict[tuple, Tuple[Any, float]] = {}


def _forward(acts: Tuple[str, ...], params, X):
    H = X
    for (W, b), act in zip(params, acts):
        H = _ACT[act](H @ W + b)
    return H


def _loss(acts: Tuple[str, ...], loss: str, params, X, Y):
    out = _forward(acts, params, X)
    if loss == "mse":
        return jnp.sum((out - Y) ** 2) / (2 * X.shape[0])
    return -jnp.sum(Y * jax.nn.log_softmax(out, axis=1)) / X.shape[0]


def _output(acts: Tuple[str, ...], loss: str, params, X):
    out = _forward(acts, params, X)
    return jax.nn.softmax(out, axis=1) if acts[-1] == "softmax" else out


def _step(acts, loss, optimizer, lr, state, X, Y):
    """One training step: SGD, or Adam as torch.optim.Adam (betas 0.9, 0.999, eps 1e-8)."""
    params, opt = state
    grads = jax.grad(partial(_loss, acts, loss))(params, X, Y)
    if optimizer == "sgd":
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), opt
    b1, b2, eps = 0.9, 0.999, 1e-8
    m, v, t = opt
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    c1, c2 = 1 - b1**t, 1 - b2**t
    params = jax.tree_util.tree_map(
        lambda p, m, v: p - (lr / c1) * m / (jnp.sqrt(v / c2) + eps), params, m, v
    )
    return params, (m, v, t)


def _epoch(step, batch: int, state, X, Y, order=None):
    """One epoch: a lax.scan over the full batches, then the remainder batch."""
    if order is not None:
        X, Y = X[order], Y[order]
    n = X.shape[0]
    full = n // batch * batch
    if full:
        xs = X[:full].reshape(n // batch, batch, X.shape[1])
        ys = Y[:full].reshape(n // batch, batch, Y.shape[1])
        state, _ = lax.scan(lambda s, b: (step(s, b[0], b[1]), None), state, (xs, ys))
    if full < n:
        state = step(state, X[full:], Y[full:])
    return state


def _whole(step, epochs: int, state, X, Y):
    return lax.fori_loop(0, epochs, lambda i, s: step(s, X, Y), state)


def _compiled(key: tuple, fn: Callable, *args) -> Tuple[Any, float]:
    """``jit(fn)`` compiled ahead of time for ``args`` (cached by ``key``), and the seconds its
    tracing and compilation took."""
    if key not in _CACHE:
        t0 = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        _CACHE[key] = (compiled, time.perf_counter() - t0)
    return _CACHE[key]


def initial_params(spec: NetSpec, weights: Sequence[np.ndarray]):
    dtype = np.dtype(spec.dtype)
    return [
        (jnp.asarray(np.asarray(W, dtype=dtype)), jnp.zeros(W.shape[1], dtype=dtype))
        for W in weights
    ]


def _initial_state(spec: NetSpec, params):
    if spec.optimizer == "sgd":
        return params, ()
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return params, (zeros, zeros, jnp.zeros((), dtype=spec.dtype))


def _loop(spec: NetSpec, batch_size: Optional[int]) -> str:
    if spec.loop != "auto":
        return spec.loop
    return "whole" if batch_size is None else "epoch"


def make_trainer(
    spec: NetSpec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None
) -> Trainer:
    acts, n = tuple(spec.activations), X.shape[0]
    step = partial(_step, acts, spec.loss, spec.optimizer, lr)
    state0 = _initial_state(spec, initial_params(spec, weights))
    Xd, Yd = jax.device_put(X), jax.device_put(Y)
    loop = _loop(spec, batch_size)
    if loop == "whole" and shuffle_seed is not None:
        raise ValueError("the whole-loop JAX trainer does not shuffle")
    key = (tuple(spec.sizes), acts, spec.loss, spec.dtype, spec.optimizer, lr, loop)
    orders = epoch_orders(shuffle_seed, n, epochs)
    if loop != "step":  # specialised on the data's shapes
        key += (X.shape, Y.shape, batch_size)
    if loop == "whole":
        fn, seconds = _compiled(key + (epochs,), partial(_whole, step, epochs), state0, Xd, Yd)
        calls = [lambda s: fn(s, Xd, Yd)]
    elif loop == "epoch":
        bs = n if batch_size is None else batch_size
        if orders is None:
            fn, seconds = _compiled(key, partial(_epoch, step, bs), state0, Xd, Yd)
            calls = [lambda s: fn(s, Xd, Yd)] * epochs
        else:
            perms = [jax.device_put(o.astype(np.int32)) for o in orders]  # untimed
            fn, seconds = _compiled(
                key + ("shuffled",), partial(_epoch, step, bs), state0, Xd, Yd, perms[0]
            )
            calls = [lambda s, p=p: fn(s, Xd, Yd, p) for p in perms]
    else:  # one jitted call per step
        if orders is not None:
            raise ValueError("the per-step JAX trainer does not shuffle")
        parts = [(jax.device_put(X[s]), jax.device_put(Y[s])) for s in batch_slices(n, batch_size)]
        seconds, fns = 0.0, {}
        for xb, yb in parts:
            if xb.shape not in fns:
                fns[xb.shape], t = _compiled(key + (xb.shape,), step, state0, xb, yb)
                seconds += t
        calls = [lambda s, xb=xb, yb=yb: fns[xb.shape](s, xb, yb) for xb, yb in parts] * epochs
    predict_fn = jax.jit(partial(_output, acts, spec.loss))
    final: List[Any] = [state0]

    def run():
        state = state0
        for call in calls:
            state = call(state)
        jax.block_until_ready(state)
        final[0] = state

    return Trainer(
        run=run, predict=lambda Xp: np.asarray(predict_fn(final[0][0], Xp)), compile_seconds=seconds
    )


def predict_call(spec: NetSpec, weights, x: np.ndarray) -> Tuple[Callable[[], Any], float]:
    """A jitted one-call predict of ``x`` (already on the device) and its compile time."""
    params = initial_params(spec, weights)
    xd = jax.device_put(x)
    fn, seconds = _compiled(
        ("predict", tuple(spec.sizes), tuple(spec.activations), spec.loss, spec.dtype, x.shape),
        partial(_output, tuple(spec.activations), spec.loss),
        params,
        xd,
    )
    return (lambda: fn(params, xd).block_until_ready()), seconds
