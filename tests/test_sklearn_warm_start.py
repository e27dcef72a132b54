"""warm_start in chainrule.sklearn: fit continues from the fitted network as scikit-learn's MLP
does (the weights go on, the optimizer is new), and refuses data or parameters that do not fit
the fitted model, leaving it as it was."""

import copy

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=60, d=3, outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = np.tanh(X @ rng.normal(size=(d, outputs)))
    return X, Y[:, 0] if outputs == 1 else Y


def _sgd(**kw):
    """Full-batch plain SGD in row order: a fit's result depends on the weights it starts from
    and its learning rate only."""
    params = dict(
        hidden_layer_sizes=(5, 4),
        activation="tanh",
        solver="sgd",
        momentum=0.0,
        alpha=0.0,
        batch_size=60,
        shuffle=False,
        learning_rate_init=0.05,
        max_iter=3,
        n_iter_no_change=1000,
        random_state=0,
    )
    params.update(kw)
    return MLPRegressor(**params)


def _coefs(est):
    return [c.copy() for c in est.coefs_] + [b.copy() for b in est.intercepts_]


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_warm_fits_continue_the_weights_bit_for_bit():
    X, y = _data()
    warm = _sgd(warm_start=True).fit(X, y)
    first_curve = list(warm.loss_curve_)
    warm.fit(X, y)
    whole = _sgd(max_iter=6).fit(X, y)
    _same(_coefs(warm), _coefs(whole))
    assert warm.loss_curve_ == whole.loss_curve_
    assert warm.loss_curve_[:3] == first_curve
    assert warm.n_iter_ == 3  # the call's epochs, as scikit-learn's
    assert warm.t_ == 6 * 60
    assert warm.best_loss_ == min(whole.loss_curve_)


def test_without_warm_start_fit_starts_afresh():
    X, y = _data()
    est = _sgd().fit(X, y)
    once = _coefs(est)
    est.fit(X, y)
    _same(_coefs(est), once)
    assert len(est.loss_curve_) == 3


def test_warm_fit_takes_the_parameters_as_they_are_now():
    """A new optimizer from the current parameters: the second fit's learning rate and epochs
    are those set between the calls, and it starts from the first fit's weights (the oracle:
    Network.fit on a copy of the fitted network with that optimizer)."""
    X, y = _data()
    est = _sgd(warm_start=True).fit(X, y)
    oracle = copy.deepcopy(est.network_)
    est.set_params(learning_rate_init=0.2, max_iter=4)
    est.fit(X, y)
    oracle.fit(X, y.reshape(-1, 1), epochs=4, batch_size=60, shuffle=False, optimizer=cr.SGD(0.2))
    _same(_coefs(est), [np.array(W) for W in oracle.weights] + [np.array(b) for b in oracle.biases])
    assert est.n_iter_ == 4 and len(est.loss_curve_) == 7


def test_warm_fit_starts_a_new_adam():
    """scikit-learn's warm fit builds its optimizer anew: Adam's moments and step count start
    from zero, unlike partial_fit's, which go on."""
    X, y = _data()
    kw = dict(hidden_layer_sizes=(6,), batch_size=60, shuffle=False, max_iter=2, random_state=1)
    warm = MLPRegressor(warm_start=True, **kw).fit(X, y)
    oracle = copy.deepcopy(warm.network_)
    warm.fit(X, y)
    oracle.fit(
        X,
        y.reshape(-1, 1),
        epochs=2,
        batch_size=60,
        shuffle=False,
        optimizer=cr.Adam(0.001, weight_decay=0.0001 / 60),
    )
    _same(
        _coefs(warm), [np.array(W) for W in oracle.weights] + [np.array(b) for b in oracle.biases]
    )
    going_on = MLPRegressor(**kw).fit(X, y)
    going_on.partial_fit(X, y)
    going_on.partial_fit(X, y)
    assert not np.array_equal(going_on.coefs_[0], warm.coefs_[0])


def test_each_warm_fit_has_its_own_stopping_rule():
    X, y = _data()
    est = _sgd(warm_start=True, max_iter=500, n_iter_no_change=2, tol=1e-3).fit(X, y)
    stopped_after = est.n_iter_
    assert stopped_after < 500
    est.fit(X, y)
    # not stopped by the count the first fit ended with (scikit-learn's would run one epoch):
    # its first epoch sets the best, and more than n_iter_no_change = 2 without improvement
    # follow
    assert est.n_iter_ == 4
    assert len(est.loss_curve_) == stopped_after + 4


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hidden_layer_sizes=(5, 3)), "parameters now describe another"),
        (dict(activation="relu"), "parameters now describe another"),
        (dict(dropout=0.2), "parameters now describe another"),
        (dict(dtype="float32"), "float32"),
    ],
    ids=["sizes", "activation", "dropout", "dtype"],
)
def test_warm_fit_refuses_another_network_and_keeps_the_model(change, message):
    X, y = _data()
    est = _sgd(warm_start=True).fit(X, y)
    before, net = _coefs(est), est.network_
    est.set_params(**change)
    with pytest.raises(ValueError, match=message) as info:
        est.fit(X, y)
    assert "warm_start=False" in str(info.value)
    assert est.network_ is net
    _same(_coefs(est), before)
    est.set_params(warm_start=False).fit(X, y)  # a new network of the new parameters
    assert est.network_ is not net


