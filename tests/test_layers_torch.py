"""Dropout, BatchNorm, LayerNorm and the L1/L2 penalties against PyTorch: the same initial
parameters (through net.to_torch()), the same data, 20 SGD or Adam steps of fit, dropout masks
replayed from ``layer.mask``; parameters, running statistics, loss history and inference-mode
predictions equal to 1e-10 relative in float64."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch",
    reason="PyTorch is not installed: it is the oracle of the layer parity tests "
    "(pip install torch)",
)

from conftest import assert_close  # noqa: E402

import chainrule as cr  # noqa: E402

pytestmark = pytest.mark.torch

RTOL = 1e-10
STEPS = 20


def _data(m: int = 24, n_in: int = 5, n_out: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n_in))
    y = rng.integers(0, n_out, size=m)
    return X, np.eye(n_out)[y]


NETS: Dict[str, List[Any]] = {
    "bn-dropout": [
        5,
        cr.Dense(8, "relu", l2=1e-3),
        "BatchNorm",
        ("Dropout", 0.3),
        cr.Dense(6, "tanh"),
        cr.Dense(3, "softmax"),
    ],
    "ln-penalties": [
        5,
        cr.Dense(7, "tanh", l1=1e-3),
        "LayerNorm",
        cr.Dense(6, "relu", l2=1e-2),
        ("Dropout", 0.2),
        cr.Dense(3, "softmax"),
    ],
    "all": [
        5,
        cr.Dense(8, "relu", l2=1e-4),
        ("BatchNorm", 0.2),
        ("Dropout", 0.25),
        cr.Dense(8, "relu", l1=1e-5),
        "LayerNorm",
        cr.Dense(3, "softmax"),
    ],
}


def _build(spec: List[Any], optimizer: Any) -> cr.Network:
    layers: List[Any] = []
    for item in spec:
        if isinstance(item, str):
            layers.append(getattr(cr, item)())
        elif isinstance(item, tuple):
            layers.append(getattr(cr, item[0])(item[1]))
        else:
            layers.append(item)
    return cr.Network(layers, loss="cross_entropy", seed=3, optimizer=optimizer)


class _Replay(torch.nn.Module):
    """torch's inverted dropout with a given keep-mask: x * mask / (1 - p)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.mask: Any = None

    def forward(self, x: Any) -> Any:
        if not self.training:
            return x
        return x * self.mask / (1 - self.p)


def _torch_model(net: cr.Network):
    model = net.to_torch()
    replays = []
    for i, module in enumerate(model):
        if isinstance(module, torch.nn.Dropout):
            model[i] = _Replay(module.p)
            replays.append(model[i])
    return model, replays


def _penalty(net: cr.Network, model: Any) -> Any:
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    dense = [c for c in net.layer_configs if isinstance(c, cr.Dense)]
    total = torch.zeros((), dtype=torch.float64)
    for c, lin in zip(dense, linears):
        total = total + c.l1 * lin.weight.abs().sum() + c.l2 * (lin.weight**2).sum()
    return total


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_trajectory_matches_torch(name: str, optimizer: str) -> None:
    X, Y = _data()
    opt = cr.SGD(lr=0.1, momentum=0.9) if optimizer == "sgd" else cr.Adam(lr=0.01)
    net = _build(NETS[name], opt)
    model, replays = _torch_model(net)
    model.train()
    t_opt = (
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=0.01)
    )
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    dropouts = [layer for layer in net.layers if layer.kind == "dropout"]
    losses, ours = [], []
    for _ in range(STEPS):
        ours.append(net.fit(X, Y, epochs=1, batch_size=len(X), shuffle=False).loss[0])
        for replay, layer in zip(replays, dropouts):
            replay.mask = torch.tensor(layer.mask)
        t_opt.zero_grad()
        out = model(Xt)
        loss = -(Yt * torch.log(out)).sum() / len(X) + _penalty(net, model)
        loss.backward()
        t_opt.step()
        losses.append(loss.item())
    assert_close(np.array(ours), np.array(losses), RTOL, "loss history")
    theirs = model.state_dict()
    moved = False
    for layer, module in zip([l for l in net.layers], _modules_by_layer(net, model)):
        for ours, key in _pairs(layer, module):
            want = theirs[key].numpy()
            want = want.T if ours == "W" else want
            got = getattr(layer, ours)
            assert_close(got, want, RTOL, f"layer {layer.index + 1} {ours} after {STEPS} steps")
        moved = True
    assert moved
    model.eval()
    with torch.no_grad():
        assert_close(net.predict(X), model(Xt).numpy(), RTOL, "predict in inference mode")


def _modules_by_layer(net: cr.Network, model: Any) -> List[Any]:
    """The torch module holding each chainrule layer's tensors, in layer order."""
    out, i = [], 0
    modules = list(model)
    for layer in net.layers:
        out.append((i, modules[i]))
        i += 1
        if (
            layer.kind == "dense"
            and i < len(modules)
            and not isinstance(
                modules[i], (torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.LayerNorm, _Replay)
            )
        ):
            i += 1  # its activation
    return out


def _pairs(layer: Any, indexed: Any):
    i, module = indexed
    if layer.kind == "dense":
        return [("W", f"{i}.weight"), ("b", f"{i}.bias")]
    if layer.kind == "batch_norm":
        return [
            ("gamma", f"{i}.weight"),
            ("beta", f"{i}.bias"),
            ("running_mean", f"{i}.running_mean"),
            ("running_var", f"{i}.running_var"),
        ]
    if layer.kind == "layer_norm":
        return [("gamma", f"{i}.weight"), ("beta", f"{i}.bias")]
    return []


def test_from_torch_round_trip() -> None:
    X, Y = _data()
    net = _build(NETS["all"], "sgd")
    net.fit(X, Y, epochs=3, batch_size=8)
    back = cr.from_torch(net.to_torch(), loss="cross_entropy")
    assert [c.kind for c in back.layer_configs] == [c.kind for c in net.layer_configs]
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    for name in net.buffers:
        np.testing.assert_array_equal(back.buffers[name], net.buffers[name])


def test_gradients_match_torch_autograd() -> None:
    """One training pass: every parameter's gradient (penalties included) against autograd,
    with the pass's dropout mask."""
    X, Y = _data(m=10)
    net = _build(NETS["all"], "sgd")
    g = net.gradients(X, Y)
    model, replays = _torch_model(net)
    model.train()
    for replay, layer in zip(replays, [l for l in net.layers if l.kind == "dropout"]):
        replay.mask = torch.tensor(layer.mask)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    out = model(Xt)
    loss = -(Yt * torch.log(out)).sum() / len(X) + _penalty(net, model)
    loss.backward()
    assert_close(np.array(g.loss), np.array(loss.item()), RTOL, "loss")
    for layer, indexed in zip(net.layers, _modules_by_layer(net, model)):
        i, module = indexed
        for ours, key in _pairs(layer, indexed):
            if ours.startswith("running"):
                continue
            param = dict(model.named_parameters())[key]
            want = param.grad.numpy()
            want = want.T if ours == "W" else want
            assert_close(
                g.parameters[f"{ours}{layer.index + 1}"], want, RTOL, f"d{ours}{layer.index + 1}"
            )
