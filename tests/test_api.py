"""The Python surface: accepted inputs, live parameter views, summary, gradient check, the demo
command and Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import reference as ref
from conftest import assert_close, make_data, snapshot

import chainrule as cr
from chainrule.demo import DEMO_NETWORKS
from chainrule.demo import make_data as demo_data

X, Y = make_data([3, 5, 2], "mse", n=20, seed=7)


def _net(**kw) -> cr.Network:
    return cr.Network([3, 5, 2], ["tanh", "linear"], seed=1, **kw)


class FrameLike:
    """A stand-in for a pandas DataFrame/Series: only ``to_numpy()``."""

    def __init__(self, a) -> None:
        self._a = np.asarray(a)

    def to_numpy(self):
        return self._a.copy()


# ---- inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: a.tolist(),
        lambda a: FrameLike(a),
        lambda a: np.asfortranarray(a),
        lambda a: np.ascontiguousarray(a[:, ::-1])[:, ::-1],  # a negative-stride view
        lambda a: np.repeat(a, 2, axis=0)[::2],  # a strided view of the same numbers
        lambda a: a.astype(">f8"),  # big-endian float64
        lambda a: a.astype(np.longdouble),
    ],
    ids=[
        "list",
        "to_numpy",
        "fortran",
        "negative-stride",
        "row-stride",
        "big-endian",
        "longdouble",
    ],
)
def test_array_likes_give_the_same_results(convert) -> None:
    a, b = _net(), _net()
    np.testing.assert_array_equal(a.predict(convert(X)), b.predict(X))
    assert a.loss(convert(X), convert(Y)) == b.loss(X, Y)
    for p, q in zip(a.gradients(convert(X), convert(Y)), b.gradients(X, Y)):
        np.testing.assert_array_equal(p.dW, q.dW)
    ha = a.fit(convert(X), convert(Y), epochs=5, lr=0.1)
    hb = b.fit(X, Y, epochs=5, lr=0.1)
    assert ha.loss == hb.loss
    for p, q in zip(snapshot(a), snapshot(b)):
        np.testing.assert_array_equal(p, q)


def test_integer_and_float32_inputs_are_converted() -> None:
    Xi = np.arange(60).reshape(20, 3) % 7 - 3
    Yi = (np.arange(40).reshape(20, 2) % 3).astype(np.int32)
    a, b = _net(), _net()
    np.testing.assert_array_equal(a.predict(Xi), b.predict(Xi.astype(np.float64)))
    assert (
        a.fit(Xi, Yi, epochs=3, lr=0.05).loss
        == b.fit(Xi.astype(float), Yi.astype(float), epochs=3, lr=0.05).loss
    )
    c, d = _net(dtype="float32"), _net(dtype="float32")
    np.testing.assert_array_equal(c.predict(X), d.predict(X.astype(np.float32)))
    assert c.predict(X).dtype == np.float32
    bools = np.array([[True, False, True]] * 4)
    np.testing.assert_array_equal(a.predict(bools), a.predict(bools.astype(float)))


def test_one_dimensional_targets_for_one_output() -> None:
    Xd, Yd = demo_data()
    a = cr.Network([2, 15, 1], ["sigmoid", "linear"], seed=42)
    b = cr.Network([2, 15, 1], ["sigmoid", "linear"], seed=42)
    assert a.loss(Xd, Yd.ravel()) == b.loss(Xd, Yd)
    ha = a.fit(Xd, Yd.ravel(), epochs=10, lr=0.1)
    hb = b.fit(Xd, Yd, epochs=10, lr=0.1)
    assert ha.loss == hb.loss
    assert (
        a.fit(Xd, list(Yd.ravel()), epochs=1, lr=0.1).loss
        == b.fit(Xd, FrameLike(Yd.ravel()), epochs=1, lr=0.1).loss
    )
    # a 1-D target for a 2-output network is a shape error, not a silent broadcast
    with pytest.raises(ValueError):
        _net().fit(X, Y[:, 0], epochs=1)


def test_inputs_are_never_modified() -> None:
    Xc, Yc = X.copy(), Y.copy()
    Xr, Yr = X.copy(), Y.copy()
    Xr.flags.writeable = False  # read-only arrays are accepted (nothing needs to write them)
    Yr.flags.writeable = False
    net = _net()
    net.predict(Xr)
    net.gradients(Xr, Yr)
    net.forward(Xr)
    net.backward(Yr)
    net.fit(Xr, Yr, epochs=3, lr=0.1, batch_size=6, shuffle=True)
    net.gradient_check(Xr, Yr)
    np.testing.assert_array_equal(Xr, Xc)
    np.testing.assert_array_equal(Yr, Yc)


def test_returned_arrays_are_fresh() -> None:
    net = _net()
    out = net.predict(X)
    out[...] = 0
    assert not np.all(net.predict(X) == 0)
    g = net.gradients(X, Y)
    W0 = np.array(net.weights[0])
    g[0].dW[...] = 123.0
    g[0].dZ[...] = 123.0
    np.testing.assert_array_equal(net.weights[0], W0)
    assert not np.any(net.gradients(X, Y)[0].dW == 123.0)


# ---- parameters ---------------------------------------------------------------------------------


def test_weight_views_are_live() -> None:
    net = _net()
    W1, b2 = net.weights[0], net.biases[1]
    before = net.predict(X)
    W1[0, 0] += 0.5  # modify through the view
    b2[1] = 2.0
    acts = [ref.activation("tanh"), ref.activation("linear")]
    Ws = [np.array(W) for W in net.weights]
    bs = [np.array(b) for b in net.biases]
    assert Ws[0][0, 0] == W1[0, 0] and bs[1][1] == 2.0
    after = net.predict(X)
    assert not np.allclose(after, before)
    assert_close(after, ref.forward(Ws, bs, acts, X)[1][-1], 1e-12, "predict after edit")
    # training updates the same memory the views look at
    net.fit(X, Y, epochs=3, lr=0.1)
    np.testing.assert_array_equal(W1, net.weights[0])
    assert not np.array_equal(W1, Ws[0])
    # assignment copies the values in
    A = np.full((3, 5), 0.1)
    net.weights[0] = A
    A[...] = 7.0
    np.testing.assert_array_equal(net.weights[0], np.full((3, 5), 0.1))
    np.testing.assert_array_equal(W1, np.full((3, 5), 0.1))
    net.weights[-1] = np.zeros((5, 2))
    net.biases[-1] = [1.0, -1.0]
    np.testing.assert_array_equal(net.predict(X), np.tile([1.0, -1.0], (20, 1)))


def test_parameter_views_shapes_and_dtypes() -> None:
    for dtype in ("float64", "float32"):
        net = cr.Network([4, 6, 3, 2], ["relu", "tanh", "linear"], dtype=dtype, seed=0)
        assert len(net.weights) == len(net.biases) == 3 == net.n_layers
        assert [W.shape for W in net.weights] == [(4, 6), (6, 3), (3, 2)]
        assert [b.shape for b in net.biases] == [(6,), (3,), (2,)]
        assert all(W.dtype == np.dtype(dtype) for W in net.weights)
        assert net.n_params == 4 * 6 + 6 + 6 * 3 + 3 + 3 * 2 + 2


# ---- summary, gradient check, verbose -----------------------------------------------------------


def test_summary_lists_every_layer_and_the_total() -> None:
    net = cr.Network([2, 10, 8, 5, 1], ["relu", "tanh", cr.LeakyReLU(alpha=0.2), "linear"], seed=0)
    s = net.summary()
    lines = s.splitlines()
    for l, (n_in, n_out, act) in enumerate(
        [(2, 10, "ReLU()"), (10, 8, "Tanh()"), (8, 5, "LeakyReLU(alpha=0.2)"), (5, 1, "Linear()")],
        start=1,
    ):
        row = [ln for ln in lines if ln.split()[:1] == [str(l)]]
        assert len(row) == 1, f"no single row for layer {l} in\n{s}"
        for part in (
            act,
            f"({n_in}, {n_out})",
            f"({n_out},)",
            f"(m, {n_out})",
            str(n_in * n_out + n_out),
        ):
            assert part in row[0], f"{part!r} missing from {row[0]!r}"
    assert re.search(r"total parameters:\s*169\b", s)
    assert "(32, 10)" in net.summary(batch_size=32)
    big = cr.Network([100, 300, 10], seed=0)
    assert re.search(r"total parameters:\s*33,310\b", big.summary())


def test_gradient_check_is_small_for_smooth_float64_networks() -> None:
    for sizes, acts, loss in [
        ([3, 6, 5, 2], ["tanh", "gelu", "linear"], "mse"),
        ([3, 6, 4], ["softplus", "softmax"], "cross_entropy"),
        ([3, 5, 2], ["silu", "sigmoid"], "binary_cross_entropy"),
        ([3, 5, 4, 2], ["elu", "softmax", "sigmoid"], "mse"),
    ]:
        Xg, Yg = make_data(sizes, loss, n=15, seed=2)
        net = cr.Network(sizes, acts, loss=loss, seed=3)
        before = snapshot(net)
        err = net.gradient_check(Xg, Yg)
        assert 0 <= err < 1e-7, (sizes, acts, loss, err)
        per = net.gradient_check(Xg, Yg, per_tensor=True)
        assert set(per) == {f"{k}{l}" for l in range(1, len(sizes)) for k in "Wb"}
        assert max(per.values()) == err
        for a, b in zip(snapshot(net), before):  # the check restores every parameter exactly
            np.testing.assert_array_equal(a, b)


def test_verbose_zero_is_silent_and_two_prints_every_epoch(capsys) -> None:
    # verbose=k no longer means "every k epochs": 0 silent, 1 progress bar, 2 every epoch
    # (tests/test_training.py covers the progress bar)
    net = _net()
    h = net.fit(X, Y, epochs=25, lr=0.05, verbose=2)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert [int(re.search(r"epoch\s+(\d+)/25", ln).group(1)) for ln in lines] == list(range(1, 26))
    printed = float(re.search(r"loss\s+(\S+)", lines[-1]).group(1))
    assert printed == pytest.approx(h.loss[-1], rel=1e-5)
    assert len(h) == h.epochs == 25
    net.fit(X, Y, epochs=5, lr=0.05)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# ---- the demo command -----------------------------------------------------------------------------


def test_demo_command_runs_both_networks() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "demo", "--epochs", "200"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    epochs = re.findall(r"epoch\s+(\d+)/200\s+loss\s+(\S+)", out)
    assert [e for e, _ in epochs] == ["100", "200", "100", "200"], out
    finals = [float(v) for v in re.findall(r"final loss\s+(\S+)", out)]
    assert len(finals) == 2, out
    Xd, Yd = demo_data()
    for i, (sizes, acts, lr) in enumerate(DEMO_NETWORKS):
        assert "-".join(map(str, sizes)) in out
        net = cr.Network(sizes, acts, loss="mse", seed=42)
        h = net.fit(Xd, Yd, epochs=200, lr=lr)
        assert finals[i] == pytest.approx(net.loss(Xd, Yd), rel=1e-5)
        assert float(epochs[2 * i + 1][1]) == pytest.approx(h.loss[-1], rel=1e-5)
        assert finals[i] < h.loss[0]
    assert DEMO_NETWORKS[0][:2] == ([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"])
    assert DEMO_NETWORKS[1][:2] == ([2, 15, 1], ["sigmoid", "linear"])
    assert [lr for *_, lr in DEMO_NETWORKS] == [0.01, 0.1]


def test_demo_data_is_as_documented() -> None:
    Xd, Yd = demo_data()
    assert Xd.shape == (100, 2) and Yd.shape == (100, 1)
    assert np.all(np.abs(Xd) <= 1) and Xd.min() < -0.9 and Xd.max() > 0.9
    np.testing.assert_array_equal(Yd[:, 0], Xd[:, 0] ** 2 + Xd[:, 1] ** 2)
    np.testing.assert_array_equal(demo_data()[0], Xd)  # seeded: the same every call


def test_demo_command_rejects_bad_arguments() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "demo", "--epochs", "-5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "epochs" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- Ctrl-C ---------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child is POSIX-only")
@pytest.mark.parametrize("shuffle", [False, True])
def test_ctrl_c_interrupts_fit_with_finite_weights(shuffle: bool) -> None:
    # The child takes Ctrl-C as an interactive session does, whatever it inherits: a shell
    # without job control starts background jobs with SIGINT ignored, and Python then keeps
    # ignoring it.
    script = textwrap.dedent(f"""
        import signal, sys, numpy as np, chainrule as cr
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(2000, 64)); Y = rng.normal(size=(2000, 8))
        net = cr.Network([64, 256, 256, 8], ["relu", "tanh", "linear"], seed=0)
        W0 = np.array(net.weights[0])
        print("started", flush=True)
        try:
            net.fit(X, Y, epochs=10**8, lr=1e-4, batch_size=50, shuffle={shuffle})
        except KeyboardInterrupt:
            import time
            print(f"caught at {{time.monotonic()!r}}", flush=True)
            params = list(net.weights) + list(net.biases)
            finite = all(np.all(np.isfinite(p)) for p in params)
            moved = not np.array_equal(W0, net.weights[0])
            h = net.fit(X[:100], Y[:100], epochs=1, lr=1e-4)  # still usable
            print("interrupted ok" if finite and moved and np.isfinite(h.loss[0])
                  else f"interrupted BAD finite={{finite}} moved={{moved}}", flush=True)
            sys.exit(0)
        print("fit returned without an interrupt", flush=True)
        sys.exit(3)
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.5)  # let the training loop get going
        t0 = time.monotonic()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "interrupted ok" in out, f"stdout {out!r}\nstderr {err[-2000:]}"
    assert proc.returncode == 0
    assert elapsed < 5, f"took {elapsed:.1f} s to stop after SIGINT"
    # the child stamps CLOCK_MONOTONIC (shared by all processes) when KeyboardInterrupt
    # reaches Python: within 0.5 s of the signal, whatever the parent's scheduling
    caught = float(out.split("caught at ")[1].split()[0])
    assert caught - sent < 0.5, f"KeyboardInterrupt {caught - sent:.3f} s after SIGINT"


