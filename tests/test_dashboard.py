"""The live dashboard without a browser: its server (loopback only, the token, the Host
check, the run's own data), the views it serves against the network's own numbers, the
recording of a run to a directory and its replay (``chainrule dashboard LOG_DIR``), and the
self-contained report. The browser tests are in test_dashboard_browser.py."""

import errno
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tornado", reason="the dashboard needs the dashboard extra (tornado)")
pytest.importorskip("plotly", reason="the dashboard needs the dashboard extra (plotly)")

from diagnostics_sample import FIGURES, fit_with_diagnostics  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import cli  # noqa: E402
from chainrule import dashboard_views as views
from chainrule.dashboard_server import Server  # noqa: E402
from chainrule.run_log import open_dashboard  # noqa: E402


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    Y = (X[:, 0] * X[:, 1] > 0).astype(float).reshape(-1, 1)
    return X, Y


def _net(seed=0):
    return cr.Network(
        [2, 6, 5, 1],
        ["tanh", "relu", "sigmoid"],
        loss="binary_cross_entropy",
        seed=seed,
        optimizer=cr.Adam(lr=0.02),
    )


def _get(url, headers=None):
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=headers or {}), timeout=10
    ) as r:
        return r.status, r.read()


def _refused(url, headers=None):
    """The HTTP status of a request that fails (the error's response is closed)."""
    try:
        _get(url, headers)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    raise AssertionError(f"{url} was answered")


def _json(url):
    return json.loads(_get(url)[1])


def _api(server_url, path):
    base, token = server_url.split("?token=")
    return f"{base}api/{path}{'&' if '?' in path else '?'}token={token}"


@pytest.fixture
def trained():
    X, Y = _data()
    net = _net()
    dash = cr.Dashboard(interval=0.0, quiet=True)
    history = net.fit(X, Y, epochs=30, batch_size=16, metrics=["accuracy"], callbacks=[dash])
    yield net, X, Y, history, dash
    dash.close()


def test_the_served_run_is_the_fit_s_history(trained):
    net, X, Y, history, dash = trained
    run = _json(_api(dash.url, "run"))
    assert run["status"] == "finished" and run["epochs_done"] == 30 and run["format"] == 1
    assert run["history"]["loss"] == history.loss  # exact: JSON keeps every float64 digit
    assert run["history"]["accuracy"] == history.accuracy
    assert run["history"]["lr"] == history.lr
    assert run["epochs"][0] == 0 and run["epochs"][-1] == 30
    assert [L["n_out"] for L in run["meta"]["layers"]] == [6, 5, 1]
    assert [L["activation"] for L in run["meta"]["layers"]] == ["tanh", "relu", "sigmoid"]


def test_the_frame_holds_the_network_s_own_numbers(trained):
    """Z, H and dZ of the chosen row, W and dW, against the forward and backward pass
    written from the derivation (docs/design.md section 1) on the kept rows."""
    net, X, Y, history, dash = trained
    f = _json(_api(dash.url, "frame?epoch=30&row=3"))
    Xs, Ys = views.sample_rows(X, Y)
    assert f["epoch"] == 30 and f["derivation"]["row"] == 3
    assert f["derivation"]["x"] == Xs[3].tolist()
    H = Xs
    Ws = [np.asarray(w) for w in net.weights]
    bs = [np.asarray(b) for b in net.biases]
    acts = [np.tanh, lambda z: np.maximum(z, 0), lambda z: 1 / (1 + np.exp(-z))]
    Hs, Zs = [Xs], []
    for W, b, act in zip(Ws, bs, acts):
        Z = H @ W + b
        H = act(Z)
        Zs.append(Z)
        Hs.append(H)
    m = Xs.shape[0]
    dZ3 = Hs[3] - Ys  # sigmoid + binary cross-entropy, per-sample delta
    dZ2 = (dZ3 @ Ws[2].T) * (Zs[1] > 0)
    dZ1 = (dZ2 @ Ws[1].T) * (1 - Hs[1] ** 2)
    for layer, Z, Hl, dZ in zip(f["derivation"]["layers"], Zs, Hs[1:], (dZ1, dZ2, dZ3)):
        np.testing.assert_allclose(layer["Z"], Z[3], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer["H"], Hl[3], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer["dZ"], dZ[3], rtol=1e-10, atol=1e-13)
    for hm, W, H_prev, dZ in zip(f["heatmaps"], Ws, Hs, (dZ1, dZ2, dZ3)):
        assert hm["shape"] == list(W.shape)
        np.testing.assert_array_equal(hm["W"], W)
        np.testing.assert_allclose(hm["dW"], H_prev.T @ dZ / m, rtol=1e-10, atol=1e-14)
    s = f["surface"]
    assert s["kind"] == "value" and len(s["z"]) == views.GRID
    grid = np.array([[s["x"][4], s["y"][7]]])
    np.testing.assert_allclose(s["z"][7][4], net.predict(grid)[0, 0], rtol=1e-12)
    assert s["points"]["label"] == Ys[:, 0].tolist()


