"""Networks with Dropout, BatchNorm and LayerNorm from Python: construction from layer lists,
net.layers views, training and inference modes, seeds, save/load and pickle bit for bit,
ONNX (checked with onnxruntime), summary, thread invariance and clear errors that leave the
model unchanged."""

from __future__ import annotations

import copy
import io
import pickle
import zipfile
from typing import Any

import numpy as np
import pytest

import chainrule as cr


def _net(dtype: str = "float64", seed: Any = 0, **kw: Any) -> cr.Network:
    return cr.Network(
        [
            6,
            cr.Dense(9, "relu", l2=1e-3),
            cr.BatchNorm(momentum=0.2),
            cr.Dropout(0.25),
            cr.Dense(7, "tanh", l1=1e-4),
            cr.LayerNorm(),
            cr.Dense(3, "softmax"),
        ],
        loss="cross_entropy",
        dtype=dtype,
        seed=seed,
        **kw,
    )


def _data(m: int = 40, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 6))
    return X, rng.integers(0, 3, size=m)


def test_layer_list_and_views() -> None:
    net = _net()
    assert net.layer_sizes == [6, 9, 9, 9, 7, 7, 3]
    assert [layer.kind for layer in net.layers] == [
        "dense",
        "batch_norm",
        "dropout",
        "dense",
        "layer_norm",
        "dense",
    ]
    assert list(net.parameters) == [
        "W1",
        "b1",
        "gamma2",
        "beta2",
        "W4",
        "b4",
        "gamma5",
        "beta5",
        "W6",
        "b6",
    ]
    assert list(net.buffers) == ["running_mean2", "running_var2"]
    bn = net.layers[1]
    np.testing.assert_array_equal(bn.gamma, np.ones(9))
    np.testing.assert_array_equal(bn.running_var, np.ones(9))
    bn.gamma = np.full(9, 2.0)  # live and settable
    np.testing.assert_array_equal(net.parameters["gamma2"], np.full(9, 2.0))
    with pytest.raises(ValueError, match="shape"):
        bn.beta = np.zeros(8)
    with pytest.raises(AttributeError, match="no tensor 'W'"):
        bn.W
    assert net.layers[0].W is not None and net.layers[0].W.shape == (6, 9)
    assert len(net.weights) == 3 and net.weights[1].shape == (9, 7)  # the dense layers
    assert net.layers[2].p == 0.25 and net.layers[-1].units == 3
    assert "BatchNorm(momentum=0.2, eps=1e-05)" in repr(net)


def test_dropout_mask_training_and_inference() -> None:
    X, y = _data()
    net = _net()
    out1 = net.predict(X)
    np.testing.assert_array_equal(out1, net.predict(X))  # inference: deterministic
    net.gradients(X, y)
    mask = net.layers[2].mask
    assert mask.shape == (40, 9) and set(np.unique(mask)) <= {0.0, 1.0}
    assert 0.4 < mask.mean() < 0.95
    net.gradients(X, y)
    assert not np.array_equal(mask, net.layers[2].mask)  # a new pass draws a new mask


