"""Bad configuration of the training toolkit: each raises a clear error saying what was wrong
and where, and a failed fit leaves the network (weights and optimizer) as it was."""

from __future__ import annotations

from typing import Any, Callable, List

import numpy as np
import pytest
from conftest import assert_unchanged, snapshot

import chainrule as cr

X = np.random.default_rng(0).normal(size=(20, 2))
Y = X[:, :1] ** 2


def _net(optimizer: Any = "adam") -> cr.Network:
    return cr.Network([2, 4, 1], ["tanh", "linear"], seed=0, optimizer=optimizer)


CONFIG_ERRORS = [
    (
        "unknown optimizer",
        lambda: cr.Network([2, 1], ["linear"], optimizer="adagrad"),
        ValueError,
        ["unknown optimizer 'adagrad'", "adam, adamw, rmsprop, sgd"],
    ),
    (
        "optimizer type",
        lambda: cr.Network([2, 1], ["linear"], optimizer=3),
        TypeError,
        ["optimizer must be"],
    ),
    ("sgd lr negative", lambda: cr.SGD(lr=-0.1), ValueError, ["SGD", "lr", "-0.1"]),
    ("sgd lr nan", lambda: cr.SGD(lr=float("nan")), ValueError, ["SGD", "lr", "nan"]),
    ("sgd momentum", lambda: cr.SGD(momentum=-0.5), ValueError, ["SGD: momentum", ">= 0", "-0.5"]),
    ("sgd nesterov", lambda: cr.SGD(nesterov=True), ValueError, ["nesterov needs momentum > 0"]),
    ("sgd nesterov type", lambda: cr.SGD(momentum=0.9, nesterov="yes"), TypeError, ["nesterov"]),
    (
        "sgd weight decay inf",
        lambda: cr.SGD(weight_decay=float("inf")),
        ValueError,
        ["SGD: weight_decay", "inf"],
    ),
    (
        "adam beta1",
        lambda: cr.Adam(betas=(1.0, 0.999)),
        ValueError,
        ["Adam: betas[0]", "[0, 1)", "got 1"],
    ),
    ("adam beta2", lambda: cr.Adam(betas=(0.9, -0.1)), ValueError, ["Adam: betas[1]", "-0.1"]),
    ("adam betas shape", lambda: cr.Adam(betas=0.9), TypeError, ["betas must be a pair"]),
    ("adam eps", lambda: cr.Adam(eps=-1e-8), ValueError, ["Adam: eps", "-1e-08"]),
    ("adam lr type", lambda: cr.Adam(lr="0.1"), TypeError, ["Adam: lr"]),
    ("adamw decay", lambda: cr.AdamW(weight_decay=-0.01), ValueError, ["AdamW: weight_decay"]),
    (
        "rmsprop alpha",
        lambda: cr.RMSprop(alpha=1.5),
        ValueError,
        ["RMSprop: alpha", "[0, 1]", "1.5"],
    ),
    (
        "rmsprop momentum",
        lambda: cr.RMSprop(momentum=float("nan")),
        ValueError,
        ["RMSprop: momentum"],
    ),
    (
        "changed after construction",
        lambda: _net(optimizer=_mutated()),
        ValueError,
        ["SGD: momentum"],
    ),
    (
        "step_size",
        lambda: cr.StepLR(step_size=0),
        ValueError,
        ["StepLR: step_size", ">= 1", "got 0"],
    ),
    (
        "step_size float",
        lambda: cr.StepLR(step_size=2.5),
        TypeError,
        ["StepLR: step_size", "integer"],
    ),
    (
        "step gamma",
        lambda: cr.StepLR(step_size=3, gamma=-0.5),
        ValueError,
        ["StepLR: gamma", "> 0"],
    ),
    (
        "exponential gamma",
        lambda: cr.ExponentialLR(gamma=float("inf")),
        ValueError,
        ["ExponentialLR: gamma", "inf"],
    ),
    (
        "cosine T_max",
        lambda: cr.CosineAnnealingLR(T_max=0),
        ValueError,
        ["CosineAnnealingLR: T_max"],
    ),
    ("cosine eta_min", lambda: cr.CosineAnnealingLR(eta_min=-1.0), ValueError, ["eta_min"]),
    (
        "constant factor",
        lambda: cr.ConstantLR(factor=2.0),
        ValueError,
        ["ConstantLR: factor", "(0, 1]"],
    ),
    (
        "plateau factor",
        lambda: cr.ReduceLROnPlateau(factor=1.0),
        ValueError,
        ["ReduceLROnPlateau: factor"],
    ),
    ("plateau patience", lambda: cr.ReduceLROnPlateau(patience=-1), ValueError, ["patience"]),
    (
        "plateau mode",
        lambda: cr.ReduceLROnPlateau(mode="up"),
        ValueError,
        ["mode", "'min', 'max'", "'up'"],
    ),
    ("plateau monitor", lambda: cr.ReduceLROnPlateau(monitor="accuracy"), ValueError, ["monitor"]),
    (
        "plateau threshold mode",
        lambda: cr.ReduceLROnPlateau(threshold_mode="pct"),
        ValueError,
        ["threshold_mode"],
    ),
    (
        "early stopping patience",
        lambda: cr.EarlyStopping(patience=-2),
        ValueError,
        ["patience", "-2"],
    ),
    (
        "early stopping min_delta",
        lambda: cr.EarlyStopping(min_delta=float("nan")),
        ValueError,
        ["min_delta"],
    ),
    ("early stopping mode", lambda: cr.EarlyStopping(mode="best"), ValueError, ["mode"]),
]


