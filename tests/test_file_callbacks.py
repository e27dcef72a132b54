"""ModelCheckpoint and CSVLogger: what they write, when, and that a failure leaves the previous
file intact."""

import csv
import os

import numpy as np
import pytest

import chainrule as cr


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = np.tanh(X @ rng.normal(size=(3, 2)))
    return X, Y


def _net(seed=0):
    return cr.Network([3, 8, 2], ["tanh", "linear"], seed=seed, optimizer=cr.Adam(lr=0.05))


def _weights_equal(a, b):
    return all(np.array_equal(a.parameters[k], b.parameters[k]) for k in a.parameters)


# ---- ModelCheckpoint ------------------------------------------------------------------------


def test_saves_every_epoch_with_formatted_names(tmp_path, data):
    X, Y = data
    net = _net()
    ckpt = cr.ModelCheckpoint(tmp_path / "ep{epoch:02d}-{loss:.3f}.npz", monitor="loss")
    history = net.fit(X, Y, epochs=3, batch_size=20, callbacks=[ckpt])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"ep{e + 1:02d}-{loss:.3f}.npz" for e, loss in enumerate(history.loss)]
    last, meta = cr.load(tmp_path / names[-1], with_metadata=True)
    assert _weights_equal(last, net)  # the last epoch's file holds the final weights
    assert meta["checkpoint"]["epoch"] == 3 and meta["checkpoint"]["loss"] == history.loss[-1]
    assert ckpt.last_saved == os.fspath(tmp_path / names[-1])
    assert not [n for n in names if ".tmp" in n]  # no temporary files left behind


def test_a_checkpoint_holds_the_history_up_to_its_epoch(tmp_path, data):
    # not the previous fit's History: network.history is this fit's so far at each epoch end
    X, Y = data
    net = _net()
    net.fit(X, Y, epochs=4)
    ckpt = cr.ModelCheckpoint(tmp_path / "e{epoch}.npz", monitor="loss")
    history = net.fit(X, Y, epochs=3, metrics=["r2"], callbacks=[ckpt])
    saved = cr.load(tmp_path / "e2.npz")
    assert saved.history.history == {k: v[:2] for k, v in history.history.items()}


def test_save_best_only_keeps_the_best_epoch(tmp_path, data):
    X, Y = data
    Xv, Yv = X[:20] + 0.5, Y[:20]  # a validation set on which the best epoch is not the last
    path = tmp_path / "best.npz"
    saved = {}

    def record(epoch, logs, network):  # the weights at the end of each epoch
        saved[epoch] = {k: np.array(v) for k, v in network.parameters.items()}

    ckpt = cr.ModelCheckpoint(path, save_best_only=True)  # monitor val_loss, mode min
    net = _net()
    history = net.fit(
        X, Y, epochs=12, batch_size=10, validation_data=(Xv, Yv), callbacks=[record, ckpt]
    )
    best = int(np.argmin(history.val_loss))
    assert ckpt.best_epoch == best and ckpt.best == history.val_loss[best]
    loaded, meta = cr.load(path, with_metadata=True)
    assert meta["checkpoint"]["epoch"] == best + 1
    for name, value in saved[best].items():
        assert np.array_equal(loaded.parameters[name], value)


def test_save_best_only_keeps_the_best_of_earlier_fits(tmp_path, data):
    # as Keras's ModelCheckpoint, best carries over to the next fit with the same object: a
    # worse fit does not overwrite the best file
    X, Y = data
    path = tmp_path / "best.npz"
    ckpt = cr.ModelCheckpoint(path, save_best_only=True)
    net = _net()
    history = net.fit(X, Y, epochs=5, validation_split=0.3, callbacks=[ckpt])
    best, best_epoch, saved = ckpt.best, ckpt.best_epoch, path.read_bytes()
    assert best == min(history.val_loss)
    worse = net.fit(X, Y, epochs=2, lr=50.0, validation_split=0.3, callbacks=[ckpt])
    assert min(worse.val_loss) > best  # (every epoch of it worse)
    assert (ckpt.best, ckpt.best_epoch, path.read_bytes()) == (best, best_epoch, saved)


