"""Network.lr_find: the range test's losses (against the step-by-step API as oracle), its
smoothing, stopping and suggestion, and that the network is left exactly as it was."""

import math
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.lr_finder import LRFinderResult, smooth_losses, steepest_lr, suggest_lr


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4))
    Y = np.sin(X @ rng.normal(size=(4, 2)))
    return X, Y


def _state(net):
    """Everything lr_find must leave as it was."""
    opt = net.get_optimizer_state()
    return (
        {k: np.array(v) for k, v in net.parameters.items()},
        {k: np.array(v) for k, v in net.buffers.items()},
        opt["step"],
        {k: [np.array(a) for a in v] for k, v in opt["buffers"].items()},
        net.get_rng_state(),
        net.get_dropout_state(),
        net.history.history,
    )


def _assert_same(a, b):
    for x, y in zip(a[:2], b[:2]):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert a[2] == b[2] and a[3].keys() == b[3].keys()
    for k in a[3]:
        assert all(np.array_equal(p, q) for p, q in zip(a[3][k], b[3][k]))
    assert a[4:] == b[4:]


def _layers():
    return [4, 16, cr.BatchNorm(), cr.Dropout(0.1), 2]


def test_the_network_is_left_as_it_was_and_trains_on_identically(data):
    X, Y = data
    nets = [cr.Network(_layers(), seed=5, optimizer="adam") for _ in range(2)]
    for net in nets:
        net.fit(X, Y, epochs=2, batch_size=50, shuffle=True)  # optimizer state, running stats
    before = _state(nets[0])
    result = nets[0].lr_find(X, Y, num=30)
    assert len(result.lrs) > 5
    _assert_same(_state(nets[0]), before)
    h0 = nets[0].fit(X, Y, epochs=2, batch_size=50, shuffle=True)
    h1 = nets[1].fit(X, Y, epochs=2, batch_size=50, shuffle=True)
    assert h0.loss == h1.loss
    assert np.array_equal(nets[0].predict(X), nets[1].predict(X))


class _Interrupting(cr.Activation):
    """tanh that raises KeyboardInterrupt on its n-th forward pass."""

    name = "interrupting"

    def __init__(self, n=5):
        self.n, self.calls = n, 0

    def forward(self, z):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return np.tanh(z)

    def derivative(self, z, h):
        return 1 - h * h


def test_an_interrupted_call_leaves_the_network_as_it_was(data):
    X, Y = data
    net = cr.Network([4, 8, 2], [_Interrupting(), "linear"], seed=0, optimizer="rmsprop")
    net.fit(X, Y, epochs=1, batch_size=100)  # 2 forward passes
    before = _state(net)
    with pytest.raises(KeyboardInterrupt):
        net.lr_find(X, Y, num=10)
    _assert_same(_state(net), before)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_losses_are_those_of_the_step_by_step_api(data, optimizer):
    """The oracle: a twin network, for each step its batch's loss from gradients(), then
    step(lr=lr_i). lr_find without shuffling takes consecutive batches."""
    X, Y = data
    net = cr.Network([4, 8, 2], ["tanh", "linear"], seed=1, optimizer=optimizer)
    twin = cr.Network([4, 8, 2], ["tanh", "linear"], seed=1, optimizer=optimizer)
    r = net.lr_find(
        X,
        Y,
        start_lr=1e-4,
        end_lr=1e-1,
        num=12,
        batch_size=64,
        shuffle=False,
        diverge_threshold=None,
    )
    assert not r.diverged and len(r.lrs) == 12
    assert r.lrs[0] == 1e-4 and math.isclose(r.lrs[-1], 1e-1, rel_tol=1e-12)
    assert np.allclose(np.diff(np.log(r.lrs)), np.log(1e3) / 11, rtol=1e-12)
    pos = 0
    for lr, loss in zip(r.lrs, r.losses):
        if pos + 64 > 200:  # the pass's last, smaller batch is skipped
            pos = 0
        g = twin.gradients(X[pos : pos + 64], Y[pos : pos + 64])
        twin.step(lr=lr)
        assert loss == pytest.approx(g.loss, rel=1e-12)
        pos += 64


