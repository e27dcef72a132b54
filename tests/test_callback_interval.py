"""Callbacks that only observe may ask to be called at most every ``min_interval`` seconds
(issue 17: the dashboard must not slow tiny epochs): fit gives the core the smallest interval
of its callbacks, the core calls back at most that often and always after the last epoch,
and the History, the dashboard's final curves and the diagnostics records stay complete."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import fit_args


def _data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.sin(X[:, :1]) + 0.1 * X[:, 1:]


def _weights(net):
    return [np.array(w) for w in net.weights]


def _net(seed=0):
    return cr.Network([2, 10, 8, 5, 1], ["tanh", "tanh", "tanh", "linear"], seed=seed)


class Watcher(cr.Callback):
    """Records the epochs it is called for."""

    def __init__(self, min_interval=0.0):
        self.min_interval = min_interval
        self.epochs, self.losses = [], []

    def on_epoch_end(self, epoch, logs, network):
        self.epochs.append(epoch)
        self.losses.append(logs["loss"])


def test_the_base_class_needs_every_epoch():
    assert cr.Callback.min_interval == 0
    assert fit_args.hook_interval([]) == 0


def test_the_smallest_interval_wins_and_objects_without_one_need_every_epoch():
    class Plain:
        def on_epoch_end(self, epoch, logs, network):
            pass

    assert fit_args.hook_interval([Watcher(2.0), Watcher(0.5)]) == 0.5
    assert fit_args.hook_interval([Watcher(2.0), Plain()]) == 0
    assert fit_args.hook_interval([Watcher(2.0), cr.EarlyStopping(patience=3)]) == 0


def test_an_observer_alone_is_called_after_the_last_epoch_and_the_history_is_complete():
    X, Y = _data()
    plain, throttled = _net(), _net()
    h_plain = plain.fit(X, Y, epochs=300, lr=0.05)
    watcher = Watcher(min_interval=1e6)  # never within this fit
    history = throttled.fit(X, Y, epochs=300, lr=0.05, callbacks=[watcher])
    assert watcher.epochs == [299]
    assert watcher.losses == [history.loss[-1]]
    assert len(history) == 300 and history.loss == h_plain.loss and len(history.lr) == 300
    for a, b in zip(_weights(plain), _weights(throttled)):
        np.testing.assert_array_equal(a, b)


def test_a_callback_that_needs_every_epoch_gets_every_epoch_beside_an_observer():
    X, Y = _data()
    every = Watcher()
    _net().fit(X, Y, epochs=50, lr=0.05, callbacks=[Watcher(min_interval=1e6), every])
    assert every.epochs == list(range(50))
    seen = []
    _net().fit(
        X,
        Y,
        epochs=20,
        lr=0.05,
        callbacks=[Watcher(min_interval=1e6), lambda e, logs, net: seen.append(e)],
    )
    assert seen == list(range(20))


@pytest.mark.parametrize(
    "bad, error",
    [
        (-1.0, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("0.1", TypeError),
        (True, TypeError),
    ],
)
def test_a_bad_min_interval_is_refused_by_name_before_anything_changes(bad, error):
    X, Y = _data()
    net = _net()
    before = _weights(net)
    with pytest.raises(error, match="Watcher.min_interval"):
        net.fit(X, Y, epochs=3, optimizer=cr.Adam(lr=0.01), callbacks=[Watcher(bad)])
    for a, b in zip(before, _weights(net)):
        np.testing.assert_array_equal(a, b)
    assert not isinstance(net.optimizer, cr.Adam)


# ---- the dashboard -----------------------------------------------------------------------


def _dashboard(min_interval=None):
    pytest.importorskip("tornado", reason="the dashboard needs the dashboard extra (tornado)")
    pytest.importorskip("plotly", reason="the dashboard needs the dashboard extra (plotly)")
    dash = cr.Dashboard(quiet=True)
    if min_interval is not None:
        dash.min_interval = min_interval
    return dash


def test_the_dashboard_only_observes():
    dash = _dashboard()
    try:
        assert (
            0 < cr.Dashboard.min_interval <= 0.1 and dash.min_interval == cr.Dashboard.min_interval
        )
        # a copy of the weights after every epoch (interval=0): called after every epoch
        assert cr.Dashboard(interval=0.0, quiet=True).min_interval == 0
    finally:
        dash.close()


def test_early_stopping_beside_a_dashboard_sees_every_epoch():
    X, Y = _data()
    stop = dict(monitor="val_loss", patience=2, min_delta=1e-3)
    alone = _net().fit(
        X, Y, epochs=2000, lr=0.05, validation_split=0.2, early_stopping=cr.EarlyStopping(**stop)
    )
    dash = _dashboard(min_interval=1e6)
    try:
        beside = _net().fit(
            X,
            Y,
            epochs=2000,
            lr=0.05,
            validation_split=0.2,
            early_stopping=cr.EarlyStopping(**stop),
            callbacks=[dash],
        )
        assert len(alone) < 2000 and beside.history == alone.history
        run = dash.run()
        assert run["history"]["val_loss"] == beside.val_loss
        assert run["epochs_done"] == len(beside)
    finally:
        dash.close()


def test_a_throttled_dashboard_ends_with_every_epoch_and_every_diagnostics_record():
    X, Y = _data()
    dash = _dashboard(min_interval=1e6)
    try:
        history = _net().fit(
            X, Y, epochs=40, lr=0.05, metrics=["r2"], diagnostics=True, callbacks=[dash]
        )
        assert dash._rows and len(dash._rows) == 1  # live: only the last epoch's call
        run = dash.run()
        assert run["history"]["loss"] == history.loss and run["history"]["r2"] == history.r2
        assert run["history_epochs"] == list(range(1, 41)) and run["epochs_done"] == 40
        assert len(run["diagnostics"]) == len(history.diagnostics) == 40
        assert run["status"] == "finished" and run["epochs"][-1] == 40
    finally:
        dash.close()


def test_live_points_carry_their_epochs():
    X, Y = _data()
    dash = _dashboard(min_interval=1e6)
    try:
        net = _net()
        net.fit(X, Y, epochs=5, lr=0.05, callbacks=[dash, Watcher(min_interval=1e6)])
        # before on_history: one row (epoch 5) in the live series
        dash.on_train_begin(net)
        dash.on_epoch_end(6, {"loss": 1.0}, net)
        run = dash.run()
        assert run["history_epochs"] == [7] and run["history"]["loss"] == [1.0]
    finally:
        dash.close()
