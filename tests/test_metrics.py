"""Every metric of the core's registry against scikit-learn's definition (with and without
sample weights, binary, multi-class and regression targets), through ``Network.evaluate`` and
fit's validation pass; evaluate's result, its independence of the chunk size, its argument
checks, and that it leaves the model as it was."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np
import pytest
from conftest import assert_unchanged, snapshot

import chainrule as cr
from chainrule import _registry

metrics = pytest.importorskip(
    "sklearn.metrics", reason="scikit-learn is the oracle of the metric definitions"
)

RTOL = 1e-12


def _classes(A: np.ndarray) -> np.ndarray:
    """Class of each row: threshold 0.5 for one column, else the first argmax."""
    return (A[:, 0] > 0.5).astype(int) if A.shape[1] == 1 else np.argmax(A, axis=1)


def _sklearn(name: str, Y: np.ndarray, P: np.ndarray, w: Optional[np.ndarray]) -> float:
    """scikit-learn's value of metric ``name`` for targets Y and outputs P (m, n)."""
    average = "binary" if Y.shape[1] == 1 else "macro"
    t, p = _classes(Y), _classes(P)
    scores: Dict[str, Callable[[], float]] = {
        "accuracy": lambda: metrics.accuracy_score(t, p, sample_weight=w),
        "precision": lambda: metrics.precision_score(
            t, p, average=average, zero_division=0, sample_weight=w
        ),
        "recall": lambda: metrics.recall_score(
            t, p, average=average, zero_division=0, sample_weight=w
        ),
        "f1": lambda: metrics.f1_score(t, p, average=average, zero_division=0, sample_weight=w),
        "r2": lambda: metrics.r2_score(Y, P, sample_weight=w),
        "mae": lambda: metrics.mean_absolute_error(Y, P, sample_weight=w),
        "rmse": lambda: metrics.root_mean_squared_error(Y, P, sample_weight=w),
    }
    if name not in scores:
        raise KeyError(
            f"test_metrics.py has no scikit-learn definition of the metric {name!r}: add it"
        )
    return float(scores[name]())


CLASSIFICATION = ("accuracy", "precision", "recall", "f1")