def test_smoothing_is_the_bias_corrected_moving_average():
    losses = [4.0, 2.0, 3.0, 1.0]
    beta = 0.9
    expected, avg = [], 0.0
    for i, loss in enumerate(losses):  # fastai's formula, written out
        avg = avg * beta + loss * (1 - beta)
        expected.append(avg / (1 - beta ** (i + 1)))
    assert smooth_losses(losses, beta) == pytest.approx(expected, rel=1e-15)
    assert smooth_losses(losses, 0.0) == losses


def test_divergence_stops_the_test(data):
    X, Y = data
    net = cr.Network([4, 8, 2], ["tanh", "linear"], seed=1, optimizer="sgd")
    r = net.lr_find(X, Y, start_lr=1e-3, end_lr=1e4, num=100)
    assert r.diverged and len(r.lrs) < 100
    last = r.smoothed[-1]
    assert not math.isfinite(last) or last > 4 * min(r.smoothed)
    assert r.suggestion is not None and r.lrs[0] <= r.suggestion < r.lrs[-1]
    assert r.smoothed == pytest.approx(smooth_losses(r.losses, 0.98), rel=1e-15)
    assert r.min_loss_lr == r.lrs[int(np.argmin(r.smoothed))]


@pytest.mark.parametrize("start, end", [(1e-200, 1e200), (1e-320, 1e-10)])
def test_bounds_whose_ratio_overflows(data, start, end):
    # end / start beyond float64: the rates come from their logarithms, still geometric
    X, Y = data
    net = cr.Network([4, 8, 2], ["tanh", "linear"], seed=1, optimizer="sgd")
    before = _state(net)
    r = net.lr_find(X, Y, start_lr=start, end_lr=end, num=5, diverge_threshold=None)
    want = np.geomspace(start, end, 5)
    assert r.lrs[0] == start and r.lrs[-1] == end
    np.testing.assert_allclose(np.log(r.lrs), np.log(want), rtol=1e-12)
    _assert_same(_state(net), before)


def _fastai_valley(lrs, losses):
    """fastai's ``valley`` (fastai/callback/schedule.py), as it is written there."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def test_the_suggestion_is_fastais_valley():
    rng = np.random.default_rng(0)
    lrs = list(np.geomspace(1e-6, 1.0, 61))
    x = np.log10(lrs)
    for noise in (0.0, 0.02, 0.1):
        # flat, then falling from 1e-4 to 1e-1.5, then rising steeply; plus noise
        curve = (
            1
            - 0.5 * (1 + np.tanh(1.5 * (x + 3)))
            + np.where(x > -1.5, 10 * (x + 1.5) ** 2, 0)
            + noise * rng.normal(size=61)
        )
        smoothed = smooth_losses(list(curve), 0.9)
        assert suggest_lr(lrs, smoothed) == _fastai_valley(lrs, smoothed)
    assert suggest_lr(lrs, list(curve)) == _fastai_valley(lrs, list(curve))
    clean = list(1 - np.tanh(2 * (x + 3)) + np.where(x > -1.5, 10 * (x + 1.5) ** 2, 0))
    assert 1e-4 < suggest_lr(lrs, clean) < 1e-2  # inside the fall
    assert suggest_lr(lrs[:1], clean[:1]) is None
    assert suggest_lr(lrs, list(np.linspace(1, 2, 61))) is None  # never falls


def test_a_fall_over_the_first_two_steps_suggests_a_rate_of_the_fall():
    """fastai's index is e - L + ... = -1 when the longest fall is steps 0 -> 1, which Python
    reads as the last, diverging rate; the suggestion is step 0's instead."""
    assert suggest_lr([1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0]) == 1e-3
    assert suggest_lr([1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.0, 3.0, 9.0]) == 1e-3
    assert suggest_lr([1e-3, 1e-2], [2.0, 1.0]) == 1e-3


