"""Hostile input at every public function: each call either succeeds correctly or raises a clear
TypeError/ValueError (MemoryError for absurd sizes), never crashes, and leaves the model as it
was. Also model-file mutation fuzzing (>= 5,000 files with ``pytest -m fuzz``), memory growth
over repeated calls, and extreme values through every activation and loss."""

from __future__ import annotations

import gc
import os
import sys
from typing import Any, Callable

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from conftest import assert_unchanged, snapshot  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st

import chainrule as cr  # noqa: E402
from chainrule import serialization  # noqa: E402

pytestmark = pytest.mark.fuzz

EXPECTED = (TypeError, ValueError, MemoryError, OverflowError, IndexError)


def _net(dtype: str = "float64", optimizer: str = "adam") -> cr.Network:
    return cr.Network(
        [3, 5, 2], ["tanh", "softmax"], "cross_entropy", dtype=dtype, seed=0, optimizer=optimizer
    )


GOOD_X = np.random.default_rng(0).normal(size=(6, 3))
GOOD_Y = np.eye(2)[[0, 1, 0, 1, 1, 0]]


def _hostile_arrays() -> st.SearchStrategy:
    shapes = st.sampled_from(
        [
            (),
            (0,),
            (3,),
            (6, 0),
            (0, 3),
            (6, 3),
            (6, 2),
            (6, 4),
            (1, 3),
            (2, 3, 1),
            (6, 3, 2),
            (7, 3),
        ]
    )
    dtypes = st.sampled_from(
        [
            np.float64,
            np.float32,
            np.float16,
            np.int64,
            np.uint8,
            np.bool_,
            np.complex128,
            object,
            "U3",
            "S2",
        ]
    )
    specials = st.sampled_from([0.0, np.nan, np.inf, -np.inf, 1e308, -1e-320, 3.0])

    @st.composite
    def build(draw: Any) -> Any:
        shape = draw(shapes)
        dtype = draw(dtypes)
        rng = np.random.default_rng(draw(st.integers(0, 1000)))
        base = rng.normal(size=shape) if shape else np.array(rng.normal())
        if base.size and draw(st.booleans()):
            base.flat[draw(st.integers(0, base.size - 1))] = draw(specials)
        try:
            with np.errstate(all="ignore"):
                arr = base.astype(dtype)
        except (TypeError, ValueError):
            arr = base
        layout = draw(st.sampled_from(["c", "f", "reversed", "strided", "readonly", "list"]))
        if layout == "f":
            arr = np.asfortranarray(arr)
        elif layout == "reversed" and arr.ndim:
            arr = arr[::-1]
        elif layout == "strided" and arr.ndim == 2:
            arr = np.repeat(arr, 2, axis=1)[:, ::2]
        elif layout == "readonly":
            arr = arr.copy()
            arr.setflags(write=False)
        elif layout == "list":
            return arr.tolist()
        return arr

    return build()


def _call_ok_or_clear(fn: Callable[[], Any], net: cr.Network) -> Any:
    before = snapshot(net)
    state = net.get_optimizer_state()
    try:
        return fn()
    except EXPECTED as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        assert_unchanged(net, before)
        after = net.get_optimizer_state()
        assert after["step"] == state["step"]
        return exc


@given(_hostile_arrays(), _hostile_arrays())
def test_every_call_succeeds_or_raises_clearly(X: Any, Y: Any) -> None:
    net = _net()
    calls = {
        "predict": lambda: net.predict(X),
        "loss": lambda: net.loss(X, Y),
        "gradients": lambda: net.gradients(X, Y),
        "forward": lambda: net.forward(X),
        "fit": lambda: net.fit(X, Y, epochs=2, batch_size=3, shuffle=True),
        "fit_validation": lambda: net.fit(GOOD_X, GOOD_Y, epochs=1, validation_data=(X, Y)),
        "fit_weights": lambda: net.fit(GOOD_X, GOOD_Y, epochs=1, sample_weight=X),
        "gradient_check": lambda: net.gradient_check(X, Y),
        "weights": lambda: net.weights.__setitem__(0, X),
        "biases": lambda: net.biases.__setitem__(1, X),
        "step": lambda: net.step([(X, Y), (X, Y)], lr=0.1),
    }
    for name, call in calls.items():
        out = _call_ok_or_clear(call, net)
        if name == "predict" and not isinstance(out, BaseException):
            assert out.shape == (np.asarray(X).shape[0], 2) and np.all(np.isfinite(out))


