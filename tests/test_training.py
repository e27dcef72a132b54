"""The training toolkit of fit: validation data and split, metrics, early stopping, callbacks,
progress output, History, and the optimizer's configuration and state."""

from __future__ import annotations

import re
import sys
from typing import Any, List

import numpy as np
import pytest
import reference as ref
from conftest import assert_close, make_data

import chainrule as cr

SIZES = [3, 8, 3]


def _clf(seed: int = 0, optimizer: Any = "sgd") -> cr.Network:
    return cr.Network(
        SIZES, ["tanh", "softmax"], loss="cross_entropy", seed=seed, optimizer=optimizer
    )


def _clf_data(n: int = 90, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    labels = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, np.eye(3)[labels]


def _params(net: cr.Network) -> List[np.ndarray]:
    return [np.array(p, copy=True) for W, b in zip(net.weights, net.biases) for p in (W, b)]


def _same(a: List[np.ndarray], b: List[np.ndarray]) -> None:
    for i, (x, y) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(x, y, err_msg=f"{'Wb'[i % 2]}{i // 2 + 1}")


# ---- validation -----------------------------------------------------------------------------


def test_val_loss_is_the_loss_after_each_epoch() -> None:
    X, Y = _clf_data()
    Xv, Yv = _clf_data(40, seed=2)
    seen: List[float] = []
    net = _clf()
    h = net.fit(
        X,
        Y,
        epochs=6,
        lr=0.2,
        batch_size=16,
        validation_data=(Xv, Yv),
        callbacks=[lambda e, logs, n: seen.append(n.loss(Xv, Yv))],
    )
    assert len(h.val_loss) == 6
    assert_close(np.array(h.val_loss), np.array(seen), 1e-12, "val_loss")
    assert h.val_loss[-1] < h.val_loss[0]


def test_validation_split_holds_out_the_last_rows() -> None:
    X, Y = _clf_data(50)
    a, b = _clf(), _clf()
    ha = a.fit(X, Y, epochs=5, lr=0.2, validation_split=0.2, shuffle=True)
    hb = b.fit(X[:40], Y[:40], epochs=5, lr=0.2, validation_data=(X[40:], Y[40:]), shuffle=True)
    assert ha.history == hb.history
    _same(_params(a), _params(b))


def test_weighted_validation_loss() -> None:
    X, Y = _clf_data()
    Xv, Yv = _clf_data(30, seed=3)
    wv = np.random.default_rng(0).uniform(0, 2, size=30)
    seen: List[float] = []

    def weighted_val_loss(epoch, logs, net):
        Ws = [np.array(W) for W in net.weights]
        bs = [np.array(b) for b in net.biases]
        Zs, Hs = ref.forward(Ws, bs, [ref.activation("tanh"), ref.activation("softmax")], Xv)
        seen.append(
            float(np.sum(wv * ref.row_losses("cross_entropy", Zs[-1], Hs[-1], Yv)) / np.sum(wv))
        )

    h = _clf().fit(
        X, Y, epochs=4, lr=0.2, validation_data=(Xv, Yv, wv), callbacks=[weighted_val_loss]
    )
    assert_close(np.array(h.val_loss), np.array(seen), 1e-12, "weighted val_loss")


# ---- metrics --------------------------------------------------------------------------------


def _accuracy(P: np.ndarray, Y: np.ndarray) -> float:
    if Y.shape[1] == 1:
        return float(np.mean((P[:, 0] > 0.5) == (Y[:, 0] > 0.5)))
    return float(np.mean(np.argmax(P, axis=1) == np.argmax(Y, axis=1)))


def test_accuracy_on_validation_and_training_data() -> None:
    X, Y = _clf_data(120)
    net = _clf()
    # validation on the training data itself: with full batches, the training metric of
    # epoch e + 1 (from its forward pass, before its update) is the validation metric of epoch e
    h = net.fit(X, Y, epochs=8, lr=0.3, metrics=["accuracy"], validation_data=(X, Y))
    assert_close(np.array(h.accuracy[1:]), np.array(h.val_accuracy[:-1]), 1e-15, "accuracy")
    assert_close(np.array(h.loss[1:]), np.array(h.val_loss[:-1]), 1e-12, "loss")
    assert h.val_accuracy[-1] == _accuracy(net.predict(X), Y)
    assert 0.5 < h.val_accuracy[-1] <= 1.0


def test_binary_accuracy_and_chunked_validation() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 2))
    Y = (X[:, :1] > 0).astype(float)
    Xv = rng.normal(size=(2600, 2))  # several evaluation chunks
    Yv = (Xv[:, :1] > 0).astype(float)
    net = cr.Network([2, 4, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", seed=0)
    h = net.fit(
        X, Y, epochs=5, lr=0.5, batch_size=8, metrics=["accuracy"], validation_data=(Xv, Yv)
    )
    assert h.val_accuracy[-1] == pytest.approx(_accuracy(net.predict(Xv), Yv), abs=1e-15)
    assert_close(h.val_loss[-1], net.loss(Xv, Yv), 1e-12, "chunked val_loss")


def test_r2_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the R^2 oracle")
    X, Y = make_data([3, 6, 2], "mse", n=80, seed=5)
    Y = Y + X[:, :2]
    Xv, Yv = make_data([3, 6, 2], "mse", n=1500, seed=6)
    Yv = Yv + Xv[:, :2]
    wv = np.random.default_rng(1).uniform(0, 2, size=len(Xv))
    net = cr.Network([3, 6, 2], ["tanh", "linear"], seed=0, optimizer=cr.Adam(lr=0.02))
    h = net.fit(X, Y, epochs=20, batch_size=16, metrics=["r2"], validation_data=(Xv, Yv))
    P = net.predict(Xv)
    assert h.val_r2[-1] == pytest.approx(metrics.r2_score(Yv, P), rel=1e-12)
    h = net.fit(X, Y, epochs=1, batch_size=16, metrics=["r2"], validation_data=(Xv, Yv, wv))
    P = net.predict(Xv)
    assert h.val_r2[-1] == pytest.approx(metrics.r2_score(Yv, P, sample_weight=wv), rel=1e-12)
    # full batch, validation = training data: training r2 of epoch e + 1 = val r2 of epoch e
    h = net.fit(X, Y, epochs=4, metrics=["r2", "accuracy"], validation_data=(X, Y))
    assert_close(np.array(h.r2[1:]), np.array(h.val_r2[:-1]), 1e-12, "r2")
    assert h.keys() == ["loss", "r2", "accuracy", "val_loss", "val_r2", "val_accuracy", "lr"]


# ---- early stopping -------------------------------------------------------------------------


def _noisy_regression():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 3))
    Y = X[:, :1] + rng.normal(scale=0.8, size=(30, 1))
    Xv = rng.normal(size=(30, 3))
    Yv = Xv[:, :1]
    return X, Y, Xv, Yv