def test_initial_value_threshold_saves_only_what_beats_it(tmp_path, data):
    # as Keras's initial_value_threshold: best starts there, so a fit whose epochs are all
    # worse writes nothing, and one that beats it saves its best epoch
    X, Y = data
    path = tmp_path / "best.npz"
    net = _net()
    history = net.fit(X, Y, epochs=4, validation_split=0.3)
    floor = min(history.val_loss) / 1e6  # beyond what 3 more epochs reach
    ckpt = cr.ModelCheckpoint(path, save_best_only=True, initial_value_threshold=floor)
    assert ckpt.best == floor
    net.fit(X, Y, epochs=3, validation_split=0.3, callbacks=[ckpt])
    assert not path.exists() and ckpt.best == floor and ckpt.best_epoch is None
    ceiling = cr.ModelCheckpoint(path, save_best_only=True, initial_value_threshold=1e9)
    again = net.fit(X, Y, epochs=3, validation_split=0.3, callbacks=[ceiling])
    assert path.exists() and ceiling.best == min(again.val_loss)
    # mode max: a threshold of inf is never beaten
    top = cr.ModelCheckpoint(
        path, monitor="val_rmse", mode="max", save_best_only=True, initial_value_threshold=np.inf
    )
    before = path.read_bytes()
    net.fit(X, Y, epochs=2, validation_split=0.3, metrics=["rmse"], callbacks=[top])
    assert path.read_bytes() == before and top.best == np.inf


def test_mode_auto_maximises_accuracy(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    net = cr.Network([2, 6, 2], ["tanh", "softmax"], "cross_entropy", seed=0)
    ckpt = cr.ModelCheckpoint(tmp_path / "m.npz", monitor="accuracy", save_best_only=True)
    assert ckpt.mode == "max"
    history = net.fit(X, y, epochs=6, lr=0.5, metrics=["accuracy"], callbacks=[ckpt])
    assert ckpt.best == max(history.accuracy)
    assert ckpt.best_epoch == int(np.argmax(history.accuracy))


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, data, monkeypatch):
    X, Y = data
    path = tmp_path / "m.npz"
    net = _net()
    net.fit(X, Y, epochs=1, callbacks=[cr.ModelCheckpoint(path, monitor="loss")])
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        net.fit(X, Y, epochs=2, callbacks=[cr.ModelCheckpoint(path, monitor="loss")])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # the temporary file was removed


