"""The scikit-learn estimators stop and warn as scikit-learn's MLP does: its no-improvement rule
(tol, n_iter_no_change) and its ConvergenceWarning at max_iter."""

import inspect
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402

from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from chainrule.sklearn_base import NoImprovement  # noqa: E402


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]), (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("cls, target", [(MLPRegressor, 1), (MLPClassifier, 2)])
def test_max_iter_reached_warns(data, cls, target, early_stopping):
    X, y = data[0], data[target]
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        m = cls(
            hidden_layer_sizes=(4,),
            max_iter=3,
            tol=0.0,
            random_state=0,
            early_stopping=early_stopping,
        ).fit(X, y)
    assert m.n_iter_ == 3


def test_scikit_learns_own_mlp_warns_alike(data):
    """The oracle: scikit-learn's MLP warns, with the same message, in the same case."""
    X, y = data[0], data[1]
    with pytest.warns(ConvergenceWarning) as ours:
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning) as theirs:
        SkMLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    assert str(ours[0].message) == str(theirs[0].message)
    assert ours[0].filename == __file__  # points at the caller's fit


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_fit_that_stops_does_not_warn_and_runs_as_long_as_scikit_learns(data, early_stopping):
    """tol so large that no epoch after the first improves: both stop after the first epoch
    and n_iter_no_change + 1 epochs without improvement."""
    X, y = data[0], data[1]
    settings = dict(
        hidden_layer_sizes=(4,),
        max_iter=50,
        tol=1e9,
        n_iter_no_change=3,
        random_state=0,
        early_stopping=early_stopping,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = MLPRegressor(**settings).fit(X, y)
        theirs = SkMLPRegressor(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5


def test_stopping_at_the_last_iteration_does_not_warn(data):
    """The rule stops the fit in its last epoch: converged, as in scikit-learn (its check
    for no improvement comes before the one for max_iter)."""
    X, y = data[0], data[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m = MLPRegressor(
            hidden_layer_sizes=(4,), max_iter=5, tol=1e9, n_iter_no_change=3, random_state=0
        ).fit(X, y)
    assert m.n_iter_ == 5


def test_partial_fit_never_warns(data):
    X, y = data[0], data[1]
    m = MLPRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for _ in range(3):
            m.partial_fit(X, y)
    assert m.n_iter_ == 1 and len(m.loss_curve_) == 3  # n_iter_: the call's, as scikit-learn's


class _Net:
    parameters: dict = {}
    buffers: dict = {}


@pytest.mark.parametrize("tol, n_iter_no_change", [(0.0, 2), (0.05, 2), (0.3, 1), (0.0, 1)])
def test_the_rule_matches_scikit_learns_on_a_loss_sequence(tol, n_iter_no_change):
    """Small decreases below tol move the best loss but do not reset the count: the epoch at
    which scikit-learn's own ``_update_no_improvement_count`` stops, on a fabricated
    sequence of losses."""
    losses = [1.0, 0.9, 0.88, 0.87, 0.95, 0.86, 0.859, 0.858, 0.5, 0.49, 0.6, 0.7, 0.8, 0.9]
    sk = SkMLPRegressor(tol=tol, n_iter_no_change=n_iter_no_change)
    if not hasattr(sk, "_update_no_improvement_count"):
        pytest.skip("this scikit-learn has no _update_no_improvement_count")
    sk.loss_curve_, sk.best_loss_, sk._no_improvement_count = [], np.inf, 0
    expected = None
    n_args = len(inspect.signature(sk._update_no_improvement_count).parameters)
    for epoch, loss in enumerate(losses):
        sk.loss_curve_.append(loss)
        sk._update_no_improvement_count(False, *[None] * (n_args - 1))  # X_val, y_val, ...
        if sk._no_improvement_count > n_iter_no_change:
            expected = epoch
            break
    rule = NoImprovement("loss", n_iter_no_change, tol, restore_best_weights=False)
    rule.on_train_begin(_Net())
    stopped = None
    for epoch, loss in enumerate(losses):
        if rule.on_epoch_end(epoch, {"loss": loss}, _Net()) is False:
            stopped = epoch
            break
    assert expected is not None and stopped == expected == rule.stopped_epoch
    assert rule.best == min(losses[: stopped + 1])