def _snapshots():
    snaps: List[List[np.ndarray]] = []
    return snaps, (lambda e, logs, net: snaps.append(_params(net)))


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    X, Y, Xv, Yv = _noisy_regression()
    snaps, record = _snapshots()
    es = cr.EarlyStopping(patience=5)
    net = cr.Network([3, 16, 1], ["tanh", "linear"], seed=0, optimizer=cr.SGD(lr=0.3, momentum=0.9))
    h = net.fit(X, Y, epochs=500, validation_data=(Xv, Yv), early_stopping=es, callbacks=[record])
    best = int(np.argmin(h.val_loss))
    assert es.best_epoch == best and es.best == h.val_loss[best]
    assert es.stopped_epoch == best + 5 and len(h) == best + 6 < 500
    _same(_params(net), snaps[best])
    assert net.loss(Xv, Yv) == pytest.approx(h.val_loss[best], rel=1e-12)


def test_early_stopping_restores_the_best_weights_at_max_epochs() -> None:
    X, Y, Xv, Yv = _noisy_regression()
    snaps, record = _snapshots()
    es = cr.EarlyStopping(patience=1000)
    net = cr.Network([3, 16, 1], ["tanh", "linear"], seed=0, optimizer=cr.SGD(lr=0.3, momentum=0.9))
    h = net.fit(X, Y, epochs=60, validation_data=(Xv, Yv), early_stopping=es, callbacks=[record])
    best = int(np.argmin(h.val_loss))
    assert len(h) == 60 and es.stopped_epoch is None
    assert best < 55, "the best epoch is the last one: this test would prove nothing"
    _same(_params(net), snaps[best])
    # without restore_best_weights the last weights stay
    net2 = cr.Network(
        [3, 16, 1], ["tanh", "linear"], seed=0, optimizer=cr.SGD(lr=0.3, momentum=0.9)
    )
    net2.fit(
        X,
        Y,
        epochs=60,
        validation_data=(Xv, Yv),
        early_stopping=cr.EarlyStopping(patience=1000, restore_best_weights=False),
    )
    _same(_params(net2), snaps[-1])


