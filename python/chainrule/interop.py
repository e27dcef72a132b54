"""Conversions to and from PyTorch and to ONNX.

Both libraries stay optional: they are imported when a conversion is asked for, and a missing
one raises an ImportError that says what to install. Nothing here computes: the conversions map
layers and activations one to one and copy the weights (PyTorch's ``Linear`` stores ``W.T``).
"""

from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ._version import __version__
from .activations import (
    ELU,
    GELU,
    Activation,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    is_builtin,
)
from .layers import Dense, Layer, layer_class
from .network import Network

__all__ = ["to_torch", "from_torch", "to_onnx"]


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - exercised when the package is absent
        raise ImportError(
            f"this needs the optional package '{module}': pip install {extra}"
        ) from exc


# ---- PyTorch ---------------------------------------------------------------------------------


def _torch_activation(act: Activation, layer: int) -> Optional[Any]:
    """The torch.nn module of a built-in activation (None for linear)."""
    nn = _require("torch", "torch").nn
    if isinstance(act, Linear):
        return None
    if isinstance(act, LeakyReLU):
        return nn.LeakyReLU(negative_slope=act.alpha)
    if isinstance(act, ELU):
        return nn.ELU(alpha=act.alpha)
    if isinstance(act, Softmax):
        return nn.Softmax(dim=-1)
    if isinstance(act, GELU):
        return nn.GELU(approximate="none")
    simple = {Sigmoid: nn.Sigmoid, Tanh: nn.Tanh, ReLU: nn.ReLU, SiLU: nn.SiLU}
    for cls, module in simple.items():
        if isinstance(act, cls):
            return module()
    if isinstance(act, Softplus):
        # torch computes log1p(exp(z)) up to the threshold and z beyond it. Its default, 20,
        # switches where softplus(z) - z = log1p(exp(-z)) is still above float64's resolution
        # of z; from 37 on it is below half an ulp of z in both dtypes, so chainrule's
        # max(z, 0) + log1p(exp(-|z|)) rounds to z too, and exp(z) overflows only far past 40
        return nn.Softplus(beta=1.0, threshold=40.0)
    if is_builtin(act):
        raise ValueError(
            f"layer {layer}: {act!r} has no PyTorch conversion in chainrule.interop yet"
        )
    raise ValueError(
        f"layer {layer}: {act!r} is a custom activation; PyTorch has no module "
        "for it (only built-in activations convert)"
    )


def _copy(param: Any, value: np.ndarray) -> None:
    torch = _require("torch", "torch")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.array(value)))


def to_torch(net: Network) -> Any:
    """``torch.nn.Sequential`` with the network's layers and weights, in its dtype: a dense
    layer as ``Linear`` (``weight = W.T``, ``bias = b``) and its activation module, Dropout
    as ``Dropout``, BatchNorm as ``BatchNorm1d`` (with its running statistics), LayerNorm
    as ``LayerNorm``. (L1/L2 penalties are part of training, not of the modules.)"""
    torch = _require("torch", "torch")
    nn = torch.nn
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    modules: List[Any] = []
    for layer in net.layers:
        n_in, n_out = layer.shape
        t = layer.parameters
        if layer.kind == "dense":
            lin = nn.Linear(n_in, n_out, dtype=dtype)
            _copy(lin.weight, t["W"].T)
            _copy(lin.bias, t["b"])
            modules.append(lin)
            module = _torch_activation(layer.config.activation, layer.index + 1)
            if module is not None:
                modules.append(module)
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(p=layer.config.p))
        elif layer.kind == "batch_norm":
            bn = nn.BatchNorm1d(
                n_out, eps=layer.config.eps, momentum=layer.config.momentum, dtype=dtype
            )
            _copy(bn.weight, t["gamma"])
            _copy(bn.bias, t["beta"])
            _copy(bn.running_mean, layer.buffers["running_mean"])
            _copy(bn.running_var, layer.buffers["running_var"])
            modules.append(bn)
        elif layer.kind == "layer_norm":
            ln = nn.LayerNorm(n_out, eps=layer.config.eps, dtype=dtype)
            _copy(ln.weight, t["gamma"])
            _copy(ln.bias, t["beta"])
            modules.append(ln)
        else:
            raise ValueError(
                f"layer {layer.index + 1}: {layer.config!r} has no PyTorch "
                "conversion in chainrule.interop yet"
            )
    return nn.Sequential(*modules)


