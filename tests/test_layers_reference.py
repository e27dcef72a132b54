"""chainrule's layers against the NumPy reference (tests/reference_layers.py) at 1e-12 in
float64: one training pass's gradients of every parameter, 20 plain-SGD steps of fit (with
penalties, dropout masks replayed from ``layer.mask``, batch statistics and running
statistics), clipped steps, and inference-mode predictions."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import pytest
import reference as ref
import reference_layers as rl
from conftest import assert_close

import chainrule as cr

RTOL = 1e-12


def _net(**kw: Any) -> cr.Network:
    return cr.Network(
        [
            5,
            cr.Dense(8, "relu", l2=1e-3),
            cr.BatchNorm(momentum=0.3),
            cr.Dropout(0.3),
            cr.Dense(7, "tanh", l1=1e-3),
            cr.LayerNorm(),
            cr.Dense(3, "softmax"),
        ],
        loss="cross_entropy",
        seed=2,
        **kw,
    )


def _data(m: int = 20):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(m, 5))
    return X, np.eye(3)[rng.integers(0, 3, size=m)]


def _mirror(net: cr.Network) -> List[rl.Layer]:
    """The reference network with net's parameters, buffers and hyper-parameters."""
    out = []
    for layer in net.layers:
        c = layer.config
        if layer.kind == "dense":
            act = ref.activation(c.activation.name, **c.activation.get_params())
            out.append(rl.dense(layer.W, layer.b, act, c.l1, c.l2))
        elif layer.kind == "dropout":
            out.append(rl.dropout(c.p))
        elif layer.kind == "batch_norm":
            r = rl.batch_norm(layer.shape[1], c.momentum, c.eps)
            r.update(
                gamma=np.array(layer.gamma),
                beta=np.array(layer.beta),
                running_mean=np.array(layer.running_mean),
                running_var=np.array(layer.running_var),
            )
            out.append(r)
        else:
            r = rl.layer_norm(layer.shape[1], c.eps)
            r.update(gamma=np.array(layer.gamma), beta=np.array(layer.beta))
            out.append(r)
    return out


def _replay_masks(net: cr.Network, mirror: List[rl.Layer]) -> None:
    for layer, r in zip(net.layers, mirror):
        if layer.kind == "dropout":
            r["mask"] = np.array(layer.mask)


def _compare(net: cr.Network, mirror: List[rl.Layer], what: str) -> None:
    for layer, r in zip(net.layers, mirror):
        for name in rl.PARAMS[layer.kind] + (
            ("running_mean", "running_var") if layer.kind == "batch_norm" else ()
        ):
            assert_close(
                getattr(layer, name), r[name], RTOL, f"{what}: layer {layer.index + 1} {name}"
            )


def test_gradients_of_one_training_pass() -> None:
    X, Y = _data()
    net = _net()
    mirror = _mirror(net)
    g = net.gradients(X, Y)
    _replay_masks(net, mirror)
    want = rl.gradients(mirror, "cross_entropy", X, Y)
    assert_close(np.array(g.loss), np.array(want[-1]["loss"]), RTOL, "loss")
    for layer, wg in zip(net.layers, want):
        for name in rl.PARAMS[layer.kind]:
            assert_close(
                g.parameters[f"{name}{layer.index + 1}"],
                wg[name],
                RTOL,
                f"d{name}{layer.index + 1}",
            )
    _compare(net, mirror, "running statistics after one training pass")


@pytest.mark.parametrize(
    "clip",
    [None, dict(clip_norm=0.05), dict(clip_value=0.01), dict(clip_norm=0.1, clip_value=0.02)],
)
def test_sgd_trajectory(clip: Optional[dict]) -> None:
    X, Y = _data()
    net = _net(optimizer=cr.SGD(lr=0.2))
    mirror = _mirror(net)
    losses = []
    for _ in range(20):
        h = net.fit(X, Y, epochs=1, shuffle=False, **(clip or {}))
        _replay_masks(net, mirror)
        grads = rl.gradients(mirror, "cross_entropy", X, Y)
        losses.append(grads[-1]["loss"])
        if clip:
            rl.clip(grads, clip.get("clip_norm"), clip.get("clip_value"))
        rl.sgd_step(mirror, grads, 0.2)
        assert_close(np.array(h.loss), np.array(losses[-1:]), RTOL, "loss")
    _compare(net, mirror, "after 20 steps")
    moved = np.max(np.abs(net.layers[0].W - _mirror(_net())[0]["W"]))
    assert moved > 1e-3, "training barely moved the weights: the test proves nothing"
    caches = rl.forward(mirror, X, training=False)
    assert_close(net.predict(X), caches[-1]["H"], RTOL, "predict in inference mode")
    assert_close(
        np.array(net.loss(X, Y)),
        np.array(rl.loss(mirror, "cross_entropy", X, Y)),
        RTOL,
        "loss() in inference mode",
    )