def test_seed_reproduces_a_fit_exactly() -> None:
    X, y = _data()
    a, b = _net(seed=7), _net(seed=7)
    a.fit(X, y, epochs=3, batch_size=16)
    b.fit(X, y, epochs=3, batch_size=16)
    for name in a.parameters:
        np.testing.assert_array_equal(a.parameters[name], b.parameters[name])
    for name in a.buffers:
        np.testing.assert_array_equal(a.buffers[name], b.buffers[name])
    c = _net(seed=8)
    c.fit(X, y, epochs=3, batch_size=16)
    assert not np.array_equal(a.parameters["W1"], c.parameters["W1"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_and_pickle_bit_for_bit(tmp_path, dtype: str) -> None:
    X, y = _data()
    net = _net(dtype, optimizer="adam")
    net.fit(X, y, epochs=2, batch_size=16)
    net.save(tmp_path / "m.npz")
    for back in (cr.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert back.layer_configs == net.layer_configs
        np.testing.assert_array_equal(back.predict(X), net.predict(X))
        for name in net.buffers:
            np.testing.assert_array_equal(back.buffers[name], net.buffers[name])
        # resuming continues the same stream of masks and shuffles
        net2 = copy.deepcopy(net)
        net2.fit(X, y, epochs=1, batch_size=16)
        back.fit(X, y, epochs=1, batch_size=16)
        np.testing.assert_array_equal(back.predict(X), net2.predict(X))


def test_dense_only_networks_keep_writing_version_2(tmp_path) -> None:
    import json
    import zipfile

    cr.Network([2, 3, 1], seed=0).save(tmp_path / "d.npz")
    _net().save(tmp_path / "l.npz")
    for name, version in (("d.npz", 2), ("l.npz", 3)):
        with zipfile.ZipFile(tmp_path / name) as z:
            raw = np.load(z.open("header.npy"))
        assert json.loads(raw.tobytes())["version"] == version


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_onnx_matches_predict(tmp_path, dtype: str) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    X, y = _data()
    net = _net(dtype)
    net.fit(X, y, epochs=3, batch_size=8)
    path = tmp_path / "n.onnx"
    model = net.to_onnx(path)
    ops = [node.op_type for node in model.graph.node]
    assert "BatchNormalization" in ops and "LayerNormalization" in ops and "Dropout" not in ops
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # pragma: no cover - depends on the runtime's kernels
        pytest.fail(f"onnxruntime cannot load the exported model: {exc}")
    (out,) = sess.run(None, {"X": X.astype(dtype)})
    tol = 1e-5 if dtype == "float32" else 1e-9  # ONNX's eps attribute is a float32
    np.testing.assert_allclose(out, net.predict(X), rtol=tol, atol=tol)


def test_summary_lists_every_layer() -> None:
    s = _net().summary(batch_size=32)
    for part in (
        "BatchNorm(momentum=0.2, eps=1e-05)",
        "gamma (9,)",
        "beta (9,)",
        "Dropout(p=0.25)",
        "LayerNorm(eps=1e-05)",
        "(32, 7)",
        "W (6, 9)",
    ):
        assert part in s, f"{part!r} missing from\n{s}"


def test_thread_counts_give_the_same_bits() -> None:
    X, y = _data(m=256)
    results = []
    old = cr.get_num_threads()
    try:
        for threads in (1, 2, 3):
            cr.set_num_threads(threads)
            net = _net(seed=4)
            net.fit(X, y, epochs=2, batch_size=64)
            results.append({k: np.array(v) for k, v in net.parameters.items()})
    finally:
        cr.set_num_threads(old)
    for other in results[1:]:
        for name in results[0]:
            np.testing.assert_array_equal(other[name], results[0][name])


@pytest.mark.parametrize(
    "make, exc, parts",
    [
        (lambda: cr.Dropout(1.0), ValueError, ["Dropout", "p", "[0, 1)", "1"]),
        (lambda: cr.Dropout(-0.1), ValueError, ["p", "-0.1"]),
        (lambda: cr.Dropout("a"), TypeError, ["Dropout", "p"]),
        (lambda: cr.BatchNorm(eps=0), ValueError, ["BatchNorm", "eps", "> 0", "0"]),
        (lambda: cr.BatchNorm(momentum=1.5), ValueError, ["momentum", "1.5"]),
        (lambda: cr.LayerNorm(eps=-1), ValueError, ["LayerNorm", "eps", "-1"]),
        (lambda: cr.Dense(0), ValueError, ["units", "0"]),
        (
            lambda: cr.Network([3, cr.Dense(4), cr.Dropout(0.1)]),
            ValueError,
            ["layer 2", "last layer", "Dropout"],
        ),
        (lambda: cr.Network([3, "dense", 1]), TypeError, ["layer 1", "'dense'"]),
        (
            lambda: cr.Network([3, cr.Dropout(0.1), 2, 1], activations=["relu"]),
            ValueError,
            ["1 activations", "2 layers given as plain ints"],
        ),
    ],
)
def test_bad_layers_are_refused(make: Any, exc: type, parts: list) -> None:
    with pytest.raises(exc) as e:
        make()
    for p in parts:
        assert p in str(e.value), f"{p!r} not in {str(e.value)!r}"


def test_running_variance_must_not_be_negative(tmp_path) -> None:
    # predict divides by sqrt(running_var + eps): a negative variance, set or loaded, would
    # give NaN silently, so every way in refuses it and leaves the buffer as it was
    net = _net()
    before = np.array(net.buffers["running_var2"])
    bad = np.ones(9)
    bad[4] = -0.5
    for assign in (
        lambda: net.buffers.__setitem__("running_var2", bad),
        lambda: setattr(net.layers[1], "running_var", bad),
    ):
        with pytest.raises(ValueError, match=r"running_var.*variance.*>= 0.*-0\.5.*index 4"):
            assign()
        np.testing.assert_array_equal(net.buffers["running_var2"], before)
    net.buffers["running_var2"] = np.zeros(9)  # a constant feature's variance: allowed
    net.layers[1].running_mean = -np.ones(9)  # means may be negative
    path = tmp_path / "bn.npz"
    net.save(path)
    # the same file with one running variance made negative
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    buf = io.BytesIO()
    np.save(buf, bad)
    members["running_var2.npy"] = buf.getvalue()
    broken = tmp_path / "broken.npz"
    with zipfile.ZipFile(broken, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ValueError, match=r"running_var2.*>= 0"):
        cr.load(broken)
    np.testing.assert_array_equal(cr.load(path).buffers["running_var2"], np.zeros(9))


def test_batch_norm_needs_two_rows_per_training_batch_and_changes_nothing() -> None:
    X, y = _data(m=33)
    net = _net()
    before = {k: np.array(v) for k, v in list(net.parameters.items()) + list(net.buffers.items())}
    with pytest.raises(ValueError, match="at least 2 rows per training batch"):
        net.fit(X, y, epochs=1, batch_size=16)  # 33 = 16 + 16 + 1
    with pytest.raises(ValueError, match="needs at least 2 rows"):
        net.gradients(X[:1], y[:1])
    for k, v in before.items():
        now = net.parameters[k] if k in net.parameters else net.buffers[k]
        np.testing.assert_array_equal(now, v)
    assert net.predict(X[:1]).shape == (1, 3)  # inference takes one row


def test_too_few_training_rows_for_batch_norm_blames_the_rows_not_batch_size() -> None:
    """One training row (given, or left by validation_split) was blamed on a batch_size=1
    that nobody passed."""
    X, y = _data(m=3)
    net = _net()
    for call in [lambda: net.fit(X[:1], y[:1]), lambda: net.fit(X, y, validation_split=0.5)]:
        with pytest.raises(ValueError, match=r"but there are 1 training row\(s\) in all") as e:
            call()
        assert "batch_size" not in str(e.value)


def test_gradient_check_with_every_layer() -> None:
    X, y = _data(m=12)
    net = _net()
    stream = net.get_dropout_state()
    errors = net.gradient_check(X, y, per_tensor=True)
    assert max(errors.values()) < 1e-6, errors
    # a check moves nothing on: the next fit is that of a network never checked
    assert net.get_dropout_state() == stream
    twin = _net()
    net.fit(X, y, epochs=2)
    twin.fit(X, y, epochs=2)
    assert all(np.array_equal(net.parameters[k], twin.parameters[k]) for k in net.parameters)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: cr.BatchNorm(momentum=None), "momentum"),  # torch: a cumulative average
        (lambda: cr.BatchNorm(eps=None), "eps"),
        (lambda: cr.Dropout(p=None), "p"),
        (lambda: cr.LayerNorm(eps=None), "eps"),
        (lambda: cr.layers.Dense(4, l2=None), "l2"),
        (lambda: cr.layers.Dense(None), "units"),
    ],
)
def test_none_is_no_value_of_a_layer_parameter(make, name):
    """None was taken as the default: BatchNorm(momentum=None), torch's cumulative moving
    average, silently became momentum 0.1."""
    with pytest.raises(TypeError, match=f"{name} must be .*, got None"):
        make()