def test_warm_fit_refuses_other_features_and_outputs():
    X, y = _data()
    est = _sgd(warm_start=True).fit(X, y)
    before = _coefs(est)
    with pytest.raises(ValueError, match="features"):
        est.fit(X[:, :2], y)
    X2, Y2 = _data(outputs=2)
    with pytest.raises(ValueError, match="y has 2 outputs, but the model was fitted with 1"):
        est.fit(X2, Y2)
    _same(_coefs(est), before)
    assert est.n_features_in_ == 3 and est.n_outputs_ == 1


def test_warm_fit_takes_a_column_target_of_a_1d_fit():
    X, y = _data()
    est = _sgd(warm_start=True).fit(X, y)
    est.fit(X, y.reshape(-1, 1))
    assert est.predict(X).shape == (60, 1)
    est.fit(X, y)
    assert est.predict(X).shape == (60,)


def _classes(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]


def test_classifier_warm_fit_goes_on_with_the_same_classes():
    X, y = _classes()
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, shuffle=False)
    est = MLPClassifier(warm_start=True, **kw).fit(X, y)
    oracle = copy.deepcopy(est.network_)
    order = np.arange(len(y))[::-1]  # the classes in another order: the same set
    est.fit(X[order], y[order])
    assert list(est.classes_) == ["a", "b", "c"]
    assert len(est.loss_curve_) == 10
    Y = (y[order][:, None] == np.array(["a", "b", "c"])).astype(float)
    oracle.fit(
        X[order],
        Y,
        epochs=5,
        batch_size=90,
        shuffle=False,
        optimizer=cr.Adam(0.001, weight_decay=0.0001 / 90),
    )
    _same(est.coefs_, [np.array(W) for W in oracle.weights])


def test_classifier_warm_fit_refuses_other_classes_and_keeps_the_model():
    X, y = _classes()
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, warm_start=True)
    est.fit(X, y)
    before = _coefs(est)
    y2 = y.copy()
    y2[0] = "d"
    with pytest.raises(ValueError, match="same classes as in the previous call to fit"):
        est.fit(X, y2)
    with pytest.raises(ValueError, match="same classes"):
        est.fit(X[y != "c"], y[y != "c"])  # a subset is refused too, as scikit-learn does
    _same(_coefs(est), before)
    assert list(est.classes_) == ["a", "b", "c"]


def test_classifier_warm_fit_multilabel():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4))
    Y = (X[:, :3] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0, warm_start=True)
    est.fit(X, Y).fit(X, Y)
    assert len(est.loss_curve_) == 6
    with pytest.raises(ValueError, match="y has 2 labels, but the model was fitted with 3"):
        est.fit(X, Y[:, :2])
    with pytest.raises(ValueError, match="multi-label"):
        est.fit(X, Y[:, 0])


def test_warm_start_is_a_parameter():
    est = MLPClassifier(warm_start=True)
    assert est.get_params()["warm_start"] is True
    assert clone(est).warm_start is True
    assert MLPRegressor().get_params()["warm_start"] is False
    assert "warm_start=True" in repr(MLPRegressor(warm_start=True))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_warm_fit_that_raises_leaves_the_network_as_it_was(momentum):
    """A warm fit that diverged in its fourth epoch put the estimator's attributes back but
    not its network, which kept the third epoch's weights: predict no longer agreed with
    coefs_, and the next warm fit started from weights the model never reported."""
    X, y = _data()
    m = MLPRegressor(
        hidden_layer_sizes=(8,),
        max_iter=5,
        random_state=0,
        warm_start=True,
        solver="sgd",
        momentum=momentum,
    ).fit(X, y)
    twin = copy.deepcopy(m)
    Xbad = X.copy()
    Xbad[-1] *= 1e6  # the loss overflows a few epochs in
    m.set_params(learning_rate_init=1.0)
    with pytest.raises(cr.DivergenceError):
        m.fit(Xbad, y)
    np.testing.assert_array_equal(m.predict(X), twin.predict(X))
    for W, C in zip(m.network_.weights, m.coefs_):
        np.testing.assert_array_equal(W, C)
    a, b = m.network_.get_training_state(), twin.network_.get_training_state()
    assert a[0] == b[0]  # generator, history, optimizer and its step count
    for k in b[1]:
        np.testing.assert_array_equal(a[1][k], b[1][k])
    m.set_params(learning_rate_init=0.001)
    twin.set_params(learning_rate_init=0.001)
    np.testing.assert_array_equal(m.fit(X, y).predict(X), twin.fit(X, y).predict(X))