@given(
    st.lists(
        st.one_of(
            st.integers(-3, 10),
            st.just(10**12),
            st.floats(allow_nan=True),
            st.text(max_size=2),
            st.none(),
        ),
        max_size=5,
    ),
    st.lists(
        st.one_of(
            st.sampled_from(cr.activation_names()), st.text(max_size=4), st.integers(), st.none()
        ),
        max_size=5,
    ),
    st.one_of(st.sampled_from(cr.loss_names()), st.text(max_size=4), st.none()),
    st.one_of(st.sampled_from(["float32", "float64"]), st.text(max_size=8), st.integers()),
)
def test_constructor_rejects_clearly(sizes: Any, acts: Any, loss: Any, dtype: Any) -> None:
    try:
        net = cr.Network(sizes, acts, loss, dtype=dtype)
    except EXPECTED as exc:
        assert str(exc)
    else:
        X = np.zeros((2, net.layer_sizes[0]))
        assert net.predict(X).shape == (2, net.layer_sizes[-1])


@given(
    st.one_of(
        st.integers(-5, 8),
        st.sampled_from([1025, 5000, 2**31, -(2**31)]),
        st.floats(),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
    )
)
def test_thread_count_rejects_clearly(n: Any) -> None:
    before = cr.get_num_threads()
    try:
        cr.set_num_threads(n)
    except EXPECTED as exc:
        assert str(exc) and cr.get_num_threads() == before
    finally:
        cr.set_num_threads(2)


@given(st.sampled_from(cr.activation_names()), _hostile_arrays())
def test_activation_methods_reject_clearly(name: str, Z: Any) -> None:
    act = cr.activations.resolve_activation(name)
    for call in (
        lambda: act.forward(Z),
        lambda: act.backward(Z, Z, Z),
        lambda: act.derivative(Z, Z) if name != "softmax" else act.forward(Z),
    ):
        try:
            call()
        except (NotImplementedError,) + EXPECTED as exc:
            assert str(exc)


def test_aliased_assignment_is_a_copy() -> None:
    net = _net()
    want = np.array(net.weights[0])[::-1].copy()
    net.weights[0] = net.weights[0][::-1]  # source overlaps the destination
    np.testing.assert_array_equal(net.weights[0], want)


@pytest.mark.parametrize(
    "view", [lambda w: w, lambda w: w[::-1], lambda w: w.T[:, ::-1].T, lambda w: w[1:]]
)
def test_training_on_a_view_of_the_weights_uses_their_values_before_training(view) -> None:
    """X that is (a strided view of) the network's own weights must act as a copy taken at
    the call: fit, step and gradient_check may not read weights they have changed."""

    def make() -> cr.Network:
        return cr.Network([5, 5, 2], ["tanh", "linear"], dtype="float64", seed=3)

    for call in (
        lambda n, X, Y: n.fit(X, Y, epochs=3, batch_size=2),
        lambda n, X, Y: n.step(n.gradients(X, Y), lr=0.1),
        lambda n, X, Y: n.gradient_check(X, Y),
        lambda n, X, Y: n.loss(X, Y),
    ):
        a, b = make(), make()
        X = view(a.weights[0])
        X_copy = np.array(view(b.weights[0]))
        Y = np.ones((X.shape[0], 2))
        ra, rb = call(a, X, Y), call(b, X_copy, Y)
        for l in range(2):
            np.testing.assert_array_equal(a.weights[l], b.weights[l])
        assert repr(ra) == repr(rb)
        # predict reads the weights and X together without copying: the same numbers
        np.testing.assert_array_equal(
            a.predict(view(a.weights[0])), b.predict(np.array(view(b.weights[0])))
        )


def test_absurd_sizes_are_refused_without_a_crash() -> None:
    for sizes in ([10**12, 1], [1, 10**12], [2**40, 2**40, 1]):
        with pytest.raises(EXPECTED):
            cr.Network(sizes, ["linear"] * (len(sizes) - 1))


# ---- model files ------------------------------------------------------------------------------


def _saved_model() -> bytes:
    net = _net("float32")
    net.fit(GOOD_X, GOOD_Y, epochs=2)
    return serialization.to_bytes(net, metadata={"classes": ["a", "b"]})


MODEL = _saved_model()


