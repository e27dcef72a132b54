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
