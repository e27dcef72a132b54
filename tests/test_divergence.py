"""A fit that diverges (a non-finite loss or weights) raises DivergenceError and goes back to the
weights of its last finite epoch (its own starting weights when that is the first)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import reference as ref
from bad_input import X, Y, assert_message
from conftest import assert_unchanged, snapshot

import chainrule as cr


def _diverging_setup():
    rng = np.random.default_rng(5)
    Xd = rng.normal(size=(20, 2))
    Yd = rng.normal(size=(20, 1))
    return Xd, Yd


@pytest.mark.parametrize(
    "dtype,batch_size", [("float64", None), ("float64", 7), ("float32", None), ("float32", 7)]
)
def test_divergence_raises_and_keeps_last_finite_epoch(dtype: str, batch_size: Any) -> None:
    Xd, Yd = _diverging_setup()
    sizes, acts, lr = [2, 3, 1], ["linear", "linear"], 3.0
    net = cr.Network(sizes, acts, dtype=dtype, seed=4)
    W0 = [np.array(W, np.float64) for W in net.weights]
    b0 = [np.array(b, np.float64) for b in net.biases]
    with pytest.raises(cr.DivergenceError) as e:
        net.fit(Xd, Yd, epochs=10_000, lr=lr, batch_size=batch_size)
    assert isinstance(e.value, FloatingPointError)
    m = re.search(r"after epoch (\d+)", str(e.value))
    assert m, f"no epoch in {e.value!r}"
    k = int(m.group(1))
    assert 0 < k < 10_000
    kept = snapshot(net)
    assert all(np.all(np.isfinite(p)) for p in kept)
    # a separate run for that many epochs ends with exactly these weights ...
    twin = cr.Network(sizes, acts, dtype=dtype, seed=4)
    h = twin.fit(Xd, Yd, epochs=k, lr=lr, batch_size=batch_size)
    assert len(h.loss) == k and np.all(np.isfinite(h.loss))
    for i, (a, b) in enumerate(zip(kept, snapshot(twin))):
        np.testing.assert_array_equal(a, b, err_msg=f"{'Wb'[i % 2]}{i // 2 + 1}")
    # ... and one more epoch is where it diverges (checked with the float64 reference)
    if dtype == "float64":
        acts_r = [ref.activation(a) for a in acts]
        with np.errstate(all="ignore"):
            Ws, bs, hist = ref.train(W0, b0, acts_r, "mse", Xd, Yd, k + 1, lr, batch_size)
        assert np.all(np.isfinite(hist[:k]))
        assert not (np.isfinite(hist[k]) and all(np.all(np.isfinite(p)) for p in Ws + bs))
    # the network is still usable
    assert net.predict(Xd).shape == (20, 1)
    for l in range(len(W0)):
        net.weights[l], net.biases[l] = W0[l], b0[l]
    fresh = cr.Network(sizes, acts, dtype=dtype, seed=4)
    assert net.loss(Xd, Yd) == fresh.loss(Xd, Yd)
    assert np.isfinite(net.fit(Xd, Yd, epochs=1, lr=1e-3).loss[0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_divergence_goes_back_to_this_fits_weights(dtype: str) -> None:
    # the network keeps its rollback copy from one fit to the next: a later fit must go back to
    # its own weights (here set by hand between the fits), not to what an earlier fit saved
    Xd, Yd = _diverging_setup()
    sizes, acts = [2, 3, 1], ["linear", "linear"]
    net = cr.Network(sizes, acts, dtype=dtype, seed=4)
    net.fit(Xd, Yd, epochs=3, lr=1e-3)
    net.weights[0] = 2 * np.asarray(net.weights[0])
    net.biases[1] = np.array([0.25])
    before = snapshot(net)
    huge = 1e200 if dtype == "float64" else 1e30  # the second batch's loss overflows
    with pytest.raises(cr.DivergenceError) as e:
        net.fit(Xd, Yd, epochs=5, lr=huge, batch_size=7)
    assert_message(e, "epoch 1", "initial weights were kept")
    assert_unchanged(net, before)
    # diverging in a later epoch: the weights after the last finite epoch of this fit
    with pytest.raises(cr.DivergenceError) as e:
        net.fit(Xd, Yd, epochs=10_000, lr=3.0)
    k = int(re.search(r"after epoch (\d+)", str(e.value)).group(1))
    assert 0 < k < 10_000
    twin = cr.Network(sizes, acts, dtype=dtype, seed=0)
    for l, (W, b) in enumerate(zip(before[0::2], before[1::2])):
        twin.weights[l], twin.biases[l] = W, b
    twin.fit(Xd, Yd, epochs=k, lr=3.0)
    for a, b in zip(snapshot(net), snapshot(twin)):
        np.testing.assert_array_equal(a, b)


def test_divergence_from_nan_in_custom_activation() -> None:
    class NanAfter(cr.Activation):
        calls = 0

        def forward(self, z):
            NanAfter.calls += 1
            return z * np.nan if NanAfter.calls > 3 else np.tanh(z)

        def derivative(self, z, h):
            return 1 - h * h

    net = cr.Network([2, 4, 1], [NanAfter(), "linear"], seed=0)
    with pytest.raises(cr.DivergenceError) as e:
        net.fit(X, Y, epochs=10, lr=0.1)
    assert_message(e, "epoch 3", "nan")
    twin = cr.Network([2, 4, 1], [NanAfter(), "linear"], seed=0)
    NanAfter.calls = -100
    twin.fit(X, Y, epochs=3, lr=0.1)
    for a, b in zip(snapshot(net), snapshot(twin)):
        np.testing.assert_array_equal(a, b)


def _dropout_net(optimizer: Any) -> cr.Network:
    return cr.Network(
        [2, cr.Dense(4, "linear"), cr.Dropout(0.25), cr.Dense(1, "linear")],
        seed=4,
        optimizer=optimizer,
    )


@pytest.mark.parametrize(
    "make_optimizer,lr,batch_size",
    [(lambda: cr.SGD(momentum=0.9), 0.5, 7), (lambda: cr.Adam(), 1e80, None)],
    ids=["momentum", "adam"],
)
def test_divergence_takes_the_whole_training_state_back(
    make_optimizer: Any, lr: float, batch_size: Any
) -> None:
    # not the weights alone: the optimizer's state, the shuffling generator and the dropout
    # masks' pass count go back to the end of the last finite epoch too, so that the network
    # trains on as one that stopped there (the optimizer once kept the diverged steps' state,
    # and the network could not train again)
    Xd, Yd = _diverging_setup()
    net = _dropout_net(make_optimizer())
    with pytest.raises(cr.DivergenceError) as e:
        net.fit(Xd, Yd, epochs=1000, lr=lr, batch_size=batch_size, shuffle=True)
    k = int(re.search(r"after epoch (\d+)", str(e.value)).group(1))
    assert 0 < k < 1000
    twin = _dropout_net(make_optimizer())
    twin.fit(Xd, Yd, epochs=k, lr=lr, batch_size=batch_size, shuffle=True)
    for a, b in zip(snapshot(net), snapshot(twin)):
        np.testing.assert_array_equal(a, b)
    state, twin_state = net.get_optimizer_state(), twin.get_optimizer_state()
    assert state["step"] == twin_state["step"] == k * (1 if batch_size is None else 3)
    for name, arrays in state["buffers"].items():
        for a, b in zip(arrays, twin_state["buffers"][name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert net.get_rng_state() == twin.get_rng_state()
    assert net.get_dropout_state() == twin.get_dropout_state()
    outcomes = []  # both go on alike (to diverge again, or not: the same either way)
    for n in (net, twin):
        try:
            outcomes.append(n.fit(Xd, Yd, epochs=3, lr=1e-3, batch_size=7, shuffle=True).loss)
        except cr.DivergenceError as again:
            outcomes.append(str(again))
    assert outcomes[0] == outcomes[1]
    for a, b in zip(snapshot(net), snapshot(twin)):
        np.testing.assert_array_equal(a, b)
    assert net.get_rng_state() == twin.get_rng_state()


def test_divergence_after_a_callback_replaced_the_optimizer() -> None:
    # the rollback's copy is made before an epoch's callbacks; an optimizer a callback installs
    # then has none, and goes back to its state as installed (a DivergenceError, not a crash)
    Xd, Yd = _diverging_setup()
    net = cr.Network([2, 3, 1], ["linear", "linear"], seed=4, optimizer="adam")
    kept: list = []

    def swap(epoch: int, logs: Any, network: cr.Network) -> None:
        if epoch == 1:
            network.optimizer = cr.SGD(momentum=0.9)
            kept.extend(snapshot(network))
            network.weights[0] = np.full((2, 3), 1e200)  # the next epoch's loss is inf

    with pytest.raises(cr.DivergenceError, match="epoch 3"):
        net.fit(Xd, Yd, epochs=20, lr=0.01, batch_size=7, callbacks=[swap])
    assert isinstance(net.optimizer, cr.SGD)
    state = net.get_optimizer_state()
    assert state["step"] == 0
    assert all(not np.any(a) for arrays in state["buffers"].values() for a in arrays)
    for a, b in zip(snapshot(net), kept):  # the weights of epoch 2's end, before the callback
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(net.fit(Xd, Yd, epochs=2, lr=0.01).loss[-1])
