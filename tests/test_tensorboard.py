"""cr.TensorBoard: the event files tensorboardX writes, read back with the tensorboard
package's own reader (EventAccumulator): the loss, metrics and learning rate of every epoch,
the parameters' histograms, and the per-layer diagnostics and their histograms."""

import numpy as np
import pytest

pytest.importorskip(
    "tensorboardX", reason="cr.TensorBoard needs the tensorboard extra (tensorboardX)"
)
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="reading the event files back needs the tensorboard package",
)

from diagnostics_sample import FIGURES, fit_with_diagnostics  # noqa: E402

import chainrule as cr  # noqa: E402


def _read(path):
    acc = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0}
    )
    acc.Reload()
    return acc


def _data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 3))
    return X, (X.sum(axis=1) > 0).astype(float).reshape(-1, 1)


def test_scalars_and_parameter_histograms_read_back(tmp_path):
    X, Y = _data()
    net = cr.Network([3, 5, 1], ["relu", "sigmoid"], loss="binary_cross_entropy", seed=0)
    tb = cr.TensorBoard(tmp_path, histogram_every=2)
    history = net.fit(
        X,
        Y,
        epochs=6,
        batch_size=16,
        callbacks=[tb],
        metrics=["accuracy"],
        validation_split=0.25,
        lr_schedule=cr.ExponentialLR(0.9),
    )
    tb.close()
    acc = _read(tmp_path)
    tags = acc.Tags()
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == list(range(1, 7))
        # event files store float32
        np.testing.assert_allclose([e.value for e in events], history.history[key], rtol=1e-6)
    assert sorted(tags["histograms"]) == [
        "parameters/W1",
        "parameters/W2",
        "parameters/b1",
        "parameters/b2",
    ]
    hist = acc.Histograms("parameters/W1")
    assert [h.step for h in hist] == [2, 4, 6]
    final = hist[-1].histogram_value
    W1 = np.asarray(net.weights[0])
    assert final.num == W1.size
    assert final.min == pytest.approx(W1.min(), rel=1e-6)
    assert final.max == pytest.approx(W1.max(), rel=1e-6)
    assert final.sum == pytest.approx(W1.sum(), rel=1e-5, abs=1e-6)


def test_diagnostics_read_back_per_layer(tmp_path):
    X, Y = _data()
    net = cr.Network([3, 5, 4, 1], ["relu", "tanh", "sigmoid"], loss="binary_cross_entropy", seed=1)
    tb = cr.TensorBoard(tmp_path, histogram_every=0)
    history, records = fit_with_diagnostics(net, X, Y, callbacks=[tb], epochs=4)
    tb.close()
    acc = _read(tmp_path)
    scalars = set(acc.Tags()["scalars"])
    for layer in records[0]["layers"]:
        for key in FIGURES:
            tag = f"layer{layer['layer']}/{key}"
            if layer[key] is None:
                assert tag not in scalars
                continue
            events = acc.Scalars(tag)
            expected = [
                [L for L in r["layers"] if L["layer"] == layer["layer"]][0][key] for r in records
            ]
            assert [e.step for e in events] == [r["epoch"] + 1 for r in records]
            np.testing.assert_allclose([e.value for e in events], expected, rtol=1e-6)
        for name, hist in (layer.get("histograms") or {}).items():
            got = acc.Histograms(f"layer{layer['layer']}/{name}")
            assert len(got) == len(records)
            first = got[0].histogram_value
            assert first.num == sum(hist["counts"])
            assert list(first.bucket) == hist["counts"]
            np.testing.assert_allclose(first.bucket_limit, hist["edges"][1:], rtol=1e-6)


def test_arguments_are_checked(tmp_path):
    with pytest.raises(TypeError, match="log_dir"):
        cr.TensorBoard(3)
    with pytest.raises(ValueError, match="histogram_every"):
        cr.TensorBoard(tmp_path, histogram_every=-1)
    with pytest.raises(ValueError, match="log_dir must be a directory path, got ''"):
        cr.TensorBoard("")  # tensorboardX would write to runs/<date>_<host>
    for bad in ("x", -1, 0, float("nan"), float("inf"), True):
        # a string killed tensorboardX's writer thread: nothing was written, no error
        with pytest.raises(ValueError, match="flush_secs must be a number > 0"):
            cr.TensorBoard(tmp_path, flush_secs=bad)
    cr.TensorBoard(tmp_path / "ok", flush_secs=0.5).close()