def test_stepping_back_shows_an_earlier_snapshot(trained):
    net, X, Y, history, dash = trained
    run = _json(_api(dash.url, "run"))
    first = _json(_api(dash.url, "frame?epoch=0&row=0"))
    last = _json(_api(dash.url, "frame?epoch=30&row=0"))
    assert first["epoch"] == 0 and last["epoch"] == 30 and len(run["epochs"]) >= 3
    assert first["heatmaps"][0]["W"] != last["heatmaps"][0]["W"]
    # the frames come from a copy: the trained network's weights are untouched
    np.testing.assert_array_equal(last["heatmaps"][0]["W"], net.weights[0])


def test_requests_without_the_token_or_from_another_host_are_refused(trained):
    dash = trained[4]
    base, token = dash.url.split("?token=")
    for url in (
        base,
        base + "api/run",
        base + "api/run?token=wrong",
        base + "static/dashboard.js",
        base + "api/frame?token=" + token[:-1],
    ):
        assert _refused(url) == 403, url
    status, body = _get(base + "api/run", headers={"X-Chainrule-Token": token})
    assert status == 200 and json.loads(body)["epochs_done"] == 30
    # DNS rebinding: another site's name for this address
    assert _refused(dash.url, headers={"Host": f"attacker.example:{dash.server.port}"}) == 403
    assert _refused(base + f"static/..%2Fdashboard.py?token={token}") == 404  # nothing else
    assert _refused(base + f"static/index.html?token={token}") == 404


def test_it_binds_the_loopback_address_only(trained):
    dash = trained[4]
    assert dash.url.startswith("http://127.0.0.1:") and dash.server.host == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", dash.server.port), timeout=5):
        pass
    with pytest.raises(OSError):  # another address of this machine, even a loopback one
        socket.create_connection(("127.0.0.2", dash.server.port), timeout=5).close()
    with pytest.raises(ValueError, match="loopback"):
        Server(dash, host="0.0.0.0")


def test_the_page_and_its_scripts_are_served_from_the_package(trained):
    dash = trained[4]
    base, token = dash.url.split("?token=")
    status, page = _get(dash.url)
    assert status == 200 and b"chainrule dashboard" in page
    assert b"http" not in page.split(b"<body>")[1]  # no script or style from another site
    for name in ("dashboard.js", "dashboard.css", "plotly.min.js"):
        status, body = _get(f"{base}static/{name}?token={token}")
        assert status == 200 and len(body) > 500


def test_a_crashed_browser_does_not_affect_training():
    """A client that connects and vanishes mid-request, during training."""
    X, Y = _data()
    dash = cr.Dashboard(interval=0.0, quiet=True)
    net = _net()
    done = []

    def rude_client(epoch, logs, network):
        if epoch in (2, 5):
            s = socket.create_connection(("127.0.0.1", dash.server.port), timeout=5)
            s.sendall(b"GET /api/frame?token=" + dash.server.token.encode() + b" HTTP/1.1\r\n")
            s.close()  # half a request, then gone
        done.append(epoch)

    try:
        history = net.fit(X, Y, epochs=10, callbacks=[dash, rude_client])
        reference = _net().fit(X, Y, epochs=10)
        assert history.loss == reference.loss and len(done) == 10
    finally:
        dash.close()