def _mutated() -> cr.SGD:
    opt = cr.SGD(momentum=0.9)
    opt.momentum = -1.0
    return opt


@pytest.mark.parametrize("name,call,exc,parts", CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_bad_configuration(name: str, call: Callable, exc: type, parts: List[str]) -> None:
    with pytest.raises(exc) as info:
        call()
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"


FIT_ERRORS = [
    (
        "unknown schedule",
        dict(lr_schedule="linear"),
        ValueError,
        ["unknown lr_schedule 'linear'", "constant, cosine, exponential, reduce_on_plateau, step"],
    ),
    (
        "schedule needs parameters",
        dict(lr_schedule="step"),
        ValueError,
        ["'step' needs step_size", "StepLR(step_size="],
    ),
    ("schedule type", dict(lr_schedule=0.5), TypeError, ["lr_schedule must be"]),
    (
        "plateau without validation",
        dict(lr_schedule="reduce_on_plateau"),
        ValueError,
        ["monitors the validation loss", "validation_data or validation_split", "monitor='loss'"],
    ),
    (
        "unknown optimizer in fit",
        dict(optimizer="lbfgs"),
        ValueError,
        ["unknown optimizer 'lbfgs'"],
    ),
    (
        "validation features",
        dict(validation_data=(np.zeros((5, 3)), np.zeros((5, 1)))),
        ValueError,
        ["fit: validation_data", "layer 1 expects 2 input features", "(5, 3)"],
    ),
    (
        "validation rows",
        dict(validation_data=(np.zeros((5, 2)), np.zeros((4, 1)))),
        ValueError,
        ["fit: validation_data", "5 rows", "4"],
    ),
    (
        "validation width",
        dict(validation_data=(np.zeros((5, 2)), np.zeros((5, 2)))),
        ValueError,
        ["fit: validation_data", "outputs 1 columns", "(5, 2)"],
    ),
    (
        "validation nan",
        dict(validation_data=(np.full((5, 2), np.nan), np.zeros((5, 1)))),
        ValueError,
        ["validation_data", "nan", "row 0"],
    ),
    (
        "validation 1-D X",
        dict(validation_data=(np.zeros(5), np.zeros(5))),
        ValueError,
        ["validation_data X must be 2-D"],
    ),
    (
        "validation not a tuple",
        dict(validation_data=np.zeros((5, 2))),
        TypeError,
        ["validation_data must be a tuple (X_val, Y_val)"],
    ),
    (
        "validation one item",
        dict(validation_data=(np.zeros((5, 2)),)),
        TypeError,
        ["validation_data"],
    ),
    (
        "validation weights",
        dict(validation_data=(np.zeros((5, 2)), np.zeros((5, 1)), np.ones(4))),
        ValueError,
        ["validation_data sample_weight", "(5,)", "(4,)"],
    ),
    (
        "both validations",
        dict(validation_data=(X, Y), validation_split=0.2),
        ValueError,
        ["either validation_data or validation_split"],
    ),
    (
        "split 1",
        dict(validation_split=1.0),
        ValueError,
        ["validation_split must be in [0, 1)", "1.0"],
    ),
    ("split negative", dict(validation_split=-0.1), ValueError, ["validation_split"]),
    ("split type", dict(validation_split="0.1"), TypeError, ["validation_split"]),
    (
        "split leaves no validation",
        dict(validation_split=1e-17),
        ValueError,
        ["validation_split=1e-17 of 20 rows leaves no validation rows"],
    ),
    (
        "sample_weight length",
        dict(sample_weight=np.ones(19)),
        ValueError,
        ["sample_weight must have shape (20,)", "(19,)"],
    ),
    (
        "sample_weight negative",
        dict(sample_weight=np.r_[np.ones(10), -1.0, np.ones(9)]),
        ValueError,
        ["fit: sample_weight must be finite and >= 0", "-1 at row 10"],
    ),
    (
        "sample_weight nan",
        dict(sample_weight=np.r_[np.ones(3), np.nan, np.ones(16)]),
        ValueError,
        ["sample_weight", "nan at row 3"],
    ),
    (
        "sample_weight zeros",
        dict(sample_weight=np.zeros(20)),
        ValueError,
        ["sample_weight sums to 0"],
    ),
    ("sample_weight strings", dict(sample_weight=["a"] * 20), TypeError, ["sample_weight"]),
    (
        "unknown metric",
        dict(metrics=["auc"]),
        ValueError,
        ["unknown metric 'auc'", "accuracy, f1, mae, precision, r2, recall, rmse"],
    ),
    ("metrics string", dict(metrics="accuracy"), TypeError, ["metrics must be a list"]),
    ("metric twice", dict(metrics=["r2", "r2"]), ValueError, ["'r2' is listed twice"]),
    (
        "early stopping without validation",
        dict(early_stopping=cr.EarlyStopping()),
        ValueError,
        [
            "EarlyStopping monitors 'val_loss'",
            "records loss, lr",
            "validation_data or validation_split",
        ],
    ),
    (
        "early stopping metric not recorded",
        dict(early_stopping=cr.EarlyStopping(monitor="accuracy")),
        ValueError,
        ["'accuracy'", "does not record"],
    ),
    ("early stopping type", dict(early_stopping="val_loss"), TypeError, ["EarlyStopping"]),
    (
        "callback not callable",
        dict(callbacks=[print, 3]),
        TypeError,
        ["callbacks[1]", "on_epoch_end"],
    ),
    ("callbacks not a list", dict(callbacks=print), TypeError, ["callbacks must be a list"]),
    ("verbose 3", dict(verbose=3), ValueError, ["verbose must be 0", "1 (progress bar)", "got 3"]),
    ("verbose old meaning", dict(verbose=100), ValueError, ["got 100"]),
]


@pytest.mark.parametrize("name,kwargs,exc,parts", FIT_ERRORS, ids=[c[0] for c in FIT_ERRORS])
def test_bad_fit_arguments_leave_the_network_unchanged(
    name: str, kwargs: dict, exc: type, parts: List[str]
) -> None:
    net = _net()
    net.fit(X, Y, epochs=2)  # some optimizer state to keep
    before, state = snapshot(net), net.get_optimizer_state()
    with pytest.raises(exc) as info:
        net.fit(
            X,
            Y,
            epochs=3,
            optimizer=cr.SGD(momentum=0.5)
            if "optimizer" not in kwargs
            else kwargs.pop("optimizer"),
            **kwargs,
        )
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"
    assert_unchanged(net, before)
    after = net.get_optimizer_state()
    assert after["optimizer"] == "adam" and isinstance(net.optimizer, cr.Adam)
    assert after["step"] == state["step"]
    for name_, arrays in state["buffers"].items():
        for a, b in zip(arrays, after["buffers"][name_]):
            np.testing.assert_array_equal(a, b)


def test_split_leaving_no_training_rows() -> None:
    with pytest.raises(ValueError, match="validation_split=0.6 of 1 rows leaves no training rows"):
        _net().fit(X[:1], Y[:1], validation_split=0.6)


def test_bad_optimizer_state() -> None:
    net = _net()
    net.fit(X, Y, epochs=1)
    good = net.get_optimizer_state()
    by_slot = good["buffers"]["exp_avg"]
    by_name = dict(zip(net.parameters, by_slot))
    before = snapshot(net)
    cases = [
        (dict(good, optimizer="sgd"), ValueError, "the state is of optimizer 'sgd'"),
        (dict(good, step=-1), ValueError, "step must be >= 0"),
        (dict(good, step=1.5), TypeError, "step must be an integer"),
        ({"step": 1}, TypeError, "'step' and 'buffers'"),
        (
            dict(good, buffers={"exp_avg": good["buffers"]["exp_avg"]}),
            ValueError,
            "needs state buffer 'exp_avg_sq'",
        ),
        (
            dict(good, buffers=dict(good["buffers"], velocity=good["buffers"]["exp_avg"])),
            ValueError,
            "no state buffer 'velocity'",
        ),
        (
            dict(
                good,
                buffers=dict(good["buffers"], exp_avg=[a.T for a in good["buffers"]["exp_avg"]]),
            ),
            ValueError,
            "'exp_avg' of W1 must have shape (2, 4), got (4, 2)",
        ),
        (
            dict(good, buffers=dict(good["buffers"], exp_avg=good["buffers"]["exp_avg"][:3])),
            ValueError,
            "one array per parameter tensor (4), got 3",
        ),
        (
            dict(
                good,
                buffers=dict(
                    good["buffers"],
                    exp_avg_sq=[np.full_like(a, np.inf) for a in good["buffers"]["exp_avg_sq"]],
                ),
            ),
            ValueError,
            "contains NaN or inf",
        ),
        (  # a running mean of squares below 0 would make the update's square root NaN
            dict(
                good,
                buffers=dict(
                    good["buffers"],
                    exp_avg_sq=[-np.ones_like(a) for a in good["buffers"]["exp_avg_sq"]],
                ),
            ),
            ValueError,
            "'exp_avg_sq' of W1 holds sums or means of squares, which must be >= 0; got -1 at "
            "index 0",
        ),
        # complex buffers lost their imaginary part (a ComplexWarning only), text failed with
        # NumPy's "could not convert string to float", a stray non-string key with "'<' not
        # supported between instances of 'str' and 'int'": each is named now
        (
            dict(good, buffers=dict(good["buffers"], exp_avg=[a + 5j for a in by_slot])),
            TypeError,
            "set_optimizer_state: 'exp_avg' of W1 must be a real numeric array, got dtype "
            "complex128",
        ),
        (
            dict(
                good,
                buffers=dict(good["buffers"], exp_avg=by_slot[:1] + [["a"] * 4] + by_slot[2:]),
            ),
            TypeError,
            "set_optimizer_state: 'exp_avg' of b1 must be a real numeric array, got dtype <U1",
        ),
        (
            dict(good, buffers=dict(good["buffers"], exp_avg={**by_name, 0: 0.0, "W9": 0.0})),
            ValueError,
            "buffer 'exp_avg' must have one array per parameter (W1, b1, W2, b2); unknown: 'W9', 0",
        ),
    ]
    for state, exc, part in cases:
        with pytest.raises(exc) as info:
            net.set_optimizer_state(state)
        assert part in str(info.value), (part, str(info.value))
    assert_unchanged(net, before)
    after = net.get_optimizer_state()
    assert after["step"] == good["step"]
    np.testing.assert_array_equal(after["buffers"]["exp_avg"][0], good["buffers"]["exp_avg"][0])


def test_callback_error_mid_training_keeps_the_installed_optimizer() -> None:
    # fit(optimizer=...) that got past its checks has installed the optimizer, even if a
    # callback later fails: the weights were trained with it
    net = _net(optimizer="sgd")

    def boom(epoch, logs, network):
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        net.fit(X, Y, epochs=5, optimizer="rmsprop", callbacks=[boom])
    assert isinstance(net.optimizer, cr.RMSprop) and net.get_optimizer_state()["step"] == 1


def test_a_callback_failing_before_training_ends_the_ones_begun_before_it() -> None:
    # on_exception runs instead of on_train_end for every callback whose on_train_begin ran:
    # those before the one that raised (its own and the later ones never began)
    net = _net()
    before = snapshot(net)
    events: List[str] = []

    class Watcher(cr.Callback):
        def __init__(self, name: str, refuse: bool = False) -> None:
            self.name, self.refuse = name, refuse

        def on_train_begin(self, network: Any) -> None:
            events.append(f"{self.name} begin")
            if self.refuse:
                raise OSError("cannot open the log")

        def on_train_end(self, network: Any) -> None:
            events.append(f"{self.name} end")

        def on_exception(self, network: Any, exception: BaseException) -> None:
            assert_unchanged(network, before)  # the network as it was
            events.append(f"{self.name} {type(exception).__name__}")

    cbs = [Watcher("a"), Watcher("b"), Watcher("c", refuse=True), Watcher("d")]
    with pytest.raises(OSError, match="cannot open the log"):
        net.fit(X, Y, epochs=3, callbacks=cbs)
    assert events == ["a begin", "b begin", "c begin", "a OSError", "b OSError"]
    assert_unchanged(net, before)


def test_a_callback_failing_before_training_closes_the_progress_bar(capsys) -> None:
    from chainrule.callbacks import ProgressBar

    class Refuses(cr.Callback):
        def on_train_begin(self, network: Any) -> None:
            raise OSError("cannot open the log")

    bar = ProgressBar(3)
    with pytest.raises(OSError, match="cannot open the log"):
        _net().fit(X, Y, epochs=3, callbacks=[bar, Refuses()])
    assert bar.bar is None  # closed, not left to the garbage collector


def test_a_callback_failing_before_training_leaves_the_optimizer() -> None:
    # nothing has trained when a callback's on_train_begin raises (a CSVLogger that cannot
    # open its file): the optimizer fit(optimizer=...) installed goes, the old one and its
    # state come back
    net = _net(optimizer="adam")
    net.fit(X, Y, epochs=3)
    before, state = snapshot(net), net.get_optimizer_state()

    class Refuses(cr.Callback):
        def on_train_begin(self, network: Any) -> None:
            raise OSError("cannot open the log")

    with pytest.raises(OSError, match="cannot open the log"):
        net.fit(X, Y, epochs=3, optimizer=cr.SGD(lr=0.1), callbacks=[Refuses()])
    assert isinstance(net.optimizer, cr.Adam)
    assert_unchanged(net, before)
    after = net.get_optimizer_state()
    assert after["step"] == state["step"] == 3
    for name, arrays in state["buffers"].items():
        for a, b in zip(arrays, after["buffers"][name]):
            np.testing.assert_array_equal(a, b)
