"""Bad input gives ValueError/TypeError naming the layer and the expected/actual shape or value,
and leaves the model unchanged (divergence: test_divergence.py; exceptions and wrong results
from user-defined activations and losses: test_misbehaving_extensions.py)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import textwrap
import warnings
from typing import Any, Callable, List, Sequence

import numpy as np
import pytest
from bad_input import X, Y, assert_message, small_net
from conftest import assert_unchanged, snapshot

import chainrule as cr

# ---- construction -------------------------------------------------------------------------------


def test_activation_count_mismatch() -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh"])
    assert_message(e, "1 activations", "2 layers")
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh", "tanh", "linear"])
    assert_message(e, "3 activations", "2 layers")


def test_activations_not_a_list() -> None:
    with pytest.raises(TypeError) as e:
        cr.Network([2, 4, 1], "tanh")
    assert_message(e, "one activation per layer", "'tanh'")
    with pytest.raises(TypeError) as e:
        cr.Network([2, 4, 1], ["tanh", 3])
    assert_message(e, "layer 2", "int")


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh", "relux"])
    assert_message(e, "layer 2", "'relux'")
    # every registered activation is listed, the original ten among them
    for name in cr.activation_names():
        assert re.search(rf"\b{name}\b", str(e.value)), f"{name} not listed in {e.value}"
    assert {
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "softmax",
        "linear",
        "gelu",
        "silu",
        "softplus",
    } <= set(cr.activation_names())


def test_unknown_loss_lists_valid_names() -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 4, 1], ["tanh", "linear"], loss="hinge")
    assert_message(e, "'hinge'", "mse", "cross_entropy", "binary_cross_entropy", *cr.loss_names())
    with pytest.raises(TypeError):
        cr.Network([2, 4, 1], ["tanh", "linear"], loss=3)


@pytest.mark.parametrize(
    "sizes,exc,parts",
    [
        ([2, 0, 1], ValueError, ["layer 1", ">= 1", "0"]),
        ([2, 4, -3], ValueError, ["layer 2", ">= 1", "-3"]),
        ([0, 4, 1], ValueError, ["input", "0"]),
        ([2, 4.5, 1], TypeError, ["layer 1", "integer", "4.5"]),
        ([2, "4", 1], TypeError, ["layer 1", "integer", "'4'"]),
        ([2, True, 1], TypeError, ["layer 1", "integer"]),
        ([2], ValueError, ["[2]"]),
        ([], ValueError, ["[]"]),
    ],
)
def test_bad_layer_sizes(sizes: List[Any], exc: type, parts: List[str]) -> None:
    with pytest.raises(exc) as e:
        cr.Network(sizes)
    assert_message(e, *parts)


def test_layer_sizes_not_a_sequence() -> None:
    with pytest.raises(TypeError):
        cr.Network("2,4,1")
    with pytest.raises(TypeError):
        cr.Network(5)


@pytest.mark.parametrize("dtype", ["int32", "float16", np.int64, "complex128", "bogus"])
def test_unsupported_dtype(dtype: Any) -> None:
    with pytest.raises(ValueError) as e:
        small_net(dtype=dtype)
    assert_message(e, "float32", "float64")
    assert str(dtype) in str(e.value) or repr(dtype) in str(e.value)


@pytest.mark.parametrize(
    "loss,act,needs",
    [
        ("cross_entropy", "tanh", "softmax"),
        ("cross_entropy", "linear", "softmax"),
        ("binary_cross_entropy", "softmax", "sigmoid"),
        ("binary_cross_entropy", "relu", "sigmoid"),
    ],
)
def test_fused_loss_needs_its_output_activation(loss: str, act: str, needs: str) -> None:
    with pytest.raises(ValueError) as e:
        cr.Network([2, 3, 3], ["tanh", act], loss=loss)
    assert_message(e, loss, needs)


def test_bad_activation_parameters() -> None:
    with pytest.raises(ValueError):
        cr.LeakyReLU(alpha=float("nan"))
    with pytest.raises(ValueError):
        cr.ELU(alpha=float("inf"))
    with pytest.raises(TypeError):
        cr.ELU(alpha="1")


HUGE = 10**400  # a Python int beyond the float range

HUGE_PARAMETERS = [
    # name, call, the parameter the message names
    ("EarlyStopping", lambda: cr.EarlyStopping(min_delta=HUGE), "EarlyStopping: min_delta"),
    ("ModelCheckpoint", lambda: cr.ModelCheckpoint("m.npz", min_delta=HUGE), "min_delta"),
    ("ReduceLROnPlateau", lambda: cr.ReduceLROnPlateau(factor=HUGE), "ReduceLROnPlateau: factor"),
    ("StepLR", lambda: cr.StepLR(step_size=HUGE), "StepLR: step_size"),
    ("Adam", lambda: cr.Adam(lr=HUGE), "Adam: lr"),
    ("Adam betas", lambda: cr.Adam(betas=(0.9, -HUGE)), "Adam: betas[1]"),
    ("Huber", lambda: cr.Huber(delta=HUGE), "Huber: delta"),
    ("LeakyReLU", lambda: cr.LeakyReLU(HUGE), "LeakyReLU: alpha"),
    ("Dropout", lambda: cr.Dropout(HUGE), "Dropout: p"),
    ("Dense units", lambda: cr.Dense(HUGE), "Dense: units"),
    ("Dense l2", lambda: cr.Dense(3, l2=HUGE), "Dense: l2"),
    ("fit clip_norm", lambda: small_net().fit(X, Y, clip_norm=HUGE), "clip_norm"),
]


@pytest.mark.parametrize(
    "call,name", [c[1:] for c in HUGE_PARAMETERS], ids=[c[0] for c in HUGE_PARAMETERS]
)
def test_an_int_beyond_the_float_range_names_the_parameter(call: Callable, name: str) -> None:
    """A Python int too large for a float, as a number parameter: a ValueError naming it (not
    the bare OverflowError of float())."""
    with pytest.raises(ValueError) as e:
        call()
    assert_message(e, f"{name} must be within the float range", "integer of about 401 digits")


def test_an_integer_parameter_past_two_to_the_53_is_named_as_given() -> None:
    """Dense(2**53 + 1) was refused naming 9007199254740992, the float the core saw."""
    with pytest.raises(
        ValueError,
        match=r"Dense: units must be an integer of magnitude at most "
        r"2\*\*53, got 9007199254740993",
    ):
        cr.Dense(2**53 + 1)
    with pytest.raises(ValueError, match="StepLR: step_size .* got 9007199254740993"):
        cr.StepLR(step_size=2**53 + 1)


def test_bad_init() -> None:
    with pytest.raises(ValueError) as e:
        small_net(init="uniform")
    assert_message(e, "'uniform'")
    with pytest.raises(ValueError) as e:  # a callable returning the wrong shape
        small_net(init=lambda n_in, n_out, rng: np.zeros((n_out, n_in)))
    assert_message(e, "layer 1", "(2, 4)", "(4, 2)")


# ---- data: each bad call raises and leaves the model unchanged ----------------------------------


def _with_nan(a: np.ndarray, r: int, c: int, v: float = np.nan) -> np.ndarray:
    a = a.copy()
    a[r, c] = v
    return a


Xnan, Xinf, Yinf = _with_nan(X, 3, 1), _with_nan(X, 7, 0, -np.inf), _with_nan(Y, 4, 0, np.inf)

BAD_CALLS = [
    # name, call, exception, message parts
    ("X 1-D", lambda n: n.predict(np.zeros(2)), ValueError, ["X", "2-D", "(2,)"]),
    ("X 3-D", lambda n: n.predict(np.zeros((2, 2, 2))), ValueError, ["X", "2-D", "(2, 2, 2)"]),
    ("X scalar", lambda n: n.predict(1.0), ValueError, ["X", "2-D"]),
    ("X no rows", lambda n: n.predict(np.zeros((0, 2))), ValueError, ["X", "empty", "(0, 2)"]),
    ("X no columns", lambda n: n.predict(np.zeros((5, 0))), ValueError, ["X", "(5, 0)"]),
    ("X empty fit", lambda n: n.fit(np.zeros((0, 2)), np.zeros((0, 1))), ValueError, ["empty"]),
    ("X None", lambda n: n.predict(None), TypeError, ["X"]),
    (
        "features predict",
        lambda n: n.predict(np.zeros((4, 3))),
        ValueError,
        ["layer 1 expects 2 input features", "(4, 3)"],
    ),
    (
        "features fit",
        lambda n: n.fit(np.zeros((10, 3)), Y),
        ValueError,
        ["layer 1 expects 2 input features", "(10, 3)"],
    ),
    (
        "features gradients",
        lambda n: n.gradients(np.zeros((10, 1)), Y),
        ValueError,
        ["layer 1 expects 2 input features", "(10, 1)"],
    ),
    (
        "features forward",
        lambda n: n.forward(np.zeros((10, 5))),
        ValueError,
        ["layer 1 expects 2 input features", "(10, 5)"],
    ),
    ("rows fit", lambda n: n.fit(X, Y[:5]), ValueError, ["10", "5", "rows"]),
    ("rows loss", lambda n: n.loss(X[:9], Y), ValueError, ["9", "10", "rows"]),
    ("rows gradients", lambda n: n.gradients(X, Y[:1]), ValueError, ["10", "1", "rows"]),
    ("Y width fit", lambda n: n.fit(X, np.zeros((10, 2))), ValueError, ["layer 2", "1", "(10, 2)"]),
    (
        "Y width loss",
        lambda n: n.loss(X, np.zeros((10, 3))),
        ValueError,
        ["layer 2", "1", "(10, 3)"],
    ),
    ("Y 3-D", lambda n: n.fit(X, np.zeros((10, 1, 1))), ValueError, ["Y", "2-D"]),
    ("nan X fit", lambda n: n.fit(Xnan, Y), ValueError, ["X", "nan", "row 3", "column 1"]),
    ("nan X predict", lambda n: n.predict(Xnan), ValueError, ["X", "nan", "row 3", "column 1"]),
    ("nan X loss", lambda n: n.loss(Xnan, Y), ValueError, ["X", "nan", "row 3", "column 1"]),
    (
        "nan X gradients",
        lambda n: n.gradients(Xnan, Y),
        ValueError,
        ["X", "nan", "row 3", "column 1"],
    ),
    ("nan X forward", lambda n: n.forward(Xnan), ValueError, ["X", "nan", "row 3"]),
    ("inf X fit", lambda n: n.fit(Xinf, Y), ValueError, ["X", "inf", "row 7", "column 0"]),
    ("inf X predict", lambda n: n.predict(Xinf), ValueError, ["X", "inf", "row 7", "column 0"]),
    ("inf Y fit", lambda n: n.fit(X, Yinf), ValueError, ["Y", "inf", "row 4", "column 0"]),
    ("inf Y loss", lambda n: n.loss(X, Yinf), ValueError, ["Y", "inf", "row 4"]),
    ("inf Y gradients", lambda n: n.gradients(X, Yinf), ValueError, ["Y", "inf", "row 4"]),
    ("nan Y fit", lambda n: n.fit(X, _with_nan(Y, 2, 0)), ValueError, ["Y", "nan", "row 2"]),
    ("strings X", lambda n: n.predict([["a", "b"], ["c", "d"]]), TypeError, ["X", "numeric"]),
    ("strings X fit", lambda n: n.fit(np.full((10, 2), "x"), Y), TypeError, ["X", "numeric"]),
    ("strings Y", lambda n: n.fit(X, [["y"]] * 10), TypeError, ["Y", "numeric"]),
    ("objects X", lambda n: n.predict(np.array([[object(), 1.0]], dtype=object)), TypeError, ["X"]),
    ("ragged X", lambda n: n.predict([[1.0, 2.0], [3.0]]), TypeError, ["X"]),
    (
        "text X",  # numbers written as text: refused, as scikit-learn refuses them
        lambda n: n.predict(np.array([["1.5", "2"]])),
        TypeError,
        ["X must be numeric", "text", "'1.5'", "astype(float)"],
    ),
    (
        "masked X",  # np.asarray would drop the mask and train on the values under it
        lambda n: n.fit(np.ma.array(X, mask=np.eye(10, 2, dtype=bool)), Y),
        ValueError,
        ["X is a masked array", "2 masked value(s)", "filled"],
    ),
    ("complex X", lambda n: n.predict(X.astype(complex)), TypeError, ["X", "complex"]),
    ("complex X fit", lambda n: n.fit(X + 1j, Y), TypeError, ["X", "complex"]),
    ("complex Y", lambda n: n.fit(X, Y.astype(np.complex64)), TypeError, ["Y", "complex"]),
    ("lr 0", lambda n: n.fit(X, Y, lr=0), ValueError, ["lr", "0"]),
    ("lr negative", lambda n: n.fit(X, Y, lr=-0.1), ValueError, ["lr", "-0.1"]),
    ("lr nan", lambda n: n.fit(X, Y, lr=float("nan")), ValueError, ["lr", "nan"]),
    ("lr inf", lambda n: n.fit(X, Y, lr=float("inf")), ValueError, ["lr", "inf"]),
    ("lr str", lambda n: n.fit(X, Y, lr="0.1"), TypeError, ["lr"]),
    ("lr huge int", lambda n: n.fit(X, Y, lr=10**400), ValueError, ["lr", "float range"]),
    ("step lr 0", lambda n: (n.gradients(X, Y), n.step(lr=0.0)), ValueError, ["lr", "0"]),
    (
        "step lr nan",
        lambda n: n.step(n.gradients(X, Y), lr=float("nan")),
        ValueError,
        ["lr", "nan"],
    ),
    ("epochs -1", lambda n: n.fit(X, Y, epochs=-1), ValueError, ["epochs", "-1"]),
    ("epochs float", lambda n: n.fit(X, Y, epochs=2.5), TypeError, ["epochs"]),
    ("batch 0", lambda n: n.fit(X, Y, batch_size=0), ValueError, ["batch_size", "0"]),
    ("batch -3", lambda n: n.fit(X, Y, batch_size=-3), ValueError, ["batch_size", "-3"]),
    ("batch float", lambda n: n.fit(X, Y, batch_size=2.0), TypeError, ["batch_size"]),
    ("step before backward", lambda n: n.step(lr=0.1), ValueError, ["step", "no gradients"]),
    ("backward before forward", lambda n: n.backward(Y), ValueError, ["forward"]),
    (
        "backward after predict",
        lambda n: (n.forward(X), n.predict(X[:3]), n.backward(Y)),
        ValueError,
        ["forward"],
    ),
    ("backward rows", lambda n: (n.forward(X), n.backward(Y[:3])), ValueError, ["3", "10"]),
    (
        "step wrong count",
        lambda n: n.step([(np.zeros((2, 4)), np.zeros(4))], lr=0.1),
        ValueError,
        ["one (dW, db) pair per dense layer: 2", "got 1"],
    ),
    (
        "step wrong shape",
        lambda n: n.step(
            [(np.zeros((2, 4)), np.zeros(4)), (np.zeros((4, 2)), np.zeros(1))], lr=0.1
        ),
        ValueError,
        ["the gradient of W2", "(4, 1)", "(4, 2)"],
    ),
    (
        "step nan",
        lambda n: n.step(
            [(np.zeros((2, 4)), np.zeros(4)), (np.full((4, 1), np.nan), np.zeros(1))], lr=0.1
        ),
        ValueError,
        ["the gradient of W2", "NaN"],
    ),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,call,exc,parts", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_and_leaves_model_unchanged(
    name: str, call: Callable, exc: type, parts: Sequence[str], dtype: str
) -> None:
    net = small_net(dtype=dtype)
    before = snapshot(net)
    expected_out = net.predict(X)
    with pytest.raises(exc) as e:
        call(net)
    assert_message(e, *parts)
    assert_unchanged(net, before)
    np.testing.assert_array_equal(net.predict(X), expected_out)
    # and the network still trains normally afterwards
    net.fit(X, Y, epochs=2, lr=0.1)


def _bn_net() -> cr.Network:
    return cr.Network([2, cr.Dense(4, "tanh"), cr.BatchNorm(), cr.Dense(1, "linear")], seed=0)


@pytest.mark.parametrize(
    "make, name, gradient, shown",
    [
        # a vector parameter's gradient of another shape with as many values was flattened
        (_bn_net, "gamma2", np.ones((2, 2)), "must have shape (4,), got (2, 2)"),
        (_bn_net, "b1", np.ones((4, 1)), "must have shape (4,), got (4, 1)"),
        (_bn_net, "b1", np.ones((1, 1, 4)), "must have shape (4,), got (1, 1, 4)"),
        (_bn_net, "b3", 0.5, "must have shape (1,), got ()"),  # "must be 2-D (samples, ...)"
        (_bn_net, "W1", np.ones(8), "must have shape (2, 4), got (8,)"),  # "got (1, 8)"
        (_bn_net, "W1", np.ones((4, 2)), "must have shape (2, 4), got (4, 2)"),
        (small_net, "b1", np.ones((2, 2)), "must have shape (4,), got (2, 2)"),  # pair form
        (small_net, "b2", 0.5, "must have shape (1,), got ()"),  # accepted as pairs, not by name
        (small_net, "W2", np.ones(4), "must have shape (4, 1), got (4,)"),
    ],
)
def test_step_takes_each_gradient_in_its_parameters_shape_only(
    make: Callable, name: str, gradient: Any, shown: str
) -> None:
    net = make()
    by_name = dict(net.gradients(X, Y).parameters, **{name: gradient})
    forms = [by_name]
    if list(net.parameters) == ["W1", "b1", "W2", "b2"]:  # the (dW, db) pairs too
        forms.append([(by_name["W1"], by_name["b1"]), (by_name["W2"], by_name["b2"])])
    for grads in forms:
        before = {k: np.array(v) for k, v in net.parameters.items()}
        with pytest.raises(ValueError) as e:
            net.step(grads, lr=0.1)
        assert_message(e, f"step: the gradient of {name} {shown}")
        for k, v in net.parameters.items():
            np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize(
    "change",
    [
        lambda n, g: n.step(lr=0.1),
        lambda n, g: n.step(g, lr=0.1),
        lambda n, g: n.step([(x.dW, x.db) for x in g], lr=0.1),
        lambda n, g: n.step(g.parameters, lr=0.1),
        lambda n, g: n.weights.__setitem__(1, np.ones((4, 1))),
        lambda n, g: n.biases.__setitem__(0, np.ones(4)),
        lambda n, g: n.parameters.__setitem__("W1", np.ones((2, 4))),
        lambda n, g: setattr(n.layers[0], "b", np.ones(4)),
    ],
    ids=[
        "step()",
        "step(g)",
        "step(pairs)",
        "step(dict)",
        "weights",
        "biases",
        "parameters",
        "layers",
    ],
)
def test_a_step_or_an_assignment_drops_the_forward_pass_kept_for_backward(change) -> None:
    """backward() after a step or an assignment combined the kept forward pass (of the old
    weights) with the new weights: gradients of neither. torch refuses such a backward; so
    does chainrule, as after predict or fit."""
    net = small_net(optimizer="adam")
    net.forward(X)
    g = net.backward(Y)
    change(net, g)
    with pytest.raises(ValueError) as e:
        net.backward(Y)
    assert_message(e, "backward: call forward(X) first", "a step, a parameter assignment")
    net.forward(X)  # a new forward pass: backward works again, at the new weights
    twin = small_net()
    for k in net.parameters:
        twin.parameters[k] = net.parameters[k]
    for got, want in zip(net.backward(Y), twin.gradients(X, Y)):
        np.testing.assert_array_equal(got.dW, want.dW)


def test_a_refused_step_or_assignment_keeps_the_forward_pass() -> None:
    net = small_net()
    net.forward(X)
    with pytest.raises(ValueError):
        net.step([(np.zeros((2, 4)), np.zeros(4))], lr=0.1)
    with pytest.raises(ValueError):
        net.weights[0] = np.zeros((4, 2))
    np.testing.assert_array_equal(net.backward(Y)[0].dW, small_net().gradients(X, Y)[0].dW)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("clip", [{}, {"clip_norm": 1.0}, {"clip_value": 0.5}])
def test_step_refuses_the_last_backward_pass_s_non_finite_gradients(optimizer, clip) -> None:
    """step(g) refused NaN or inf gradients, but step() applied the same ones from the last
    backward pass: NaN weights and optimizer state, with no error."""
    net = cr.Network([2, 3, 1], ["linear", "linear"], seed=0, optimizer=optimizer)
    big = np.full((4, 2), 1e155)  # finite, but the loss and the gradients overflow
    before, state = snapshot(net), net.get_optimizer_state()
    for compute in (
        lambda: net.gradients(big, np.zeros((4, 1))),
        lambda: (net.forward(big), net.backward(np.zeros((4, 1))))[1],
    ):
        g = compute()
        assert not np.isfinite(g[0].dW).all()
        for call in (lambda: net.step(g, lr=1e-3, **clip), lambda: net.step(lr=1e-3, **clip)):
            with pytest.raises(ValueError) as e:
                call()
            assert_message(e, "step: the gradient of W1 contains NaN or inf")
            assert_unchanged(net, before)
            after = net.get_optimizer_state()
            assert after["step"] == state["step"]
            for name, arrays in state["buffers"].items():
                for a, b in zip(arrays, after["buffers"][name]):
                    np.testing.assert_array_equal(a, b)
    net.gradients(X[:4], Y[:4])  # finite gradients: step() applies them
    net.step(lr=1e-3, **clip)
    assert not np.array_equal(net.weights[0], before[0])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_step_applies_only_gradients_of_a_backward_pass(optimizer: str) -> None:
    # step() without grads applies the last backward pass's gradients, as torch's
    # optimizer.step() applies .grad; where there are none (a fresh or loaded network, or a
    # fit since, which keeps none: SGD fuses its update into the dW products) it raises
    # rather than step with zeros or stale values; diagnose puts them back as they were
    net = small_net(optimizer=optimizer)
    twin = small_net(optimizer=optimizer)

    def refused(n: Any) -> None:
        before = snapshot(n)
        with pytest.raises(ValueError) as e:
            n.step(lr=0.1)
        assert_message(e, "step: no gradients", "gradients(X, Y)", "step(grads)")
        assert_unchanged(n, before)

    refused(net)
    refused(copy.deepcopy(net))
    for compute in (
        lambda n: n.gradients(X, Y),
        lambda n: (n.forward(X), n.backward(Y)),
        lambda n: n.gradient_check(X, Y),
    ):
        compute(net)
        net.step(lr=0.1)
        twin.step(twin.gradients(X, Y), lr=0.1)
        np.testing.assert_array_equal(net.weights[0], twin.weights[0])
    net.gradients(X, Y)
    twin.gradients(X, Y)
    net.diagnose(X, Y)
    net.step(lr=0.1)
    twin.step(lr=0.1)
    np.testing.assert_array_equal(net.weights[0], twin.weights[0])
    net.gradients(X, Y)
    net.fit(X, Y, epochs=1, lr=0.1)
    refused(net)
    net.diagnose(X, Y)
    refused(net)
    net.gradients(X, Y)
    net.step(lr=0.1)
    net.step(lr=0.1)  # the same gradients again, as torch's optimizer.step() twice


def test_float32_overflowing_input_is_reported() -> None:
    # the cast to float32 makes a finite 1e300 inf; the message says that it may have been
    # a value out of float32's range (and no NumPy RuntimeWarning leaks out)
    net = small_net(dtype="float32")
    note = "values beyond 3.4e38 in magnitude become inf in float32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as e:
            net.predict(np.array([[1e300, 1.0]]))
        assert_message(e, "X", "inf", "row 0", "column 0", note)
        with pytest.raises(ValueError) as e:
            net.fit(np.array([[1.0, 2.0]] * 4), np.array([[1.0]] * 3 + [[1e39]]), epochs=1)
        assert_message(e, "Y", "inf", "row 3", "column 0", note)
        with pytest.raises(ValueError) as e:
            net.fit(np.ones((4, 2)), np.ones(4), epochs=1, sample_weight=np.full(4, 1e300))
        assert_message(e, "sample_weight", "inf at row 0", note)
    with pytest.raises(ValueError) as e:  # float64: an inf is the caller's own
        small_net(dtype="float64").predict(np.array([[np.inf, 1.0]]))
    assert note not in str(e.value)


# ---- targets ------------------------------------------------------------------------------------


def _ce_net() -> cr.Network:
    return cr.Network([2, 3], ["softmax"], loss="cross_entropy", seed=0)


@pytest.mark.parametrize("method", ["fit", "loss", "gradients"])
def test_cross_entropy_targets_must_be_distributions(method: str) -> None:
    net = _ce_net()
    before = snapshot(net)
    ones = np.ones((10, 3))  # rows sum to 3
    with pytest.raises(ValueError) as e:
        getattr(net, method)(X, ones)
    assert_message(e, "distribution", "row 0", "3")
    neg = np.tile([1.5, -0.5, 0.0], (10, 1))  # sums to 1 but has a negative entry
    with pytest.raises(ValueError) as e:
        getattr(net, method)(X, neg)
    assert_message(e, "distribution", "negative", "-0.5")
    labels = np.arange(10) % 3  # class labels: accepted as their one-hot rows, if in range
    with pytest.raises(ValueError) as e:
        getattr(net, method)(X, labels + 1)
    assert_message(e, "class label at row 2 is 3", "not in [0, 3)")
    assert_unchanged(net, before)
    # valid one-hot and soft targets and class labels are accepted
    getattr(net, method)(X, np.eye(3)[labels])
    getattr(net, method)(X, np.full((10, 3), 1 / 3))
    getattr(net, method)(X, labels)


def test_binary_cross_entropy_targets_in_unit_interval() -> None:
    net = cr.Network([2, 2], ["sigmoid"], loss="binary_cross_entropy", seed=0)
    before = snapshot(net)
    for bad, shown in [(1.5, "1.5"), (-0.25, "-0.25")]:
        Yb = np.full((10, 2), 0.5)
        Yb[6, 1] = bad
        with pytest.raises(ValueError) as e:
            net.fit(X, Yb)
        assert_message(e, "[0, 1]", "6", shown)
    assert_unchanged(net, before)


# ---- parameters -----------------------------------------------------------------------------------


def test_setting_weights_of_wrong_shape() -> None:
    net = cr.Network([2, 4, 3, 1], ["tanh", "relu", "linear"], seed=0)
    before = snapshot(net)
    with pytest.raises(ValueError) as e:
        net.weights[1] = np.zeros((3, 4))
    assert_message(e, "layer 2", "(4, 3)", "(3, 4)")
    with pytest.raises(ValueError) as e:
        net.weights[0] = np.zeros(8)
    assert_message(e, "layer 1", "(2, 4)", "(8,)")
    with pytest.raises(ValueError) as e:
        net.weights[0] = np.full((2, 4), np.inf)
    assert_message(e, "layer 1")
    with pytest.raises(TypeError):
        net.weights[0] = np.full((2, 4), "a")
    with pytest.raises(IndexError):
        net.weights[3] = np.zeros((1, 1))
    assert_unchanged(net, before)


def test_setting_biases_of_wrong_shape() -> None:
    net = cr.Network([2, 4, 3, 1], ["tanh", "relu", "linear"], seed=0)
    before = snapshot(net)
    with pytest.raises(ValueError) as e:
        net.biases[2] = np.zeros(3)
    assert_message(e, "layer 3", "(1,)", "(3,)")
    assert re.search(r"\bbias\b", str(e.value)), f"misspelt parameter name in {e.value!r}"
    with pytest.raises(ValueError) as e:
        net.biases[1] = np.array([0.0, np.nan, 0.0])
    assert_message(e, "layer 2")
    assert_unchanged(net, before)


# ---- nothing crashes the interpreter -----------------------------------------------------------------


def test_abuse_does_not_crash_the_interpreter() -> None:
    script = textwrap.dedent("""
        import gc, numpy as np, chainrule as cr
        X = np.random.default_rng(0).normal(size=(6, 2)); Y = np.zeros((6, 1))

        class Weird(cr.Activation):
            def __init__(self, out): self.out = out
            def forward(self, z): return self.out(z)
            def derivative(self, z, h): return self.out(z)

        outs = [lambda z: {}, lambda z: iter([1]), lambda z: np.zeros(10**6),
                lambda z: np.zeros((0, 0)), lambda z: np.zeros(z.shape, dtype=object),
                lambda z: z.astype(np.complex128), lambda z: z[:, ::-1],
                lambda z: np.asfortranarray(np.tanh(z)), lambda z: 1 / 0,
                lambda z: np.zeros(z.shape, dtype=np.int8), lambda z: [[0.0] * z.shape[1]] * len(z)]
        for out in outs:
            for dtype in ("float64", "float32"):
                try:
                    net = cr.Network([2, 3, 1], [Weird(out), "linear"], dtype=dtype, seed=0)
                    net.fit(X, Y, epochs=2)
                    net.predict(X); net.gradients(X, Y)
                except Exception:
                    pass
        net = cr.Network([2, 3, 1], ["tanh", "linear"], seed=0)
        w = net.weights[0]
        del net; gc.collect()
        w[0, 0] = 1.0  # the view keeps its network alive
        for args in [(X, Y, 1, 0.1, 10**9), (X[:1], Y[:1], 3, 0.1, 1)]:
            cr.Network([2, 3, 1], ["tanh", "linear"], seed=0).fit(*args[:2], epochs=args[2],
                                                                   lr=args[3], batch_size=args[4])
        for bad in [np.empty((3, 2))[:, :1], np.zeros((2**31, 0)), X[::2], X.T.copy().T,
                    np.frombuffer(X.tobytes(), dtype=np.float64).reshape(6, 2), memoryview(X)]:
            try:
                cr.Network([2, 3, 1], ["tanh", "linear"], seed=0).predict(bad)
            except Exception:
                pass
        net = cr.Network([2, 3, 1], ["tanh", "linear"], seed=0)
        net.forward(X[:3].copy())
        gc.collect()
        net.backward(Y[:3])
        print("survived")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "survived" in proc.stdout
