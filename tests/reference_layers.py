"""A NumPy oracle for networks of layers, written from docs/design.md section 1 only (never
imports chainrule): Dense (with L1/L2 penalties), Dropout (with a given keep-mask),
BatchNorm, LayerNorm, and gradient clipping. It extends tests/reference.py, whose activations
and losses it uses.

Conventions as the contract's: the dH a layer receives is m times dL/dH (per-sample), and
parameter gradients are means over the m rows. A network is a list of layers; each layer is a
dict of its kind and arrays, changed in place by the updates.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import reference as ref

Layer = Dict[str, Any]


def dense(W, b, act, l1: float = 0.0, l2: float = 0.0) -> Layer:
    return {"kind": "dense", "W": np.array(W), "b": np.array(b), "act": act, "l1": l1, "l2": l2}


def dropout(p: float) -> Layer:
    return {"kind": "dropout", "p": p, "mask": None}


def batch_norm(n: int, momentum: float = 0.1, eps: float = 1e-5) -> Layer:
    return {
        "kind": "batch_norm",
        "gamma": np.ones(n),
        "beta": np.zeros(n),
        "running_mean": np.zeros(n),
        "running_var": np.ones(n),
        "momentum": momentum,
        "eps": eps,
    }


def layer_norm(n: int, eps: float = 1e-5) -> Layer:
    return {"kind": "layer_norm", "gamma": np.ones(n), "beta": np.zeros(n), "eps": eps}


PARAMS = {
    "dense": ("W", "b"),
    "batch_norm": ("gamma", "beta"),
    "layer_norm": ("gamma", "beta"),
    "dropout": (),
}


def forward(layers: List[Layer], X, training: bool) -> List[Dict[str, Any]]:
    """Each layer's cache; the last one's "H" is Yhat. Training updates running statistics."""
    caches = []
    H = X
    for layer in layers:
        c: Dict[str, Any] = {"H_prev": H}
        kind = layer["kind"]
        if kind == "dense":
            # Z = H_prev @ W + b, H = act(Z)
            c["Z"] = H @ layer["W"] + layer["b"]
            c["H"] = layer["act"].forward(c["Z"])
        elif kind == "dropout":
            # H = H_prev * mask / (1 - p) in training, H_prev in inference
            c["H"] = H * layer["mask"] / (1 - layer["p"]) if training else H
        elif kind == "batch_norm":
            m = H.shape[0]
            if training:
                mu, var = H.mean(axis=0), ((H - H.mean(axis=0)) ** 2).mean(axis=0)
                k = layer["momentum"]
                layer["running_mean"] = layer["running_mean"] + k * (mu - layer["running_mean"])
                layer["running_var"] = layer["running_var"] + k * (
                    var * m / (m - 1) - layer["running_var"]
                )
            else:
                mu, var = layer["running_mean"], layer["running_var"]
            c["inv"] = 1.0 / np.sqrt(var + layer["eps"])
            c["xhat"] = (H - mu) * c["inv"]
            c["H"] = layer["gamma"] * c["xhat"] + layer["beta"]
        elif kind == "layer_norm":
            mu = H.mean(axis=1, keepdims=True)
            var = ((H - mu) ** 2).mean(axis=1, keepdims=True)
            c["inv"] = 1.0 / np.sqrt(var + layer["eps"])
            c["xhat"] = (H - mu) * c["inv"]
            c["H"] = layer["gamma"] * c["xhat"] + layer["beta"]
        else:
            raise KeyError(f"reference_layers has no formula for a {kind!r} layer")
        caches.append(c)
        H = c["H"]
    return caches


def penalty(layers: List[Layer]) -> float:
    """sum over dense layers of l1 sum|W| + l2 sum W^2."""
    return float(
        sum(
            l["l1"] * np.abs(l["W"]).sum() + l["l2"] * (l["W"] ** 2).sum()
            for l in layers
            if l["kind"] == "dense"
        )
    )


def loss(layers: List[Layer], loss_spec, X, Y, training: bool = False) -> float:
    caches = forward(layers, X, training)
    last = caches[-1]
    return ref.loss_value(loss_spec, last["Z"], last["H"], Y) + penalty(layers)


def gradients(layers: List[Layer], loss_spec, X, Y) -> List[Dict[str, Any]]:
    """One training pass: per layer {parameter name: gradient} (penalties included), and the
    loss as the last element's "loss"."""
    caches = forward(layers, X, training=True)
    m = X.shape[0]
    last = caches[-1]
    value = ref.loss_value(loss_spec, last["Z"], last["H"], Y) + penalty(layers)
    grads: List[Dict[str, Any]] = [{} for _ in layers]
    dZ = ref.output_delta(loss_spec, layers[-1]["act"], last["Z"], last["H"], Y)
    dH = None
    for i in range(len(layers) - 1, -1, -1):
        layer, c = layers[i], caches[i]
        kind = layer["kind"]
        if kind == "dense":
            if dH is not None:
                dZ = layer["act"].backward(c["Z"], c["H"], dH)  # dZ = dH * act'(Z)
            W = layer["W"]
            grads[i]["W"] = c["H_prev"].T @ dZ / m + layer["l1"] * np.sign(W) + 2 * layer["l2"] * W
            grads[i]["b"] = dZ.sum(axis=0) / m
            dH = dZ @ W.T
        elif kind == "dropout":
            dH = dH * layer["mask"] / (1 - layer["p"])
        elif kind == "batch_norm":
            xhat = c["xhat"]
            grads[i]["gamma"] = (dH * xhat).sum(axis=0) / m
            grads[i]["beta"] = dH.sum(axis=0) / m
            dH = (
                layer["gamma"] * c["inv"] * (dH - dH.mean(axis=0) - xhat * (dH * xhat).mean(axis=0))
            )
        elif kind == "layer_norm":
            xhat = c["xhat"]
            grads[i]["gamma"] = (dH * xhat).sum(axis=0) / m
            grads[i]["beta"] = dH.sum(axis=0) / m
            dx = dH * layer["gamma"]
            dH = c["inv"] * (
                dx - dx.mean(axis=1, keepdims=True) - xhat * (dx * xhat).mean(axis=1, keepdims=True)
            )
    grads[-1]["loss"] = value
    return grads


def clip(
    grads: List[Dict[str, Any]], norm: Optional[float] = None, value: Optional[float] = None
) -> None:
    """In place, as torch.nn.utils: clamp each value to [-value, value], then scale all by
    min(norm / (total L2 norm + 1e-6), 1)."""
    arrays = [g[k] for g in grads for k in g if k != "loss"]
    if value is not None:
        for a in arrays:
            np.clip(a, -value, value, out=a)
    if norm is not None:
        total = np.sqrt(sum(float((a**2).sum()) for a in arrays))
        coef = min(norm / (total + 1e-6), 1.0)
        for a in arrays:
            a *= coef


def sgd_step(layers: List[Layer], grads: List[Dict[str, Any]], lr: float) -> None:
    """p -= lr * grad for every parameter."""
    for layer, g in zip(layers, grads):
        for name in PARAMS[layer["kind"]]:
            layer[name] = layer[name] - lr * g[name]