def _activation_of(module: Any, index: int) -> Activation:
    """The chainrule activation of a torch.nn activation module (ValueError when none)."""
    nn = _require("torch", "torch").nn
    name = type(module).__name__
    where = f"module {index} ({name})"
    if isinstance(module, nn.LeakyReLU):
        return LeakyReLU(alpha=float(module.negative_slope))
    if isinstance(module, nn.ELU):
        return ELU(alpha=float(module.alpha))
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, 1):
            raise ValueError(
                f"{where}: only softmax over the feature axis (dim=-1 or 1) "
                f"converts, got dim={module.dim}"
            )
        return Softmax()
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise ValueError(
                f"{where}: only the exact GELU converts, got approximate={module.approximate!r}"
            )
        return GELU()
    if isinstance(module, nn.Softplus):
        if module.beta != 1:
            raise ValueError(f"{where}: only Softplus(beta=1) converts, got beta={module.beta}")
        if not module.threshold >= 20:
            # torch returns z where z > threshold; chainrule's softplus has no such switch, and
            # below torch's default of 20 the two differ by more than exp(-threshold)
            raise ValueError(
                f"{where}: only Softplus with threshold >= 20 (torch's default) converts, "
                f"got threshold={module.threshold}"
            )
        return Softplus()
    simple = {nn.Sigmoid: Sigmoid, nn.Tanh: Tanh, nn.ReLU: ReLU, nn.SiLU: SiLU, nn.Identity: Linear}
    for cls, act in simple.items():
        if type(module) is cls:
            return act()
    raise ValueError(
        f"{where} is not supported: from_torch takes Linear layers, each followed "
        "by at most one of Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, GELU, SiLU, "
        "Softplus or Identity"
    )


def from_torch(model: Any, loss: Any = "mse", *, seed: Optional[int] = None) -> Network:
    """A :class:`~chainrule.Network` with the layers, activations and weights of a
    ``torch.nn.Sequential`` of ``Linear`` modules, each followed by at most one activation
    module (a ``Linear`` not followed by one is linear), and ``Dropout``, ``BatchNorm1d``
    (affine, tracking running statistics) and ``LayerNorm`` (over the last axis, affine)
    modules. dtype follows the weights (float32 or float64). The last module must be a
    Linear or its activation."""
    torch = _require("torch", "torch")
    nn = torch.nn
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"from_torch takes a torch.nn.Sequential, got {type(model).__name__}")
    modules = list(model)
    if not modules:
        raise ValueError("from_torch: the Sequential is empty")
    # (chainrule layer config, torch module holding its tensors)
    layers: List[Tuple[Layer, Any]] = []
    width: Optional[int] = None  # the width of the last module read
    for i, module in enumerate(modules):
        name = type(module).__name__
        if isinstance(module, nn.Linear):
            if module.bias is None:
                raise ValueError(
                    f"module {i} (Linear) has no bias; chainrule layers always have "
                    "one (use bias=True, or set it to zeros)"
                )
            if width is not None and width != module.in_features:
                raise ValueError(
                    f"module {i} (Linear) takes {module.in_features} inputs but the "
                    f"layer before outputs {width}"
                )
            width = module.out_features
            layers.append((Dense(module.out_features, Linear()), module))
            continue
        if width is None:
            raise ValueError(f"module {i} ({name}) comes before any Linear layer")
        if isinstance(module, nn.Dropout):
            layers.append((layer_class("dropout")(p=float(module.p)), module))
        elif isinstance(module, nn.BatchNorm1d):
            if not (module.affine and module.track_running_stats) or module.momentum is None:
                raise ValueError(
                    f"module {i} (BatchNorm1d): only affine=True, "
                    "track_running_stats=True with a momentum converts"
                )
            layers.append(
                (
                    layer_class("batch_norm")(
                        momentum=float(module.momentum), eps=float(module.eps)
                    ),
                    module,
                )
            )
        elif isinstance(module, nn.LayerNorm):
            if (
                len(module.normalized_shape) != 1
                or not module.elementwise_affine
                or module.bias is None
            ):
                raise ValueError(
                    f"module {i} (LayerNorm): only LayerNorm(n) over the last axis "
                    "with elementwise_affine=True and a bias converts"
                )
            layers.append((layer_class("layer_norm")(eps=float(module.eps)), module))
        else:
            act = _activation_of(module, i)
            prev = layers[-1][0]
            if not (isinstance(prev, Dense) and isinstance(modules[i - 1], nn.Linear)):
                raise ValueError(
                    f"module {i} ({name}) follows "
                    f"{'another activation' if isinstance(prev, Dense) else type(modules[i - 1]).__name__}; "
                    "each Linear takes at most one activation, right after it"
                )
            layers[-1] = (Dense(prev.units, act), layers[-1][1])
    params = [p for _, m in layers for p in m.parameters()]
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (torch.float32, torch.float64):
        raise ValueError(
            f"from_torch: the weights must all be float32 or all float64, "
            f"got {sorted(str(d) for d in dtypes)}"
        )
    dtype = "float64" if next(iter(dtypes)) == torch.float64 else "float32"
    first = next(m for _, m in layers if isinstance(m, nn.Linear))
    net = Network([first.in_features] + [c for c, _ in layers], loss=loss, dtype=dtype, seed=seed)
    for layer, (_, m) in zip(net.layers, layers):
        if isinstance(m, nn.Linear):
            layer.W = m.weight.detach().cpu().numpy().T
            layer.b = m.bias.detach().cpu().numpy()
        elif isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)):
            layer.gamma = m.weight.detach().cpu().numpy()
            layer.beta = m.bias.detach().cpu().numpy()
            if isinstance(m, nn.BatchNorm1d):
                layer.running_mean = m.running_mean.detach().cpu().numpy()
                layer.running_var = m.running_var.detach().cpu().numpy()
    return net