def test_a_fit_that_raises_shows_a_stopped_run_and_keeps_serving():
    X, Y = _data()
    dash = cr.Dashboard(interval=0.0, quiet=True)

    def boom(epoch, logs, network):
        if epoch == 4:
            raise RuntimeError("stop")

    try:
        with pytest.raises(RuntimeError, match="stop"):
            _net().fit(X, Y, epochs=10, callbacks=[boom, dash])
        run = _json(_api(dash.url, "run"))
        assert run["status"] == "stopped" and run["stopped_by"] == "RuntimeError"
        assert run["epochs_done"] == 5 and len(run["history"]["loss"]) == 5
        assert _json(_api(dash.url, "frame?epoch=5&row=0"))["epoch"] == 5
        linear = cr.Network([2, 3, 1], ["linear", "linear"], seed=4)
        Xd, Yd = np.random.default_rng(5).normal(size=(2, 20, 2))
        with pytest.raises(cr.DivergenceError):
            linear.fit(Xd, Yd[:, :1], epochs=10_000, lr=3.0, callbacks=[dash])
        run = _json(_api(dash.url, "run"))
        assert run["status"] == "stopped" and run["stopped_by"] == "DivergenceError"
        _net().fit(X, Y, epochs=2, callbacks=[dash])  # the next fit: its own status
        run = _json(_api(dash.url, "run"))
        assert run["status"] == "finished" and run["stopped_by"] is None
    finally:
        dash.close()


def test_diagnostics_are_served_per_layer():
    X, Y = _data()
    net = _net()
    dash = cr.Dashboard(interval=0.0, quiet=True)
    try:
        history, records = fit_with_diagnostics(net, X, Y, callbacks=[dash], epochs=8)
        run = _json(_api(dash.url, "run"))
        assert len(run["diagnostics"]) == len(records) > 0
        first = run["diagnostics"][0]["layers"][0]
        for key in FIGURES:
            assert key in first
        assert run["diagnostics"][-1]["layers"][0]["w_norm"] == pytest.approx(
            records[-1]["layers"][0]["w_norm"]
        )
    finally:
        dash.close()


def test_fit_dashboard_true_prints_the_url(capsys):
    X, Y = _data()
    net = _net()
    net.fit(X, Y, epochs=2, dashboard=True)
    err = capsys.readouterr().err
    assert "chainrule dashboard: http://127.0.0.1:" in err and "?token=" in err
    with pytest.raises(TypeError, match="dashboard must be"):
        net.fit(X, Y, epochs=1, dashboard="yes")


