"""User-defined activations and losses that misbehave (results of the wrong shape, type or
values, exceptions in forward or derivative, incomplete classes): a clear error naming the layer,
the user's own exception unchanged, and weights left consistent."""

from __future__ import annotations

from typing import Any, List

import numpy as np
import pytest
from bad_input import X, Y, assert_message
from conftest import assert_unchanged, snapshot

import chainrule as cr


class Configurable(cr.Activation):
    """tanh that can return a wrong result or raise on request."""

    def __init__(self) -> None:
        self.forward_result: Any = None  # callable z -> result, or None for tanh
        self.derivative_result: Any = None
        self.exc: Any = None
        self.raise_on_forward_call = 0  # raise self.exc on that call (1-based); 0 never
        self.raise_in_derivative = False
        self.raise_on_derivative_call = 0  # raise self.exc on that call (1-based); 0 never
        self.forward_calls = 0
        self.derivative_calls = 0

    def forward(self, z):
        self.forward_calls += 1
        if self.exc is not None and self.forward_calls == self.raise_on_forward_call:
            raise self.exc
        return np.tanh(z) if self.forward_result is None else self.forward_result(z)

    def derivative(self, z, h):
        self.derivative_calls += 1
        if self.exc is not None and (
            self.raise_in_derivative or self.derivative_calls == self.raise_on_derivative_call
        ):
            raise self.exc
        return 1 - h * h if self.derivative_result is None else self.derivative_result(z)


