"""fit's per-layer diagnostics (issue 17) against a NumPy computation of the same figures on the
same run: the run is replayed step by step with the public forward / backward / step API (the
same arithmetic as fit, bit for bit: checked), and NumPy computes every figure from the layers'
H, the gradients and the weights of that replay. Counts (dead units, saturated values,
histogram counts) must be equal; the other figures agree to 1e-12 relative (float64)."""

import math
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule.diagnostics import FIGURES, DiagnosticsLog

SIZES = [5, 9, 7, 6, 3]
ACTS = ["relu", "tanh", "sigmoid", "softmax"]


def make_net(seed=3, optimizer="sgd", layers=None):
    net = cr.Network(
        layers or SIZES,
        None if layers else ACTS,
        loss="cross_entropy",
        seed=seed,
        optimizer=optimizer,
    )
    if layers is None:
        net.layers[0].b[[1, 4]] = -40.0  # two relu units that never fire: dead
        net.layers[1].W[...] *= 3.0  # tanh units driven into saturation
    return net


def data(n=37, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, SIZES[0]))
    return X, np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], n)]


def l2(a):
    return float(np.sqrt(np.sum(np.asarray(a, dtype=np.float64) ** 2)))


def histogram(x, bins):
    """The documented fixed bins: [-2^e, 2^e] ([0, 2^e] without negatives), 2^e >= max|x|."""
    x = np.asarray(x, dtype=np.float64).ravel()
    top = float(np.max(np.abs(x))) if x.size else 0.0
    e = -64
    while e < 63 and 2.0**e < top:
        e += 1
    hi = 2.0**e
    lo = -hi if np.any(x < 0) else 0.0
    width = (hi - lo) / bins
    k = np.clip(np.floor((x - lo) / width), 0, bins - 1).astype(int)
    return {
        "edges": [lo + i * width for i in range(bins + 1)],
        "counts": np.bincount(k, minlength=bins).tolist(),
    }


BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def replay(net, X, Y, epochs, lr, batch_size, every=1, every_steps=None, bins=None):
    """The records of fit(X, Y, ...) computed in NumPy from a step-by-step replay."""
    n = X.shape[0]
    L = len(net.layers)
    records, seen, step = [], [[] for _ in range(L)], 0
    for epoch in range(epochs):
        starts = list(range(0, n, batch_size))
        for start in starts:
            xb, yb = X[start : start + batch_size], Y[start : start + batch_size]
            net.forward(xb)
            Hs = [np.array(layer.H) for layer in net.layers]
            g = net.backward(yb)
            before = [np.array(layer.W) for layer in net.layers]
            net.step(lr=lr)
            step += 1
            for l in range(L):
                seen[l].append(Hs[l])
            last = start == starts[-1]
            due = (step % every_steps == 0) if every_steps else (last and (epoch + 1) % every == 0)
            if not due:
                continue
            layers = []
            for l, layer in enumerate(net.layers):
                H = np.concatenate(seen[l])
                act = ACTS[l]
                d = {
                    "layer": l + 1,
                    "kind": "Dense",
                    "activation": act,
                    "h_mean": float(np.mean(H)),
                    "h_std": float(np.std(H)),
                    "dead_fraction": float(np.mean(np.all(H == 0, axis=0)))
                    if act == "relu"
                    else None,
                    "saturated_fraction": None,
                    "w_norm": l2(layer.W),
                    "dw_norm": l2(g[l].dW),
                    "b_norm": l2(layer.b),
                    "db_norm": l2(g[l].db),
                    "update_ratio": l2(np.asarray(layer.W) - before[l]) / l2(before[l]),
                }
                if act in BOUNDS:
                    lo, hi = BOUNDS[act]
                    near = (H <= lo + 0.03 * (hi - lo)) | (H >= hi - 0.03 * (hi - lo))
                    d["saturated_fraction"] = float(np.mean(near))
                if bins:
                    d["histograms"] = {
                        "H": histogram(Hs[l], bins),
                        "dZ": histogram(g[l].dZ, bins),
                        "W": histogram(layer.W, bins),
                    }
                layers.append(d)
            records.append({"epoch": epoch, "step": step, "layers": layers})
            seen = [[] for _ in range(L)]
    return records


def assert_records_match(got, want, rtol=1e-12):
    assert len(got) == len(want)
    for r, w in zip(got, want):
        assert (r["epoch"], r["step"]) == (w["epoch"], w["step"])
        assert len(r["layers"]) == len(w["layers"])
        for a, b in zip(r["layers"], w["layers"]):
            where = f"record at step {w['step']}, layer {b['layer']}"
            for key in ("layer", "kind", "activation", "dead_fraction", "saturated_fraction"):
                assert a[key] == b[key], f"{where}: {key} {a[key]!r} != {b[key]!r}"  # counts
            for key in (
                "h_mean",
                "h_std",
                "w_norm",
                "dw_norm",
                "b_norm",
                "db_norm",
                "update_ratio",
            ):
                assert a[key] == pytest.approx(b[key], rel=rtol, abs=1e-300), f"{where}: {key}"
            if "histograms" in b:
                for q in ("H", "dZ", "W"):
                    assert a["histograms"][q]["counts"] == b["histograms"][q]["counts"], (
                        f"{where}: histogram of {q}"
                    )
                    assert a["histograms"][q]["edges"] == b["histograms"][q]["edges"]