def test_without_the_extra_the_flag_says_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_tornado(name, *args, **kwargs):
        if name.split(".")[0] == "tornado":
            raise ImportError("No module named 'tornado'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tornado)
    X, Y = _data()
    net = _net()
    before = [np.array(w) for w in net.weights]
    with pytest.raises(ImportError, match=r'pip install "chainrule\[dashboard\]"'):
        net.fit(X, Y, epochs=2, dashboard=True)
    for w, b in zip(net.weights, before):
        np.testing.assert_array_equal(w, b)


# ---- recording and replay -------------------------------------------------------------------


def test_log_dir_records_a_documented_versioned_directory(tmp_path):
    X, Y = _data()
    net = _net()
    rec = cr.RunRecorder(tmp_path / "run", every=4)
    history, records = fit_with_diagnostics(
        net, X, Y, callbacks=[rec], epochs=10, metrics=["accuracy"]
    )
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["format"] == "chainrule-run" and info["version"] == 1
    assert info["status"] == "finished" and info["epochs_done"] == 10
    assert info["snapshots"] == [0, 4, 8, 10]
    log = cr.RunLog(tmp_path / "run")
    assert log.history["loss"] == history.loss and log.history["accuracy"] == history.accuracy
    assert len(log.diagnostics) == len(records)
    np.testing.assert_array_equal(log.weights(10)["W1"], net.weights[0])
    later = log.network()
    np.testing.assert_array_equal(later.predict(X), net.predict(X))
    with pytest.raises(ValueError, match="already holds a recorded run"):
        net.fit(X, Y, epochs=1, log_dir=tmp_path / "run")


def test_fit_log_dir_snapshots_about_every_hundredth(tmp_path):
    X, Y = _data()
    _net().fit(X, Y, epochs=250, log_dir=tmp_path / "r")
    assert cr.RunLog(tmp_path / "r").epochs == [0] + list(range(3, 250, 3)) + [250]


def test_a_fit_that_raises_leaves_a_stopped_run_that_opens(tmp_path):
    # Ctrl-C in epoch 7 (here from a callback): the records of the epochs done, on disk even
    # while the recorder object lives on, a snapshot of the network as it was left, and the
    # status "stopped" naming the exception; the run then replays as any other
    X, Y = _data()
    net = _net()
    rec = cr.RunRecorder(tmp_path / "run", every=4)

    def interrupt(epoch, logs, network):
        if epoch == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=20, callbacks=[rec, interrupt])
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "stopped" and info["stopped_by"] == "KeyboardInterrupt"
    assert info["epochs_done"] == 7 and info["snapshots"] == [0, 4, 7]
    log = cr.RunLog(tmp_path / "run")
    assert len(log.history["loss"]) == 7
    run = log.run()  # what the replay serves
    assert run["status"] == "stopped" and run["stopped_by"] == "KeyboardInterrupt"
    np.testing.assert_array_equal(log.weights(7)["W1"], net.weights[0])
    report = tmp_path / "report.html"
    assert cli.main(["dashboard", str(tmp_path / "run"), "--report", str(report)]) == 0
    assert report.stat().st_size > 0


def test_ctrl_c_within_an_epoch_names_no_snapshot_for_a_whole_epoch(tmp_path):
    """Training stopped between two batches of epoch 3 (Ctrl-C there; here an activation that
    raises KeyboardInterrupt on that step's forward pass): the weights are those of 2 epochs
    and 2 steps, so no snapshot is named for 2 (or 3) epochs; those recorded agree with fits
    of their epochs."""

    class Interrupts(cr.Activation):
        calls = 0

        def forward(self, z):
            Interrupts.calls += 1
            if Interrupts.calls == 2 * 4 + 3:  # 4 steps an epoch: epoch 3's third
                raise KeyboardInterrupt
            return np.tanh(z)

        def derivative(self, z, h):
            return 1 - h * h

    X, Y = _data(40)
    net = cr.Network([2, 4, 1], [Interrupts(), "sigmoid"], "binary_cross_entropy", seed=0)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=10, batch_size=10, callbacks=[cr.RunRecorder(tmp_path / "run", 4)])
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "stopped" and info["stopped_by"] == "KeyboardInterrupt"
    assert info["epochs_done"] == 2 and info["snapshots"] == [0]  # not 2: the weights are not
    twin = cr.Network([2, 4, 1], ["tanh", "sigmoid"], "binary_cross_entropy", seed=0)
    np.testing.assert_array_equal(cr.RunLog(tmp_path / "run").weights(0)["W1"], twin.weights[0])