def test_an_unrecorded_monitor_matters_only_with_save_best_only(tmp_path, data):
    # as in Keras: without save_best_only the monitor only decides best, and every epoch is
    # saved when the fit does not record it (with it: ValueError, below)
    X, Y = data
    ckpt = cr.ModelCheckpoint(tmp_path / "m{epoch}.npz", monitor="val_accuracy")
    _net().fit(X, Y, epochs=2, callbacks=[ckpt])
    assert sorted(os.listdir(tmp_path)) == ["m1.npz", "m2.npz"]
    assert (ckpt.best, ckpt.best_epoch) == (-np.inf, None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(monitor="val_loss", save_best_only=True),
            "ModelCheckpoint monitors 'val_loss', which this fit does not record",
        ),
        (dict(path_name="m-{val_loss}.npz"), "cannot be formatted: KeyError 'val_loss'"),
        (dict(path_name="m-{0}.npz"), "cannot be formatted: IndexError"),
    ],
)
def test_problems_are_reported_before_training(tmp_path, data, kwargs, message):
    X, Y = data
    net = _net()
    before = {k: np.array(v) for k, v in net.parameters.items()}
    ckpt = cr.ModelCheckpoint(tmp_path / kwargs.pop("path_name", "m.npz"), **kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        net.fit(X, Y, epochs=2, callbacks=[ckpt])
    assert all(np.array_equal(net.parameters[k], v) for k, v in before.items())
    assert os.listdir(tmp_path) == []


def test_missing_directories_are_made_and_unwritable_ones_fail_before_training(tmp_path, data):
    X, Y = data
    net = _net()
    net.fit(X, Y, epochs=2, callbacks=[cr.ModelCheckpoint(tmp_path / "a" / "b" / "m.npz")])
    assert os.listdir(tmp_path / "a" / "b") == ["m.npz"]
    net.fit(X, Y, epochs=2, callbacks=[cr.ModelCheckpoint(tmp_path / "ep{epoch}" / "m.npz")])
    assert sorted(os.listdir(tmp_path)) == ["a", "ep1", "ep2"]
    # a directory that cannot be made (its parent is a file; the tests may run as root, for
    # whom permissions do not stop a write): OSError at once, nothing trained
    (tmp_path / "file").write_text("")
    before = {k: np.array(v) for k, v in net.parameters.items()}
    for callback in (
        cr.ModelCheckpoint(tmp_path / "file" / "m.npz"),
        cr.CSVLogger(tmp_path / "file" / "log.csv", append=True),
        cr.CSVLogger(tmp_path / "file" / "log.csv"),
    ):
        with pytest.raises(OSError, match="file"):
            net.fit(X, Y, epochs=2, callbacks=[callback])
        assert all(np.array_equal(net.parameters[k], v) for k, v in before.items())
    with pytest.raises(OSError, match=r"ModelCheckpoint: cannot write files into .*file'"):
        net.fit(X, Y, epochs=2, callbacks=[cr.ModelCheckpoint(tmp_path / "file" / "m.npz")])
    # a path that is a directory: no file can replace it
    with pytest.raises(IsADirectoryError, match=r"ModelCheckpoint: path .*a' is a directory"):
        net.fit(X, Y, epochs=2, callbacks=[cr.ModelCheckpoint(tmp_path / "a")])
    assert all(np.array_equal(net.parameters[k], v) for k, v in before.items())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(path=3), TypeError, "path must be a file name"),
        (dict(path=""), ValueError, "path must not be empty"),
        (dict(path="m.npz", monitor=1), TypeError, "monitor must be a name"),
        (dict(path="m.npz", mode="up"), ValueError, "mode"),
        (dict(path="m.npz", save_best_only="yes"), TypeError, "save_best_only"),
        (dict(path="m.npz", min_delta=-1), ValueError, "min_delta"),
        (dict(path="m.npz", initial_value_threshold="0.5"), TypeError, "initial_value_threshold"),
        (dict(path="m.npz", initial_value_threshold=float("nan")), ValueError, "must not be nan"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        cr.ModelCheckpoint(**kwargs)


def test_verbose_prints_each_save(tmp_path, data, capsys):
    X, Y = data
    _net().fit(
        X,
        Y,
        epochs=2,
        callbacks=[cr.ModelCheckpoint(tmp_path / "m.npz", monitor="loss", verbose=True)],
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1: loss ") and "m.npz" in lines[0]


# ---- CSVLogger ------------------------------------------------------------------------------


def _rows(path, delimiter=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_csv_logger_writes_every_figure(tmp_path, data):
    X, Y = data
    path = tmp_path / "log.csv"
    history = _net().fit(
        X,
        Y,
        epochs=4,
        batch_size=20,
        metrics=["r2"],
        validation_split=0.25,
        callbacks=[cr.CSVLogger(path)],
    )
    rows = _rows(path)
    assert rows[0] == ["epoch", "loss", "r2", "val_loss", "val_r2", "lr"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2, 3]
    for k, name in enumerate(rows[0][1:], start=1):
        assert [float(r[k]) for r in rows[1:]] == getattr(history, name)  # full precision


def test_csv_logger_overwrites_or_appends(tmp_path, data):
    X, Y = data
    path = tmp_path / "log.csv"
    net = _net()
    net.fit(X, Y, epochs=2, callbacks=[cr.CSVLogger(path)])
    net.fit(X, Y, epochs=3, callbacks=[cr.CSVLogger(path)])
    assert [r[0] for r in _rows(path)] == ["epoch", "0", "1", "2"]
    net.fit(X, Y, epochs=2, callbacks=[cr.CSVLogger(path, append=True)])
    assert [r[0] for r in _rows(path)] == ["epoch", "0", "1", "2", "3", "4"]


def test_csv_logger_appends_to_a_log_edited_by_hand(tmp_path, data):
    # a blank line at the end (an editor, `echo >> log.csv`) does not restart the epochs at 0,
    # and a last line without its line end is not continued by the first new row
    X, Y = data
    path = tmp_path / "log.csv"
    net = _net()
    net.fit(X, Y, epochs=2, callbacks=[cr.CSVLogger(path)])
    with open(path, "a", newline="") as f:
        f.write("\r\n\n")
    net.fit(X, Y, epochs=2, callbacks=[cr.CSVLogger(path, append=True)])
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    net.fit(X, Y, epochs=1, callbacks=[cr.CSVLogger(path, append=True)])
    rows = [r for r in _rows(path) if r]
    assert [r[0] for r in rows] == ["epoch", "0", "1", "2", "3", "4"]
    assert {len(r) for r in rows} == {3}
    open(tmp_path / "empty.csv", "w").close()
    net.fit(X, Y, epochs=1, callbacks=[cr.CSVLogger(tmp_path / "empty.csv", append=True)])
    assert [r[0] for r in _rows(tmp_path / "empty.csv")] == ["epoch", "0"]


def test_csv_logger_append_to_other_columns_fails_before_training(tmp_path, data):
    X, Y = data
    path = tmp_path / "log.csv"
    net = _net()
    net.fit(X, Y, epochs=2, callbacks=[cr.CSVLogger(path)])
    before, step = {k: np.array(v) for k, v in net.parameters.items()}, net.get_optimizer_state()
    with pytest.raises(
        ValueError,
        match="has the columns epoch, loss, lr, but this fit records epoch, loss, r2, lr",
    ):
        net.fit(X, Y, epochs=1, metrics=["r2"], callbacks=[cr.CSVLogger(path, append=True)])
    assert len(_rows(path)) == 3  # nothing written
    assert all(np.array_equal(net.parameters[k], v) for k, v in before.items())  # nor trained
    assert net.get_optimizer_state()["step"] == step["step"]


def test_csv_logger_append_to_a_new_file_and_separator(tmp_path, data):
    X, Y = data
    path = tmp_path / "log.tsv"
    _net().fit(X, Y, epochs=2, callbacks=[cr.CSVLogger(path, separator="\t", append=True)])
    rows = _rows(path, "\t")
    assert rows[0] == ["epoch", "loss", "lr"] and len(rows) == 3


def test_csv_logger_keeps_the_finished_epochs_when_training_fails(tmp_path, data):
    X, Y = data
    path = tmp_path / "log.csv"

    def fail(epoch, logs, network):
        if epoch == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError):
        _net().fit(X, Y, epochs=5, callbacks=[cr.CSVLogger(path), fail])
    assert [r[0] for r in _rows(path)] == ["epoch", "0", "1", "2"]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(path=None), TypeError),
        (dict(path="a.csv", separator=",,"), ValueError),
        (dict(path="a.csv", append=1), TypeError),
    ],
)
def test_csv_logger_bad_arguments(kwargs, error):
    with pytest.raises(error):
        cr.CSVLogger(**kwargs)


def test_reprs():
    assert (
        repr(cr.ModelCheckpoint("m.npz"))
        == "ModelCheckpoint('m.npz', monitor='val_loss', save_best_only=False, mode='min')"
    )
    assert repr(cr.ModelCheckpoint("m.npz", initial_value_threshold=0.25)).endswith(
        "mode='min', initial_value_threshold=0.25)"
    )
    assert repr(cr.CSVLogger("a.csv")) == "CSVLogger('a.csv', separator=',', append=False)"
