"""The fused small-network training step (kernels/shape_policy.hpp, training/small_step.hpp)
against the general per-layer path: the same training to rounding where the policy takes it,
the same bits where it does not, and the same bits for every thread count and kernel level.

The parity suite itself (test_parity.py, test_torch.py, test_optim_torch.py) runs its training
tests on both paths through the ``network_path`` fixture of conftest.py."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import numpy as np
import pytest
from conftest import assert_close, general_path, rtol_for

import chainrule as cr
from chainrule.demo import make_data as demo_data

FAST = cr.runtime.cpu_info()["kernel"] != "portable"
needs_fast = pytest.mark.skipif(
    not FAST,
    reason="the fused step runs on the AVX2 or AVX-512 kernels only; this CPU or build has neither",
)


def _data(n: int, n_in: int, n_out: int, dtype: str, seed: int, classes: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    if classes:
        Y = (rng.random((n, n_out)) < 0.5).astype(dtype)
    else:
        Y = np.tanh(X @ rng.standard_normal((n_in, n_out))).astype(dtype)
    return X, Y


# (id, network factory, fit keyword arguments, rows, classes)
CASES: List[tuple] = [
    (
        "W1-demo",
        lambda: cr.Network([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], seed=42),
        dict(epochs=60, lr=0.01),
        None,
        False,
    ),
    (
        "W1b-demo",
        lambda: cr.Network([2, 15, 1], ["sigmoid", "linear"], seed=42),
        dict(epochs=60, lr=0.1),
        None,
        False,
    ),
    (
        "wide-f32-adam-shuffled",  # widths >= two vectors: dW summed across the outputs
        lambda: cr.Network(
            [8, 40, 40, 1],
            ["tanh", "tanh", "linear"],
            dtype="float32",
            seed=1,
            optimizer=cr.Adam(lr=1e-3),
        ),
        dict(epochs=8, batch_size=13, shuffle=True),
        101,
        False,
    ),
    (
        "wide-f64-adamw",
        lambda: cr.Network(
            [3, 33, 17, 2], ["gelu", "silu", "linear"], seed=2, optimizer=cr.AdamW(lr=0.01)
        ),
        dict(epochs=15, batch_size=16),
        50,
        False,
    ),
    (
        "three-outputs-huber-momentum",
        lambda: cr.Network(
            [4, 20, 3],
            ["elu", "linear"],
            loss="huber",
            seed=3,
            optimizer=cr.SGD(lr=0.05, momentum=0.9),
        ),
        dict(epochs=20, batch_size=7),
        45,
        False,
    ),
    (
        "bce-rmsprop",
        lambda: cr.Network(
            [5, 9, 1],
            ["relu", "sigmoid"],
            loss="binary_cross_entropy",
            seed=4,
            optimizer=cr.RMSprop(lr=0.01),
        ),
        dict(epochs=20, batch_size=9),
        40,
        True,
    ),
    (
        "w1m-f32-adam",  # 19 KB of weights: on two threads, the update is split too
        lambda: cr.Network(
            [8, 64, 64, 1],
            ["tanh", "tanh", "linear"],
            dtype="float32",
            seed=6,
            optimizer=cr.Adam(lr=1e-3),
        ),
        dict(epochs=4, batch_size=32, shuffle=True),
        300,
        False,
    ),
    (
        "one-row-batches",
        lambda: cr.Network([3, 4, 2], ["softplus", "linear"], seed=5),
        dict(epochs=4, batch_size=1, lr=0.05),
        9,
        False,
    ),
]


def _xy(make: Callable[[], cr.Network], rows, classes, seed=7):
    net = make()
    if rows is None:
        X, Y = demo_data()
        return X.astype(net.dtype), Y.astype(net.dtype)
    return _data(rows, net.layer_sizes[0], net.layer_sizes[-1], net.dtype.name, seed, classes)


def _train(make, X, Y, fit: Dict[str, Any], general: bool):
    net = make()
    if general:
        with general_path():
            h = net.fit(X, Y, **fit)
    else:
        h = net.fit(X, Y, **fit)
    return net, h


@needs_fast
@pytest.mark.parametrize("name,make,fit,rows,classes", CASES, ids=[c[0] for c in CASES])
def test_fused_and_general_paths_agree(name, make, fit, rows, classes) -> None:
    X, Y = _xy(make, rows, classes)
    fused, hf = _train(make, X, Y, fit, general=False)
    general, hg = _train(make, X, Y, fit, general=True)
    rtol = rtol_for(fused.dtype) * (10 if fused.dtype == np.float32 else 1)
    assert_close(np.array(hf.loss), np.array(hg.loss), rtol, "loss history")
    for l in range(len(fused.weights)):
        W, b = np.asarray(general.weights[l]), np.asarray(general.biases[l])
        assert_close(fused.weights[l], W, rtol, f"W{l + 1}")
        assert_close(
            fused.biases[l], b, rtol, f"b{l + 1}", scale=max(np.max(np.abs(b)), np.max(np.abs(W)))
        )
    if name == "W1-demo":
        # the fused step ran: its sums of dW over rows run in another order, so some bit differs
        assert any(
            not np.array_equal(fused.weights[l], general.weights[l])
            for l in range(len(fused.weights))
        )


@needs_fast
def test_metrics_see_the_fused_steps_outputs() -> None:
    make = CASES[2][1]
    X, Y = _xy(make, 101, False)
    fit = dict(epochs=3, batch_size=13, metrics=["mae", "rmse"])
    _, hf = _train(make, X, Y, fit, general=False)
    _, hg = _train(make, X, Y, fit, general=True)
    for m in ("mae", "rmse"):
        assert_close(np.array(hf.history[m]), np.array(hg.history[m]), 1e-4, m)


@needs_fast
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_fused_step_bits_do_not_depend_on_threads(case) -> None:
    # W1-demo, wide-f64-adamw and w1m-f32-adam have batches of two row tiles or more: on two
    # threads the timed choice runs their steps both ways; w1m-f32-adam's parameters are many
    # enough that each thread then also adds and updates its part of them (and Adam's state)
    _, make, fit, rows, classes = case
    X, Y = _xy(make, rows, classes)
    before = cr.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            cr.set_num_threads(n)
            net, h = _train(make, X, Y, fit, general=False)
            results.append((h.loss, [np.array(W) for W in net.weights]))
    finally:
        cr.set_num_threads(before)
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


@needs_fast
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_steps_sgd_update_is_w_minus_lr_g(threads, dtype) -> None:
    # plain SGD (no state) is applied by the fused step itself, a layer's [W; b] at once: one
    # full-batch step must leave exactly W - lr * g with g the gradient it left in the network
    # (and count the step, as the optimizer's own update does)
    net = cr.Network([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], dtype=dtype, seed=42)
    X, Y = _xy(lambda: net, None, False)
    names = list(net._core.parameter_names())
    before = {name: np.array(net._core.parameter(k)) for k, name in enumerate(names)}
    lr = 0.01
    old = cr.get_num_threads()
    try:
        cr.set_num_threads(threads)
        net.fit(X, Y, epochs=1, lr=lr)
    finally:
        cr.set_num_threads(old)
    for k, name in enumerate(names):
        g = np.asarray(net._core.parameter_grad(k))
        assert np.any(g != 0), name
        expected = before[name] - net.dtype.type(lr) * g
        np.testing.assert_array_equal(np.asarray(net._core.parameter(k)), expected, err_msg=name)
    assert net.get_optimizer_state()["step"] == 1


@pytest.mark.skipif(
    not {"avx2", "avx512"} <= set(cr.runtime.cpu_info()["supported"]),
    reason="needs a CPU with both AVX2 and AVX-512 kernels",
)
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[3]], ids=lambda c: c[0])
def test_fused_step_bits_are_the_same_on_avx2_and_avx512(case) -> None:
    _, make, fit, rows, classes = case
    X, Y = _xy(make, rows, classes)
    k = cr._core.kernels
    before = k.active_level()
    try:
        results = []
        for level in ("avx2", "avx512"):
            k.set_kernel_level(level)
            net, h = _train(make, X, Y, fit, general=False)
            results.append((h.loss, [np.array(W) for W in net.weights]))
    finally:
        k.set_kernel_level(before)
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


class Cube(cr.Activation):
    """A Python activation: reached through a callback, never fused."""

    name = "cube_small_step_test"

    def forward(self, z):
        return z**3

    def backward(self, z, h, dh):
        return dh * 3 * z**2


# what the policy leaves to the general path: the two settings give the same bits
FALLBACKS: List[tuple] = [
    (
        "sample-weight",
        lambda: cr.Network([3, 6, 1], ["tanh", "linear"], seed=1),
        lambda n: dict(sample_weight=np.linspace(0.5, 2, n)),
    ),
    (
        "penalty",
        lambda: cr.Network([3, cr.Dense(6, "tanh", l2=1e-3), cr.Dense(1, "linear")], seed=1),
        lambda n: {},
    ),
    (
        "dropout",
        lambda: cr.Network(
            [3, cr.Dense(6, "tanh"), cr.Dropout(0.2), cr.Dense(1, "linear")], seed=1
        ),
        lambda n: {},
    ),
    (
        "clip-norm",
        lambda: cr.Network([3, 6, 1], ["tanh", "linear"], seed=1),
        lambda n: dict(clip_norm=0.1),
    ),
    (
        "softmax-output",
        lambda: cr.Network([3, 6, 2], ["tanh", "softmax"], loss="cross_entropy", seed=1),
        lambda n: {},
    ),
    ("python-activation", lambda: cr.Network([3, 6, 1], [Cube(), "linear"], seed=1), lambda n: {}),
    ("too-wide", lambda: cr.Network([3, 200, 1], ["tanh", "linear"], seed=1), lambda n: {}),
]


@pytest.mark.parametrize("name,make,extra", FALLBACKS, ids=[f[0] for f in FALLBACKS])
def test_what_the_policy_does_not_cover_takes_the_general_path(name, make, extra) -> None:
    net0 = make()
    classes = net0.layer_sizes[-1] > 1
    X, Y = _data(30, net0.layer_sizes[0], net0.layer_sizes[-1], "float64", 8)
    if classes:
        Y = np.eye(net0.layer_sizes[-1])[np.argmax(Y, axis=1)]
    fit = dict(epochs=5, batch_size=8, lr=0.05, **extra(len(X)))
    a, ha = _train(make, X, Y, fit, general=False)
    b, hb = _train(make, X, Y, fit, general=True)
    assert ha.loss == hb.loss
    for l in range(len(a.weights)):
        np.testing.assert_array_equal(a.weights[l], b.weights[l])


def test_the_switch() -> None:
    assert cr.runtime.small_network_path() is True  # the default (CI does not set the variable)
    with general_path():
        assert cr.runtime.small_network_path() is False
    assert cr.runtime.small_network_path() is True
    with pytest.raises(TypeError, match="enabled must be a bool"):
        cr.runtime.set_small_network_path(1)  # type: ignore[arg-type]


def test_a_bad_CHAINRULE_SMALL_STEP_is_refused():
    """Anything but 0 turned the fused path on silently (``off``, ``false``, `` 0``)."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, chainrule as cr\n"
        "net = cr.Network([2, 4, 1], seed=0)\n"
        "net.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=1)\n"
    )
    for value, ok in [("off", False), (" 0", False), ("0", True), ("1", True), ("", True)]:
        env = dict(os.environ, CHAINRULE_SMALL_STEP=value)
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert (run.returncode == 0) == ok, (value, run.stderr[-300:])
        if not ok:
            assert f"CHAINRULE_SMALL_STEP must be 0 (off) or 1 (on), got '{value}'" in run.stderr