def test_none_stands_for_the_default_where_a_constructor_declares_it():
    assert cr.LeakyReLU(None) == cr.LeakyReLU(0.01)  # LeakyReLU(alpha: Optional = None)


@pytest.mark.parametrize("call", ["forward", "gradients"])
def test_a_refused_training_pass_leaves_the_dropout_stream(call):
    """Dropout drew its mask before BatchNorm refused a 1-row batch: every later mask (and
    fit) differed from an untouched network's. A failed call leaves the model as it was."""
    X = np.random.default_rng(0).normal(size=(40, 6))
    Y = X[:, :2]

    def make():
        layers = [6, cr.layers.Dense(16, "tanh"), cr.Dropout(0.3), cr.BatchNorm()]
        return cr.Network(layers + [cr.layers.Dense(2, "linear")], seed=0)

    a, b = make(), make()
    before = a.get_dropout_state()
    with pytest.raises(ValueError, match="2 rows"):
        a.forward(X[:1]) if call == "forward" else a.gradients(X[:1], Y[:1])
    assert a.get_dropout_state() == before
    a.forward(X)
    b.forward(X)
    np.testing.assert_array_equal(a.layers[1].mask, b.layers[1].mask)


def test_an_in_place_operator_on_a_live_view_is_named_in_the_refusal():
    """``net.layers[1].running_var -= 5`` writes through the live view before the assignment
    is checked (NumPy's in-place operator), so the refusal cannot keep the old values: it says
    so, rather than read as if nothing had changed."""
    net = cr.Network([3, cr.layers.Dense(4), cr.BatchNorm(), 1], seed=0)
    with pytest.raises(ValueError, match="must be >= 0.*in-place operator.*holds them now"):
        net.layers[1].running_var -= 5
    with pytest.raises(ValueError, match="NaN or inf.*in-place operator"):
        net.weights[0] *= np.nan
    with pytest.raises(ValueError, match=r"NaN or inf$"):  # a value of its own: refused, kept
        net.weights[1] = np.full((4, 1), np.nan)


