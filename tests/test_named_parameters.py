"""The named parameter list: what everything that walks a model iterates (save/load, the
optimizer state, early stopping, the data-parallel broadcast, the exports)."""

import io
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.parameters import parameter_layout


def _net(**kw):
    return cr.Network([3, 5, 4, 2], ["tanh", "relu", "linear"], seed=0, **kw)


def test_names_shapes_and_live_views():
    net = _net()
    assert list(net.parameters) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [(k, v.shape) for k, v in net.parameters.items()] == parameter_layout(net.layer_sizes)
    assert (
        net.n_params
        == sum(v.size for v in net.parameters.values())
        == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    )
    W1 = net.parameters["W1"]
    assert np.shares_memory(W1, net.weights[0]) and np.shares_memory(
        net.parameters["b3"], net.biases[2]
    )
    W1[0, 0] = 0.25  # a live view: the network sees it
    assert net.weights[0][0, 0] == 0.25
    net.parameters["b2"] = [1, 2, 3, 4]  # assignment copies in after checks
    np.testing.assert_array_equal(net.biases[1], [1, 2, 3, 4])


def test_assignment_is_checked_and_changes_nothing_on_error():
    net = _net()
    before = {k: np.array(v) for k, v in net.parameters.items()}
    with pytest.raises(ValueError, match=r"parameter W2 must have shape \(5, 4\), got \(4, 5\)"):
        net.parameters["W2"] = np.zeros((4, 5))
    with pytest.raises(ValueError, match="parameter b1 contains NaN or inf"):
        net.parameters["b1"] = np.full(5, np.nan)
    with pytest.raises(TypeError, match="must be a real numeric array"):
        net.parameters["b1"] = np.array(["a"] * 5)
    with pytest.raises(KeyError, match="no parameter 'W9'; the network has W1, b1, W2"):
        net.parameters["W9"]
    for k, v in net.parameters.items():
        np.testing.assert_array_equal(v, before[k])


def test_gradient_check_per_tensor_uses_the_names():
    net = _net()
    X = np.random.default_rng(0).normal(size=(6, 3))
    Y = np.random.default_rng(1).normal(size=(6, 2))
    errors = net.gradient_check(X, Y, per_tensor=True)
    assert list(errors) == list(net.parameters) and max(errors.values()) < 1e-6


def test_optimizer_state_by_parameter_name(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 3))
    Y = np.random.default_rng(1).normal(size=(20, 2))
    net = _net(optimizer="adam")
    net.fit(X, Y, epochs=3, batch_size=5)
    state = net.get_optimizer_state()
    # set_optimizer_state takes each buffer as a list in parameter order or a dict by name
    by_name = dict(
        state,
        buffers={b: dict(zip(net.parameters, arrays)) for b, arrays in state["buffers"].items()},
    )
    twin = _net(optimizer="adam")
    twin.set_optimizer_state(by_name)
    for b, arrays in twin.get_optimizer_state()["buffers"].items():
        for got, want in zip(arrays, state["buffers"][b]):
            np.testing.assert_array_equal(got, want)
    bad = dict(
        by_name,
        buffers={
            "exp_avg": {"W1": state["buffers"]["exp_avg"][0]},
            "exp_avg_sq": by_name["buffers"]["exp_avg_sq"],
        },
    )
    with pytest.raises(ValueError, match="missing: b1, W2, b2, W3, b3"):
        twin.set_optimizer_state(bad)
    # the model file names the buffers by parameter too (format version 2)
    net.save(tmp_path / "m.npz")
    names = zipfile.ZipFile(tmp_path / "m.npz").namelist()
    assert "state.opt.exp_avg.W1.npy" in names and "state.opt.exp_avg_sq.b3.npy" in names
    assert {"W1.npy", "b1.npy", "W3.npy", "b3.npy"} <= set(names)
    import json

    header = json.loads(
        np.load(io.BytesIO(zipfile.ZipFile(tmp_path / "m.npz").read("header.npy"))).tobytes()
    )
    assert header["version"] == 2
    same = cr.load(tmp_path / "m.npz")
    same.fit(X, Y, epochs=2, batch_size=5)
    net.fit(X, Y, epochs=2, batch_size=5)
    for k in net.parameters:
        np.testing.assert_array_equal(same.parameters[k], net.parameters[k])


def test_early_stopping_restores_every_parameter():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    net = _net(optimizer=cr.Adam(lr=0.05))
    stopper = cr.EarlyStopping(monitor="val_loss", patience=3)
    net.fit(X, Y, epochs=200, validation_split=0.5, early_stopping=stopper)
    best = stopper.best_epoch
    replay = _net(optimizer=cr.Adam(lr=0.05))
    replay.fit(X, Y, epochs=best + 1, validation_split=0.5)
    for k in net.parameters:
        np.testing.assert_array_equal(net.parameters[k], replay.parameters[k])
