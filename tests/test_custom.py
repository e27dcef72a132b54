"""Activations and losses written in Python: any layer, both dtypes, checked against the
reference and finite differences; built-in activation objects."""

from __future__ import annotations

from typing import Any, List

import numpy as np
import pytest
import reference as ref
from conftest import ALL_ACTIVATIONS, assert_close, make_data, ref_activation, rtol_for, snapshot

import chainrule as cr
from chainrule import _registry

DTYPES = ["float64", "float32"]


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---- the maths, once; wrapped both as chainrule activations and as reference activations -------


def cube(z):
    return z**3  # h = z^3


def cube_d(z, h):
    return 3 * z**2  # h' = 3 z^2


def swish(beta):
    return lambda z: z * _sig(beta * z)  # h = z s(beta z)


def swish_d(beta):
    # h' = s(bz) + b z s(bz) (1 - s(bz))
    return lambda z, h: _sig(beta * z) + beta * z * _sig(beta * z) * (1 - _sig(beta * z))


def rownorm(z):
    # not element-wise: h = z / sqrt(1 + |z_row|^2)
    return z / np.sqrt(1 + np.sum(z * z, axis=1, keepdims=True))


def rownorm_backward(z, h, dh):
    # dz = dh / s - z <z, dh> / s^3, s = sqrt(1 + |z|^2)
    s = np.sqrt(1 + np.sum(z * z, axis=1, keepdims=True))
    return dh / s - z * np.sum(z * dh, axis=1, keepdims=True) / s**3


class Cube(cr.Activation):
    name = "cube"

    def forward(self, z):
        return cube(z)

    def derivative(self, z, h):
        return cube_d(z, h)


class Swish(cr.Activation):
    def __init__(self, beta: float) -> None:
        self.beta = beta

    def forward(self, z):
        return swish(self.beta)(z)

    def derivative(self, z, h):
        return swish_d(self.beta)(z, h)

    def get_params(self):
        return {"beta": self.beta}


class RowNorm(cr.Activation):
    name = "rownorm"

    def forward(self, z):
        return rownorm(z)

    def backward(self, z, h, dh):
        return rownorm_backward(z, h, dh)


class RefRowNorm:
    def forward(self, z):
        return rownorm(z)

    def backward(self, z, h, dh):
        return rownorm_backward(z, h, dh)


def ref_of(act: Any) -> Any:
    if isinstance(act, Cube):
        return ref.Elementwise("cube", cube, cube_d)
    if isinstance(act, Swish):
        return ref.Elementwise("swish", swish(act.beta), swish_d(act.beta))
    if isinstance(act, RowNorm):
        return RefRowNorm()
    return ref_activation(act)


def _customs() -> List[Any]:
    return [Cube(), Swish(1.7), RowNorm()]


CUSTOM_IDS = ["cube", "swish", "rownorm"]


