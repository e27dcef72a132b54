"""A user's activation whose name is a built-in's (a class named Sigmoid, or name = "relu") is
still the user's: a loss fused with the built-in refuses it rather than skip its forward, and
neither He initialisation nor the diagnostics' dead and saturation counts, which the built-ins'
registry entries declare, apply to it."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.initializers import initializer_for

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 3))
Y_BIN = (X[:, :1] > 0).astype(float)
Y_CLASS = np.eye(3)[np.argmax(X, axis=1)]


class Sigmoid(cr.Activation):
    """A sigmoid with a temperature: its name (from the class) is the built-in's."""

    def __init__(self, t: float = 0.5) -> None:
        self.t = t

    def forward(self, z):
        return 1 / (1 + np.exp(-z / self.t))

    def derivative(self, z, h):
        return h * (1 - h) / self.t


class MySoftmax(cr.Activation):
    name = "softmax"

    def forward(self, z):
        e = np.exp(2 * (z - z.max(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)

    def backward(self, z, h, dh):
        return 2 * h * (dh - (dh * h).sum(axis=1, keepdims=True))


class Cube(cr.Activation):
    name = "relu"  # a misleading name: neither He init nor the dead-unit count

    def forward(self, z):
        return z**3

    def derivative(self, z, h):
        return 3 * z**2


class Bounded(cr.Activation):
    name = "tanh"  # z / 2: not bounded by +-1

    def forward(self, z):
        return z / 2

    def derivative(self, z, h):
        return np.full_like(z, 0.5)


@pytest.mark.parametrize(
    "act, loss",
    [(Sigmoid(0.5), "binary_cross_entropy"), (MySoftmax(), "cross_entropy")],
    ids=["sigmoid", "softmax"],
)
def test_a_fused_loss_refuses_a_custom_activation_of_its_name(act, loss):
    outputs = 1 if loss == "binary_cross_entropy" else 3
    with pytest.raises(ValueError, match="needs the built-in .* a custom activation"):
        cr.Network([3, 4, outputs], ["tanh", act], loss=loss, seed=0)


def test_the_custom_sigmoid_trains_with_a_loss_that_calls_it():
    """With a loss that is not fused (mse), the user's forward is what the loss sees, and the
    gradients agree with finite differences."""
    net = cr.Network([3, 4, 1], ["tanh", Sigmoid(0.5)], loss="mse", seed=0)
    H = net.predict(X)
    # mse: sum((H - Y)^2) / (2 m)
    np.testing.assert_allclose(net.loss(X, Y_BIN), np.mean((H - Y_BIN) ** 2) / 2, rtol=1e-12)
    assert net.gradient_check(X, Y_BIN) < 1e-6


def test_no_he_initialisation_for_a_custom_relu():
    assert initializer_for("auto", Cube(), 1).__name__ == "xavier_normal"
    assert initializer_for("auto", cr.activations.ReLU(), 1).__name__ == "he_normal"
    custom = cr.Network([3, 4, 1], [Cube(), "linear"], seed=0)
    xavier = cr.Network([3, 4, 1], ["tanh", "linear"], seed=0)  # tanh: Xavier too
    np.testing.assert_array_equal(custom.weights[0], xavier.weights[0])


def test_diagnostics_apply_no_builtin_properties_to_a_custom_activation():
    net = cr.Network([3, 6, 1], [Cube(), "linear"], seed=0)
    r = net.diagnose(X, X[:, :1])
    assert r[1]["dead_fraction"] is None
    net = cr.Network([3, 6, 1], [Bounded(), "linear"], seed=0)
    net.weights[0] = np.full((3, 6), 10.0)  # |z / 2| far beyond 1: the built-in would saturate
    r = net.diagnose(X, X[:, :1])
    assert r[1]["saturated_fraction"] is None
    builtin = cr.Network([3, 6, 1], ["tanh", "linear"], seed=0)
    builtin.weights[0] = np.full((3, 6), 10.0)
    assert builtin.diagnose(X, X[:, :1])[1]["saturated_fraction"] > 0