@pytest.mark.parametrize("every", [3, 1])
def test_a_callback_that_raises_leaves_records_that_agree_with_the_weights(tmp_path, every):
    # the user's callback comes first and raises after the 5th epoch: the recorder has seen
    # that epoch anyway (fit calls it before the other callbacks), so its history, its last
    # snapshot's label and its epochs_done all say 5, as the network's weights do
    X, Y = _data(50)
    net = cr.Network([2, 4, 1], ["tanh", "linear"], seed=0)

    def boom(epoch, logs, network):
        if epoch == 4:
            raise RuntimeError("stop")

    cbs = [boom] if every == 3 else [boom, cr.RunRecorder(tmp_path / "run", every=1)]
    log_dir = tmp_path / "run" if every == 3 else None  # fit(epochs=300, log_dir): every 3
    with pytest.raises(RuntimeError, match="stop"):
        net.fit(X, Y, epochs=300, callbacks=cbs, log_dir=log_dir)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "stopped" and info["epochs_done"] == 5
    log = cr.RunLog(tmp_path / "run")
    assert log.epochs == ([0, 3, 5] if every == 3 else [0, 1, 2, 3, 4, 5])
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2, 3, 4]
    for epoch in log.epochs:
        fresh = cr.Network([2, 4, 1], ["tanh", "linear"], seed=0)
        fresh.fit(X, Y, epochs=epoch)
        for name, value in fresh.parameters.items():
            np.testing.assert_array_equal(log.weights(epoch)[name], value, err_msg=name)
    np.testing.assert_array_equal(log.weights(5)["W1"], net.weights[0])


def test_early_stopping_restores_after_the_recorder_saw_the_last_epoch(tmp_path):
    # the recorder ends before EarlyStopping puts the best weights back: the last snapshot
    # holds the weights of the last epoch trained (what its name says), not the best epoch's
    X, Y = _data(60)
    stopper = cr.EarlyStopping(monitor="val_loss", patience=3)
    net = _net()
    rec = cr.RunRecorder(tmp_path / "r", every=1000)  # snapshots: before training, the last
    history = net.fit(X, Y, epochs=100, validation_split=0.25, callbacks=[stopper, rec])
    log = cr.RunLog(tmp_path / "r")
    last = len(history)
    assert last < 100 and log.epochs == [0, last]
    fresh = _net()
    fresh.fit(X, Y, epochs=last, validation_split=0.25)
    np.testing.assert_array_equal(log.weights(last)["W1"], fresh.weights[0])
    best = _net()
    best.fit(X, Y, epochs=stopper.best_epoch + 1, validation_split=0.25)
    np.testing.assert_array_equal(net.weights[0], best.weights[0])


def test_a_dashboard_that_cannot_listen_stops_the_recorded_run_and_names_its_port(tmp_path):
    # the dashboard's on_train_begin raises after the recorder's began: the recorder is told
    # (on_exception), so its run is stopped, not left "running" with its files open
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    X, Y = _data()
    net = _net()
    before = [np.array(w) for w in net.weights]
    try:
        cbs = [cr.RunRecorder(tmp_path / "run", every=1), cr.Dashboard(port=port, quiet=True)]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}") as caught:
            net.fit(X, Y, epochs=3, callbacks=cbs)
    finally:
        busy.close()
    assert caught.value.errno == errno.EADDRINUSE
    for w, b in zip(net.weights, before):
        np.testing.assert_array_equal(w, b)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "stopped" and info["stopped_by"] == "OSError"
    assert info["epochs_done"] == 0 and info["snapshots"] == [0]


