"""A user's parameterised loss and activation keep their parameters through save/load, pickle
and deepcopy (issue: a Huber(delta=0.1) came back from cr.load with delta=1.0)."""

import copy
import pickle

import numpy as np
import pytest
from conftest import edit_model_header

import chainrule as cr


@cr.register_loss
class ParamHuber(cr.Loss):
    """The README's Huber loss; no get_params: the default reads ``self.delta``."""

    def __init__(self, delta=1.0):
        self.delta = delta

    def value(self, yhat, y):
        r = np.abs(yhat - y)
        q = np.minimum(r, self.delta)
        return float(np.sum(0.5 * q**2 + self.delta * (r - q)) / len(y))

    def gradient(self, yhat, y):
        return np.clip(yhat - y, -self.delta, self.delta)


@cr.register_activation
class ScaledTanh(cr.Activation):
    """``a * tanh(b * z)``, with an int and a string parameter too (JSON keeps their types)."""

    def __init__(self, a=1.0, b=1.0, power=1, note="x"):
        self.a, self.b, self.power, self.note = a, b, power, note

    def forward(self, z):
        return self.a * np.tanh(self.b * z) ** self.power

    def derivative(self, z, h):
        return self.a * self.b * (1.0 - np.tanh(self.b * z) ** 2)


class Stored(cr.Loss):
    """Keeps its argument under another name: must say so in get_params."""

    def __init__(self, scale=1.0):
        self._scale = scale

    def value(self, yhat, y):
        return float(self._scale * np.sum((yhat - y) ** 2) / (2 * len(y)))

    def gradient(self, yhat, y):
        return self._scale * (yhat - y)


def _net(dtype="float64"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = 10 * X[:, :1] ** 2
    net = cr.Network(
        [3, 6, 1],
        [ScaledTanh(a=1.7, b=0.65, power=1, note="lecun"), "linear"],
        loss=ParamHuber(delta=0.1),
        dtype=dtype,
        seed=0,
    )
    net.fit(X, Y, epochs=5, lr=0.05)
    return net, X, Y


def test_default_get_params_reads_init_arguments():
    assert ParamHuber(0.25).get_params() == {"delta": 0.25}
    assert repr(ParamHuber(0.25)) == "ParamHuber(delta=0.25)"
    assert ParamHuber(0.25) == ParamHuber(0.25) and ParamHuber(0.25) != ParamHuber(1.0)
    assert hash(ParamHuber(0.25)) == hash(ParamHuber(0.25))
    assert ScaledTanh(2.0).get_params() == {"a": 2.0, "b": 1.0, "power": 1, "note": "x"}
    assert cr.MSE().get_params() == {} and cr.LeakyReLU(0.2).get_params() == {"alpha": 0.2}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("how", ["save/load", "pickle", "deepcopy"])
def test_parameters_round_trip(tmp_path, dtype, how):
    net, X, Y = _net(dtype)
    if how == "save/load":
        net.save(tmp_path / "m.npz")
        same = cr.load(tmp_path / "m.npz")
    elif how == "pickle":
        same = pickle.loads(pickle.dumps(net))
    else:
        same = copy.deepcopy(net)
    assert same.loss_function == ParamHuber(delta=0.1) and same.loss_function.delta == 0.1
    act = same.activations[0]
    assert act.get_params() == {"a": 1.7, "b": 0.65, "power": 1, "note": "lecun"}
    assert type(act.power) is int and type(act.note) is str
    # bit for bit: the same loss, predictions and training continuation
    assert same.loss(X, Y) == net.loss(X, Y)
    np.testing.assert_array_equal(same.predict(X), net.predict(X))
    same.fit(X, Y, epochs=3, lr=0.05)
    net.fit(X, Y, epochs=3, lr=0.05)
    np.testing.assert_array_equal(same.weights[0], net.weights[0])


def test_loss_value_differs_with_the_parameter():
    """The check above means something: the default delta gives a different loss."""
    net, X, Y = _net()
    other = cr.Network([3, 6, 1], net.activations, loss=ParamHuber(), seed=0)
    for l in range(net.n_layers):
        other.weights[l], other.biases[l] = net.weights[l], net.biases[l]
    assert other.loss(X, Y) > 5 * net.loss(X, Y)


def test_a_parameter_not_stored_under_its_name_fails_on_save(tmp_path):
    net = cr.Network([2, 1], ["linear"], loss=Stored(scale=3.0))
    assert repr(net.loss_function) == "Stored(...)"  # repr does not raise
    with pytest.raises(ValueError, match=r"Stored.__init__ takes 'scale'.*define get_params"):
        net.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_a_parameter_json_cannot_hold_fails_on_save(tmp_path):
    net = cr.Network([2, 1], [ScaledTanh(a=np.array([1.0, 2.0]))])
    with pytest.raises(
        ValueError,
        match=r"layer 1: the activation ScaledTanh: parameter 'a' "
        r"cannot be stored",
    ):
        net.save(tmp_path / "m.npz")


def test_old_files_without_loss_parameters_still_load(tmp_path):
    """A file written before losses had parameters (no 'params' in its loss entry, activation
    parameters as floats) loads with the class's defaults, as it did."""
    net = cr.Network([2, 3, 1], ["tanh", "linear"], loss=ParamHuber(delta=1.0), seed=0)
    net.save(tmp_path / "new.npz")

    def to_old(header):
        del header["loss"]["params"]
        for a in header["activations"]:
            a["params"] = {k: float(v) for k, v in a["params"].items()}

    edit_model_header(tmp_path / "new.npz", tmp_path / "old.npz", to_old)
    old = cr.load(tmp_path / "old.npz")
    assert old.loss_function == ParamHuber(delta=1.0)
    np.testing.assert_array_equal(old.weights[0], net.weights[0])


@pytest.mark.parametrize(
    "bad",
    [
        {"delta": {"nested": "dict"}},
        {"delta": [[[[[[[[[1]]]]]]]]]},
        ["not", "a", "dict"],
        {"bogus": 1.0},
    ],
)
def test_hostile_loss_parameters_are_rejected(tmp_path, bad):
    cr.Network([2, 1], ["linear"], loss=ParamHuber(delta=0.5)).save(tmp_path / "m.npz")
    edit_model_header(
        tmp_path / "m.npz", tmp_path / "bad.npz", lambda header: header["loss"].update(params=bad)
    )
    with pytest.raises(ValueError, match="loss"):
        cr.load(tmp_path / "bad.npz")
