"""PyTorch and ONNX conversions: same outputs, weights, and clear errors for what cannot convert."""

import numpy as np
import pytest

import chainrule as cr

ALL_BUILTINS = [
    cr.Sigmoid(),
    cr.Tanh(),
    cr.ReLU(),
    cr.LeakyReLU(alpha=0.2),
    cr.ELU(alpha=0.7),
    cr.GELU(),
    cr.SiLU(),
    cr.Softplus(),
    cr.Linear(),
]


def _net(dtype, output="softmax", loss="cross_entropy"):
    acts = ALL_BUILTINS + [output]
    sizes = [5] + [7] * (len(acts) - 1) + [4]
    return cr.Network(sizes, acts, loss, dtype=dtype, seed=3)


def _X(dtype, m=33):
    return np.random.default_rng(1).normal(scale=2.0, size=(m, 5)).astype(dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_torch_matches_predict(dtype):
    torch = pytest.importorskip("torch")
    net = _net(dtype)
    model = net.to_torch()
    assert isinstance(model, torch.nn.Sequential)
    X = _X(dtype)
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
    assert out.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, net.predict(X), rtol=tol, atol=tol)
    # Linear.weight is W.T, and a copy: changing the module leaves the network alone
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), net.weights[0].T)
    with torch.no_grad():
        model[0].weight.zero_()
    assert np.any(net.weights[0] != 0)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_torch_round_trip(dtype):
    pytest.importorskip("torch")
    net = _net(dtype)
    back = cr.from_torch(net.to_torch(), loss="cross_entropy")
    assert back.layer_sizes == net.layer_sizes and back.dtype == net.dtype
    assert [repr(a) for a in back.activations] == [repr(a) for a in net.activations]
    for l in range(net.n_layers):
        np.testing.assert_array_equal(back.weights[l], net.weights[l])
        np.testing.assert_array_equal(back.biases[l], net.biases[l])
    X = _X(dtype)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


@pytest.mark.torch
def test_from_torch_model_built_in_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 3),
        torch.nn.Identity(),
        torch.nn.Linear(3, 2),
    )
    net = cr.from_torch(seq)
    assert net.layer_sizes == [4, 8, 3, 2] and net.dtype == np.float32
    assert [a.name for a in net.activations] == ["tanh", "linear", "linear"]
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    with torch.no_grad():
        want = seq(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net.predict(X), want, rtol=1e-6, atol=1e-6)


@pytest.mark.torch
def test_from_torch_errors_name_the_module():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    with pytest.raises(ValueError, match=r"module 1 \(Hardswish\) is not supported"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Hardswish()))
    with pytest.raises(ValueError, match="module 0 .*before any Linear"):
        cr.from_torch(nn.Sequential(nn.ReLU(), nn.Linear(2, 3)))
    with pytest.raises(ValueError, match="module 2 .*follows another activation"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh()))
    with pytest.raises(ValueError, match="module 1 .*takes 4 inputs.*outputs 3"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="no bias"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3, bias=False)))
    with pytest.raises(ValueError, match="approximate"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3), nn.GELU(approximate="tanh")))
    with pytest.raises(ValueError, match="dim=0"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)))
    with pytest.raises(ValueError, match="threshold >= 20 .*got threshold=1.0"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Softplus(threshold=1.0)))
    with pytest.raises(ValueError, match="empty"):
        cr.from_torch(nn.Sequential())
    with pytest.raises(TypeError, match="Sequential"):
        cr.from_torch(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="float32 or all float64"):
        cr.from_torch(nn.Sequential(nn.Linear(2, 3, dtype=torch.float16)))


class Cube(cr.Activation):
    def forward(self, z):
        return z**3

    def derivative(self, z, h):
        return 3 * z**2


