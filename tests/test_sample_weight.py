"""fit's sample_weight against the NumPy reference (tests/reference.py): every case of the
parity suite, full batch and mini-batch (with a batch whose weights are all zero), float64 to
1e-12 and float32 to 1e-5 relative."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import assert_close, make_pair, ref_loss, rtol_for
from test_parity import CASES, Case, _check_trajectory, _setup

import chainrule as cr

DTYPES = ["float64", "float32"]


def _weights(n: int, seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).uniform(0.0, 3.0, size=n)
    w[::7] = 0.0  # some rows do not count at all
    return w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_weighted_full_batch_50_steps(case: Case, dtype: str) -> None:
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype)
    w = _weights(X.shape[0], case.seed)
    wr = w.astype(dtype).astype(np.float64)
    exp_Ws, exp_bs, exp_hist = ref.train(
        Ws, bs, acts, ref_loss(case.loss), Xr, Yr, epochs=50, lr=case.lr, sample_weight=wr
    )
    history = net.fit(X, Y, epochs=50, lr=case.lr, sample_weight=w)
    _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol_for(dtype))
    # the weights matter: the unweighted trajectory is a different one
    plain = ref.train(Ws, bs, acts, ref_loss(case.loss), Xr, Yr, epochs=50, lr=case.lr)[0]
    assert max(np.max(np.abs(a - b)) for a, b in zip(plain, exp_Ws)) > 1e-4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES[:4] + CASES[-8:], ids=str)
def test_weighted_minibatch_with_an_all_zero_batch(case: Case, dtype: str) -> None:
    net, Ws, bs, acts, X, Y, Xr, Yr = _setup(case, dtype)
    batch = 32 if case.demo else 16
    w = _weights(X.shape[0], case.seed + 1)
    w[batch : 2 * batch] = 0.0  # the second batch has nothing to learn from: skipped
    wr = w.astype(dtype).astype(np.float64)
    exp_Ws, exp_bs, exp_hist = ref.train(
        Ws,
        bs,
        acts,
        ref_loss(case.loss),
        Xr,
        Yr,
        epochs=25,
        lr=case.lr,
        batch_size=batch,
        sample_weight=wr,
    )
    history = net.fit(X, Y, epochs=25, lr=case.lr, batch_size=batch, sample_weight=w)
    _check_trajectory(net, Ws, bs, history, exp_Ws, exp_bs, exp_hist, rtol_for(dtype))
    n_batches = -(-X.shape[0] // batch)
    assert net.get_optimizer_state()["step"] == 25 * (n_batches - 1)


def test_unit_weights_equal_no_weights() -> None:
    case = CASES[2]
    a, *_ = _setup(case, "float64")
    b, *_ = _setup(case, "float64")
    _, _, _, _, X, Y, _, _ = _setup(case, "float64")
    ha = a.fit(X, Y, epochs=30, lr=case.lr, batch_size=16, sample_weight=np.ones(len(X)))
    hb = b.fit(X, Y, epochs=30, lr=case.lr, batch_size=16)
    assert_close(np.array(ha.loss), np.array(hb.loss), 1e-13, "loss history")
    for Wa, Wb in zip(a.weights, b.weights):
        assert_close(Wa, Wb, 1e-13, "weights")


class HalfSquares(cr.Loss):
    """MSE written by hand: a user loss reaches the weighted path one row at a time."""

    def value(self, yhat, y):
        return float(np.sum((yhat - y) ** 2) / (2 * len(y)))

    def gradient(self, yhat, y):
        return yhat - y


def test_weighted_custom_loss_matches_reference() -> None:
    loss = HalfSquares()
    sizes, acts = [3, 6, 2], ["tanh", "linear"]
    net, Ws, bs = make_pair(sizes, acts, loss, "float64", seed=4)
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    w = _weights(30, 3)
    exp_Ws, exp_bs, exp_hist = ref.train(
        Ws,
        bs,
        [ref.activation(a) for a in acts],
        loss,
        X,
        Y,
        epochs=20,
        lr=0.1,
        batch_size=8,
        sample_weight=w,
    )
    h = net.fit(X, Y, epochs=20, lr=0.1, batch_size=8, sample_weight=w)
    _check_trajectory(net, Ws, bs, h, exp_Ws, exp_bs, exp_hist, 1e-12)


def test_weighted_shuffled_minibatches_keep_weights_with_their_rows() -> None:
    # weight 0 on half the rows, shuffled batches: equal to training on the other half only
    case = CASES[2]
    _, _, _, _, X, Y, _, _ = _setup(case, "float64")
    keep = np.arange(len(X)) % 2 == 0
    a = cr.Network(case.sizes, case.acts, seed=1)
    b = cr.Network(case.sizes, case.acts, seed=1)
    a.fit(X, Y, epochs=5, lr=0.05, shuffle=True, sample_weight=keep.astype(float))
    b.fit(X[keep], Y[keep], epochs=5, lr=0.05)  # one batch each: the order does not matter
    for Wa, Wb in zip(a.weights, b.weights):
        assert_close(Wa, Wb, 1e-12, "weights")


@pytest.mark.parametrize("scale", [2.0**1000, 2.0**300, 2.0**-300, 2.0**-1040])
def test_weights_of_any_scale_give_the_same_bits(scale: float) -> None:
    # only the weights' ratios count: weights whose sums overflow float64 (2^1000 over 60 rows)
    # or sink into its subnormals (2^-1040) give what the same weights near 1 give, bit for bit
    # (the core scales them by a power of two, which every ratio cancels exactly)
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(60, 3)), rng.normal(size=(60, 2))
    w = np.round(_weights(60, 5) * 8)  # small integers: exact in the subnormals too
    kw = dict(epochs=4, batch_size=16, shuffle=True, metrics=["r2", "mae"])

    def run(weights: np.ndarray) -> tuple:
        net = cr.Network([3, 6, 2], ["tanh", "linear"], seed=2, optimizer="adam")
        h = net.fit(
            X, Y, sample_weight=weights, validation_data=(X[:20], Y[:20], weights[:20]), **kw
        )
        ev = net.evaluate(X, Y, metrics=["r2", "mae"], sample_weight=weights)
        return [np.array(W) for W in net.weights], h.history, ev

    (Wa, ha, ea), (Wb, hb, eb) = run(w), run(w * scale)
    assert all(np.isfinite(v).all() for v in ha.values())
    assert ha == hb and ea == eb
    assert all(np.array_equal(a, b) for a, b in zip(Wa, Wb))


def test_a_batch_of_subnormal_weights_among_normal_ones() -> None:
    # the first batch's weights are all subnormal, the others 1: its step is the weighted mean
    # of its rows (where m / sum(w) would overflow), as with the same ratios at a normal scale
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    w = np.ones(20)
    w[:5] = np.arange(1, 6) * 2.0**-1070
    ratios = w.copy()
    ratios[:5] = np.arange(1, 6)
    a = cr.Network([3, 5, 1], ["tanh", "linear"], seed=0)
    b = cr.Network([3, 5, 1], ["tanh", "linear"], seed=0)
    ha = a.fit(X, Y, epochs=1, batch_size=5, lr=0.1, sample_weight=w)
    b.fit(X, Y, epochs=1, batch_size=5, lr=0.1, sample_weight=ratios)
    for Wa, Wb in zip(a.weights, b.weights):
        assert_close(Wa, Wb, 1e-13, "weights after the epoch")
    assert np.isfinite(ha.loss[0])
