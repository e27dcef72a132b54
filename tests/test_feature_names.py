"""A network fitted on a DataFrame records its column names and checks later DataFrames
against them, as scikit-learn does (reordered columns once gave other predictions silently)."""

import copy
import pickle

import numpy as np
import pytest
from conftest import edit_model_header

import chainrule as cr

pd = pytest.importorskip("pandas")


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60, 3)), columns=["age", "income", "score"])
    y = df["age"] - 2 * df["income"]
    net = cr.Network([3, 8, 1], ["tanh", "linear"], seed=0)
    net.fit(df, y, epochs=5, lr=0.05)
    return net, df, y


def test_names_are_recorded(fitted):
    net, df, _ = fitted
    assert list(net.feature_names_in_) == ["age", "income", "score"]
    assert isinstance(net.feature_names_in_, np.ndarray)


def test_plain_arrays_are_accepted_and_give_the_same_result(fitted):
    net, df, y = fitted
    np.testing.assert_array_equal(net.predict(df.to_numpy()), net.predict(df))
    assert net.loss(df.to_numpy(), y) == net.loss(df, y)


@pytest.mark.parametrize(
    "call", ["predict", "loss", "gradients", "forward", "gradient_check", "fit", "validation_data"]
)
@pytest.mark.parametrize(
    "columns, message",
    [
        (
            ["income", "age", "score"],
            r"the same names in another order: column 0 is 'income', "
            r"fit had 'age' there",
        ),
        (["age", "income", "height"], r"missing: 'score'; not seen in fit: 'height'"),
    ],
)
def test_mismatched_columns_raise_naming_them(fitted, call, columns, message):
    net, df, y = fitted
    bad = df.rename(columns={"score": "height"})[columns] if "height" in columns else df[columns]
    before = [np.array(W) for W in net.weights]
    where = {"validation_data": "fit: validation_data"}.get(call, call)
    with pytest.raises(
        ValueError,
        match=rf"^{where}: the columns of X do not match the feature "
        rf"names the network was fitted with \({message}",
    ):
        if call in ("predict", "forward"):
            getattr(net, call)(bad)
        elif call == "validation_data":
            net.fit(df, y, epochs=1, validation_data=(bad, y))
        else:
            getattr(net, call)(bad, y)
    for W, W0 in zip(net.weights, before):  # a failed call leaves the model as it was
        np.testing.assert_array_equal(W, W0)


def test_validation_data_checked_on_the_first_fit_too():
    df = pd.DataFrame(np.ones((10, 2)), columns=["a", "b"])
    net = cr.Network([2, 1])
    with pytest.raises(ValueError, match="validation_data: the columns of X do not match"):
        net.fit(df, np.ones(10), epochs=1, validation_data=(df[["b", "a"]], np.ones(10)))
    assert net.feature_names_in_ is None  # nothing recorded by the failed call


def test_array_fit_records_nothing_and_integer_labels_are_not_names():
    net = cr.Network([2, 1])
    net.fit(np.ones((4, 2)), np.ones(4), epochs=1)
    assert net.feature_names_in_ is None
    net.fit(pd.DataFrame(np.ones((4, 2))), np.ones(4), epochs=1)  # columns 0, 1
    assert net.feature_names_in_ is None


def test_mixed_column_name_types_raise():
    net = cr.Network([2, 1])
    with pytest.raises(TypeError, match="mix strings with other types"):
        net.fit(pd.DataFrame({"a": [1.0, 2.0], 0: [1.0, 2.0]}), [1.0, 2.0], epochs=1)


def test_names_survive_save_pickle_and_deepcopy(fitted, tmp_path):
    net, df, _ = fitted
    net.save(tmp_path / "m.npz")
    for same in (cr.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert list(same.feature_names_in_) == ["age", "income", "score"]
        with pytest.raises(ValueError, match="another order"):
            same.predict(df[["score", "age", "income"]])


def test_forgetting_the_names(fitted):
    net, df, _ = fitted
    net.feature_names_in_ = None
    net.predict(df[["score", "age", "income"]])  # accepted: no names to check


@pytest.mark.parametrize("bad", [["a", "b"], [1, 2, 3], "abc"])
def test_a_model_file_with_a_bad_names_entry_is_rejected(fitted, tmp_path, bad):
    net, _, _ = fitted
    net.save(tmp_path / "m.npz")
    edit_model_header(
        tmp_path / "m.npz", tmp_path / "bad.npz", lambda header: header.update(feature_names=bad)
    )
    with pytest.raises(ValueError, match="invalid feature_names"):
        cr.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("bad", ["lr", "Y rows", "callback"])
def test_a_fit_that_fails_before_training_records_no_names(bad):
    # a first fit on a DataFrame that raises before it trains (its arguments, or a callback's
    # on_train_begin) leaves the network without names, so that other columns stay welcome
    df = pd.DataFrame(np.ones((6, 3)), columns=["a", "b", "c"])
    net = cr.Network([3, 4, 1], seed=0)

    class Refuses(cr.Callback):
        def on_train_begin(self, network):
            raise RuntimeError("refused")

    kwargs = {"lr": dict(lr=-1.0), "Y rows": {}, "callback": dict(callbacks=[Refuses()])}[bad]
    Y = np.ones((5 if bad == "Y rows" else 6, 1))
    with pytest.raises((ValueError, RuntimeError)):
        net.fit(df, Y, epochs=1, **kwargs)
    assert net.feature_names_in_ is None
    other = pd.DataFrame(np.ones((6, 3)), columns=["x", "y", "z"])
    net.fit(other, np.ones((6, 1)), epochs=1)
    assert list(net.feature_names_in_) == ["x", "y", "z"]
