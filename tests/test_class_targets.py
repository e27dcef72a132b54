"""Classification targets: integer class labels equal their one-hot rows bit for bit (fit,
loss, gradients, backward, gradient_check, evaluate, validation data), bad labels are reported
with their row and value; fit's class_weight equals the matching sample_weight bit for bit
(dicts, "balanced" as scikit-learn computes it, times sample weights, training rows only),
and its errors leave the model unchanged."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pytest
from conftest import assert_unchanged, snapshot

import chainrule as cr

DTYPES = ["float64", "float32"]


def _data(n: int = 60, k: int = 4, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, k, size=n)
    return X, y


def _twins(
    k: int = 4, loss: str = "cross_entropy", dtype: str = "float64", optimizer: Any = "sgd"
) -> tuple:
    make = lambda: cr.Network(
        [3, 6, k],
        loss=loss,
        dtype=dtype,
        seed=5,  # noqa: E731
        optimizer=optimizer,
    )
    return make(), make()


def _same(a: cr.Network, b: cr.Network) -> None:
    for name, p in a.parameters.items():
        np.testing.assert_array_equal(p, b.parameters[name], err_msg=name)


# ---- integer labels ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_labels_equal_one_hot_rows_bit_for_bit(dtype: str) -> None:
    X, y = _data()
    Y = np.eye(4)[y]
    a, b = _twins(dtype=dtype, optimizer="adam")
    assert a.loss(X, y) == b.loss(X, Y)
    ga, gb = a.gradients(X, y), b.gradients(X, Y)
    assert ga.loss == gb.loss
    for la, lb in zip(ga, gb):
        np.testing.assert_array_equal(la.dW, lb.dW)
        np.testing.assert_array_equal(la.dZ, lb.dZ)
    a.forward(X)
    b.forward(X)
    assert a.backward(y).loss == b.backward(Y).loss
    assert a.gradient_check(X[:10], y[:10]) == b.gradient_check(X[:10], Y[:10])
    ha = a.fit(
        X,
        y,
        epochs=4,
        batch_size=16,
        shuffle=True,
        metrics=["accuracy", "f1"],
        validation_data=(X[:20], y[:20]),
    )
    hb = b.fit(
        X,
        Y,
        epochs=4,
        batch_size=16,
        shuffle=True,
        metrics=["accuracy", "f1"],
        validation_data=(X[:20], Y[:20]),
    )
    assert ha.history == hb.history
    _same(a, b)
    assert a.evaluate(X, y, ["precision", "recall"]) == b.evaluate(X, Y, ["precision", "recall"])
    ha = a.fit(X, y, epochs=2, validation_split=0.25)
    hb = b.fit(X, Y, epochs=2, validation_split=0.25)
    assert ha.history == hb.history
    _same(a, b)


@pytest.mark.parametrize("form", ["int64", "column", "list", "float", "uint8", "object", "series"])
def test_label_forms(form: str) -> None:
    X, y = _data(n=12)
    Y = np.eye(4)[y]
    labels: Any = {
        "int64": y,
        "column": y.reshape(-1, 1),
        "list": y.tolist(),
        "float": y.astype(float),
        "uint8": y.astype(np.uint8),
        "object": np.array(y.tolist(), dtype=object),
    }.get(form)
    if form == "series":
        pd = pytest.importorskip("pandas")
        labels = pd.Series(y)
    net = cr.Network([3, 6, 4], loss="cross_entropy", seed=5)
    assert net.loss(X, labels) == net.loss(X, Y)


def test_boolean_labels_of_two_classes() -> None:
    X, y = _data(n=12, k=2)
    net = cr.Network([3, 6, 2], loss="cross_entropy", seed=5)
    assert net.loss(X, y.astype(bool)) == net.loss(X, np.eye(2)[y])


def test_binary_targets_as_a_vector_stay_one_column() -> None:
    X, y = _data(k=2)
    a, b = _twins(k=1, loss="binary_cross_entropy")
    assert a.loss(X, y) == b.loss(X, y.reshape(-1, 1).astype(float))
    a.fit(X, y, epochs=3, lr=0.1)
    b.fit(X, y.reshape(-1, 1), epochs=3, lr=0.1)
    _same(a, b)


def test_labels_are_only_for_classification_losses_with_several_outputs() -> None:
    X, y = _data()
    net = cr.Network([3, 6, 4], seed=5)  # mse: a vector is one column, which does not fit
    with pytest.raises(ValueError, match=r"outputs 4 columns, got Y with shape \(60, 1\)"):
        net.fit(X, y)
    with pytest.raises(ValueError, match=r"outputs 4 columns, got Y with shape \(60, 1\)"):
        net.loss(X, y)


BAD_LABELS = [
    (
        "too large",
        lambda y: np.where(np.arange(len(y)) == 7, 4, y),
        ValueError,
        r"Y: the class label at row 7 is 4, not in \[0, 4\) \(4 classes, one per output column\)",
    ),
    (
        "negative",
        lambda y: np.where(np.arange(len(y)) == 3, -1, y),
        ValueError,
        r"the class label at row 3 is -1, not in \[0, 4\)",
    ),
    (
        "fraction",
        lambda y: np.where(np.arange(len(y)) == 5, 1.5, y),
        ValueError,
        "the class label at row 5 is 1.5, not an integer class index",
    ),
    (
        "nan",
        lambda y: np.where(np.arange(len(y)) == 0, np.nan, y),
        ValueError,
        "the class label at row 0 is nan, not an integer class index",
    ),
    (
        "huge",
        lambda y: np.where(np.arange(len(y)) == 2, 2**62, y),
        ValueError,
        "the class label at row 2 is 4.611686018427388e[+]18, not in",
    ),
    (
        "text",
        lambda y: np.array([str(v) for v in y]),
        TypeError,
        "Y must hold class indices \\(integers\\), got dtype <U1 \\(map text labels",
    ),
    ("complex", lambda y: y + 0j, TypeError, "Y must hold class indices"),
    ("empty", lambda y: y[:0], ValueError, "Y is empty"),
]


@pytest.mark.parametrize("name,bad,exc,match", BAD_LABELS, ids=[c[0] for c in BAD_LABELS])
def test_bad_labels_are_reported_with_row_and_value(
    name: str, bad: Any, exc: type, match: str
) -> None:
    X, y = _data()
    net = cr.Network([3, 6, 4], loss="cross_entropy", seed=5, optimizer="adam")
    before = snapshot(net)
    labels = bad(y)
    for call in (
        lambda: net.fit(X, labels, epochs=2),
        lambda: net.loss(X, labels),
        lambda: net.gradients(X, labels),
        lambda: net.evaluate(X, labels),
    ):
        with pytest.raises(exc, match=match):
            call()
    if name != "empty":
        with pytest.raises(exc, match=match) as e:
            net.fit(X, y, epochs=2, validation_data=(X, labels))
        assert str(e.value).startswith("validation_data Y")
    assert_unchanged(net, before)
    assert net.get_optimizer_state()["step"] == 0


# ---- class_weight --------------------------------------------------------------------------


def _row_weights(cw: Dict[int, float], classes: np.ndarray) -> np.ndarray:
    return np.array([cw.get(int(c), 1.0) for c in classes])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_class_weight_equals_the_matching_sample_weight(targets: str, dtype: str) -> None:
    X, y = _data()
    Y = y if targets == "labels" else np.eye(4)[y]
    cw = {0: 2.5, 2: 0.25, 3: 0.0}
    a, b = _twins(dtype=dtype, optimizer="adam")
    ha = a.fit(X, Y, epochs=3, batch_size=16, shuffle=True, class_weight=cw, metrics=["accuracy"])
    hb = b.fit(
        X,
        Y,
        epochs=3,
        batch_size=16,
        shuffle=True,
        sample_weight=_row_weights(cw, y),
        metrics=["accuracy"],
    )
    assert ha.history == hb.history
    _same(a, b)
    # times sample_weight, when both are given
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    ha = a.fit(X, Y, epochs=2, batch_size=16, class_weight=cw, sample_weight=sw)
    hb = b.fit(X, Y, epochs=2, batch_size=16, sample_weight=_row_weights(cw, y) * sw)
    assert ha.history == hb.history
    _same(a, b)


def test_class_weight_of_binary_targets() -> None:
    X, y = _data(k=2)
    a, b = _twins(k=1, loss="binary_cross_entropy")
    cw = {0: 0.5, 1: 4.0}
    a.fit(X, y, epochs=3, lr=0.1, class_weight=cw)
    b.fit(X, y, epochs=3, lr=0.1, sample_weight=_row_weights(cw, y))
    _same(a, b)
    a.fit(X, y, epochs=2, lr=0.1, class_weight="balanced")
    b.fit(X, y, epochs=2, lr=0.1, sample_weight=_balanced(y))
    _same(a, b)


def _balanced(y: np.ndarray) -> np.ndarray:
    """scikit-learn's balanced weight of each row's class."""
    utils = pytest.importorskip(
        "sklearn.utils.class_weight", reason="scikit-learn defines the 'balanced' class weights"
    )
    classes = np.unique(y)
    weights = utils.compute_class_weight("balanced", classes=classes, y=y)
    return weights[np.searchsorted(classes, y)]


def test_balanced_equals_scikit_learn_bit_for_bit() -> None:
    X, y = _data(n=90)
    y[y == 3] = 1  # class 3 absent: "balanced" counts the classes present, as scikit-learn
    a, b = _twins()
    ha = a.fit(X, y, epochs=3, batch_size=32, class_weight="balanced")
    hb = b.fit(X, y, epochs=3, batch_size=32, sample_weight=_balanced(y))
    assert ha.history == hb.history
    _same(a, b)


def test_class_weight_weights_the_training_rows_only() -> None:
    X, y = _data(n=80)
    cw = {1: 3.0}
    a, b = _twins()
    n_train = 60  # validation_split=0.25 keeps the first 60 rows for training
    ha = a.fit(X, y, epochs=3, validation_split=0.25, class_weight="balanced", metrics=["f1"])
    hb = b.fit(
        X[:n_train],
        y[:n_train],
        epochs=3,
        sample_weight=_balanced(y[:n_train]),
        validation_data=(X[n_train:], y[n_train:]),
        metrics=["f1"],
    )
    assert ha.history == hb.history
    _same(a, b)
    vw = np.linspace(0.5, 1.5, 20)
    ha = a.fit(
        X[:n_train],
        y[:n_train],
        epochs=2,
        class_weight=cw,
        validation_data=(X[n_train:], y[n_train:], vw),
    )
    hb = b.fit(
        X[:n_train],
        y[:n_train],
        epochs=2,
        sample_weight=_row_weights(cw, y[:n_train]),
        validation_data=(X[n_train:], y[n_train:], vw),
    )
    assert ha.history == hb.history


class _OneRank:
    """A communicator of one process, enough for fit's argument checks."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def allgather(self, x: Any) -> List[Any]:
        return [x]

    Allreduce = bcast = Bcast = None


