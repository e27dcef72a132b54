"""A built-in activation, loss or layer that a network was built from is fixed from then on: the
core keeps its own copy of the parameters, so an edit would show in repr, save and pickle but
not in what the network computes. Before any network holds it, an edit is an ordinary one."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr

X = np.random.default_rng(0).normal(size=(30, 3))


def test_an_activation_a_network_holds_cannot_change():
    act = cr.LeakyReLU(0.01)
    net = cr.Network([3, 8, 1], [act, "linear"], seed=0)
    before = net.predict(X)
    with pytest.raises(AttributeError, match=r"LeakyReLU\(alpha=0.01\).*alpha cannot change"):
        act.alpha = 0.5
    with pytest.raises(AttributeError, match="alpha cannot change"):
        net.activations[0].alpha = 0.5
    assert act.alpha == 0.01 and repr(net.layer_configs[0]) == "Dense(8, LeakyReLU(alpha=0.01))"
    np.testing.assert_array_equal(net.predict(X), before)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(back.predict(X), before)


def test_a_loss_and_a_layer_a_network_holds_cannot_change():
    loss = cr.losses.Huber(1.0)
    net = cr.Network([3, cr.layers.Dense(4, "tanh", l2=0.01), 1], loss=loss, seed=0)
    with pytest.raises(AttributeError, match="delta cannot change"):
        loss.delta = 0.1
    with pytest.raises(AttributeError, match="l2 cannot change"):
        net.layer_configs[0].l2 = 0.5
    with pytest.raises(AttributeError, match="cannot change"):
        net.layer_configs[0].activation.name = "relu"


def test_an_edit_before_any_network_holds_it_is_what_the_network_computes(tmp_path):
    act = cr.LeakyReLU(0.01)
    act.alpha = 0.5
    net = cr.Network([3, 8, 1], [act, "linear"], seed=0)
    ref = cr.Network([3, 8, 1], [cr.LeakyReLU(0.5), "linear"], seed=0)
    np.testing.assert_array_equal(net.predict(X), ref.predict(X))
    net.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(cr.load(tmp_path / "m.npz").predict(X), ref.predict(X))


def test_a_copy_of_a_held_activation_builds_another_network():
    act = cr.LeakyReLU(0.2)
    cr.Network([3, 8, 1], [act, "linear"], seed=0)
    twin = copy.deepcopy(act)
    assert twin == act
    net = cr.Network([3, 8, 1], [twin, "linear"], seed=1)
    assert net.activations[0] == cr.LeakyReLU(0.2)
    with pytest.raises(AttributeError):
        twin.alpha = 0.3


def test_a_custom_activation_stays_editable():
    """A user's own activation runs its Python code, which reads the edit."""

    class Scaled(cr.Activation):
        def __init__(self, k: float = 1.0) -> None:
            self.k = k

        def forward(self, z):
            return self.k * z

        def derivative(self, z, h):
            return np.full_like(z, self.k)

    act = Scaled(1.0)
    net = cr.Network([3, 2], [act], seed=0)
    one = net.predict(X)
    act.k = 2.0
    np.testing.assert_allclose(net.predict(X), 2 * one, rtol=1e-15)