def test_a_callback_given_twice_is_refused_before_training() -> None:
    # early_stopping= and callbacks= would both call it: patience counted twice per epoch
    X, Y = _clf_data()
    es, net = cr.EarlyStopping(monitor="loss"), _clf()
    before = _params(net)
    for kwargs in (dict(early_stopping=es, callbacks=[es]), dict(callbacks=[es, es])):
        with pytest.raises(ValueError, match="the same EarlyStopping is given twice"):
            net.fit(X, Y, epochs=3, lr=0.1, **kwargs)
        _same(_params(net), before)


def test_early_stopping_on_accuracy_maximises_with_min_delta() -> None:
    X, Y = _clf_data(120)
    es = cr.EarlyStopping(monitor="accuracy", patience=2, min_delta=0.05)
    assert es.mode == "max"
    h = _clf().fit(X, Y, epochs=300, lr=0.3, metrics=["accuracy"], early_stopping=es)
    assert es.stopped_epoch == len(h) - 1 < 299
    acc = h.accuracy
    best = es.best_epoch
    assert all(a <= acc[best] + 0.05 for a in acc[best + 1 :])


# ---- callbacks ------------------------------------------------------------------------------


def test_callback_returning_false_stops_training() -> None:
    X, Y = _clf_data()
    calls: List[tuple] = []

    def cb(epoch, logs, network):
        calls.append((epoch, sorted(logs), network))
        return epoch < 3

    net = _clf()
    h = net.fit(X, Y, epochs=50, lr=0.1, metrics=["accuracy"], validation_split=0.2, callbacks=[cb])
    assert len(h) == 4 and [c[0] for c in calls] == [0, 1, 2, 3]
    assert calls[0][1] == sorted(["loss", "accuracy", "val_loss", "val_accuracy", "lr"])
    assert all(c[2] is net for c in calls)
    twin = _clf()
    twin.fit(X, Y, epochs=4, lr=0.1, validation_split=0.2)
    _same(_params(net), _params(twin))


def test_callback_returning_numpys_false_stops_training_and_none_does_not() -> None:
    X, Y = _clf_data()
    stop = _clf().fit(X, Y, epochs=50, lr=0.1, callbacks=[lambda e, logs, n: np.int64(e) < 2])
    assert len(stop) == 3
    assert len(_clf().fit(X, Y, epochs=5, lr=0.1, callbacks=[lambda e, logs, n: None])) == 5


def test_callback_object_and_stop_training() -> None:
    X, Y = _clf_data()
    events: List[str] = []

    class Recorder(cr.Callback):
        def on_train_begin(self, network):
            events.append("begin")

        def on_epoch_end(self, epoch, logs, network):
            events.append(f"epoch {epoch}")
            if epoch == 2:
                raise cr.StopTraining()

        def on_train_end(self, network):
            events.append("end")

    h = _clf().fit(X, Y, epochs=10, lr=0.1, callbacks=[Recorder()])
    assert len(h) == 3
    assert events == ["begin", "epoch 0", "epoch 1", "epoch 2", "end"]


