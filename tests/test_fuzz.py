"""Property-based tests (hypothesis) over random networks: 1-6 layers of widths 1-64, every
built-in activation in any layer, every loss, both dtypes, random batch sizes.

Properties: backpropagation equals central differences; float32 and float64 agree; predict is
deterministic and a row predicted alone equals the same row of a batch, bit for bit; seeded
shuffled training is reproducible. Small in CI, >= 10,000 examples with ``pytest -m fuzz``
(profiles in conftest.py).
"""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
import reference as ref  # noqa: E402
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st

import chainrule as cr  # noqa: E402

pytestmark = pytest.mark.fuzz

from conftest import required_output  # noqa: E402

from chainrule import _registry  # noqa: E402

# every registered activation and loss (a new entry is drawn too)
ACTIVATIONS = cr.activation_names()
KINKED = {"relu", "leaky_relu"}  # derivative jumps at 0 (elu with alpha = 1 is C1)
LOSSES = list(_registry.LOSSES)
OUTPUT = {loss: required_output(loss) for loss in LOSSES if required_output(loss)}


@st.composite
def networks(
    draw: Any, max_width: int = 64, max_layers: int = 6
) -> Tuple[List[int], List[str], str, int]:
    n_layers = draw(st.integers(1, max_layers))
    sizes = [draw(st.integers(1, max_width)) for _ in range(n_layers + 1)]
    loss = draw(st.sampled_from(LOSSES))
    acts = [draw(st.sampled_from(ACTIVATIONS)) for _ in range(n_layers)]
    if loss in OUTPUT:
        acts[-1] = OUTPUT[loss]
    if OUTPUT.get(loss) == "softmax" and sizes[-1] == 1:
        sizes[-1] = 2
    seed = draw(st.integers(0, 2**31 - 1))
    return sizes, acts, loss, seed


def data(sizes: List[int], loss: str, m: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0]))
    nL = sizes[-1]
    if OUTPUT.get(loss) == "softmax":
        Y = rng.dirichlet(np.ones(nL), size=m)
    elif OUTPUT.get(loss) == "sigmoid":
        Y = rng.uniform(0, 1, size=(m, nL))
    else:
        Y = rng.normal(size=(m, nL))
    return X, Y


def pre_activations(net: cr.Network, X: np.ndarray) -> List[np.ndarray]:
    acts = [ref.activation(a.name, **a.get_params()) for a in net.activations]
    Zs, _ = ref.forward(
        [np.array(w, dtype=np.float64) for w in net.weights],
        [np.array(b, dtype=np.float64) for b in net.biases],
        acts,
        X,
    )
    return Zs


@given(networks(), st.integers(1, 9), st.data())
def test_backprop_matches_central_differences(spec: Any, m: int, draw: Any) -> None:
    sizes, acts, loss, seed = spec
    net = cr.Network(sizes, acts, loss, seed=seed)
    X, Y = data(sizes, loss, m, seed)
    eps = 1e-5
    # keep every kinked pre-activation further from 0 than a perturbation can move it
    Zs = pre_activations(net, X)
    for Z, a in zip(Zs, acts):
        if a in KINKED:
            assume(np.min(np.abs(Z)) > 1e-3)
    grads = net.gradients(X, Y)
    # a random sample of coordinates of every tensor
    for l in range(net.n_layers):
        for kind in ("W", "b"):
            param = net.weights[l] if kind == "W" else net.biases[l]
            analytic = grads[l].dW if kind == "W" else grads[l].db
            flat = param.reshape(-1)
            picks = draw.draw(
                st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=3, unique=True),
                label=f"{kind}{l + 1} coordinates",
            )
            for i in picks:
                saved = flat[i]
                flat[i] = saved + eps
                up = net.loss(X, Y)
                flat[i] = saved - eps
                down = net.loss(X, Y)
                flat[i] = saved
                numeric = (up - down) / (2 * eps)
                a = analytic.reshape(-1)[i]
                assert abs(a - numeric) <= 1e-5 * max(abs(a), abs(numeric)) + 1e-7, (
                    f"{kind}{l + 1}[{i}]: backprop {a!r} vs central difference {numeric!r}"
                )


@given(networks(), st.integers(1, 40))
def test_float32_and_float64_agree(spec: Any, m: int) -> None:
    sizes, acts, loss, seed = spec
    net64 = cr.Network(sizes, acts, loss, dtype="float64", seed=seed)
    net32 = cr.Network(sizes, acts, loss, dtype="float32", seed=seed)
    for l in range(net64.n_layers):
        net32.weights[l] = net64.weights[l]
        net32.biases[l] = net64.biases[l]
        net64.weights[l] = np.asarray(net32.weights[l], dtype=np.float64)  # the same values
        net64.biases[l] = np.asarray(net32.biases[l], dtype=np.float64)
    X, Y = data(sizes, loss, m, seed)
    X32 = X.astype(np.float32)
    p64 = net64.predict(X32.astype(np.float64))
    p32 = net32.predict(X32)
    # float32 keeps ~7 digits per operation; a 6-layer network loses a few of them
    np.testing.assert_allclose(p32, p64, rtol=2e-3, atol=2e-4)
    l64, l32 = net64.loss(X32.astype(np.float64), Y), net32.loss(X32, Y)
    assert abs(l32 - l64) <= 2e-3 * abs(l64) + 2e-4


@given(networks(), st.integers(1, 70), st.sampled_from(["float32", "float64"]))
def test_predict_is_deterministic_and_row_independent(spec: Any, m: int, dtype: str) -> None:
    sizes, acts, loss, seed = spec
    net = cr.Network(sizes, acts, loss, dtype=dtype, seed=seed)
    X, _ = data(sizes, loss, m, seed)
    first = net.predict(X)
    assert np.array_equal(first, net.predict(X))
    i = seed % m
    assert np.array_equal(net.predict(X[i : i + 1]), first[i : i + 1])
    assert np.all(np.isfinite(first))


@given(
    networks(max_width=24, max_layers=4),
    st.integers(2, 50),
    st.integers(1, 16),
    st.sampled_from(["sgd", "adam"]),
    st.sampled_from(["float32", "float64"]),
)
def test_seeded_shuffled_training_is_reproducible(
    spec: Any, m: int, batch: int, opt: str, dtype: str
) -> None:
    sizes, acts, loss, seed = spec
    X, Y = data(sizes, loss, m, seed)
    runs = []
    for _ in range(2):
        net = cr.Network(sizes, acts, loss, dtype=dtype, seed=seed, optimizer=opt)
        try:
            history = net.fit(X, Y, epochs=3, lr=1e-3, batch_size=batch, shuffle=True)
        except cr.DivergenceError:
            pytest.skip("diverged")  # pragma: no cover - lr 1e-3 on N(0,1) data does not diverge
        runs.append(
            (history.loss, [np.array(w) for w in net.weights], [np.array(b) for b in net.biases])
        )
    (l1, w1, b1), (l2, w2, b2) = runs
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(w1 + b1, w2 + b2))