@pytest.mark.parametrize(
    "as_given",
    [lambda g: g, lambda g: [(x.dW, x.db) for x in g], lambda g: g.parameters],
    ids=["Gradients", "pairs", "by name"],
)
def test_step_takes_what_gradients_returns_with_dropout_between_dense_layers(as_given):
    """With a Dropout (a layer without parameters) between the dense layers, the (dW, db)
    pairs of gradients() are still one per dense layer: step took them for one per layer and
    refused them ("expected gradients for 3 layers, got 2 dW and 2 db")."""
    X, Y = np.random.default_rng(0).normal(size=(8, 3)), np.ones((8, 1))

    def make():
        return cr.Network([3, cr.Dense(4, "tanh"), cr.Dropout(0.5), cr.Dense(1)], seed=0)

    net, twin = make(), make()
    g = net.gradients(X, Y)
    assert len(g) == 2 and list(g.parameters) == ["W1", "b1", "W3", "b3"]
    twin.gradients(X, Y)
    net.step(as_given(g), lr=0.1)
    twin.step(lr=0.1)  # the same gradients, the last backward pass's
    for k in net.parameters:
        np.testing.assert_array_equal(net.parameters[k], twin.parameters[k])
    with pytest.raises(
        ValueError, match=r"one \(dW, db\) pair per dense layer: 2 \(layers 1, 3\), got 1"
    ):
        net.step([(g[0].dW, g[0].db)], lr=0.1)