def test_on_exception_runs_instead_of_on_train_end_when_fit_raises() -> None:
    X, Y = _clf_data()
    events: List[str] = []

    class Watcher(cr.Callback):
        def on_train_end(self, network):
            events.append("end")

        def on_exception(self, network, exception):
            events.append(type(exception).__name__)
            raise ValueError("a hook's own error does not replace fit's")

    def boom(epoch, logs, network):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _clf().fit(X, Y, epochs=5, lr=0.1, callbacks=[Watcher(), boom])
    linear = cr.Network([2, 3, 1], ["linear", "linear"], seed=4)
    Xd, Yd = np.random.default_rng(5).normal(size=(2, 20, 2))
    with pytest.raises(cr.DivergenceError):
        linear.fit(Xd, Yd[:, :1], epochs=10_000, lr=3.0, callbacks=[Watcher()])
    _clf().fit(X, Y, epochs=2, lr=0.1, callbacks=[Watcher()])
    assert events == ["KeyboardInterrupt", "DivergenceError", "end"]


def test_every_on_train_end_runs_when_one_raises() -> None:
    # early stopping, after the callbacks, still restores the best weights; the error reaches
    # the caller once every callback has ended (none gets on_exception: each got on_train_end)
    X, Y, Xv, Yv = _noisy_regression()
    snaps, record = _snapshots()
    events: List[str] = []

    class Ends(cr.Callback):
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        def on_train_end(self, network):
            events.append(self.name)
            if self.fail:
                raise RuntimeError(f"{self.name} failed")

        def on_exception(self, network, exception):
            events.append(f"{self.name} {type(exception).__name__}")

    es = cr.EarlyStopping(patience=1000)
    net = cr.Network([3, 16, 1], ["tanh", "linear"], seed=0, optimizer=cr.SGD(lr=0.3, momentum=0.9))
    cbs = [record, Ends("a", fail=True), Ends("b", fail=True), Ends("c")]
    with pytest.raises(RuntimeError, match="a failed"):
        net.fit(X, Y, epochs=60, validation_data=(Xv, Yv), early_stopping=es, callbacks=cbs)
    assert events == ["a", "b", "c"]
    assert es.best_epoch < 55  # (not the last epoch: the restore below is one)
    _same(_params(net), snaps[es.best_epoch])


def test_history_holds_the_epochs_run_during_and_after_a_fit_that_raised() -> None:
    # as Keras's model.history: the epochs of this fit so far, also when it raises
    X, Y = _clf_data()
    net = _clf()
    net.fit(X, Y, epochs=5, lr=0.1)
    seen: List[int] = []

    def fail(epoch, logs, network):
        seen.append(len(network.history))
        assert network.history.loss[-1] == logs["loss"]
        if epoch == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        net.fit(X, Y, epochs=10, lr=0.1, validation_split=0.2, callbacks=[fail])
    assert seen == [1, 2, 3]
    twin = _clf()
    twin.fit(X, Y, epochs=5, lr=0.1)
    assert net.history == twin.fit(X, Y, epochs=3, lr=0.1, validation_split=0.2)


def test_callback_exception_reaches_the_caller_with_consistent_weights() -> None:
    X, Y = _clf_data()

    class Boom(RuntimeError):
        pass

    err = Boom("from the callback")

    def cb(epoch, logs, network):
        if epoch == 4:
            raise err

    net = _clf(optimizer="adam")
    with pytest.raises(Boom) as info:
        net.fit(X, Y, epochs=20, lr=0.01, batch_size=32, callbacks=[cb], verbose=1)
    assert info.value is err
    twin = _clf(optimizer="adam")
    twin.fit(X, Y, epochs=5, lr=0.01, batch_size=32)
    _same(_params(net), _params(twin))
    assert net.get_optimizer_state()["step"] == twin.get_optimizer_state()["step"] == 15
    net.fit(X, Y, epochs=1, lr=0.01)  # still usable


# ---- progress output ------------------------------------------------------------------------