def _task(kind: str, seed: int = 0) -> tuple:
    """(network, X, Y) for "binary" (one sigmoid output), "multiclass" (5 softmax outputs;
    class 3 only in the targets of a few rows, class 4 in none) or "regression" (3 outputs)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 4))
    if kind == "binary":
        net = cr.Network([4, 6, 1], loss="binary_cross_entropy", seed=seed)
        Y = (X[:, :1] + 0.5 * rng.normal(size=(150, 1)) > 0).astype(float)
    elif kind == "multiclass":
        net = cr.Network([4, 6, 5], loss="cross_entropy", seed=seed)
        labels = rng.integers(0, 3, size=150)
        labels[[5, 50, 100]] = 3
        Y = np.eye(5)[labels]
    else:
        net = cr.Network([4, 6, 3], ["tanh", "linear"], seed=seed)
        Y = X[:, :3] @ rng.normal(size=(3, 3)) + 0.3 * rng.normal(size=(150, 3))
    net.fit(X, Y, epochs=20, lr=0.1)
    return net, X, Y


CASES = [(kind, name) for kind in ("binary", "multiclass") for name in CLASSIFICATION] + [
    ("regression", name) for name in ("r2", "mae", "rmse")
]


def test_every_metric_of_the_registry_is_compared_here() -> None:
    assert {name for _, name in CASES} == set(cr.metric_names())


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_metrics_match_scikit_learn(kind: str, name: str, weighted: bool) -> None:
    net, X, Y = _task(kind)
    w = None
    if weighted:
        w = np.random.default_rng(1).uniform(0, 3, size=len(X))
        w[::9] = 0.0  # rows that do not count (a class of them still counts as present)
    P = net.predict(X)
    want = _sklearn(name, Y, P, w)
    got = net.evaluate(X, Y, metrics=[name], sample_weight=w)[name]
    assert got == pytest.approx(want, rel=RTOL, abs=1e-15)
    # fit's validation pass measures the same (lr tiny: the weights do not move)
    before = snapshot(net)
    h = net.fit(
        X[:5],
        Y[:5],
        epochs=1,
        lr=1e-300,
        metrics=[name],
        validation_data=(X, Y) if w is None else (X, Y, w),
    )
    assert_unchanged(net, before)
    assert h.history[f"val_{name}"][0] == pytest.approx(want, rel=RTOL, abs=1e-15)


def test_a_class_present_only_in_zero_weight_rows_counts_in_the_macro_average() -> None:
    """scikit-learn's labels=None takes every class of y_true and y_pred, whatever the
    weights: a class whose only rows weigh 0 scores 0 and lowers the macro average."""
    net, X, Y = _task("multiclass")
    w = np.ones(len(X))
    w[[5, 50, 100]] = 0.0  # the rows of class 3
    P = net.predict(X)
    for name in ("precision", "recall", "f1"):
        want = _sklearn(name, Y, P, w)
        assert net.evaluate(X, Y, [name], sample_weight=w)[name] == pytest.approx(want, rel=RTOL)
        without = _sklearn(name, Y[w > 0], P[w > 0], None)
        assert want != pytest.approx(without)  # the case is a real one


def test_zero_division_counts_as_zero() -> None:
    # a network that predicts class 0 for every row: no predicted positive
    net = cr.Network([2, 1], ["sigmoid"], loss="binary_cross_entropy", seed=0)
    net.weights[0][:] = 0.0
    net.biases[0][:] = -3.0
    X = np.random.default_rng(0).normal(size=(10, 2))
    Y = np.r_[np.ones(4), np.zeros(6)].reshape(-1, 1)
    got = net.evaluate(X, Y, ["precision", "recall", "f1", "accuracy"])
    assert got == {
        "loss": pytest.approx(net.loss(X, Y), rel=RTOL),
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "accuracy": 0.6,
    }


def test_evaluate_returns_the_loss_then_the_metrics_in_order() -> None:
    net, X, Y = _task("multiclass")
    names = ["f1", "accuracy", "precision"]
    out = net.evaluate(X, Y, metrics=names)
    assert list(out) == ["loss"] + names
    assert out["loss"] == pytest.approx(net.loss(X, Y), rel=RTOL)
    assert all(type(v) is float for v in out.values())
    assert net.evaluate(X, Y) == {"loss": out["loss"]}
    # the weighted loss is the weighted mean of the row losses
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(X))
    rows = np.array([net.loss(X[i : i + 1], Y[i : i + 1]) for i in range(len(X))])
    assert net.evaluate(X, Y, sample_weight=w)["loss"] == pytest.approx(
        np.sum(w * rows) / np.sum(w), rel=RTOL
    )


@pytest.mark.parametrize("batch_size", [1, 7, 149, 150, 10_000])
def test_evaluate_does_not_depend_on_the_chunk_size(batch_size: int) -> None:
    net, X, Y = _task("multiclass")
    w = np.random.default_rng(3).uniform(0, 2, size=len(X))
    names = list(cr.metric_names())
    whole = net.evaluate(X, Y, names, sample_weight=w)
    part = net.evaluate(X, Y, names, sample_weight=w, batch_size=batch_size)
    for k in whole:
        assert part[k] == pytest.approx(whole[k], rel=RTOL, abs=1e-15), k


def test_evaluate_leaves_the_model_as_it_was() -> None:
    net = cr.Network([4, 6, 5], loss="cross_entropy", seed=0, optimizer="adam")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 4)), np.eye(5)[rng.integers(0, 5, size=40)]
    net.fit(X, Y, epochs=3, lr=0.01)
    before, state, history = snapshot(net), net.get_optimizer_state(), net.history
    net.forward(X[:3])
    net.evaluate(X, Y, metrics=list(cr.metric_names()), batch_size=8)
    assert_unchanged(net, before)
    after = net.get_optimizer_state()
    assert after["step"] == state["step"]
    for a, b in zip(after["buffers"].values(), state["buffers"].values()):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert net.history is history
    with pytest.raises(ValueError, match="call forward"):  # a forward pass is not kept
        net.backward(Y[:3])


EVALUATE_ERRORS = [
    (
        "unknown metric",
        dict(metrics=["auc"]),
        ValueError,
        "unknown metric 'auc'; valid names: accuracy, f1, mae, precision, r2, recall, rmse",
    ),
    ("metrics a string", dict(metrics="f1"), TypeError, "metrics must be a list"),
    ("metric twice", dict(metrics=["f1", "f1"]), ValueError, "'f1' is listed twice"),
    (
        "weights length",
        dict(sample_weight=np.ones(3)),
        ValueError,
        r"evaluate: sample_weight must have shape \(10,\)",
    ),
    (
        "weights negative",
        dict(sample_weight=-np.ones(10)),
        ValueError,
        "evaluate: sample_weight must be finite and >= 0, got -1 at row 0",
    ),
    ("weights zero", dict(sample_weight=np.zeros(10)), ValueError, "sums to 0"),
    ("weights strings", dict(sample_weight=["a"] * 10), TypeError, "evaluate: sample_weight"),
    ("batch_size 0", dict(batch_size=0), ValueError, "batch_size"),
    ("batch_size float", dict(batch_size=2.5), TypeError, "batch_size"),
]


@pytest.mark.parametrize(
    "name,kwargs,exc,match", EVALUATE_ERRORS, ids=[e[0] for e in EVALUATE_ERRORS]
)
def test_bad_evaluate_arguments_raise(
    name: str, kwargs: Dict[str, Any], exc: type, match: str
) -> None:
    net = cr.Network([2, 3, 2], loss="cross_entropy", seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 2)), np.eye(2)[rng.integers(0, 2, size=10)]
    before = snapshot(net)
    with pytest.raises(exc, match=match):
        net.evaluate(X, Y, **kwargs)
    assert_unchanged(net, before)


def test_evaluate_checks_the_data_like_loss() -> None:
    net = cr.Network([2, 3, 2], loss="cross_entropy", seed=0)
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"evaluate: layer 1 expects 2 input features"):
        net.evaluate(np.zeros((4, 3)), np.eye(2)[[0, 1, 0, 1]])
    with pytest.raises(ValueError, match="cross_entropy targets must be probability"):
        net.evaluate(X, np.full((4, 2), 0.7))


def test_metric_directions_for_early_stopping() -> None:
    lower = {e.name for e in _registry.METRICS.entries() if not e.properties["higher_is_better"]}
    assert lower == {"mae", "rmse"}
    assert cr.EarlyStopping(monitor="val_rmse").mode == "min"
    assert cr.EarlyStopping(monitor="val_f1").mode == "max"


def test_r2_of_fewer_than_two_rows_is_nan_as_in_scikit_learn() -> None:
    net, X, Y = _task("regression")
    with pytest.warns(Warning, match="less than two samples"):
        want = metrics.r2_score(Y[:1], net.predict(X[:1]))
    assert np.isnan(want)
    assert np.isnan(net.evaluate(X[:1], Y[:1], metrics=["r2"])["r2"])
    got = net.evaluate(X[:2], Y[:2], metrics=["r2"], sample_weight=[0.0, 1.0])["r2"]
    assert got == pytest.approx(metrics.r2_score(Y[:2], net.predict(X[:2]), sample_weight=[0, 1]))