# ---- ONNX ------------------------------------------------------------------------------------

_ONNX_OPSET = 17


def _onnx_activation(
    helper: Any, act: Activation, x: str, layer: int, np_dtype: Any
) -> Tuple[List[Any], str, List[Any]]:
    """Nodes computing act(x); returns (nodes, output name, initializers).

    float32 uses ONNX's own operators. float64 builds leaky relu, elu and softplus from
    elementary operators: ONNX attributes are float32 (alpha would be rounded), and ONNX
    Runtime has no float64 kernels for Elu and Softplus."""
    from onnx import numpy_helper

    out = f"h{layer}"
    consts: List[Any] = []

    def const(name: str, value: float) -> str:
        full = f"{name}_{layer}"
        consts.append(numpy_helper.from_array(np.array(value, dtype=np_dtype), full))
        return full

    def node(op: str, inputs: List[str], output: str, **attrs: Any) -> Any:
        return helper.make_node(op, inputs, [output], **attrs)

    wide = np_dtype == np.float64
    t = f"t{layer}_"  # prefix of intermediate names
    if isinstance(act, Linear):
        return [], x, []
    if isinstance(act, LeakyReLU):
        if not wide:
            return [node("LeakyRelu", [x], out, alpha=act.alpha)], out, []
        # z > 0 ? z : alpha z
        return (
            [
                node("Greater", [x, const("zero", 0.0)], t + "pos"),
                node("Mul", [x, const("alpha", act.alpha)], t + "neg"),
                node("Where", [t + "pos", x, t + "neg"], out),
            ],
            out,
            consts,
        )
    if isinstance(act, ELU):
        if not wide:
            return [node("Elu", [x], out, alpha=act.alpha)], out, []
        # z > 0 ? z : alpha (exp(z) - 1)
        return (
            [
                node("Greater", [x, const("zero", 0.0)], t + "pos"),
                node("Exp", [x], t + "exp"),
                node("Sub", [t + "exp", const("one", 1.0)], t + "em1"),
                node("Mul", [t + "em1", const("alpha", act.alpha)], t + "neg"),
                node("Where", [t + "pos", x, t + "neg"], out),
            ],
            out,
            consts,
        )
    if isinstance(act, Softplus):
        if not wide:
            return [node("Softplus", [x], out)], out, []
        # max(z, 0) + log(1 + exp(-|z|)), which never overflows
        return (
            [
                node("Relu", [x], t + "relu"),
                node("Abs", [x], t + "abs"),
                node("Neg", [t + "abs"], t + "nabs"),
                node("Exp", [t + "nabs"], t + "exp"),
                node("Add", [t + "exp", const("one", 1.0)], t + "1p"),
                node("Log", [t + "1p"], t + "log"),
                node("Add", [t + "relu", t + "log"], out),
            ],
            out,
            consts,
        )
    if isinstance(act, Softmax):
        return [node("Softmax", [x], out, axis=-1)], out, []
    simple = {Sigmoid: "Sigmoid", Tanh: "Tanh", ReLU: "Relu"}
    for cls, op in simple.items():
        if isinstance(act, cls):
            return [node(op, [x], out)], out, []
    if isinstance(act, SiLU):  # z sigmoid(z)
        return [node("Sigmoid", [x], t + "sig"), node("Mul", [x, t + "sig"], out)], out, []
    if isinstance(act, GELU):
        # z (1 + erf(z / sqrt 2)) / 2 (Gelu is an operator only from opset 20; ONNX Runtime
        # has no float64 Erf kernel, so a float64 GELU model is valid but does not run there)
        return (
            [
                node("Div", [x, const("sqrt2", np.sqrt(2.0))], t + "d"),
                node("Erf", [t + "d"], t + "erf"),
                node("Add", [t + "erf", const("one", 1.0)], t + "a"),
                node("Mul", [x, t + "a"], t + "m"),
                node("Mul", [t + "m", const("half", 0.5)], out),
            ],
            out,
            consts,
        )
    if is_builtin(act):
        raise ValueError(f"layer {layer}: {act!r} has no ONNX export in chainrule.interop yet")
    raise ValueError(
        f"layer {layer}: {act!r} is a custom activation; ONNX export supports the "
        "built-in activations only"
    )