class _MyLoss(cr.Loss):
    def value(self, yhat: np.ndarray, y: np.ndarray) -> float:
        return float(np.sum((yhat - y) ** 2) / 2 / len(y))

    def gradient(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        return yhat - y


CLASS_WEIGHT_ERRORS = [
    (
        "mse",
        dict(loss="mse"),
        {0: 2.0},
        ValueError,
        r"fit: class_weight needs a classification loss \('binary_cross_entropy', "
        r"'cross_entropy'\), got MSE\(\)",
    ),
    (
        "huber",
        dict(loss=cr.Huber(delta=0.5)),
        "balanced",
        ValueError,
        "needs a classification loss",
    ),
    ("own loss", dict(loss=_MyLoss()), {0: 2.0}, ValueError, "needs a classification loss"),
    (
        "unknown class",
        {},
        {4: 2.0},
        ValueError,
        r"fit: class_weight: unknown class 4 \(the classes are 0 to 3\)",
    ),
    ("negative class", {}, {-1: 2.0}, ValueError, "unknown class -1"),
    ("huge class", {}, {2**70: 2.0}, ValueError, "unknown class 1180591620717411303424"),
    (
        "negative weight",
        {},
        {1: -0.5},
        ValueError,
        "fit: class_weight: the weight of class 1 must be finite and >= 0, got -0.5",
    ),
    ("nan weight", {}, {1: float("nan")}, ValueError, "the weight of class 1 .* got nan"),
    ("inf weight", {}, {2: np.inf}, ValueError, "the weight of class 2 .* got inf"),
    ("text weight", {}, {1: "2"}, TypeError, r"fit: class_weight\[1\] must be a real number"),
    ("float key", {}, {1.0: 2.0}, TypeError, "class_weight's keys must be class indices"),
    ("bool key", {}, {True: 2.0}, TypeError, "class_weight's keys must be class indices"),
    (
        "unknown word",
        {},
        "balance",
        ValueError,
        r"class_weight must be 'balanced' or a dict \{class index: weight\}, got 'balance'",
    ),
    ("list", {}, [1.0, 2.0], TypeError, "class_weight must be 'balanced' or a dict"),
    ("all zero", {}, {0: 0, 1: 0, 2: 0, 3: 0}, ValueError, "sums to 0"),
]


@pytest.mark.parametrize(
    "name,net_kwargs,cw,exc,match", CLASS_WEIGHT_ERRORS, ids=[c[0] for c in CLASS_WEIGHT_ERRORS]
)
def test_bad_class_weight_leaves_the_model_unchanged(
    name: str, net_kwargs: Dict[str, Any], cw: Any, exc: type, match: str
) -> None:
    X, y = _data()
    kwargs = dict(loss="cross_entropy", seed=5, optimizer="adam")
    kwargs.update(net_kwargs)
    net = cr.Network([3, 6, 4], **kwargs)
    Y = y if net.loss_function.name == "cross_entropy" else np.eye(4)[y]
    before = snapshot(net)
    with pytest.raises(exc, match=match):
        net.fit(X, Y, epochs=2, class_weight=cw)
    assert_unchanged(net, before)
    assert net.get_optimizer_state()["step"] == 0 and len(net.history) == 0


def test_class_weight_needs_hard_targets() -> None:
    X, y = _data()
    Y = np.eye(4)[y]
    Y[5] = [0.5, 0.5, 0, 0]
    net = cr.Network([3, 6, 4], loss="cross_entropy", seed=5)
    before = snapshot(net)
    with pytest.raises(
        ValueError,
        match="fit: class_weight needs one-hot rows of Y "
        r"\(or integer class labels\): row 5 is not one-hot",
    ):
        net.fit(X, Y, class_weight={0: 2.0})
    bce = cr.Network([3, 6, 1], loss="binary_cross_entropy", seed=5)
    t = (y % 2).astype(float)
    t[3] = 0.25
    with pytest.raises(ValueError, match=r"0 or 1 in one column: Y\[3, 0\] = 0.25 is neither"):
        bce.fit(X, t, class_weight="balanced")
    # the data's own errors come first, in the core's words
    with pytest.raises(ValueError, match="must be probability distributions"):
        net.fit(X, np.full((60, 4), 0.5), class_weight={0: 2.0})
    with pytest.raises(ValueError, match="fit: sample_weight must be finite and >= 0, got -1"):
        net.fit(X, y, class_weight={0: 2.0}, sample_weight=-np.ones(60))
    assert_unchanged(net, before)


def test_balanced_is_refused_in_a_data_parallel_fit() -> None:
    X, y = _data()
    net = cr.Network([3, 6, 4], loss="cross_entropy", seed=5)
    with pytest.raises(ValueError, match="class_weight='balanced' .* data-parallel fit"):
        net.fit(X, y, class_weight="balanced", comm=_OneRank())