def _architectures(custom: Any) -> List[List[Any]]:
    """The custom activation in the first layer, the middle layer, the output layer, and all."""
    return [
        [custom, "tanh", "linear"],
        ["elu", custom, "linear"],
        ["tanh", "gelu", custom],
        [custom, custom, custom],
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("position", range(4))
@pytest.mark.parametrize("k", range(3), ids=CUSTOM_IDS)
def test_custom_activation_matches_reference(k: int, position: int, dtype: str) -> None:
    acts = _architectures(_customs()[k])[position]
    sizes = [3, 6, 5, 2]
    # cube in every layer is z^27: small inputs keep it tame
    X, Y = make_data(
        sizes, "mse", n=30, seed=k + 10 * position, x_scale=0.3 if position == 3 else 0.7
    )
    Xr, Yr = X.astype(dtype).astype(np.float64), Y.astype(dtype).astype(np.float64)
    net = cr.Network(sizes, acts, dtype=dtype, seed=position)
    Ws = [np.array(W, np.float64) for W in net.weights]
    bs = [np.array(b, np.float64) for b in net.biases]
    racts = [ref_of(a) for a in acts]
    rtol = rtol_for(dtype)
    value, dZs, dWs, dbs, _ = ref.gradients(Ws, bs, racts, "mse", Xr, Yr)
    _, Hs = ref.forward(Ws, bs, racts, Xr)
    assert_close(net.predict(X), Hs[-1], rtol, "predict")
    grads = net.gradients(X, Y)
    assert_close(grads.loss, value, rtol, "loss")
    for l, g in enumerate(grads):
        assert_close(g.dW, dWs[l], rtol, f"layer {l + 1} dW")
        assert_close(g.db, dbs[l], rtol, f"layer {l + 1} db")
        assert_close(g.dZ, dZs[l], rtol, f"layer {l + 1} dZ")
    # and 30 training steps
    lr = 0.05
    eW, eb, eh = ref.train(Ws, bs, racts, "mse", Xr, Yr, epochs=30, lr=lr)
    h = net.fit(X, Y, epochs=30, lr=lr)
    assert eh[-1] < eh[0]
    assert_close(np.array(h.loss), np.array(eh), rtol, "loss history")
    for l in range(3):
        assert_close(net.weights[l], eW[l], rtol, f"W{l + 1}")
    if dtype == "float64":
        assert net.gradient_check(X, Y) < 1e-7
    else:  # float32 finite differences are coarse, but a wrong derivative gives O(1)
        assert net.gradient_check(X, Y) < 2e-2


@pytest.mark.parametrize("k", range(3), ids=CUSTOM_IDS)
def test_gradient_check_catches_a_wrong_derivative(k: int) -> None:
    # the oracle itself must be able to fail: a derivative off by a factor 1.5
    class Wrong(type(_customs()[k])):  # type: ignore[misc]
        def derivative(self, z, h):
            return 1.5 * super().derivative(z, h)

        def backward(self, z, h, dh):
            return 1.5 * super().backward(z, h, dh)

    act = Wrong(1.7) if k == 1 else Wrong()
    X, Y = make_data([3, 4, 2], "mse", n=20, seed=3, x_scale=0.7)
    net = cr.Network([3, 4, 2], [act, "linear"], seed=1)
    errs = net.gradient_check(X, Y, per_tensor=True)
    assert errs["W2"] < 1e-7 and errs["b2"] < 1e-7  # the layer above is unaffected
    assert errs["W1"] > 0.1 and errs["b1"] > 0.1


def test_custom_softmax_via_backward_equals_builtin() -> None:
    class MySoftmax(cr.Activation):
        def forward(self, z):
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        def backward(self, z, h, dh):
            return h * (dh - np.sum(dh * h, axis=1, keepdims=True))

    sizes = [4, 6, 5, 3]
    X, Y = make_data(sizes, "mse", n=25, seed=2)
    a = cr.Network(sizes, ["tanh", MySoftmax(), MySoftmax()], seed=6)
    b = cr.Network(sizes, ["tanh", "softmax", "softmax"], seed=6)
    for ga, gb in zip(a.gradients(X, Y), b.gradients(X, Y)):
        assert_close(ga.dW, gb.dW, 1e-12, "dW")
        assert_close(ga.dZ, gb.dZ, 1e-12, "dZ")
    ha, hb = a.fit(X, Y, epochs=50, lr=0.5), b.fit(X, Y, epochs=50, lr=0.5)
    assert_close(np.array(ha.loss), np.array(hb.loss), 1e-12, "history")
    for Wa, Wb in zip(a.weights, b.weights):
        assert_close(Wa, Wb, 1e-12, "W")


@pytest.mark.parametrize("dtype", DTYPES)
def test_custom_activation_receives_fresh_arrays_of_the_network_dtype(dtype: str) -> None:
    seen = []

    class Vandal(cr.Activation):
        """tanh that scribbles over its inputs after use."""

        def forward(self, z):
            seen.append(z.dtype)
            h = np.tanh(z)
            z[...] = 1e6
            return h

        def derivative(self, z, h):
            seen.append((z.dtype, h.dtype))
            d = 1 - h * h
            z[...] = -1e6
            h[...] = 1e6
            return d

    class Tidy(cr.Activation):
        def forward(self, z):
            return np.tanh(z)

        def derivative(self, z, h):
            return 1 - h * h

    X, Y = make_data([3, 5, 2], "mse", n=12, seed=0)
    a = cr.Network([3, 5, 2], [Vandal(), "linear"], dtype=dtype, seed=3)
    b = cr.Network([3, 5, 2], [Tidy(), "linear"], dtype=dtype, seed=3)
    for ga, gb in zip(a.gradients(X, Y), b.gradients(X, Y)):
        np.testing.assert_array_equal(ga.dW, gb.dW)
        np.testing.assert_array_equal(ga.dZ, gb.dZ)
    a.fit(X, Y, epochs=5, lr=0.1)
    b.fit(X, Y, epochs=5, lr=0.1)
    for p, q in zip(snapshot(a), snapshot(b)):
        np.testing.assert_array_equal(p, q)
    dt = np.dtype(dtype)
    assert seen and all(s == dt or s == (dt, dt) for s in seen), seen


# ---- custom losses ------------------------------------------------------------------------------


class PyMSE(cr.Loss):
    def value(self, yhat, y):
        return float(np.sum((yhat - y) ** 2) / (2 * y.shape[0]))  # ||Yhat - Y||^2 / (2m)

    def gradient(self, yhat, y):
        return yhat - y  # m dL/dYhat


class Huber(cr.Loss):
    def __init__(self, delta: float = 0.5) -> None:
        self.delta = delta

    def value(self, yhat, y):
        r = np.abs(yhat - y)
        q = np.where(r <= self.delta, 0.5 * r**2, self.delta * (r - 0.5 * self.delta))
        return float(np.sum(q) / y.shape[0])

    def gradient(self, yhat, y):
        return np.clip(yhat - y, -self.delta, self.delta)


class PyCrossEntropy(cr.Loss):
    """-sum(Y log Yhat) / m with the unfused gradient -Y / Yhat."""

    def value(self, yhat, y):
        return float(-np.sum(y * np.log(yhat)) / y.shape[0])

    def gradient(self, yhat, y):
        return -y / yhat


@pytest.mark.parametrize("batch_size", [None, 7])
def test_custom_mse_equals_builtin_mse(batch_size) -> None:
    sizes = [2, 10, 8, 5, 1]
    acts = ["relu", "tanh", "relu", "linear"]
    from chainrule.demo import make_data as demo_data

    X, Y = demo_data()
    a = cr.Network(sizes, acts, loss=PyMSE(), seed=42)
    b = cr.Network(sizes, acts, loss="mse", seed=42)
    assert_close(a.loss(X, Y), b.loss(X, Y), 1e-12, "loss")
    ga, gb = a.gradients(X, Y), b.gradients(X, Y)
    assert_close(ga.loss, gb.loss, 1e-12, "gradients loss")
    for l, (p, q) in enumerate(zip(ga, gb), start=1):
        assert_close(p.dW, q.dW, 1e-12, f"layer {l} dW")
        assert_close(p.db, q.db, 1e-12, f"layer {l} db")
        assert_close(p.dZ, q.dZ, 1e-12, f"layer {l} dZ")
    ha = a.fit(X, Y, epochs=100, lr=0.01, batch_size=batch_size)
    hb = b.fit(X, Y, epochs=100, lr=0.01, batch_size=batch_size)
    assert_close(np.array(ha.loss), np.array(hb.loss), 1e-12, "history")
    for p, q in zip(snapshot(a), snapshot(b)):
        assert_close(p, q, 1e-12, "parameters", scale=max(1.0, np.max(np.abs(q))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_huber_loss_matches_reference(dtype: str) -> None:
    sizes = [3, 6, 2]
    acts = ["silu", "linear"]
    X, Y = make_data(sizes, "mse", n=40, seed=5)
    Y *= 3  # residuals on both sides of delta
    loss = Huber(0.5)
    net = cr.Network(sizes, acts, loss=loss, dtype=dtype, seed=2)
    Ws = [np.array(W, np.float64) for W in net.weights]
    bs = [np.array(b, np.float64) for b in net.biases]
    Xr, Yr = X.astype(dtype).astype(np.float64), Y.astype(dtype).astype(np.float64)
    racts = [ref_activation(a) for a in acts]
    value, dZs, dWs, dbs, _ = ref.gradients(Ws, bs, racts, loss, Xr, Yr)
    g = net.gradients(X, Y)
    rtol = rtol_for(dtype)
    assert_close(g.loss, value, rtol, "loss")
    for l in range(2):
        assert_close(g[l].dW, dWs[l], rtol, f"layer {l + 1} dW")
        assert_close(g[l].db, dbs[l], rtol, f"layer {l + 1} db")
    eW, eb, eh = ref.train(Ws, bs, racts, loss, Xr, Yr, epochs=40, lr=0.1, batch_size=15)
    h = net.fit(X, Y, epochs=40, lr=0.1, batch_size=15)
    assert_close(np.array(h.loss), np.array(eh), rtol, "history")
    for l in range(2):
        assert_close(net.weights[l], eW[l], rtol, f"W{l + 1}")
    # and Huber differs from MSE here (or the comparison above would prove little)
    assert abs(cr.Network(sizes, acts, loss="mse", dtype=dtype, seed=2).loss(X, Y) - value) > 0.1


def test_custom_unfused_cross_entropy_equals_builtin_fused() -> None:
    sizes = [4, 7, 3]
    X, Y = make_data(sizes, "cross_entropy", n=30, seed=8)
    a = cr.Network(sizes, ["tanh", "softmax"], loss=PyCrossEntropy(), seed=4)
    b = cr.Network(sizes, ["tanh", "softmax"], loss="cross_entropy", seed=4)
    assert_close(a.loss(X, Y), b.loss(X, Y), 1e-12, "loss")
    for p, q in zip(a.gradients(X, Y), b.gradients(X, Y)):
        assert_close(p.dW, q.dW, 1e-12, "dW")
        assert_close(p.db, q.db, 1e-12, "db")
    ha, hb = a.fit(X, Y, epochs=50, lr=0.3), b.fit(X, Y, epochs=50, lr=0.3)
    assert_close(np.array(ha.loss), np.array(hb.loss), 1e-12, "history")


def test_custom_loss_receives_network_outputs() -> None:
    calls = []

    class Spy(PyMSE):
        def value(self, yhat, y):
            calls.append((yhat.copy(), y.copy()))
            return super().value(yhat, y)

    X, Y = make_data([3, 4, 2], "mse", n=9, seed=1)
    net = cr.Network([3, 4, 2], ["tanh", "sigmoid"], loss=Spy(), seed=0)
    expected = net.predict(X)
    net.loss(X, Y)
    yhat, y = calls[-1]
    np.testing.assert_array_equal(yhat, expected)
    np.testing.assert_array_equal(y, Y)


def test_custom_objects_are_shown_in_summary() -> None:
    net = cr.Network([3, 4, 2], [Swish(1.7), Cube()], loss=Huber(), seed=0)
    s = net.summary()
    assert "Swish(beta=1.7)" in s and "Cube()" in s and "Huber(delta=0.5)" in s


# ---- built-in activation objects ------------------------------------------------------------------


def test_builtin_objects_repr_and_params() -> None:
    assert repr(cr.LeakyReLU(alpha=0.2)) == "LeakyReLU(alpha=0.2)"
    assert repr(cr.LeakyReLU()) == "LeakyReLU(alpha=0.01)"
    assert repr(cr.ELU(alpha=0.5)) == "ELU(alpha=0.5)"
    assert repr(cr.Tanh()) == "Tanh()"
    assert cr.LeakyReLU(alpha=0.2) == cr.LeakyReLU(alpha=0.2) != cr.LeakyReLU(alpha=0.3)
    assert cr.LeakyReLU(alpha=0.2).get_params() == {"alpha": 0.2}


@pytest.mark.parametrize("dtype", DTYPES)
def test_builtin_object_with_parameter_in_a_network(dtype: str) -> None:
    sizes = [3, 6, 5, 2]
    acts = [cr.LeakyReLU(alpha=0.2), cr.ELU(alpha=0.5), "linear"]
    X, Y = make_data(sizes, "mse", n=30, seed=3)
    net = cr.Network(sizes, acts, dtype=dtype, seed=1)
    assert "LeakyReLU(alpha=0.2)" in net.summary()
    Ws = [np.array(W, np.float64) for W in net.weights]
    bs = [np.array(b, np.float64) for b in net.biases]
    racts = [
        ref.activation("leaky_relu", alpha=0.2),
        ref.activation("elu", alpha=0.5),
        ref.activation("linear"),
    ]
    Xr, Yr = X.astype(dtype).astype(np.float64), Y.astype(dtype).astype(np.float64)
    value, dZs, dWs, dbs, _ = ref.gradients(Ws, bs, racts, "mse", Xr, Yr)
    g = net.gradients(X, Y)
    for l in range(3):
        assert_close(g[l].dW, dWs[l], rtol_for(dtype), f"layer {l + 1} dW")
    # alpha matters: the default LeakyReLU gives different gradients
    other = cr.Network(sizes, ["leaky_relu", cr.ELU(alpha=0.5), "linear"], dtype=dtype, seed=1)
    assert not np.allclose(other.gradients(X, Y)[0].dW, g[0].dW, rtol=1e-3, atol=0)


# every built-in activation as an object (from the registry), the parameterised ones off
# their defaults too
BUILTIN_OBJECTS = [cr.activations.resolve_activation(a) for a in ALL_ACTIVATIONS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", BUILTIN_OBJECTS, ids=repr)
def test_builtin_object_methods_match_reference(act: cr.Activation, dtype: str) -> None:
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(7, 5)) * 3).astype(dtype)
    z[0, 0] = 0.0
    dh = rng.normal(size=(7, 5)).astype(dtype)
    r = ref_activation(act)
    z64 = z.astype(np.float64)
    h = act(z)
    assert h.dtype == np.dtype(dtype) and h.shape == z.shape
    assert_close(h, r.forward(z64), rtol_for(dtype), f"{act!r} forward")
    dz = act.backward(z, h, dh)
    assert_close(
        dz,
        r.backward(z64, r.forward(z64), dh.astype(np.float64)),
        rtol_for(dtype),
        f"{act!r} backward",
    )
    if _registry.ACTIVATIONS[act.name].properties["elementwise"]:  # softmax's is a JVP
        d = act.derivative(z, h)
        assert_close(
            d,
            r.backward(z64, r.forward(z64), np.ones_like(z64)),
            rtol_for(dtype),
            f"{act!r} derivative",
        )