def test_every_epoch_equals_numpy_on_the_same_run():
    X, Y = data()
    net, twin = make_net(), make_net()
    history = net.fit(X, Y, epochs=3, lr=0.3, batch_size=8, diagnostics=True)
    want = replay(twin, X, Y, epochs=3, lr=0.3, batch_size=8)
    for a, b in zip(net.parameters.values(), twin.parameters.values()):
        np.testing.assert_array_equal(a, b)  # the same run: fit and the replay, bit for bit
    assert_records_match(list(history.diagnostics), want)
    assert history.diagnostics[0]["layers"][0]["dead_fraction"] == pytest.approx(2 / 9)
    assert history.diagnostics[0]["layers"][1]["saturated_fraction"] > 0


def test_every_k_steps_with_histograms_equals_numpy():
    X, Y = data()
    net, twin = make_net(), make_net()
    spec = cr.Diagnostics(every_steps=3, histograms=True, bins=7)
    history = net.fit(X, Y, epochs=2, lr=0.2, batch_size=6, diagnostics=spec)
    want = replay(twin, X, Y, epochs=2, lr=0.2, batch_size=6, every_steps=3, bins=7)
    assert len(want) == 4  # 14 steps
    assert_records_match(list(history.diagnostics), want)


def test_every_second_epoch_and_training_is_unchanged():
    X, Y = data()
    plain, watched = make_net(optimizer="adam"), make_net(optimizer="adam")
    plain.fit(X, Y, epochs=4, batch_size=10, shuffle=True)
    h = watched.fit(
        X,
        Y,
        epochs=4,
        batch_size=10,
        shuffle=True,
        diagnostics=cr.Diagnostics(every=2, histograms=True),
    )
    for a, b in zip(plain.parameters.values(), watched.parameters.values()):
        np.testing.assert_array_equal(a, b)
    assert [(r["epoch"], r["step"]) for r in h.diagnostics] == [(1, 8), (3, 16)]
    assert h.loss == plain.history.loss


def test_non_dense_layers_report_what_applies():
    X, Y = data()
    net = cr.Network(
        [5, cr.Dense(8, "relu"), cr.BatchNorm(), cr.Dropout(0.2), cr.Dense(3, "softmax")],
        loss="cross_entropy",
        seed=0,
    )
    h = net.fit(X, Y, epochs=1, batch_size=10, diagnostics=cr.Diagnostics(histograms=True, bins=5))
    layers = h.diagnostics[0]["layers"]
    assert [d["kind"] for d in layers] == ["Dense", "BatchNorm", "Dropout", "Dense"]
    for d in layers[1:3]:
        assert d["activation"] is None and math.isfinite(d["h_mean"]) and d["h_std"] > 0
        assert all(d[k] is None for k in FIGURES[2:])
        assert d["histograms"]["dZ"] is None and d["histograms"]["W"] is None
        assert sum(d["histograms"]["H"]["counts"]) == 7 * 8  # the last step's 7 rows
    # BatchNorm's output: mean 0, std 1 per batch but for the small steps of gamma and beta
    assert abs(layers[1]["h_mean"]) < 1e-2 and layers[1]["h_std"] == pytest.approx(1, abs=1e-2)


def test_callback_sees_the_latest_record_and_history_keeps_them():
    X, Y = data()
    net = make_net()
    seen = []

    def callback(epoch, logs, network):
        seen.append((epoch, network.diagnostics.latest["epoch"], len(network.diagnostics)))

    h = net.fit(X, Y, epochs=3, batch_size=16, diagnostics=True, callbacks=[callback])
    assert seen == [(0, 0, 1), (1, 1, 2), (2, 2, 3)]
    assert net.diagnostics is h.diagnostics and len(h.diagnostics) == 3

    class Listener(cr.Callback):  # as the dashboard and the run recorder: each record, live
        got: list = []

        def on_diagnostics(self, records):
            self.got.append((len(seen), records))

    listener = Listener()
    net.fit(X, Y, epochs=2, batch_size=16, diagnostics=True, callbacks=[callback, listener])
    assert [(k, r[0]["epoch"]) for k, r in listener.got] == [(3, 0), (4, 1)]  # before epoch end
    h2 = net.fit(X, Y, epochs=1)  # off: an empty log
    assert len(h2.diagnostics) == 0 and h2.diagnostics.latest is None