@pytest.mark.torch
def test_custom_activation_does_not_convert():
    pytest.importorskip("torch")
    net = cr.Network([2, 3, 1], [Cube(), "linear"])
    with pytest.raises(ValueError, match="layer 1: Cube.*custom"):
        net.to_torch()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_onnx_matches_predict(tmp_path, dtype):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net = _net(dtype)
    if dtype == "float64":
        # ONNX Runtime has no float64 Erf kernel: GELU is checked in float64 by
        # test_to_onnx_float64_gelu_is_valid, every other activation runs here
        acts = [a for a in ALL_BUILTINS if not isinstance(a, cr.GELU)] + ["softmax"]
        net = cr.Network(
            [5] + [7] * (len(acts) - 1) + [4], acts, "cross_entropy", dtype=dtype, seed=3
        )
    path = tmp_path / "net.onnx"
    model = net.to_onnx(path)
    assert path.exists() and model.graph.input[0].name == "X"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for m in (1, 33):
        X = _X(dtype, m)
        (out,) = sess.run(None, {"X": X})
        assert out.shape == (m, 4) and out.dtype == np.dtype(dtype)
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(out, net.predict(X), rtol=tol, atol=tol)


def test_to_onnx_float64_gelu_is_valid():
    onnx = pytest.importorskip("onnx")
    model = cr.Network([3, 4, 1], ["gelu", "linear"], dtype="float64").to_onnx()
    onnx.checker.check_model(model, full_check=True)
    assert "Erf" in [n.op_type for n in model.graph.node]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_torch_softplus_in_both_tails(dtype):
    """torch's Softplus computes log1p(exp(z)) below its threshold: the converted layer stays
    finite and equal to predict however large z is (exp(z) overflowed with a huge threshold)."""
    torch = pytest.importorskip("torch")
    net = cr.Network([1, 1], ["softplus"], dtype=dtype, seed=0)
    net.weights[0] = np.array([[1.0]])
    net.biases[0] = np.array([0.0])
    z = [-1000.0, -40.0, -1.0, 0.0, 1.0, 20.5, 36.9, 37.5, 39.9, 40.1, 100.0, 1000.0, 3e38]
    X = np.array(z, dtype=dtype)[:, None]
    with torch.no_grad():
        out = net.to_torch()(torch.from_numpy(X)).numpy()
    assert np.all(np.isfinite(out))
    tol = 1e-6 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(out, net.predict(X), rtol=tol, atol=0)


def test_to_onnx_extreme_inputs(tmp_path):
    """softplus, elu and sigmoid stay finite and equal to predict far out in both tails."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    for dtype in ("float32", "float64"):
        net = cr.Network(
            [2, 3, 3, 3, 2], ["softplus", "elu", "leaky_relu", "sigmoid"], dtype=dtype, seed=0
        )
        sess = ort.InferenceSession(
            net.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"]
        )
        X = np.array([[-300.0, 300.0], [80.0, -80.0], [0.0, 1e-3]], dtype=dtype)
        out = sess.run(None, {"X": X})[0]
        assert np.all(np.isfinite(out))
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(out, net.predict(X), rtol=tol, atol=tol)


def test_to_onnx_regression_net(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net = cr.Network([3, 16, 1], ["relu", "linear"], dtype="float32", seed=0)
    sess = ort.InferenceSession(
        net.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"]
    )
    X = _X("float32")[:, :3]
    np.testing.assert_allclose(sess.run(None, {"X": X})[0], net.predict(X), rtol=1e-5, atol=1e-5)


def test_to_onnx_rejects_custom_activation():
    pytest.importorskip("onnx")
    net = cr.Network([2, 3, 1], [Cube(), "linear"])
    with pytest.raises(ValueError, match="layer 1: Cube.*custom"):
        net.to_onnx()


@pytest.mark.parametrize(
    "module, call", [("onnx", lambda net: net.to_onnx()), ("torch", lambda net: net.to_torch())]
)
def test_missing_optional_package_says_what_to_install(monkeypatch, module, call):
    monkeypatch.setitem(__import__("sys").modules, module, None)  # import now fails
    net = cr.Network([2, 1], ["linear"])
    with pytest.raises(ImportError, match=f"pip install {module}"):
        call(net)