def test_a_newer_or_foreign_directory_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="not a recorded run"):
        cr.RunLog(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"format": "chainrule-run", "version": 99}))
    with pytest.raises(ValueError, match="version 99.*upgrade chainrule"):
        cr.RunLog(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a chainrule run"):
        cr.RunLog(tmp_path)


def test_the_replay_steps_through_the_recorded_epochs(tmp_path):
    X, Y = _data()
    net = _net()
    net.fit(X, Y, epochs=12, callbacks=[cr.RunRecorder(tmp_path / "run", every=3)])
    server = open_dashboard(tmp_path / "run")
    try:
        run = _json(_api(server.url, "run"))
        assert run["status"] == "replay" and run["epochs"] == [0, 3, 6, 9, 12]
        log = cr.RunLog(tmp_path / "run")
        for epoch in run["epochs"]:
            f = _json(_api(server.url, f"frame?epoch={epoch}&row=1"))
            assert f["epoch"] == epoch
            np.testing.assert_array_equal(f["heatmaps"][1]["W"], log.weights(epoch)["W2"])
        assert _json(_api(server.url, "frame?epoch=7&row=0"))["epoch"] == 6  # at or before
    finally:
        server.close()


def test_the_cli_serves_a_recorded_run(tmp_path):
    X, Y = _data()
    _net().fit(X, Y, epochs=5, log_dir=tmp_path / "run")
    with subprocess.Popen(
        [sys.executable, "-m", "chainrule", "dashboard", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = proc.stdout.readline()
            assert "chainrule dashboard of" in line, line
            url = line.split(": ", 1)[1].strip()
            assert url.startswith("http://127.0.0.1:")
            assert _json(_api(url, "run"))["epochs_done"] == 5
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
    out = tmp_path / "replay.html"
    assert cli.main(["dashboard", str(tmp_path / "run"), "--report", str(out)]) == 0
    assert out.stat().st_size > 100_000
    assert cli.main(["dashboard", str(tmp_path / "nothing")]) == 1


# ---- the report -------------------------------------------------------------------------------


def _report_data(path):
    html = path.read_text(encoding="utf-8")
    assert "<script src=" not in html and '<link rel="stylesheet' not in html  # one file
    start = html.index("window.CHAINRULE_REPORT = ") + len("window.CHAINRULE_REPORT = ")
    end = html.index(";</script>", start)
    return json.loads(html[start:end])


def test_history_report_is_one_self_contained_file(tmp_path):
    X, Y = _data()
    net = _net()
    history, records = fit_with_diagnostics(net, X, Y, epochs=6, metrics=["accuracy"])
    history.report(tmp_path / "curves.html")
    data = _report_data(tmp_path / "curves.html")
    assert data["run"]["history"]["loss"] == history.loss and data["frames"] == []
    assert len(data["run"]["diagnostics"]) == len(records)
    history.report(tmp_path / "run.html", net, X, Y, title="xor </script>")
    data = _report_data(tmp_path / "run.html")
    assert data["run"]["meta"]["title"] == "xor </script>"
    assert [f["derivation"]["row"] for f in data["frames"]] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(data["frames"][0]["heatmaps"][0]["W"], net.weights[0])
    with pytest.raises(ValueError, match="network"):
        history.report(tmp_path / "x.html", X=X, Y=Y)


@pytest.mark.parametrize(
    "title",
    [
        "a <!--SCRIPTS--> b",
        "<!--DATA--><!--STYLE--><!--TITLE-->",
        "</script><script>window.hacked = 1</script>",
        "<!-- <script> & &amp; ]]> \u2028\u2029 'quoted' \"double\"",
    ],
)
def test_the_report_holds_any_title_as_it_is(tmp_path, title):
    # the placeholders are filled in one pass over the template, and the data's JSON has no
    # <, > or & that could end its script or be read as a placeholder
    X, Y = _data()
    net = _net()
    history = net.fit(X, Y, epochs=3)
    path = tmp_path / "t.html"
    history.report(path, title=title)
    html = path.read_text(encoding="utf-8")
    data = _report_data(path)
    assert data["run"]["meta"]["title"] == title
    assert data["run"]["history"]["loss"] == history.loss
    start = html.index("window.CHAINRULE_REPORT = ")
    script = html[start : html.index("</script>", start)]
    assert "<" not in script and ">" not in script and "&" not in script
    assert html.count("<script>") == 3  # the data, plotly.js and the page's script
    assert "<!--" not in html.split("<body>")[0].replace("<!DOCTYPE html>", "")


def test_views_accept_class_labels_and_wide_layers():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    net = cr.Network([2, 130, 3], ["relu", "softmax"], loss="cross_entropy", seed=0)
    Xr, Yr = views.as_rows(net, X, labels)
    assert Yr.shape == (50, 3) and (Yr.argmax(1) == labels).all()
    f = views.frame(net, Xr, Yr, 0, row=2)
    assert f["surface"]["kind"] == "class"
    assert f["heatmaps"][0]["shape"] == [2, 130] and f["heatmaps"][0]["shown"] == [
        2,
        views.MAX_HEATMAP,
    ]
    assert views.jsonable(np.array([1.0, np.nan, np.inf])) == [1.0, None, None]