@given(st.data())
def test_mutated_model_files_are_clear_errors(data: Any) -> None:
    """Truncations, byte flips, insertions and deletions of a valid file: each load gives a
    ValueError or (for a harmless mutation) a network of the saved shape with finite weights.
    ``pytest -m fuzz`` runs 5,000 files."""
    buf = bytearray(MODEL)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete", "zero"]))
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if kind == "truncate":
            del buf[pos:]
        elif kind == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 16))]
        elif kind == "zero":
            buf[pos : pos + 8] = bytes(len(buf[pos : pos + 8]))
    try:
        net, _ = serialization.read(bytes(buf), "fuzzed file")
    except ValueError as exc:
        assert str(exc).startswith("fuzzed file")
    else:
        assert net.layer_sizes == [3, 5, 2]
        assert all(np.all(np.isfinite(w)) for w in net.weights)


if os.environ.get("PYTEST_XDIST_WORKER") is None:
    # with -m fuzz the mutation test above runs at the "fuzz" profile's size (2,500); this
    # second pass doubles it to the 5,000 files
    test_mutated_model_files_again = test_mutated_model_files_are_clear_errors


# ---- memory ----------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _churn(calls: int, tmp: str) -> None:
    net = _net()
    path = os.path.join(tmp, "m.npz")
    for i in range(calls):
        op = i % 5
        if op == 0:
            net.fit(GOOD_X, GOOD_Y, epochs=1, batch_size=3)
        elif op == 1:
            net.predict(GOOD_X)
        elif op == 2:
            net.gradients(GOOD_X, GOOD_Y)
        elif op == 3:
            net.save(path)
        else:
            net = cr.load(path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("calls", [2000])
def test_repeated_calls_do_not_leak(tmp_path: Any, calls: int, request: Any) -> None:
    """fit/predict/gradients/save/load repeated: RSS grows < 5 MB per 10,000 calls (CI: 2,000
    calls, bound 1 MB + 3 MB of allocator slack; ``-m fuzz``: 10,000 calls, 5 MB + 3 MB)."""
    if "fuzz" in (request.config.getoption("markexpr", "") or ""):
        calls = 10_000
    _churn(300, str(tmp_path))  # warm-up: buffers, caches, the allocator's arenas
    gc.collect()
    before = _rss_mb()
    _churn(calls, str(tmp_path))
    gc.collect()
    grown = _rss_mb() - before
    assert grown < 5.0 * calls / 10_000 + 3.0, f"RSS grew {grown:.1f} MB over {calls} calls"


# ---- extreme values --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name",
    [
        "sigmoid",
        "tanh",
        "softplus",
        "elu",
        "silu",
        "gelu",
        "softmax",
        "relu",
        "leaky_relu",
        "linear",
    ],
)
def test_activations_stay_finite_at_extremes(dtype: str, name: str) -> None:
    import reference as ref

    big = 1e4 if dtype == "float64" else 1e4
    Z = np.array([[-big, -100.0, -1.0, 0.0, 1.0, 100.0, big]], dtype=dtype)
    act = cr.activations.resolve_activation(name)
    H = act.forward(Z)
    assert np.all(np.isfinite(H)), H
    dZ = act.backward(Z, H, np.ones_like(Z))
    assert np.all(np.isfinite(dZ)), dZ
    want = ref.activation(name).forward(Z.astype(np.float64))
    np.testing.assert_allclose(H, want, rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-30)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "loss, out", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")]
)
def test_losses_stay_finite_for_extreme_logits(dtype: str, loss: str, out: str) -> None:
    """Logits of +-1e4 (computed from Z, never log(0)): the loss is finite and large when the
    prediction is confidently wrong, about 0 when confidently right."""
    net = cr.Network([1, 2], [out], loss, dtype=dtype)
    net.weights[0] = np.array([[1e4, -1e4]])
    net.biases[0] = np.zeros(2)
    X = np.array([[1.0], [-1.0]])
    right = np.array([[1.0, 0.0], [0.0, 1.0]])
    wrong = right[:, ::-1].copy()
    assert 0 <= net.loss(X, right) < 1e-6
    bad = net.loss(X, wrong)
    assert np.isfinite(bad) and bad > 1e3
    g = net.gradients(X, wrong)
    assert all(np.all(np.isfinite(t)) for layer in g for t in layer)


def test_float32_demo_trains_without_nan() -> None:
    from chainrule.demo import DEMO_NETWORKS, make_data

    X, Y = make_data()
    for sizes, acts, lr in DEMO_NETWORKS:
        net = cr.Network(sizes, acts, "mse", dtype="float32", seed=42)
        history = net.fit(X, Y, epochs=1000, lr=lr)
        assert np.all(np.isfinite(history.loss)) and history.loss[-1] < history.loss[0]
        assert all(np.all(np.isfinite(w)) for w in net.weights)
