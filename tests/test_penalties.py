"""L1/L2 penalties of dense layers (Keras' convention): ``l1 sum|W| + l2 sum W^2`` joins the
loss that loss(), gradients() and fit's history report, and ``l1 sign(W) + 2 l2 W`` joins dW;
biases are not penalised. Checked against the formula, finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import chainrule as cr


def _net(dtype: str = "float64", optimizer: object = "sgd") -> cr.Network:
    return cr.Network(
        [
            4,
            cr.Dense(6, "tanh", l1=1e-2, l2=5e-2),
            cr.Dense(5, "relu", l2=1e-3),
            cr.Dense(2, "linear", l1=3e-3),
        ],
        dtype=dtype,
        seed=1,
        optimizer=optimizer,
    )


def _data(m: int = 16):
    rng = np.random.default_rng(5)
    return rng.normal(size=(m, 4)), rng.normal(size=(m, 2))


def _penalty(net: cr.Network) -> float:
    total = 0.0
    for c, W in zip([c for c in net.layer_configs if isinstance(c, cr.Dense)], net.weights):
        total += c.l1 * np.abs(W).sum() + c.l2 * (W**2).sum()
    return total


def _plain_twin(net: cr.Network) -> cr.Network:
    twin = cr.Network(net.layer_sizes, net.activations, seed=1)
    for name in net.parameters:
        twin.parameters[name] = net.parameters[name]
    return twin


def test_loss_and_gradients_add_the_penalty() -> None:
    X, Y = _data()
    net = _net()
    twin = _plain_twin(net)
    assert_close(np.array(net.loss(X, Y)), np.array(twin.loss(X, Y) + _penalty(net)), 1e-14, "loss")
    g, gt = net.gradients(X, Y), twin.gradients(X, Y)
    assert_close(np.array(g.loss), np.array(gt.loss + _penalty(net)), 1e-14, "gradients' loss")
    for k, c in enumerate(net.layer_configs):
        W = net.weights[k]
        want = gt[k].dW + c.l1 * np.sign(W) + 2 * c.l2 * W
        assert_close(g[k].dW, want, 1e-14, f"dW{k + 1}")
        np.testing.assert_array_equal(g[k].db, gt[k].db)  # biases are not penalised


def test_gradient_check() -> None:
    X, Y = _data()
    assert _net().gradient_check(X, Y) < 1e-7


def test_fused_sgd_fit_equals_steps_by_hand() -> None:
    """Plain SGD fuses W -= lr (dW + penalty gradient) into the backward pass; it must give the
    bits of gradients() + step()."""
    X, Y = _data()
    fused, by_hand = _net(), _net()
    fused.fit(X, Y, epochs=5, batch_size=8, lr=0.05, shuffle=False)
    for _ in range(5):
        for s in range(0, len(X), 8):
            by_hand.gradients(X[s : s + 8], Y[s : s + 8])
            by_hand.step(lr=0.05)
    for name in fused.parameters:
        np.testing.assert_array_equal(fused.parameters[name], by_hand.parameters[name], name)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(l1=-1e-3), "l1"),
        (dict(l2=-1.0), "l2"),
        (dict(l2=float("nan")), "l2"),
        (dict(l1=float("inf")), "l1"),
    ],
)
def test_bad_penalties_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cr.Dense(3, "relu", **bad)
    with pytest.raises(TypeError, match="l1"):
        cr.Dense(3, "relu", l1="big")


def test_penalties_save_and_load(tmp_path) -> None:
    X, Y = _data()
    net = _net()
    net.fit(X, Y, epochs=2, lr=0.05)
    net.save(tmp_path / "p.npz")
    back = cr.load(tmp_path / "p.npz")
    assert back.layer_configs == net.layer_configs
    assert back.loss(X, Y) == net.loss(X, Y)


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_trajectory_matches_torch(optimizer: str) -> None:
    torch = pytest.importorskip(
        "torch",
        reason="PyTorch is not installed: it is the oracle of this parity test (pip install torch)",
    )
    X, Y = _data()
    opt = cr.SGD(lr=0.05, momentum=0.9) if optimizer == "sgd" else cr.Adam(lr=0.01)
    net = _net(optimizer=opt)
    model = net.to_torch()
    t_opt = (
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=0.01)
    )
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    h = net.fit(X, Y, epochs=20, batch_size=8, shuffle=False)
    losses = []
    for _ in range(20):
        total = 0.0
        for s in (0, 8):
            t_opt.zero_grad()
            loss = ((model(Xt[s : s + 8]) - Yt[s : s + 8]) ** 2).sum() / (2 * 8)
            for c, lin in zip(net.layer_configs, linears):
                loss = loss + c.l1 * lin.weight.abs().sum() + c.l2 * (lin.weight**2).sum()
            loss.backward()
            t_opt.step()
            total += loss.item() * 8
        losses.append(total / 16)
    assert_close(np.array(h.loss), np.array(losses), 1e-10, "loss history")
    for k, lin in enumerate(linears):
        assert_close(net.weights[k], lin.weight.detach().numpy().T, 1e-10, f"W{k + 1}")
        assert_close(
            net.biases[k],
            lin.bias.detach().numpy(),
            1e-10,
            f"b{k + 1}",
            scale=float(np.max(np.abs(net.weights[k]))),
        )
