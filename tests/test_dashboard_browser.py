"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium through
chromium-driver (.ci/run installs both). A network trains while the page is open; the tests
check that the curves and the layer views show the run's real numbers as they change, step
back through a recorded run, open the report without a server, and save screenshots. They
skip with the reason where no browser is installed."""

import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("tornado", reason="the dashboard needs the dashboard extra (tornado)")
pytest.importorskip("plotly", reason="the dashboard needs the dashboard extra (plotly)")
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="the browser tests drive Chromium with selenium"
)

from diagnostics_sample import fit_with_diagnostics  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import dashboard_views as views  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no headless browser: apt-get install chromium chromium-driver",
)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1900",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(browser, script, timeout=30.0):
    """The value of ``script`` once it is truthy (polls the page)."""
    end = time.monotonic() + timeout
    while True:
        value = browser.execute_script(script)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.1)


def _trace(browser, div, index=0):
    return browser.execute_script(
        f"var d = document.getElementById('{div}'); return d && d.data && d.data.length > "
        f"{index} ? d.data[{index}].y : null;"
    )


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(float).reshape(-1, 1)


def test_the_live_page_follows_training_with_its_real_numbers(browser, tmp_path):
    X, Y = _data()
    net = cr.Network(
        [2, 8, 6, 1],
        ["tanh", "relu", "sigmoid"],
        loss="binary_cross_entropy",
        seed=0,
        optimizer=cr.Adam(lr=0.02),
    )
    dash = cr.Dashboard(interval=0.1, quiet=True)
    gate = threading.Event()
    result = {}

    def slow(epoch, logs, network):  # a training slow enough to be watched while it runs
        if epoch == 3:
            gate.wait(60)
        time.sleep(0.01)

    def train():
        result["history"] = net.fit(
            X, Y, epochs=120, batch_size=32, metrics=["accuracy"], callbacks=[dash, slow]
        )

    worker = threading.Thread(target=train)
    worker.start()
    try:
        end = time.monotonic() + 30
        while dash.url is None and time.monotonic() < end:
            time.sleep(0.05)
        browser.get(dash.url)
        # while training waits at epoch 4: the page shows 4 epochs of loss, running
        _wait(browser, "return document.getElementById('status').textContent === 'running'")
        early = _wait(
            browser,
            "var d = document.getElementById('curves').data; "
            "return d && d[0].y.length >= 4 ? d[0].y : null",
        )
        assert len(early) == 4
        gate.set()
        _wait(
            browser,
            "return document.getElementById('status').textContent === 'finished'",
            timeout=60,
        )
        worker.join(60)
        history = result["history"]
        _wait(browser, "return document.getElementById('curves').data[0].y.length === 120")
        assert _trace(browser, "curves") == history.loss  # every digit of the real loss
        assert early == history.loss[:4]
        assert _trace(browser, "metrics") == history.accuracy
        assert browser.find_element("id", "epochs-done").text == "120"
        assert (
            float(browser.find_element("id", "last-loss").get_attribute("data-value"))
            == history.loss[-1]
        )
        # the layer views: the last snapshot's weights and the derivation of row 2
        _wait(browser, "return document.body.getAttribute('data-frame-epoch') === '120'")
        row = browser.find_element("id", "row")
        row.clear()
        row.send_keys("2\n")
        _wait(
            browser,
            "return document.querySelector('#derivation th') && "
            "document.querySelector('#derivation th').textContent === 'x (row 2)'",
        )
        heat = browser.execute_script("return document.getElementById('heat-W').data[0].z")
        np.testing.assert_array_equal(heat, net.weights[0])
        Xs, _ = views.sample_rows(X, Y)
        Z1 = Xs[2] @ np.asarray(net.weights[0]) + np.asarray(net.biases[0])
        cells = browser.execute_script(
            "return Array.from(document.querySelectorAll(\"tr[data-layer='1'][data-q='Z'] td.v\"))"
            ".map(function (c) { return Number(c.getAttribute('data-v')); })"
        )
        np.testing.assert_allclose(cells, Z1, rtol=1e-12)
        assert (
            browser.execute_script("return document.querySelectorAll('#network circle').length")
            == 2 + 8 + 6 + 1
        )
        assert browser.execute_script("return !document.getElementById('surface-card').hidden")
        shot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        gate.set()
        worker.join(60)
        dash.close()


def test_a_request_without_the_token_gets_no_page(browser):
    X, Y = _data(40)
    dash = cr.Dashboard(interval=0.0, quiet=True)
    try:
        cr.Network([2, 3, 1], seed=0).fit(X, Y, epochs=3, callbacks=[dash])
        browser.get(dash.url.split("?")[0])
        assert "403" in browser.page_source and "loss" not in browser.page_source
        assert not browser.execute_script("return !!document.getElementById('curves')")
    finally:
        dash.close()


def test_the_page_shows_a_fit_that_raised_as_stopped(browser):
    X, Y = _data(40)
    dash = cr.Dashboard(interval=0.0, quiet=True)

    def boom(epoch, logs, network):
        if epoch == 2:
            raise RuntimeError("stop")

    try:
        with pytest.raises(RuntimeError):
            cr.Network([2, 3, 1], seed=0).fit(X, Y, epochs=10, callbacks=[boom, dash])
        browser.get(dash.url)
        _wait(
            browser,
            "return document.getElementById('status').textContent === 'stopped by RuntimeError'",
        )
        assert browser.find_element("id", "epochs-done").text == "3"
    finally:
        dash.close()


def test_the_replay_steps_back_through_the_recorded_epochs(browser, tmp_path):
    X, Y = _data()
    net = cr.Network([2, 5, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", seed=2)
    history, _ = fit_with_diagnostics(
        net, X, Y, epochs=20, callbacks=[cr.RunRecorder(tmp_path / "run", every=5)]
    )
    log = cr.RunLog(tmp_path / "run")
    with subprocess.Popen(
        [sys.executable, "-m", "chainrule", "dashboard", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            url = proc.stdout.readline().split(": ", 1)[1].strip()
            browser.get(url)
            _wait(browser, "return document.getElementById('status').textContent === 'replay'")
            _wait(browser, "return document.body.getAttribute('data-frame-epoch') === '20'")
            assert _trace(browser, "curves") == history.loss
            for expected in (15, 10):
                browser.find_element("id", "prev").click()
                _wait(
                    browser,
                    f"return document.body.getAttribute('data-frame-epoch') === '{expected}'",
                )
                heat = browser.execute_script("return document.getElementById('heat-W').data[0].z")
                np.testing.assert_array_equal(heat, log.weights(expected)["W1"])
            assert browser.find_element("id", "frame-epoch").text == "10"
            # the diagnostics panel draws one line per dense layer
            _wait(
                browser,
                "var d = document.getElementById('diagnostics').data; return d && d.length === 2",
            )
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


def test_the_report_opens_without_a_server(browser, tmp_path):
    X, Y = _data()
    net = cr.Network([2, 6, 1], ["tanh", "sigmoid"], loss="binary_cross_entropy", seed=3)
    history = net.fit(X, Y, epochs=15, metrics=["accuracy"])
    path = tmp_path / "run.html"
    title = "xor <!--SCRIPTS--> </script> & <!--DATA-->"  # placeholders, tags: shown as they are
    history.report(path, net, X, Y, title=title)
    browser.get_log("browser")  # what earlier pages logged
    browser.get(path.as_uri())
    _wait(browser, "return document.getElementById('status').textContent === 'report'")
    assert browser.find_element("tag name", "h1").text == title
    _wait(browser, "return document.body.getAttribute('data-frame-epoch') === '15'")
    assert _trace(browser, "curves") == history.loss
    heat = browser.execute_script("return document.getElementById('heat-W').data[0].z")
    np.testing.assert_array_equal(heat, net.weights[0])
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no script error, and nothing fetched from anywhere
