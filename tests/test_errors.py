"""Bad input gives ValueError/TypeError naming the layer and the expected/actual shape or value,
and leaves the model unchanged; divergence and exceptions inside callbacks are handled."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from typing import Any, Callable, List, Sequence

import numpy as np
import pytest
import reference as ref
from conftest import assert_unchanged, snapshot

import chainrule as cr

rng = np.random.default_rng(0)
X = rng.normal(size=(10, 2))
Y = rng.normal(size=(10, 1))


def _net(**kw) -> cr.Network:
    return cr.Network([2, 4, 1], ["tanh", "linear"], seed=0, **kw)


def _check(exc_info, *parts: str) -> None:
    msg = str(exc_info.value)
    for p in parts:
        assert p in msg, f"{p!r} not in message {msg!r}"


# ---- construction -------------------------------------------------------------------------------


def test_activation_count_mismatch() -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh"])
    _check(e, "1 activations", "2 layers")
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh", "tanh", "linear"])
    _check(e, "3 activations", "2 layers")


def test_activations_not_a_list() -> None:
    with pytest.raises(TypeError) as e:
        cr.Network([2, 4, 1], "tanh")
    _check(e, "one activation per layer", "'tanh'")
    with pytest.raises(TypeError) as e:
        cr.Network([2, 4, 1], ["tanh", 3])
    _check(e, "layer 2", "int")


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh", "relux"])
    _check(e, "layer 2", "'relux'")
    # every registered activation is listed, the original ten among them
    for name in cr.activation_names():
        assert re.search(rf"\b{name}\b", str(e.value)), f"{name} not listed in {e.value}"
    assert {
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "softmax",
        "linear",
        "gelu",
        "silu",
        "softplus",
    } <= set(cr.activation_names())


def test_unknown_loss_lists_valid_names() -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh", "linear"], loss="hinge")
    _check(e, "'hinge'", "mse", "cross_entropy", "binary_cross_entropy", *cr.loss_names())
    with pytest.raises(TypeError):
        cr.Network([2, 4, 1], ["tanh", "linear"], loss=3)


@pytest.mark.parametrize(
    "sizes,exc,parts",
    [
        ([2, 0, 1], ValueError, ["layer 1", ">= 1", "0"]),
        ([2, 4, -3], ValueError, ["layer 2", ">= 1", "-3"]),
        ([0, 4, 1], ValueError, ["input", "0"]),
        ([2, 4.5, 1], TypeError, ["layer 1", "integer", "4.5"]),
        ([2, "4", 1], TypeError, ["layer 1", "integer", "'4'"]),
        ([2, True, 1], TypeError, ["layer 1", "integer"]),
        ([2], ValueError, ["[2]"]),
        ([], ValueError, ["[]"]),
    ],
)
def test_bad_layer_sizes(sizes: List[Any], exc: type, parts: List[str]) -> None:
    with pytest.raises(exc) as e:
        cr.Network(sizes)
    _check(e, *parts)


def test_layer_sizes_not_a_sequence() -> None:
    with pytest.raises(TypeError):
        cr.Network("2,4,1")
    with pytest.raises(TypeError):
        cr.Network(5)


@pytest.mark.parametrize("dtype", ["int32", "float16", np.int64, "complex128", "bogus"])
def test_unsupported_dtype(dtype: Any) -> None:
    with pytest.raises(ValueError) as e:
        _net(dtype=dtype)
    _check(e, "float32", "float64")
    assert str(dtype) in str(e.value) or repr(dtype) in str(e.value)


@pytest.mark.parametrize(
    "loss,act,needs",
    [
        ("cross_entropy", "tanh", "softmax"),
        ("cross_entropy", "linear", "softmax"),
        ("binary_cross_entropy", "softmax", "sigmoid"),
        ("binary_cross_entropy", "relu", "sigmoid"),
    ],
)
def test_fused_loss_needs_its_output_activation(loss: str, act: str, needs: str) -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 3, 3], ["tanh", act], loss=loss)
    _check(e, loss, needs)


def test_bad_activation_parameters() -> None:
    with pytest.raises(ValueError):
        cr.LeakyReLU(alpha=float("nan"))
    with pytest.raises(ValueError):
        cr.ELU(alpha=float("inf"))
    with pytest.raises(TypeError):
        cr.ELU(alpha="1")


def test_bad_init() -> None:
    with pytest.raises(ValueError) as e:
        _net(init="uniform")
    _check(e, "'uniform'")
    with pytest.raises(ValueError) as e:  # a callable returning the wrong shape
        _net(init=lambda n_in, n_out, rng: np.zeros((n_out, n_in)))
    _check(e, "layer 1", "(2, 4)", "(4, 2)")


# ---- data: each bad call raises and leaves the model unchanged ----------------------------------


def _with_nan(a: np.ndarray, r: int, c: int, v: float = np.nan) -> np.ndarray:
    a = a.copy()
    a[r, c] = v
    return a


Xnan, Xinf, Yinf = _with_nan(X, 3, 1), _with_nan(X, 7, 0, -np.inf), _with_nan(Y, 4, 0, np.inf)

BAD_CALLS = [
    # name, call, exception, message parts
    ("X 1-D", lambda n: n.predict(np.zeros(2)), ValueError, ["X", "2-D", "(2,)"]),
    ("X 3-D", lambda n: n.predict(np.zeros((2, 2, 2))), ValueError, ["X", "2-D", "(2, 2, 2)"]),
    ("X scalar", lambda n: n.predict(1.0), ValueError, ["X", "2-D"]),
    ("X no rows", lambda n: n.predict(np.zeros((0, 2))), ValueError, ["X", "empty", "(0, 2)"]),
    ("X no columns", lambda n: n.predict(np.zeros((5, 0))), ValueError, ["X", "(5, 0)"]),
    ("X empty fit", lambda n: n.fit(np.zeros((0, 2)), np.zeros((0, 1))), ValueError, ["empty"]),
    ("X None", lambda n: n.predict(None), TypeError, ["X"]),
    (
        "features predict",
        lambda n: n.predict(np.zeros((4, 3))),
        ValueError,
        ["layer 1 expects 2 input features", "(4, 3)"],
    ),
    (
        "features fit",
        lambda n: n.fit(np.zeros((10, 3)), Y),
        ValueError,
        ["layer 1 expects 2 input features", "(10, 3)"],
    ),
    (
        "features gradients",
        lambda n: n.gradients(np.zeros((10, 1)), Y),
        ValueError,
        ["layer 1 expects 2 input features", "(10, 1)"],
    ),
    (
        "features forward",
        lambda n: n.forward(np.zeros((10, 5))),
        ValueError,
        ["layer 1 expects 2 input features", "(10, 5)"],
    ),
    ("rows fit", lambda n: n.fit(X, Y[:5]), ValueError, ["10", "5", "rows"]),
    ("rows loss", lambda n: n.loss(X[:9], Y), ValueError, ["9", "10", "rows"]),
    ("rows gradients", lambda n: n.gradients(X, Y[:1]), ValueError, ["10", "1", "rows"]),
    ("Y width fit", lambda n: n.fit(X, np.zeros((10, 2))), ValueError, ["layer 2", "1", "(10, 2)"]),
    (
        "Y width loss",
        lambda n: n.loss(X, np.zeros((10, 3))),
        ValueError,
        ["layer 2", "1", "(10, 3)"],
    ),
    ("Y 3-D", lambda n: n.fit(X, np.zeros((10, 1, 1))), ValueError, ["Y", "2-D"]),
    ("nan X fit", lambda n: n.fit(Xnan, Y), ValueError, ["X", "nan", "row 3", "column 1"]),
    ("nan X predict", lambda n: n.predict(Xnan), ValueError, ["X", "nan", "row 3", "column 1"]),
    ("nan X loss", lambda n: n.loss(Xnan, Y), ValueError, ["X", "nan", "row 3", "column 1"]),
    (
        "nan X gradients",
        lambda n: n.gradients(Xnan, Y),
        ValueError,
        ["X", "nan", "row 3", "column 1"],
    ),
    ("nan X forward", lambda n: n.forward(Xnan), ValueError, ["X", "nan", "row 3"]),
    ("inf X fit", lambda n: n.fit(Xinf, Y), ValueError, ["X", "inf", "row 7", "column 0"]),
    ("inf X predict", lambda n: n.predict(Xinf), ValueError, ["X", "inf", "row 7", "column 0"]),
    ("inf Y fit", lambda n: n.fit(X, Yinf), ValueError, ["Y", "inf", "row 4", "column 0"]),
    ("inf Y loss", lambda n: n.loss(X, Yinf), ValueError, ["Y", "inf", "row 4"]),
    ("inf Y gradients", lambda n: n.gradients(X, Yinf), ValueError, ["Y", "inf", "row 4"]),
    ("nan Y fit", lambda n: n.fit(X, _with_nan(Y, 2, 0)), ValueError, ["Y", "nan", "row 2"]),
    ("strings X", lambda n: n.predict([["a", "b"], ["c", "d"]]), TypeError, ["X", "numeric"]),
    ("strings X fit", lambda n: n.fit(np.full((10, 2), "x"), Y), TypeError, ["X", "numeric"]),
    ("strings Y", lambda n: n.fit(X, [["y"]] * 10), TypeError, ["Y", "numeric"]),
    ("objects X", lambda n: n.predict(np.array([[object(), 1.0]], dtype=object)), TypeError, ["X"]),
    ("ragged X", lambda n: n.predict([[1.0, 2.0], [3.0]]), TypeError, ["X"]),
    ("complex X", lambda n: n.predict(X.astype(complex)), TypeError, ["X", "complex"]),
    ("complex X fit", lambda n: n.fit(X + 1j, Y), TypeError, ["X", "complex"]),
    ("complex Y", lambda n: n.fit(X, Y.astype(np.complex64)), TypeError, ["Y", "complex"]),
    ("lr 0", lambda n: n.fit(X, Y, lr=0), ValueError, ["lr", "0"]),
    ("lr negative", lambda n: n.fit(X, Y, lr=-0.1), ValueError, ["lr", "-0.1"]),
    ("lr nan", lambda n: n.fit(X, Y, lr=float("nan")), ValueError, ["lr", "nan"]),
    ("lr inf", lambda n: n.fit(X, Y, lr=float("inf")), ValueError, ["lr", "inf"]),
    ("lr str", lambda n: n.fit(X, Y, lr="0.1"), TypeError, ["lr"]),
    ("step lr 0", lambda n: (n.gradients(X, Y), n.step(lr=0.0)), ValueError, ["lr", "0"]),
    (
        "step lr nan",
        lambda n: n.step(n.gradients(X, Y), lr=float("nan")),
        ValueError,
        ["lr", "nan"],
    ),
    ("epochs -1", lambda n: n.fit(X, Y, epochs=-1), ValueError, ["epochs", "-1"]),
    ("epochs float", lambda n: n.fit(X, Y, epochs=2.5), TypeError, ["epochs"]),
    ("batch 0", lambda n: n.fit(X, Y, batch_size=0), ValueError, ["batch_size", "0"]),
    ("batch -3", lambda n: n.fit(X, Y, batch_size=-3), ValueError, ["batch_size", "-3"]),
    ("batch float", lambda n: n.fit(X, Y, batch_size=2.0), TypeError, ["batch_size"]),
    ("backward before forward", lambda n: n.backward(Y), ValueError, ["forward"]),
    (
        "backward after predict",
        lambda n: (n.forward(X), n.predict(X[:3]), n.backward(Y)),
        ValueError,
        ["forward"],
    ),
    ("backward rows", lambda n: (n.forward(X), n.backward(Y[:3])), ValueError, ["3", "10"]),
    (
        "step wrong count",
        lambda n: n.step([(np.zeros((2, 4)), np.zeros(4))], lr=0.1),
        ValueError,
        ["2 layers", "1"],
    ),
    (
        "step wrong shape",
        lambda n: n.step(
            [(np.zeros((2, 4)), np.zeros(4)), (np.zeros((4, 2)), np.zeros(1))], lr=0.1
        ),
        ValueError,
        ["layer 2", "(4, 1)", "(4, 2)"],
    ),
    (
        "step nan",
        lambda n: n.step(
            [(np.zeros((2, 4)), np.zeros(4)), (np.full((4, 1), np.nan), np.zeros(1))], lr=0.1
        ),
        ValueError,
        ["layer 2", "NaN"],
    ),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,call,exc,parts", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_and_leaves_model_unchanged(
    name: str, call: Callable, exc: type, parts: Sequence[str], dtype: str
) -> None:
    net = _net(dtype=dtype)
    before = snapshot(net)
    expected_out = net.predict(X)
    with pytest.raises(exc) as e:
        call(net)
    _check(e, *parts)
    assert_unchanged(net, before)
    np.testing.assert_array_equal(net.predict(X), expected_out)
    # and the network still trains normally afterwards
    net.fit(X, Y, epochs=2, lr=0.1)


def test_float32_overflowing_input_is_reported() -> None:
    net = _net(dtype="float32")
    with pytest.raises(ValueError) as e:
        net.predict(np.array([[1e300, 1.0]]))
    _check(e, "X", "inf", "row 0", "column 0")


# ---- targets ------------------------------------------------------------------------------------


def _ce_net() -> cr.Network:
    return cr.Network([2, 3], ["softmax"], loss="cross_entropy", seed=0)


@pytest.mark.parametrize("method", ["fit", "loss", "gradients"])
def test_cross_entropy_targets_must_be_distributions(method: str) -> None:
    net = _ce_net()
    before = snapshot(net)
    ones = np.ones((10, 3))  # rows sum to 3
    with pytest.raises(ValueError) as e:
        getattr(net, method)(X, ones)
    _check(e, "distribution", "row 0", "3")
    neg = np.tile([1.5, -0.5, 0.0], (10, 1))  # sums to 1 but has a negative entry
    with pytest.raises(ValueError) as e:
        getattr(net, method)(X, neg)
    _check(e, "distribution", "negative", "-0.5")
    labels = np.arange(10) % 3  # class labels: accepted as their one-hot rows, if in range
    with pytest.raises(ValueError) as e:
        getattr(net, method)(X, labels + 1)
    _check(e, "class label at row 2 is 3", "not in [0, 3)")
    assert_unchanged(net, before)
    # valid one-hot and soft targets and class labels are accepted
    getattr(net, method)(X, np.eye(3)[labels])
    getattr(net, method)(X, np.full((10, 3), 1 / 3))
    getattr(net, method)(X, labels)


def test_binary_cross_entropy_targets_in_unit_interval() -> None:
    net = cr.Network([2, 2], ["sigmoid"], loss="binary_cross_entropy", seed=0)
    before = snapshot(net)
    for bad, shown in [(1.5, "1.5"), (-0.25, "-0.25")]:
        Yb = np.full((10, 2), 0.5)
        Yb[6, 1] = bad
        with pytest.raises(ValueError) as e:
            net.fit(X, Yb)
        _check(e, "[0, 1]", "6", shown)
    assert_unchanged(net, before)


# ---- parameters -----------------------------------------------------------------------------------


def test_setting_weights_of_wrong_shape() -> None:
    net = cr.Network([2, 4, 3, 1], ["tanh", "relu", "linear"], seed=0)
    before = snapshot(net)
    with pytest.raises(ValueError) as e:
        net.weights[1] = np.zeros((3, 4))
    _check(e, "layer 2", "(4, 3)", "(3, 4)")
    with pytest.raises(ValueError) as e:
        net.weights[0] = np.zeros(8)
    _check(e, "layer 1", "(2, 4)", "(8,)")
    with pytest.raises(ValueError) as e:
        net.weights[0] = np.full((2, 4), np.inf)
    _check(e, "layer 1")
    with pytest.raises(TypeError):
        net.weights[0] = np.full((2, 4), "a")
    with pytest.raises(IndexError):
        net.weights[3] = np.zeros((1, 1))
    assert_unchanged(net, before)


def test_setting_biases_of_wrong_shape() -> None:
    net = cr.Network([2, 4, 3, 1], ["tanh", "relu", "linear"], seed=0)
    before = snapshot(net)
    with pytest.raises(ValueError) as e:
        net.biases[2] = np.zeros(3)
    _check(e, "layer 3", "(1,)", "(3,)")
    assert re.search(r"\bbias\b", str(e.value)), f"misspelt parameter name in {e.value!r}"
    with pytest.raises(ValueError) as e:
        net.biases[1] = np.array([0.0, np.nan, 0.0])
    _check(e, "layer 2")
    assert_unchanged(net, before)


# ---- divergence -----------------------------------------------------------------------------------


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
    _check(e, "epoch 1", "initial weights were kept")
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
    _check(e, "epoch 3", "nan")
    twin = cr.Network([2, 4, 1], [NanAfter(), "linear"], seed=0)
    NanAfter.calls = -100
    twin.fit(X, Y, epochs=3, lr=0.1)
    for a, b in zip(snapshot(net), snapshot(twin)):
        np.testing.assert_array_equal(a, b)


# ---- custom activations misbehaving ----------------------------------------------------------------


class Configurable(cr.Activation):
    """tanh that can return a wrong result or raise on request."""

    def __init__(self) -> None:
        self.forward_result: Any = None  # callable z -> result, or None for tanh
        self.derivative_result: Any = None
        self.exc: Any = None
        self.raise_on_forward_call = 0  # raise self.exc on that call (1-based); 0 never
        self.raise_in_derivative = False
        self.forward_calls = 0

    def forward(self, z):
        self.forward_calls += 1
        if self.exc is not None and self.forward_calls == self.raise_on_forward_call:
            raise self.exc
        return np.tanh(z) if self.forward_result is None else self.forward_result(z)

    def derivative(self, z, h):
        if self.exc is not None and self.raise_in_derivative:
            raise self.exc
        return 1 - h * h if self.derivative_result is None else self.derivative_result(z)


WRONG_RESULTS = [
    ("too few columns", lambda z: np.tanh(z)[:, :-1], ValueError, ["(10, 3)", "(10, 4)"]),
    ("transposed", lambda z: np.tanh(z).T.copy(), ValueError, ["(4, 10)", "(10, 4)"]),
    ("scalar", lambda z: 1.0, ValueError, ["(10, 4)"]),
    ("None", lambda z: None, (TypeError, ValueError), []),
    ("strings", lambda z: np.full(z.shape, "a"), TypeError, ["numeric"]),
    ("flattened", lambda z: np.tanh(z).ravel(), ValueError, ["(40,)", "(10, 4)"]),
    ("3-D", lambda z: np.tanh(z).reshape(10, 2, 2), ValueError, ["(10, 2, 2)", "(10, 4)"]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("where", ["forward", "derivative"])
@pytest.mark.parametrize("name,result,exc,parts", WRONG_RESULTS, ids=[w[0] for w in WRONG_RESULTS])
def test_custom_activation_wrong_result(name, result, exc, parts, where, dtype) -> None:
    act = Configurable()
    net = cr.Network([2, 4, 1], [act, "linear"], seed=0, dtype=dtype)
    before = snapshot(net)
    setattr(act, f"{where}_result", result)
    calls = [lambda: net.fit(X, Y, epochs=2), lambda: net.gradients(X, Y)]
    if where == "forward":
        calls.append(lambda: net.predict(X))
    for call in calls:
        with pytest.raises(exc) as e:
            call()
        _check(e, where, *parts)
        assert_unchanged(net, before)
    setattr(act, f"{where}_result", None)
    net.fit(X, Y, epochs=1)  # usable again


def test_custom_activation_error_names_the_layer() -> None:
    act = Configurable()
    act.forward_result = lambda z: np.tanh(z)[:, :-1]
    net = cr.Network([2, 3, 4, 1], ["tanh", act, "linear"], seed=0)
    with pytest.raises(ValueError) as e:
        net.predict(X)
    _check(e, "layer 2", "(10, 3)", "(10, 4)")


class MyError(Exception):
    pass


@pytest.mark.parametrize(
    "exc",
    [MyError("boom"), ZeroDivisionError("no"), KeyError("k"), ValueError("custom value error")],
)
def test_custom_activation_exception_reaches_caller_unchanged_in_predict(exc) -> None:
    act = Configurable()
    act.exc, act.raise_on_forward_call = exc, 2
    net = cr.Network([2, 4, 1], [act, "linear"], seed=0)
    out = net.predict(X)  # call 1
    before = snapshot(net)
    with pytest.raises(type(exc)) as e:
        net.predict(X)  # call 2
    assert e.value is exc
    assert_unchanged(net, before)
    np.testing.assert_array_equal(net.predict(X), out)  # call 3: works again


@pytest.mark.parametrize("batch_size", [None, 4])
def test_custom_activation_exception_in_fit_leaves_consistent_weights(batch_size) -> None:
    # raise on the 5th forward pass: 4 complete steps (full batch: 4 epochs; batches of 4 rows
    # over 10: one epoch of 3 steps and 1 step of the second)
    exc = MyError("in forward")
    act = Configurable()
    act.exc, act.raise_on_forward_call = exc, 5
    net = cr.Network([2, 4, 1], [act, "linear"], seed=0)
    with pytest.raises(MyError) as e:
        net.fit(X, Y, epochs=10, lr=0.1, batch_size=batch_size)
    assert e.value is exc
    got = snapshot(net)
    # consistent: the weights after exactly 4 steps, or those of the last complete epoch
    states = []
    for steps in (4, 3):
        twin = cr.Network([2, 4, 1], [Configurable(), "linear"], seed=0)
        epochs = steps if batch_size is None else 1
        twin.fit(X, Y, epochs=epochs, lr=0.1, batch_size=batch_size)
        if batch_size is not None and steps == 4:
            twin.step(twin.gradients(X[:4], Y[:4]), lr=0.1)
        states.append(snapshot(twin))
    assert any(all(np.array_equal(a, b) for a, b in zip(got, s)) for s in states), (
        "weights after the exception match no batch or epoch boundary"
    )


def test_custom_activation_exception_in_derivative() -> None:
    exc = ZeroDivisionError("derivative failed")
    act = Configurable()
    act.exc, act.raise_in_derivative = exc, True
    net = cr.Network([2, 4, 1], [act, "linear"], seed=0)
    before = snapshot(net)
    with pytest.raises(ZeroDivisionError) as e:
        net.fit(X, Y, epochs=3, lr=0.1)
    assert e.value is exc
    assert_unchanged(net, before)  # failed in the first backward pass, before any update
    with pytest.raises(ZeroDivisionError) as e:
        net.gradients(X, Y)
    assert e.value is exc
    np.testing.assert_array_equal(net.predict(X).shape, (10, 1))


def test_custom_loss_misbehaving() -> None:
    class BadLoss(cr.Loss):
        mode = "ok"

        def value(self, yhat, y):
            if self.mode == "raise":
                raise MyError("loss value")
            return "not a number" if self.mode == "str" else float(np.sum((yhat - y) ** 2))

        def gradient(self, yhat, y):
            return (yhat - y)[:, :0] if self.mode == "shape" else yhat - y

    loss = BadLoss()
    net = cr.Network([2, 4, 1], ["tanh", "linear"], loss=loss, seed=0)
    before = snapshot(net)
    loss.mode = "str"
    with pytest.raises(TypeError) as e:
        net.fit(X, Y, epochs=2)
    _check(e, "value")
    loss.mode = "shape"
    with pytest.raises(ValueError) as e:
        net.fit(X, Y, epochs=2)
    _check(e, "gradient", "(10, 1)")
    loss.mode = "raise"
    with pytest.raises(MyError):
        net.loss(X, Y)
    assert_unchanged(net, before)


def test_incomplete_custom_classes_rejected() -> None:
    class NoForward(cr.Activation):
        def derivative(self, z, h):
            return np.ones_like(z)

    class NoDerivative(cr.Activation):
        def forward(self, z):
            return z

    class NoGradient(cr.Loss):
        def value(self, yhat, y):
            return 0.0

    with pytest.raises(TypeError, match="forward"):
        cr.Network([2, 1], [NoForward()])
    with pytest.raises(TypeError, match="derivative"):
        cr.Network([2, 1], [NoDerivative()])
    with pytest.raises(TypeError, match="gradient"):
        cr.Network([2, 1], ["linear"], loss=NoGradient())


# ---- nothing crashes the interpreter -----------------------------------------------------------------


def test_abuse_does_not_crash_the_interpreter() -> None:
    script = textwrap.dedent("""
        import gc, numpy as np, chainrule as cr
        X = np.random.default_rng(0).normal(size=(6, 2)); Y = np.zeros((6, 1))

        class Weird(cr.Activation):
            def __init__(self, out): self.out = out
            def forward(self, z): return self.out(z)
            def derivative(self, z, h): return self.out(z)

        outs = [lambda z: {}, lambda z: iter([1]), lambda z: np.zeros(10**6),
                lambda z: np.zeros((0, 0)), lambda z: np.zeros(z.shape, dtype=object),
                lambda z: z.astype(np.complex128), lambda z: z[:, ::-1],
                lambda z: np.asfortranarray(np.tanh(z)), lambda z: 1 / 0,
                lambda z: np.zeros(z.shape, dtype=np.int8), lambda z: [[0.0] * z.shape[1]] * len(z)]
        for out in outs:
            for dtype in ("float64", "float32"):
                try:
                    net = cr.Network([2, 3, 1], [Weird(out), "linear"], dtype=dtype, seed=0)
                    net.fit(X, Y, epochs=2)
                    net.predict(X); net.gradients(X, Y)
                except Exception:
                    pass
        net = cr.Network([2, 3, 1], ["tanh", "linear"], seed=0)
        w = net.weights[0]
        del net; gc.collect()
        w[0, 0] = 1.0  # the view keeps its network alive
        for args in [(X, Y, 1, 0.1, 10**9), (X[:1], Y[:1], 3, 0.1, 1)]:
            cr.Network([2, 3, 1], ["tanh", "linear"], seed=0).fit(*args[:2], epochs=args[2],
                                                                   lr=args[3], batch_size=args[4])
        for bad in [np.empty((3, 2))[:, :1], np.zeros((2**31, 0)), X[::2], X.T.copy().T,
                    np.frombuffer(X.tobytes(), dtype=np.float64).reshape(6, 2), memoryview(X)]:
            try:
                cr.Network([2, 3, 1], ["tanh", "linear"], seed=0).predict(bad)
            except Exception:
                pass
        net = cr.Network([2, 3, 1], ["tanh", "linear"], seed=0)
        net.forward(X[:3].copy())
        gc.collect()
        net.backward(Y[:3])
        print("survived")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "survived" in proc.stdout