def test_steepest_is_the_steepest_fall_before_the_minimum():
    lrs = list(np.geomspace(1e-6, 1.0, 61))
    x = np.log10(lrs)
    # falls fastest at 1e-3, lowest near 1e-1.5, then rises steeply (steeper than the fall)
    smoothed = list(1 - np.tanh(2 * (x + 3)) + np.where(x > -1.5, 10 * (x + 1.5) ** 2, 0))
    assert steepest_lr(lrs, smoothed) == pytest.approx(1e-3, rel=1e-9)
    r = LRFinderResult(lrs, smoothed, smoothed, False, suggest_lr(lrs, smoothed))
    assert r.steepest_lr == steepest_lr(lrs, smoothed)
    assert steepest_lr(lrs[:2], smoothed[:2]) is None
    assert steepest_lr(lrs, list(np.linspace(1, 2, 61))) is None  # never falls


def test_a_realistic_suggestion_trains_well(data):
    X, Y = data
    net = cr.Network([4, 32, 2], ["tanh", "linear"], seed=2, optimizer="adam")
    r = net.lr_find(X, Y)
    assert 1e-5 < r.suggestion < 1.0
    base = net.loss(X, Y)
    net.fit(X, Y, epochs=20, batch_size=32, lr=r.suggestion)
    assert net.loss(X, Y) < 0.5 * base


def test_float32_and_class_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    net = cr.Network([3, 8, 3], ["relu", "softmax"], "cross_entropy", dtype="float32", seed=0)
    r = net.lr_find(X, y, num=20, batch_size=16)
    assert len(r.lrs) >= 2 and all(isinstance(v, float) for v in r.losses)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(start_lr=1e-2, end_lr=1e-3), ValueError, "start_lr must be below end_lr"),
        (dict(start_lr=-1.0), ValueError, "lr_find: start_lr: "),
        (dict(end_lr=math.inf), ValueError, "lr_find: end_lr: "),
        (dict(num=1), ValueError, "num"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(smooth=1.0), ValueError, r"smooth must be in \[0, 1\)"),
        (dict(diverge_threshold=1.0), ValueError, "diverge_threshold must be a finite number > 1"),
        (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
        (dict(start_lr="big"), TypeError, "start_lr"),
    ],
)
def test_bad_arguments_change_nothing(data, kwargs, error, message):
    X, Y = data
    net = cr.Network([4, 8, 2], seed=0, optimizer="adam")
    before = _state(net)
    with pytest.raises(error, match=message):
        net.lr_find(X, Y, **kwargs)
    _assert_same(_state(net), before)


def test_bad_data_is_the_cores_message(data):
    X, Y = data
    net = cr.Network([4, 8, 2], seed=0)
    with pytest.raises(
        ValueError,
        match=r"^lr_find: layer 1 expects 4 input features, got X "
        r"with shape \(200, 3\)",
    ):
        net.lr_find(X[:, :3], Y)
    bn = cr.Network([4, cr.BatchNorm(), 2], seed=0)
    with pytest.raises(ValueError, match="^lr_find: batch normalisation needs at least 2 rows"):
        bn.lr_find(X, Y, batch_size=1)


def test_plot(data, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, Y = data
    r = cr.Network([4, 8, 2], seed=0).lr_find(X, Y, num=40)
    path = tmp_path / "lr.png"
    fig = r.plot(path)
    assert path.stat().st_size > 0
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.lines) == 3  # losses, smoothed, suggestion
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    r = LRFinderResult([1e-3, 1e-2], [1.0, 0.5], [1.0, 0.7], False, None)
    with pytest.raises(
        ImportError, match="needs matplotlib, which is not installed: pip install matplotlib"
    ):
        r.plot()


def test_repr():
    r = LRFinderResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, 9.0], [1.0, 0.7, 3.0], True, 1e-2)
    assert repr(r) == "LRFinderResult(3 steps, lr 0.001 to 0.1, suggestion 0.01, diverged)"
