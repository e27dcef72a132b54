"""An optimizer's hyper-parameters as the network holds them: NumPy values are taken as numbers
(a model with them saves, pickles and copies), and a change made on ``net.optimizer`` after it
was installed reaches training, the model file and the state alike (torch parity of such
changes: test_optim_torch.py)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr

X = np.random.default_rng(0).normal(size=(32, 3))
Y = X[:, :1] ** 2


def _net(optimizer: cr.Optimizer) -> cr.Network:
    return cr.Network([3, 8, 1], ["tanh", "linear"], seed=0, optimizer=optimizer)


@pytest.mark.parametrize(
    "optimizer",
    [
        cr.SGD(lr=np.float32(0.05), momentum=np.float32(0.5), nesterov=np.bool_(True)),
        cr.Adam(betas=np.array([0.9, 0.99]), eps=np.float64(1e-7)),
        cr.RMSprop(momentum=np.int64(0), centered=np.bool_(False)),
    ],
    ids=["sgd", "adam", "rmsprop"],
)
def test_numpy_hyper_parameters_are_plain_numbers(optimizer: cr.Optimizer, tmp_path) -> None:
    params = optimizer.get_params()
    assert not any(isinstance(v, (np.generic, np.ndarray)) for v in params.values())
    assert all(not isinstance(b, np.generic) for b in params.get("betas", ()))
    net = _net(optimizer)
    net.fit(X, Y, epochs=3)
    net.save(tmp_path / "m.npz")
    for twin in (cr.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert twin.optimizer == net.optimizer
        np.testing.assert_array_equal(twin.predict(X), net.predict(X))


def test_a_change_after_installing_reaches_training_and_the_file(tmp_path) -> None:
    changed = _net(cr.SGD(lr=0.1))
    changed.optimizer.momentum = 0.9  # as torch's param_groups[0]["momentum"] = 0.9
    built = _net(cr.SGD(lr=0.1, momentum=0.9))
    changed.fit(X, Y, epochs=5)
    built.fit(X, Y, epochs=5)
    np.testing.assert_array_equal(changed.weights[0], built.weights[0])
    changed.save(tmp_path / "m.npz")
    back = cr.load(tmp_path / "m.npz")
    assert back.optimizer == cr.SGD(lr=0.1, momentum=0.9)
    for name, arrays in built.get_optimizer_state()["buffers"].items():
        for a, b in zip(back.get_optimizer_state()["buffers"][name], arrays):
            np.testing.assert_array_equal(a, b)
    # step() takes it too, and the state (Adam's moments and step count) carries on
    a, b = _net(cr.Adam(lr=0.01)), _net(cr.Adam(lr=0.01))
    a.fit(X, Y, epochs=2)
    b.fit(X, Y, epochs=2)
    a.optimizer.betas = (0.5, 0.9)
    b_state = b.get_optimizer_state()
    b.optimizer = cr.Adam(lr=0.01, betas=(0.5, 0.9))
    b.set_optimizer_state(b_state)
    a.step(a.gradients(X, Y))
    b.step(b.gradients(X, Y))
    np.testing.assert_array_equal(a.weights[1], b.weights[1])
    assert a.get_optimizer_state()["step"] == 3


@pytest.mark.parametrize(
    "name, value, good, message",
    [
        ("eps", float("nan"), 1e-8, "Adam: eps must be a finite number >= 0, got nan"),
        # lr is not the core optimizer's: it was checked only as fit's or step's argument,
        # and the message did not name the optimizer (nor did save refuse it)
        ("lr", -1, 0.01, "Adam: lr must be a finite number > 0, got -1"),
    ],
)
def test_a_bad_change_raises_where_it_is_used_and_changes_nothing(
    tmp_path, name, value, good, message
) -> None:
    net = _net(cr.Adam(lr=0.01))
    net.fit(X, Y, epochs=2)
    weights = [np.array(w) for w in net.weights]
    state = net.get_optimizer_state()
    setattr(net.optimizer, name, value)
    for call in (
        lambda: net.fit(X, Y, epochs=1),
        lambda: net.step(net.gradients(X, Y)),
        lambda: net.save(tmp_path / "m.npz"),
        net.get_optimizer_state,
    ):
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) == message
    assert not (tmp_path / "m.npz").exists()
    setattr(net.optimizer, name, good)  # put right: training goes on from the same state
    assert all(np.array_equal(w, w0) for w, w0 in zip(net.weights, weights))
    after = net.get_optimizer_state()
    assert after["step"] == state["step"] == 2
    for name, arrays in state["buffers"].items():
        assert all(np.array_equal(x, y) for x, y in zip(after["buffers"][name], arrays))
    net.optimizer.betas = "fast"
    with pytest.raises(TypeError, match="betas must be a pair"):
        net.fit(X, Y, epochs=1)