# ---- zero-copy ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matching_input_is_not_copied(dtype: str) -> None:
    """A C-contiguous input of the network's dtype is used in place: tracemalloc (which sees
    NumPy's allocations) shows no allocation of X's size, while a Fortran-ordered or other-dtype
    input, which must be converted, shows one (so the measurement itself can fail)."""
    import tracemalloc

    m, n0 = 100_000, 32
    Xb = np.random.default_rng(0).normal(size=(m, n0)).astype(dtype)
    Yb = np.zeros((m, 1), dtype)
    net = cr.Network([n0, 4, 1], ["tanh", "linear"], dtype=dtype, seed=0)

    def peak(fn) -> float:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1] / Xb.nbytes
        finally:
            tracemalloc.stop()

    other = np.float32 if dtype == "float64" else np.float64
    for name, call in [
        ("predict", lambda A: net.predict(A)),
        ("loss", lambda A: net.loss(A, Yb)),
        ("fit", lambda A: net.fit(A, Yb, epochs=1, lr=1e-9)),
    ]:
        assert peak(lambda: call(Xb)) < 0.5, f"{name} copied a matching C-contiguous X"
        assert peak(lambda: call(np.asfortranarray(Xb))) > 0.9, f"{name}: measurement broken"
    converted = Xb.astype(other)
    assert peak(lambda: net.predict(converted)) > 0.9 * np.dtype(dtype).itemsize / 8


