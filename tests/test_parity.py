"""chainrule against the NumPy reference (tests/reference.py), from identical initial weights:
forward outputs, every layer's dW, db and dZ, and 100-step training trajectories (on both
training paths: the fused small-network step where the shape policy takes it, and the general
per-layer path; fixture ``network_path`` in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Tuple

import numpy as np
import pytest
import reference as ref
from conftest import (
    ALL_ACTIVATIONS,
    ALL_LOSSES,
    assert_close,
    make_data,
    make_pair,
    ref_activation,
    ref_loss,
    required_output,
    rtol_for,
    snapshot,
    spec_id,
)

import chainrule as cr
from chainrule.demo import make_data as demo_make_data

DTYPES = ["float64", "float32"]


@dataclass
class Case:
    name: str
    sizes: List[int]
    acts: List[Any]
    loss: Any = "mse"
    lr: float = 0.05
    seed: int = 3
    demo: bool = False  # use chainrule.demo.make_data() (100 samples)

    def __str__(self) -> str:
        return self.name


_act_id = spec_id


CASES: List[Case] = [
    Case(
        "demo-2-10-8-5-1",
        [2, 10, 8, 5, 1],
        ["relu", "tanh", "relu", "linear"],
        lr=0.01,
        seed=42,
        demo=True,
    ),
    Case("demo-2-15-1", [2, 15, 1], ["sigmoid", "linear"], lr=0.1, seed=42, demo=True),
]
# every activation in two hidden layers, and as the output of an MSE network
CASES += [Case(f"hidden-{_act_id(a)}", [3, 7, 6, 2], [a, a, "linear"]) for a in ALL_ACTIVATIONS]
CASES += [Case(f"output-{_act_id(a)}", [3, 5, 4], ["tanh", a]) for a in ALL_ACTIVATIONS]
# every loss (and its non-default parameters) on the output it needs, or linear
CASES += [
    Case(f"loss-{spec_id(l)}", [3, 6, 4], ["tanh", required_output(l) or "linear"], l, lr=0.1)
    for l in ALL_LOSSES
]
CASES += [
    Case("ce-tanh-relu", [4, 9, 5, 3], ["tanh", "relu", "softmax"], "cross_entropy", lr=0.1),
    Case(
        "ce-softmax-hidden", [4, 6, 5, 3], ["softmax", "tanh", "softmax"], "cross_entropy", lr=0.2
    ),
    Case(
        "ce-deep-mixed",
        [4, 9, 8, 7, 6, 3],
        ["gelu", cr.ELU(alpha=0.5), "silu", "softplus", "softmax"],
        "cross_entropy",
        lr=0.1,
    ),
    Case(
        "bce-elu-leaky",
        [4, 8, 6, 2],
        ["elu", cr.LeakyReLU(alpha=0.2), "sigmoid"],
        "binary_cross_entropy",
        lr=0.1,
    ),
    Case("bce-logistic", [5, 1], ["sigmoid"], "binary_cross_entropy", lr=0.5),
    Case("mse-single-layer", [3, 2], ["linear"]),
    Case("mse-width-1", [3, 1, 4, 2], ["tanh", "sigmoid", "linear"]),
    Case("mse-softmax-output", [3, 6, 4], ["relu", "softmax"], lr=0.5),
]


def _setup(case: Case, dtype: str, n: int = 60):
    net, Ws, bs = make_pair(case.sizes, case.acts, case.loss, dtype, case.seed)
    if case.demo:
        X, Y = demo_make_data()
    else:
        X, Y = make_data(case.sizes, case.loss, n=n, seed=case.seed + 100)
    # the reference sees exactly the numbers the network sees (rounded to the dtype)
    Xr = X.astype(dtype).astype(np.float64)
    Yr = Y.astype(dtype).astype(np.float64)
    acts = [ref_activation(a) for a in case.acts]
    return net, Ws, bs, acts, X, Y, Xr, Yr


params = pytest.mark.parametrize("case", CASES, ids=str)
dtypes = pytest.mark.parametrize("dtype", DTYPES)


@params
@dtypes
def test_forward(case: Case, dtype: str) -> None:
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype)
    rloss = ref_loss(case.loss)
    rtol = rtol_for(dtype)
    Zs, Hs = ref.forward(Ws, bs, acts, Xr)
    out = net.predict(X)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, Hs[-1], rtol, "predict")
    assert_close(net.forward(X), Hs[-1], rtol, "forward")
    expected_loss = ref.loss_value(rloss, Zs[-1], Hs[-1], Yr)
    assert_close(net.loss(X, Y), expected_loss, rtol, "loss")


@params
@dtypes
def test_gradients(case: Case, dtype: str) -> None:
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype)
    rloss = ref_loss(case.loss)
    rtol = rtol_for(dtype)
    value, dZs, dWs, dbs, _ = ref.gradients(Ws, bs, acts, rloss, Xr, Yr)
    before = snapshot(net)
    grads = net.gradients(X, Y)
    assert len(grads) == len(case.sizes) - 1
    assert_close(grads.loss, value, rtol, "loss")
    for l, g in enumerate(grads, start=1):
        assert g.dW.dtype == np.dtype(dtype)
        assert_close(g.dW, dWs[l - 1], rtol, f"layer {l} dW")
        assert_close(g.db, dbs[l - 1], rtol, f"layer {l} db")
        assert_close(g.dZ, dZs[l - 1], rtol, f"layer {l} dZ")
    # gradients() leaves the weights alone
    for a, b in zip(snapshot(net), before):
        np.testing.assert_array_equal(a, b)
    # forward + backward gives the same numbers
    net.forward(X)
    g2 = net.backward(Y)
    assert_close(g2.loss, value, rtol, "backward loss")
    for l, (g, h) in enumerate(zip(grads, g2), start=1):
        np.testing.assert_array_equal(g.dW, h.dW, err_msg=f"layer {l} dW: backward != gradients")
        np.testing.assert_array_equal(g.db, h.db, err_msg=f"layer {l} db: backward != gradients")
        np.testing.assert_array_equal(g.dZ, h.dZ, err_msg=f"layer {l} dZ: backward != gradients")


def _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol) -> None:
    assert len(history.loss) == len(exp_hist)
    assert_close(np.array(history.loss), np.array(exp_hist), rtol, "loss history")
    for l in range(len(Ws)):
        assert_close(net.weights[l], exp_Ws[l], rtol, f"W{l + 1} after training")
        assert_close(
            net.biases[l],
            exp_bs[l],
            rtol,
            f"b{l + 1} after training",
            scale=max(np.max(np.abs(exp_bs[l])), np.max(np.abs(exp_Ws[l]))),
        )


@params
@dtypes
def test_training_full_batch_100_steps(case: Case, dtype: str, network_path: str) -> None:
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype)
    rloss = ref_loss(case.loss)
    exp_Ws, exp_bs, exp_hist = ref.train(Ws, bs, acts, rloss, Xr, Yr, epochs=100, lr=case.lr)
    history = net.fit(X, Y, epochs=100, lr=case.lr)
    # training must actually have moved the weights, or the comparison proves nothing
    assert max(np.max(np.abs(W - W0)) for W, W0 in zip(exp_Ws, Ws)) > 1e-4
    _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol_for(dtype))


@params
@dtypes
def test_training_minibatch_100_steps(case: Case, dtype: str, network_path: str) -> None:
    # n = 60 rows in batches of 16: 16, 16, 16, 12 (the last one smaller); 25 epochs = 100 steps.
    # The demo data has n = 100 rows: batches of 32, 32, 32, 4.
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype)
    rloss = ref_loss(case.loss)
    batch = 32 if case.demo else 16
    assert X.shape[0] % batch != 0
    exp_Ws, exp_bs, exp_hist = ref.train(
        Ws, bs, acts, rloss, Xr, Yr, epochs=25, lr=case.lr, batch_size=batch
    )
    history = net.fit(X, Y, epochs=25, lr=case.lr, batch_size=batch)
    _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol_for(dtype))


@dtypes
def test_batch_size_larger_than_n_is_full_batch(dtype: str, network_path: str) -> None:
    case = Case("x", [3, 5, 2], ["tanh", "linear"])
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype, n=20)
    exp_Ws, exp_bs, exp_hist = ref.train(Ws, bs, acts, "mse", Xr, Yr, epochs=10, lr=0.1)
    history = net.fit(X, Y, epochs=10, lr=0.1, batch_size=1000)
    _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol_for(dtype))


@dtypes
def test_batch_size_one(dtype: str, network_path: str) -> None:
    case = Case("x", [3, 4, 2], ["elu", "linear"])
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype, n=7)
    exp_Ws, exp_bs, exp_hist = ref.train(
        Ws, bs, acts, "mse", Xr, Yr, epochs=5, lr=0.05, batch_size=1
    )
    history = net.fit(X, Y, epochs=5, lr=0.05, batch_size=1)
    _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol_for(dtype))


# ---- loss history semantics ---------------------------------------------------------------------


def test_history_is_loss_before_each_update() -> None:
    X, Y = demo_make_data()
    net = cr.Network([2, 15, 1], ["sigmoid", "linear"], seed=42)
    first = net.loss(X, Y)
    h1 = net.fit(X, Y, epochs=1, lr=0.1)
    assert h1.loss == [pytest.approx(first, rel=1e-14)]
    second = net.loss(X, Y)
    assert second < first  # the update of epoch 1 happened after its loss was measured
    h2 = net.fit(X, Y, epochs=3, lr=0.1)
    assert h2.loss[0] == pytest.approx(second, rel=1e-14)
    assert h2.loss[0] > h2.loss[1] > h2.loss[2] > net.loss(X, Y)


def test_epochs_zero_changes_nothing() -> None:
    X, Y = demo_make_data()
    net = cr.Network([2, 15, 1], ["sigmoid", "linear"], seed=42)
    before = snapshot(net)
    history = net.fit(X, Y, epochs=0, lr=0.1)
    assert history.loss == []
    for a, b in zip(snapshot(net), before):
        np.testing.assert_array_equal(a, b)


# ---- step ---------------------------------------------------------------------------------------


def _ulp_close(actual, W0, lr, dW, dtype) -> None:
    """actual == W0 - lr*dW up to the rounding of one multiply and one subtract (2 ulp; allows
    the core to use a fused multiply-add)."""
    eps = float(np.finfo(dtype).eps)
    step = (np.asarray(lr, dtype) * np.asarray(dW, dtype)).astype(np.float64)
    expected = np.asarray(W0, np.float64) - step
    bound = 2 * eps * (np.abs(expected) + np.abs(step))
    diff = np.abs(np.asarray(actual, np.float64) - expected)
    assert np.all(diff <= bound), f"max diff {np.max(diff - bound):.3e} above the 2-ulp bound"


@dtypes
def test_step_moves_weights_by_minus_lr_times_returned_gradients(dtype: str) -> None:
    X, Y = make_data([3, 6, 5, 2], "mse", n=25, seed=4)
    net = cr.Network([3, 6, 5, 2], ["tanh", "gelu", "linear"], dtype=dtype, seed=5)
    W0 = [np.array(W, copy=True) for W in net.weights]
    b0 = [np.array(b, copy=True) for b in net.biases]
    grads = net.gradients(X, Y)
    net.step(grads, lr=0.3)
    for l, g in enumerate(grads):
        assert np.max(np.abs(g.dW)) > 0
        _ulp_close(net.weights[l], W0[l], 0.3, g.dW, dtype)
        _ulp_close(net.biases[l], b0[l], 0.3, g.db, dtype)
        assert not np.array_equal(net.weights[l], W0[l])


@dtypes
def test_step_without_gradients_uses_last_backward(dtype: str) -> None:
    X, Y = make_data([3, 6, 2], "mse", n=25, seed=4)
    a = cr.Network([3, 6, 2], ["silu", "linear"], dtype=dtype, seed=5)
    b = cr.Network([3, 6, 2], ["silu", "linear"], dtype=dtype, seed=5)
    W0 = [np.array(W, copy=True) for W in a.weights]
    ga = a.gradients(X, Y)
    a.step(lr=0.2)
    b.forward(X)
    b.backward(Y)
    b.step(lr=0.2)
    for l in range(2):
        _ulp_close(a.weights[l], W0[l], 0.2, ga[l].dW, dtype)
        np.testing.assert_array_equal(a.weights[l], b.weights[l])
        np.testing.assert_array_equal(a.biases[l], b.biases[l])


def test_step_with_modified_gradients() -> None:
    X, Y = make_data([3, 4, 2], "mse", n=10, seed=4)
    net = cr.Network([3, 4, 2], ["tanh", "linear"], seed=5)
    W0 = [np.array(W, copy=True) for W in net.weights]
    grads = net.gradients(X, Y)
    # plain (dW, db) tuples; zero for layer 1 -> layer 1 unchanged, layer 2 moves by -lr*dW
    pairs = [
        (np.zeros_like(grads[0].dW), np.zeros_like(grads[0].db)),
        (2 * grads[1].dW, 2 * grads[1].db),
    ]
    net.step(pairs, lr=0.5)
    np.testing.assert_array_equal(net.weights[0], W0[0])
    _ulp_close(net.weights[1], W0[1], 0.5, 2 * grads[1].dW, np.float64)


# ---- initialisation -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 42, 12345])
@dtypes
def test_initial_weights_are_the_documented_he_and_xavier_draws(seed: int, dtype: str) -> None:
    sizes = [4, 7, 6, 5, 5, 3, 3, 2, 2, 3, 2, 2]
    acts = [
        "relu",
        "tanh",
        cr.LeakyReLU(alpha=0.2),
        "sigmoid",
        "elu",
        "leaky_relu",
        "gelu",
        "silu",
        "softplus",
        "softmax",
        "linear",
    ]
    he = {"relu", "leaky_relu"}
    net = cr.Network(sizes, acts, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    for l, act in enumerate(acts):
        n_in, n_out = sizes[l], sizes[l + 1]
        name = act if isinstance(act, str) else act.name
        std = np.sqrt(2.0 / n_in) if name in he else np.sqrt(2.0 / (n_in + n_out))
        expected = (rng.standard_normal((n_in, n_out)) * std).astype(dtype)
        np.testing.assert_array_equal(net.weights[l], expected, err_msg=f"W{l + 1} ({name})")
        np.testing.assert_array_equal(net.biases[l], np.zeros(n_out, dtype))
        assert net.weights[l].dtype == np.dtype(dtype)


def test_init_he_xavier_and_callable() -> None:
    sizes = [3, 5, 4]
    he = cr.Network(sizes, ["tanh", "linear"], seed=7, init="he")
    xa = cr.Network(sizes, ["relu", "relu"], seed=7, init="xavier")
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(he.weights[0], rng.standard_normal((3, 5)) * np.sqrt(2 / 3))
    np.testing.assert_array_equal(he.weights[1], rng.standard_normal((5, 4)) * np.sqrt(2 / 5))
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(xa.weights[0], rng.standard_normal((3, 5)) * np.sqrt(2 / 8))
    np.testing.assert_array_equal(xa.weights[1], rng.standard_normal((5, 4)) * np.sqrt(2 / 9))
    calls = []

    def init(n_in, n_out, rng):
        calls.append((n_in, n_out, isinstance(rng, np.random.Generator)))
        return np.full((n_in, n_out), 0.25 * n_in)

    c = cr.Network(sizes, ["tanh", "linear"], seed=7, init=init)
    assert calls == [(3, 5, True), (5, 4, True)]
    np.testing.assert_array_equal(c.weights[0], np.full((3, 5), 0.75))
    np.testing.assert_array_equal(c.weights[1], np.full((5, 4), 1.25))


def test_different_seeds_give_different_weights() -> None:
    a = cr.Network([3, 5, 2], ["relu", "linear"], seed=1)
    b = cr.Network([3, 5, 2], ["relu", "linear"], seed=2)
    assert not np.array_equal(a.weights[0], b.weights[0])


# ---- shuffling ----------------------------------------------------------------------------------


@dtypes
def test_shuffle_with_seed_is_reproducible_and_differs_from_no_shuffle(dtype: str) -> None:
    X, Y = make_data([3, 6, 2], "mse", n=50, seed=9)
    kw = dict(epochs=8, lr=0.05, batch_size=8)

    def run(shuffle: bool) -> Tuple[List[float], List[np.ndarray]]:
        net = cr.Network([3, 6, 2], ["tanh", "linear"], dtype=dtype, seed=11)
        h = net.fit(X, Y, shuffle=shuffle, **kw)
        return h.loss, snapshot(net)

    h1, w1 = run(True)
    h2, w2 = run(True)
    h3, w3 = run(False)
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 != h3
    assert any(not np.allclose(a, b, rtol=1e-6, atol=0) for a, b in zip(w1, w3))
    # shuffling is a permutation of the rows: epoch 1's mean loss is still a weighted mean of
    # batch losses, i.e. close to the unshuffled one with such a small lr
    assert h1[0] == pytest.approx(h3[0], rel=0.05)


def test_shuffle_keeps_rows_of_X_and_Y_together() -> None:
    # Y is an exact linear function of X: a linear network trained on shuffled mini-batches
    # reaches (almost) zero loss only if every batch pairs each row of X with its own row of Y.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 3))
    A = rng.normal(size=(3, 2))
    Y = X @ A + np.array([0.5, -1.0])
    net = cr.Network([3, 2], ["linear"], seed=1)
    h = net.fit(X, Y, epochs=200, lr=0.05, batch_size=10, shuffle=True)
    assert h.loss[-1] < 1e-12 * h.loss[0] + 1e-20
    assert_close(net.weights[0], A, 1e-6, "W")


def test_shuffle_full_batch_equals_unshuffled() -> None:
    # a full batch in another row order has the same gradient up to rounding
    X, Y = make_data([3, 6, 2], "mse", n=40, seed=9)
    a = cr.Network([3, 6, 2], ["tanh", "linear"], seed=11)
    b = cr.Network([3, 6, 2], ["tanh", "linear"], seed=11)
    ha = a.fit(X, Y, epochs=20, lr=0.1, shuffle=True)
    hb = b.fit(X, Y, epochs=20, lr=0.1)
    assert_close(np.array(ha.loss), np.array(hb.loss), 1e-12, "loss history")
    for x, y in zip(snapshot(a), snapshot(b)):
        assert_close(x, y, 1e-12, "weights", scale=max(np.max(np.abs(y)), 1.0))


# ---- kinks and extreme logits -------------------------------------------------------------------


@pytest.mark.parametrize("act", ["relu", "leaky_relu", cr.LeakyReLU(alpha=0.2)], ids=_act_id)
def test_derivative_at_the_kink(act: Any) -> None:
    # zero rows of X with zero biases make Z[1] exactly 0: relu' = 0, leaky_relu' = alpha there
    sizes = [3, 5, 2]
    net, Ws, bs = make_pair(sizes, [act, "linear"], seed=2)
    X, Y = make_data(sizes, "mse", n=12, seed=3)
    X[::3] = 0.0
    acts = [ref_activation(act), ref.activation("linear")]
    _, dZs, dWs, dbs, _ = ref.gradients(Ws, bs, acts, "mse", X, Y)
    g = net.gradients(X, Y)
    assert np.all(X[::3] @ Ws[0] + bs[0] == 0)
    alpha = 0.0 if act == "relu" else (0.01 if act == "leaky_relu" else 0.2)
    dH1 = (g[1].dZ @ Ws[1].T)[::3]
    np.testing.assert_allclose(g[0].dZ[::3], alpha * dH1, rtol=1e-13, atol=0)
    for l in range(2):
        assert_close(g[l].dZ, dZs[l], 1e-12, f"layer {l + 1} dZ")
        assert_close(g[l].dW, dWs[l], 1e-12, f"layer {l + 1} dW")
        assert_close(g[l].db, dbs[l], 1e-12, f"layer {l + 1} db")


@dtypes
@pytest.mark.parametrize(
    "loss,out", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")]
)
def test_fused_losses_are_stable_for_huge_logits(loss: str, out: str, dtype: str) -> None:
    # logits of several hundred: softmax/sigmoid saturate to exactly 0 or 1, so log(Yhat) would
    # be -inf; computed from Z with log-sum-exp / log1p the loss stays finite and exact
    sizes = [3, 3]
    net, Ws, bs = make_pair(sizes, [out], loss, dtype, seed=0)
    W = np.array([[300.0, -300.0, 0.0], [-200.0, 250.0, 10.0], [0.0, 0.0, 400.0]])
    net.weights[0] = W
    X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, -1.0]])
    if loss == "cross_entropy":
        Y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    else:
        Y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1.0, 1.0, 0.0]])
    Zs, Hs = ref.forward([W], bs, [ref.activation(out)], X)
    expected = ref.loss_value(loss, Zs[-1], Hs[-1], Y)
    assert 100 < expected < 1e4
    value = net.loss(X, Y)
    assert np.isfinite(value)
    assert_close(value, expected, rtol_for(dtype), "loss")
    g = net.gradients(X, Y)
    assert_close(g[0].dZ, Hs[-1] - Y, rtol_for(dtype), "fused dZ = Yhat - Y")
    assert np.isfinite(g.loss)