def test_verbose_levels(capsys) -> None:
    X, Y = _clf_data()
    _clf().fit(X, Y, epochs=7, lr=0.1)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    _clf().fit(X, Y, epochs=7, lr=0.1, verbose=1, validation_split=0.2)
    out = capsys.readouterr()
    assert out.out == ""
    assert "fit" in out.err and "7/7" in out.err and "epoch" in out.err
    assert "loss=" in out.err and "val_loss=" in out.err
    h = _clf().fit(X, Y, epochs=7, lr=0.1, verbose=2, metrics=["accuracy"], validation_split=0.2)
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert [re.match(r"epoch\s+(\d+)/7", ln).group(1) for ln in lines] == [
        str(e) for e in range(1, 8)
    ]
    assert float(re.search(r"\bloss (\S+)", lines[-1]).group(1)) == pytest.approx(
        h.loss[-1], rel=1e-5
    )
    assert float(re.search(r"val_loss (\S+)", lines[-1]).group(1)) == pytest.approx(
        h.val_loss[-1], rel=1e-5
    )
    assert "accuracy" in lines[0] and "lr 0.1" in lines[0]


# ---- History --------------------------------------------------------------------------------


def test_history_attributes_and_messages() -> None:
    X, Y = _clf_data()
    h = _clf().fit(X, Y, epochs=3, lr=0.1)
    assert len(h) == h.epochs == 3 and h.lr == [0.1] * 3 and h.history["loss"] == h.loss
    with pytest.raises(AttributeError, match="val_loss.*validation_data or validation_split"):
        h.val_loss
    with pytest.raises(AttributeError, match=r"metrics=\[\.\.\.\]"):
        h.accuracy
    assert "3 epochs" in repr(h)