def test_threads_sharing_a_network_take_turns():
    """predict from 4 threads at once equals serial predict; fit in another thread meanwhile
    is serialised with them (no corrupted buffers, no crash)."""
    import threading

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    Y = rng.normal(size=(300, 3))
    net = cr.Network([20, 64, 64, 3], ["relu", "tanh", "linear"], seed=0)
    batches = [X[i::4] for i in range(4)]
    want = [net.predict(b) for b in batches]
    got = [None] * 4

    def worker(i):
        for _ in range(20):
            got[i] = net.predict(batches[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)

    errors = []

    def predictor():
        try:
            for _ in range(50):
                out = net.predict(X)
                assert out.shape == (300, 3) and np.all(np.isfinite(out))
        except Exception as exc:  # reported below
            errors.append(exc)

    p = threading.Thread(target=predictor)
    p.start()
    net.fit(X, Y, epochs=30, lr=0.01, batch_size=32)
    p.join()
    assert not errors, errors
    twin = cr.Network([20, 64, 64, 3], ["relu", "tanh", "linear"], seed=0)
    twin.fit(X, Y, epochs=30, lr=0.01, batch_size=32)
    for a, b in zip(net.weights, twin.weights):
        np.testing.assert_array_equal(a, b)


def test_gradient_check_leaves_the_backprop_gradients_for_step():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    a = cr.Network([3, 6, 2], ["tanh", "linear"], seed=1)
    b = cr.Network([3, 6, 2], ["tanh", "linear"], seed=1)
    a.gradients(X, Y)
    b.gradient_check(X, Y)
    a.step(lr=0.1)
    b.step(lr=0.1)
    for wa, wb in zip(list(a.weights) + list(a.biases), list(b.weights) + list(b.biases)):
        np.testing.assert_array_equal(wa, wb)


def test_two_networks_train_in_two_threads_as_they_would_alone():
    import threading

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 30))
    Y = rng.normal(size=(400, 4))
    specs = [
        ([30, 64, 4], ["relu", "linear"], "adam"),
        ([30, 32, 32, 4], ["tanh", "gelu", "linear"], "sgd"),
    ]

    def train(spec):
        net = cr.Network(spec[0], spec[1], seed=1, optimizer=spec[2])
        net.fit(X, Y, epochs=5, batch_size=32, shuffle=True)
        return [np.array(w) for w in net.weights]

    alone = [train(s) for s in specs]
    together = [None, None]

    def run(i):
        together[i] = train(specs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for a, b in zip(alone, together):
        assert b is not None and all(np.array_equal(x, y) for x, y in zip(a, b))


def _interrupted(setup: str, call: str, unchanged: bool = True) -> None:
    """Runs `setup` then `call` in a child Python, sends it SIGINT 0.3 s into the call, and
    checks that a KeyboardInterrupt ended the call within 0.5 s with the parameters as they
    were (`unchanged`) or at least finite (a fit keeps the steps it made)."""
    script = (
        textwrap.dedent("""
        import signal, sys, time, numpy as np, chainrule as cr
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rng = np.random.default_rng(0)
    """)
        + textwrap.dedent(setup)
        + textwrap.dedent(f"""
        before = [np.array(p) for p in net.parameters.values()]
        print("started", flush=True)
        try:
            {call}
        except KeyboardInterrupt:
            print(f"caught at {{time.monotonic()!r}}", flush=True)
            same = all(np.array_equal(a, b) for a, b in zip(before, net.parameters.values()))
            finite = all(np.isfinite(p).all() for p in net.parameters.values())
            print("interrupted ok" if (same or not {unchanged}) and finite else "interrupted BAD",
                  flush=True)
            sys.exit(0)
        sys.exit(3)
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "interrupted ok" in out, f"stdout {out!r}\nstderr {err[-2000:]}"
    caught = float(out.split("caught at ")[1].split()[0])
    assert caught - sent < 0.5, f"KeyboardInterrupt {caught - sent:.3f} s after SIGINT"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child is POSIX-only")
def test_ctrl_c_stops_gradient_check_with_the_parameters_back() -> None:
    """gradient_check looked at the signals only when it was done: a large check (50 s in
    the probe) could not be stopped."""
    setup = """
        X = rng.normal(size=(2000, 100)); Y = rng.normal(size=(2000, 10))
        net = cr.Network([100, 256, 10], seed=0)  # a check of minutes
    """
    _interrupted(setup, "net.gradient_check(X, Y)")


# A network and data for inference calls of seconds (on two threads, about 4 GFLOP a chunk of
# 1,024 rows, 200 chunks), with validation data for fit.
_LONG_INFERENCE = """
    X = rng.normal(size=(200_000, 100)).astype(np.float32)
    Y = rng.normal(size=(200_000, 10)).astype(np.float32)
    net = cr.Network([100, 2048, 2048, 10], dtype="float32", seed=0)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child is POSIX-only")
@pytest.mark.parametrize(
    "call",
    [
        "net.predict(X)",
        "net.evaluate(X, Y, metrics=['rmse'])",
        "net.fit(X[:64], Y[:64], epochs=1, validation_data=(X, Y))",
    ],
    ids=["predict", "evaluate", "fit-validation"],
)
def test_ctrl_c_stops_a_long_inference_pass(call: str) -> None:
    """predict, evaluate and fit's validation pass looked at the signals only when they were
    done: a predict of 200 chunks of 1,024 rows could not be stopped."""
    _interrupted(_LONG_INFERENCE, call, unchanged=not call.startswith("net.fit"))