WRONG_RESULTS = [
    ("too few columns", lambda z: np.tanh(z)[:, :-1], ValueError, ["(10, 3)", "(10, 4)"]),
    ("transposed", lambda z: np.tanh(z).T.copy(), ValueError, ["(4, 10)", "(10, 4)"]),
    ("scalar", lambda z: 1.0, ValueError, ["(10, 4)"]),
    ("None", lambda z: None, TypeError, ["returned None", "(10, 4)", "a missing return?"]),
    ("strings", lambda z: np.full(z.shape, "a"), TypeError, ["numeric"]),
    # (NumPy would cast it to its real part with a warning only)
    ("complex", lambda z: np.tanh(z) + 0j, TypeError, ["real values", "dtype complex"]),
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
        assert_message(e, where, *parts)
        assert_unchanged(net, before)
    setattr(act, f"{where}_result", None)
    net.fit(X, Y, epochs=1)  # usable again


def test_custom_activation_error_names_the_layer() -> None:
    act = Configurable()
    act.forward_result = lambda z: np.tanh(z)[:, :-1]
    net = cr.Network([2, 3, 4, 1], ["tanh", act, "linear"], seed=0)
    with pytest.raises(ValueError) as e:
        net.predict(X)
    assert_message(e, "layer 2", "(10, 3)", "(10, 4)")


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


@pytest.mark.parametrize("hidden", [[4], [5, 4]], ids=["2-layers", "3-layers"])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_custom_activation_exception_in_derivative_mid_fit_leaves_a_step_boundary(
    hidden, batch_size
) -> None:
    """Plain SGD, whose update the core's activations let it fuse into the backward pass
    (each layer updated once its gradient is made): the first layer's derivative raises in the
    third step, after the layers above it have their gradients; the weights are those after two
    whole steps, not the third step's update of the upper layers alone."""
    exc = MyError("in derivative")
    act = Configurable()
    act.exc, act.raise_on_derivative_call = exc, 3
    acts = [act] + ["tanh"] * (len(hidden) - 1) + ["linear"]
    net = cr.Network([2, *hidden, 1], acts, seed=0)
    with pytest.raises(MyError) as e:
        net.fit(X, Y, epochs=5, lr=0.1, batch_size=batch_size)
    assert e.value is exc
    twin = cr.Network([2, *hidden, 1], [Configurable()] + acts[1:], seed=0)
    if batch_size is None:
        twin.fit(X, Y, epochs=2, lr=0.1)
    else:  # rows 0-3, then 4-7
        twin.fit(X[:8], Y[:8], epochs=1, lr=0.1, batch_size=batch_size)
    assert_unchanged(net, snapshot(twin))


def test_custom_loss_misbehaving() -> None:
    class BadLoss(cr.Loss):
        mode = "ok"

        def value(self, yhat, y):
            if self.mode == "raise":
                raise MyError("loss value")
            return "not a number" if self.mode == "str" else float(np.sum((yhat - y) ** 2))

        def gradient(self, yhat, y):
            if self.mode == "complex":
                return 1j * (yhat - y)
            return (yhat - y)[:, :0] if self.mode == "shape" else yhat - y

    loss = BadLoss()
    net = cr.Network([2, 4, 1], ["tanh", "linear"], loss=loss, seed=0)
    before = snapshot(net)
    loss.mode = "str"
    with pytest.raises(TypeError) as e:
        net.fit(X, Y, epochs=2)
    assert_message(e, "value")
    loss.mode = "shape"
    with pytest.raises(ValueError) as e:
        net.fit(X, Y, epochs=2)
    assert_message(e, "gradient", "(10, 1)")
    loss.mode = "complex"
    with pytest.raises(TypeError) as e:
        net.fit(X, Y, epochs=2)
    assert_message(e, "gradient must return real values", "complex128")
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


def test_an_exception_inside_gradient_check_leaves_the_model_as_it_was() -> None:
    # raised in a perturbed pass (the 5th forward call: W1[0, 1] + eps): that parameter goes
    # back, and so does the count of training passes (the dropout stream's key)
    act = Configurable()
    net = cr.Network([2, cr.Dense(4, act), cr.Dropout(0.3), cr.Dense(1, "linear")], seed=0)
    before, stream = snapshot(net), net.get_dropout_state()
    act.exc, act.raise_on_forward_call = MyError("in a perturbed pass"), 5
    with pytest.raises(MyError):
        net.gradient_check(X, Y)
    assert_unchanged(net, before)
    assert net.get_dropout_state() == stream
    act.exc = None
    assert net.gradient_check(X, Y) < 1e-6
    assert net.get_dropout_state() == stream


def _bn_net(act: cr.Activation) -> cr.Network:
    layers = [cr.Dense(6, "tanh"), cr.BatchNorm(), cr.Dropout(0.2), cr.Dense(1, act)]
    return cr.Network([3, *layers], seed=0)


def _state(net: cr.Network) -> List[np.ndarray]:
    return snapshot(net) + [np.array(b, copy=True) for b in net.buffers.values()]


@pytest.mark.parametrize("call", ["forward", "gradients", "fit"])
def test_an_activation_raising_after_batch_norm_leaves_its_running_statistics(call) -> None:
    """BatchNorm's forward pass moves its running statistics before the layers above run:
    an extension raising there left them moved (and the dropout stream on), so the model
    differed from one that never made the call. In fit, the model is the one after the
    steps that ran, as if the fit had stopped there."""
    rng = np.random.default_rng(3)
    X3, Y1 = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    act = Configurable()
    net, twin = _bn_net(act), _bn_net(Configurable())
    if call == "fit":  # raise in the third step's forward pass: two steps ran
        act.exc, act.raise_on_forward_call = MyError("in step 3"), 3
        twin.fit(X3[:20], Y1[:20], epochs=1, batch_size=10, shuffle=False)
    else:
        act.exc, act.raise_on_forward_call = MyError("in the pass"), 1
    with pytest.raises(MyError):
        if call == "fit":
            net.fit(X3, Y1, epochs=1, batch_size=10, shuffle=False)
        else:
            net.forward(X3) if call == "forward" else net.gradients(X3, Y1)
    for a, b in zip(_state(net), _state(twin)):
        np.testing.assert_array_equal(a, b)
    assert net.get_dropout_state() == twin.get_dropout_state()
    act.exc = None  # and the next pass draws what the twin's draws
    net.forward(X3)
    twin.forward(X3)
    np.testing.assert_array_equal(net.layers[2].mask, twin.layers[2].mask)
    np.testing.assert_array_equal(net.buffers["running_mean2"], twin.buffers["running_mean2"])