def test_history_survives_pickle_and_the_model_file(tmp_path):
    X, Y = data()
    net = make_net()
    # a record with a NaN figure (no rows): written and read back as NaN
    h = net.fit(X, Y, epochs=2, batch_size=16, diagnostics=cr.Diagnostics(histograms=True))
    assert pickle.loads(pickle.dumps(h)) == h
    again = pickle.loads(pickle.dumps(net))
    assert again.history.diagnostics == h.diagnostics and len(h.diagnostics) == 2
    net.save(tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert loaded.history.diagnostics == h.diagnostics
    log = DiagnosticsLog([{"epoch": 0, "step": 1, "layers": [dict.fromkeys(FIGURES, math.nan)]}])
    assert DiagnosticsLog.from_json(log.to_json()) == log
    with pytest.raises(ValueError, match="invalid diagnostics"):
        DiagnosticsLog.from_json([{"epoch": 0}])


def test_dataframe():
    pd = pytest.importorskip("pandas")
    X, Y = data()
    h = make_net().fit(X, Y, epochs=2, batch_size=16, diagnostics=True)
    df = h.diagnostics.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 2 * 4
    assert list(df.columns[:5]) == ["epoch", "step", "layer", "kind", "activation"]
    assert (
        df.loc[(df.epoch == 1) & (df.layer == 2), "h_std"].item()
        == h.diagnostics[1]["layers"][1]["h_std"]
    )


def test_bad_arguments():
    X, Y = data()
    net = make_net()
    before = [np.array(p) for p in net.parameters.values()]
    with pytest.raises(TypeError, match="diagnostics must be True, False or a chainrule"):
        net.fit(X, Y, diagnostics="yes")
    with pytest.raises(ValueError, match="every .* or every_steps, not both"):
        cr.Diagnostics(every=2, every_steps=3)
    with pytest.raises(ValueError, match="diagnostics: every must be >= 1"):
        net.fit(X, Y, diagnostics=cr.Diagnostics(every=0))
    with pytest.raises(ValueError, match=r"diagnostics: bins must be in \[1, 10000\]"):
        net.fit(X, Y, diagnostics=cr.Diagnostics(histograms=True, bins=0))
    with pytest.raises(TypeError, match="every must be an integer"):
        cr.Diagnostics(every=1.5)
    for a, b in zip(before, net.parameters.values()):
        np.testing.assert_array_equal(a, b)


def test_diagnose_one_batch_without_changing_the_model():
    X, Y = data()
    net, twin = make_net(), make_net()
    net.fit(X, Y, epochs=1, batch_size=8)
    twin.fit(X, Y, epochs=1, batch_size=8)
    report = net.diagnose(X[:20], Y[:20], lr=0.3, histograms=True, bins=6)
    for a, b in zip(net.parameters.values(), twin.parameters.values()):
        np.testing.assert_array_equal(a, b)
    assert net.get_dropout_state() == twin.get_dropout_state()
    # the same figures as one step of fit would measure, from NumPy
    twin.forward(X[:20])
    g = twin.backward(Y[:20])
    for l, d in enumerate(report.layers):
        H = np.asarray(twin.layers[l].H)
        assert d["h_mean"] == pytest.approx(float(np.mean(H)), rel=1e-12)
        assert d["h_std"] == pytest.approx(float(np.std(H)), rel=1e-12)
        assert d["dw_norm"] == pytest.approx(l2(g[l].dW), rel=1e-12)
        assert d["update_ratio"] == pytest.approx(
            0.3 * l2(g[l].dW) / l2(twin.layers[l].W), rel=1e-12
        )
        assert d["histograms"]["dZ"]["counts"] == histogram(g[l].dZ, 6)["counts"]
    assert report[1]["dead_fraction"] == float(
        np.mean(np.all(np.asarray(twin.layers[0].H) == 0, axis=0))
    )
    text = str(report)
    assert "||dW||" in text and " 22% " in text  # 2 of 9 units dead: in the table, not flagged
    assert "dead units" not in text
    assert report.problems and all(p.startswith("layer ") for p in report.problems)
    assert net.diagnose(X, Y)[1]["update_ratio"] is None  # no lr, no update


def test_diagnose_flags_in_plain_words():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4)) * 30  # huge inputs: saturated tanh, dying relu
    Y = rng.normal(size=(64, 1))
    net = cr.Network([4, 16, 16, 16, 1], ["tanh", "tanh", "tanh", "linear"], seed=0)
    text = str(net.diagnose(X, Y, lr=10.0))
    assert "of the tanh outputs are saturated" in text
    assert "far above ~1e-3" in text
    net = cr.Network([4, 8, 1], ["relu", "linear"], seed=0)
    net.layers[0].b[...] = -1e3
    text = str(net.diagnose(X / 30, Y, lr=1e-9))
    assert "layer 1: 100% dead units" in text and "layer 2: ||dW|| is 0" in text
    net = cr.Network([4, 8, 1], ["relu", "linear"], seed=0)
    assert "far below ~1e-3" in str(net.diagnose(X / 30, Y, lr=1e-9))
    net = cr.Network([4, 8, 1], ["tanh", "linear"], seed=0)
    net.weights[0] = np.zeros((4, 8))  # a gradient, no weights: an infinite update ratio
    problems = net.diagnose(X / 30, Y, lr=0.1).problems
    assert any(p.startswith("layer 1: ||W|| is 0 while ||dW|| = ") for p in problems)
    with pytest.raises(ValueError, match="diagnose"):
        net.diagnose(X[:, :3], Y)