def test_history_plot_draws_with_matplotlib() -> None:
    pytest.importorskip("matplotlib", reason="History.plot draws with matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, Y = _clf_data()
    h = _clf().fit(X, Y, epochs=5, lr=0.1, metrics=["accuracy"], validation_split=0.2)
    fig = h.plot()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "lr"]
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["loss", "val_loss"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_history_plot_saves_to_a_path(tmp_path) -> None:
    """plot("loss.png") saves the figure there (a string was once read as a list of keys)."""
    pytest.importorskip("matplotlib", reason="History.plot draws with matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = cr.History(loss=[1.0, 0.5, 0.25], val_loss=[1.1, 0.6, 0.4], lr=[0.1] * 3)
    for path in (str(tmp_path / "loss.png"), tmp_path / "curves.svg"):
        fig = h.plot(path)
        assert [ax.get_title() for ax in fig.axes] == ["loss", "lr"]
        plt.close(fig)
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "curves.svg").read_bytes()[:1000]
    fig = h.plot(tmp_path / "only.png", keys=["loss"])  # keys by keyword, with a path
    assert [ax.get_title() for ax in fig.axes] == ["loss"] and (tmp_path / "only.png").exists()
    plt.close(fig)
    fig = h.plot(["lr"])  # a list in the first place: keys
    assert [ax.get_title() for ax in fig.axes] == ["lr"]
    plt.close(fig)
    with pytest.raises(TypeError, match="keys must be a list"):
        h.plot(keys="loss")


def test_history_plot_without_matplotlib(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    h = cr.History(loss=[1.0, 0.5])
    with pytest.raises(ImportError, match="pip install matplotlib"):
        h.plot()


# ---- the optimizer: configuration, lr, state ------------------------------------------------


def test_optimizer_names_objects_and_lr_precedence() -> None:
    X, Y = _clf_data()
    assert cr.optimizer_names() == ["adam", "adamw", "rmsprop", "sgd"]
    assert isinstance(_clf().optimizer, cr.SGD) and _clf()._core.fuses_into_backward
    assert not _clf(optimizer=cr.SGD(momentum=0.9))._core.fuses_into_backward
    assert _clf(optimizer="adam").optimizer == cr.Adam()
    # the optimizer's lr is fit's default; fit's lr wins for that call
    a, b, c = _clf(optimizer=cr.SGD(lr=0.07)), _clf(), _clf(optimizer=cr.SGD(lr=0.5))
    ha = a.fit(X, Y, epochs=3)
    b.fit(X, Y, epochs=3, lr=0.07)
    hc = c.fit(X, Y, epochs=3, lr=0.07)
    assert ha.lr == hc.lr == [0.07] * 3 and c.optimizer.lr == 0.5
    _same(_params(a), _params(b))
    _same(_params(a), _params(c))
    # step() too
    a.gradients(X, Y)
    b.gradients(X, Y)
    a.step()
    b.step(lr=0.07)
    _same(_params(a), _params(b))


def test_optimizer_state_carries_over_and_fit_optimizer_resets_it() -> None:
    X, Y = _clf_data()
    a, b = _clf(optimizer="adam"), _clf(optimizer="adam")
    a.fit(X, Y, epochs=5, batch_size=30)
    a.fit(X, Y, epochs=3, batch_size=30)
    b.fit(X, Y, epochs=8, batch_size=30)
    _same(_params(a), _params(b))
    assert a.get_optimizer_state()["step"] == 24
    # fit(optimizer=...) installs a fresh optimizer; so does assigning net.optimizer
    a.fit(X, Y, epochs=2, optimizer=cr.RMSprop(lr=0.001, momentum=0.5))
    state = a.get_optimizer_state()
    assert state["optimizer"] == "rmsprop" and state["step"] == 2
    assert list(state["buffers"]) == ["square_avg", "momentum_buffer"]
    a.optimizer = "adamw"
    assert a.get_optimizer_state()["step"] == 0
    assert all(np.all(x == 0) for x in a.get_optimizer_state()["buffers"]["exp_avg"])


@pytest.mark.parametrize(
    "optimizer",
    [
        cr.SGD(lr=0.05, momentum=0.9, nesterov=True),
        cr.Adam(lr=0.01),
        cr.AdamW(lr=0.01),
        cr.RMSprop(lr=0.01, centered=True),
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_optimizer_state_round_trip(optimizer: cr.Optimizer, dtype: str) -> None:
    X, Y = _clf_data()
    a = cr.Network(
        SIZES, ["tanh", "softmax"], "cross_entropy", seed=0, optimizer=optimizer, dtype=dtype
    )
    a.fit(X, Y, epochs=4, batch_size=20)
    state = a.get_optimizer_state()
    assert state["step"] == 20
    shapes = [(3, 8), (8,), (8, 3), (3,)]
    for name, arrays in state["buffers"].items():
        assert [x.shape for x in arrays] == shapes and all(
            x.dtype == np.dtype(dtype) for x in arrays
        )
        assert any(np.any(x != 0) for x in arrays), name
    # a second network with the same weights and this state continues exactly like the first
    b = cr.Network(
        SIZES, ["tanh", "softmax"], "cross_entropy", seed=99, optimizer=optimizer, dtype=dtype
    )
    for l in range(2):
        b.weights[l], b.biases[l] = a.weights[l], a.biases[l]
    b.set_optimizer_state(state)
    for arrays in state["buffers"].values():  # get_optimizer_state returned copies
        arrays[0][...] = 123.0
    a.fit(X, Y, epochs=3, batch_size=20)
    b.fit(X, Y, epochs=3, batch_size=20)
    _same(_params(a), _params(b))


def test_optimizer_float32_follows_float64() -> None:
    X, Y = _clf_data()
    hs = []
    for dtype in ("float64", "float32"):
        net = cr.Network(
            SIZES,
            ["tanh", "softmax"],
            "cross_entropy",
            seed=0,
            dtype=dtype,
            optimizer=cr.Adam(lr=0.01),
        )
        hs.append(net.fit(X, Y, epochs=30, batch_size=30).loss)
    assert_close(np.array(hs[1]), np.array(hs[0]), 1e-4, "float32 Adam loss history")
    assert hs[0][-1] < 0.7 * hs[0][0]


def test_progress_bar_moves_within_a_long_epoch(monkeypatch) -> None:
    """verbose=1 (or True): the core reports the rows done between batches, at most every
    250 ms, so a bar over 2 epochs of ~1 s each moves within them, not only at their ends."""
    import time

    from chainrule import callbacks

    class Slow(cr.Activation):
        def forward(self, z):
            time.sleep(0.004)
            return z

        def derivative(self, z, h):
            return np.ones_like(z)

    seen = []
    original = callbacks.ProgressBar.on_progress

    def record(self, epoch, rows_done, rows):
        original(self, epoch, rows_done, rows)
        seen.append((epoch, rows_done, rows, self.bar.n))

    monkeypatch.setattr(callbacks.ProgressBar, "on_progress", record)
    X = np.random.default_rng(0).normal(size=(250, 2))
    net = cr.Network([2, 3, 1], [Slow(), "linear"], seed=0)
    net.fit(X, X[:, :1], epochs=2, batch_size=1, lr=1e-3, verbose=True)
    within = [s for s in seen if 0 < s[1] < s[2]]
    assert len(within) >= 4, seen  # ~2 s of training, a report every 250 ms
    for epoch, done, rows, shown in within:
        assert rows == 250 and shown == pytest.approx(epoch + done / rows, abs=0.01)
    assert {s[0] for s in within} == {0, 1}


def test_verbose_accepts_booleans(capsys) -> None:
    X, Y = _clf_data()
    _clf().fit(X, Y, epochs=3, lr=0.1, verbose=False)
    assert capsys.readouterr().err == ""
    _clf().fit(X, Y, epochs=3, lr=0.1, verbose=True)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize("width", [256, 8])  # the general path (plain SGD fused) and the fused step
def test_a_callback_may_install_another_optimizer_during_fit(width):
    """The fit held the optimizer it started with: a callback installing another (or editing a
    setting that a state read then applied) freed it, and the general path's next fused SGD
    step called into freed memory (a segfault). The fit now asks for the optimizer at every
    step: one installed after epoch 2 trains epochs 3 and 4, exactly as a second fit would."""
    X = np.random.default_rng(0).normal(size=(64, 16))
    Y = X[:, :1] ** 2

    def make():
        return cr.Network([16, width, 1], seed=0)

    def swap(epoch, logs, network):
        if epoch == 1:
            network.optimizer = cr.Adam()

    def edit(epoch, logs, network):
        if epoch == 1:
            network.optimizer.momentum = 0.9
            network.get_optimizer_state()  # (a checkpoint's save reads it: the edit applies)

    a, b, c, d = make(), make(), make(), make()
    a.fit(X, Y, epochs=4, lr=0.01, batch_size=16, callbacks=[swap])
    b.fit(X, Y, epochs=2, lr=0.01, batch_size=16)
    b.fit(X, Y, epochs=2, lr=0.01, batch_size=16, optimizer=cr.Adam())
    c.fit(X, Y, epochs=4, lr=0.01, batch_size=16, callbacks=[edit])
    d.fit(X, Y, epochs=2, lr=0.01, batch_size=16)
    d.optimizer.momentum = 0.9
    d.fit(X, Y, epochs=2, lr=0.01, batch_size=16)
    for x, y in [(a, b), (c, d)]:
        for p, q in zip(x.parameters.values(), y.parameters.values()):
            np.testing.assert_array_equal(p, q)
    assert isinstance(a.optimizer, cr.Adam) and len(a.history.loss) == 4


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "batch", [lambda buf: buf, lambda buf: buf[1:], lambda buf: buf.reshape(-1).reshape(buf.shape)]
)
def test_forward_keeps_a_copy_of_X_for_backward(dtype: str, batch: Any) -> None:
    """forward(X) kept the caller's array when it needed no conversion, and backward() read it
    again: a batch buffer refilled in place in between changed dW1 silently (torch saves
    what backward needs)."""
    rng = np.random.default_rng(0)
    buf = rng.normal(size=(9, 3)).astype(dtype)
    X = batch(buf)
    Y = rng.normal(size=(X.shape[0], 1))
    net = cr.Network([3, 5, 1], ["tanh", "linear"], seed=0, dtype=dtype)
    want = net.gradients(X.copy(), Y)
    net.forward(X)
    buf[:] = 0.0  # the loader refills its buffer
    for got, w in zip(net.backward(Y), want):
        np.testing.assert_array_equal(got.dW, w.dW)