def to_onnx(net: Network, path: Union[str, "os.PathLike[str]", None] = None) -> Any:
    """An ONNX model (opset 17) computing ``predict``: input ``X`` (batch, n0), output ``Y``
    (batch, nL), in the network's dtype. Written to ``path`` when given; returned either way."""
    onnx = _require("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper

    np_dtype = net.dtype.type
    elem = TensorProto.DOUBLE if net.dtype == np.float64 else TensorProto.FLOAT
    nodes: List[Any] = []
    inits: List[Any] = []
    x = "X"

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.array(value), name))
        return name

    for layer in net.layers:
        l = layer.index + 1
        t = layer.parameters
        if layer.kind == "dense":
            # the dense layer's parameters, by their names
            z = f"z{l}"
            nodes.append(
                helper.make_node("Gemm", [x, init(f"W{l}", t["W"]), init(f"b{l}", t["b"])], [z])
            )
            act_nodes, x, consts = _onnx_activation(helper, layer.config.activation, z, l, np_dtype)
            nodes += act_nodes
            inits += consts
        elif layer.kind == "dropout":
            continue  # the identity at inference
        elif layer.kind == "batch_norm":
            b = layer.buffers
            nodes.append(
                helper.make_node(
                    "BatchNormalization",
                    [
                        x,
                        init(f"gamma{l}", t["gamma"]),
                        init(f"beta{l}", t["beta"]),
                        init(f"running_mean{l}", b["running_mean"]),
                        init(f"running_var{l}", b["running_var"]),
                    ],
                    [f"h{l}"],
                    epsilon=float(layer.config.eps),
                )
            )
            x = f"h{l}"
        elif layer.kind == "layer_norm":
            nodes.append(
                helper.make_node(
                    "LayerNormalization",
                    [x, init(f"gamma{l}", t["gamma"]), init(f"beta{l}", t["beta"])],
                    [f"h{l}"],
                    axis=-1,
                    epsilon=float(layer.config.eps),
                )
            )
            x = f"h{l}"
        else:
            raise ValueError(
                f"layer {l}: {layer.config!r} has no ONNX export in chainrule.interop yet"
            )
    nodes.append(helper.make_node("Identity", [x], ["Y"]))
    graph = helper.make_graph(
        nodes,
        "chainrule",
        [helper.make_tensor_value_info("X", elem, ["batch", net.layer_sizes[0]])],
        [helper.make_tensor_value_info("Y", elem, ["batch", net.layer_sizes[-1]])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="chainrule",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", _ONNX_OPSET)],
    )
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
