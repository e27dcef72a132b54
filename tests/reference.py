"""A NumPy oracle for chainrule, written from docs/design.md section 1 only (never imports chainrule).

Shapes follow the contract: X = H0 (m, n0), W[l] (n_{l-1}, n_l), b[l] (n_l,),
Z[l] = H[l-1] @ W[l] + b[l] (m, n_l), H[l] = act_l(Z[l]).

Python lists are 0-based: ``Ws[i]``, ``bs[i]``, ``Zs[i]``, ``dZs[i]`` ... belong to layer
l = i + 1, while ``Hs`` has L + 1 entries with ``Hs[0] = X`` (so ``Hs[i + 1] = act(Zs[i])``).

An activation is an object with ``forward(z) -> h`` and ``backward(z, h, dh) -> dz``; build the
built-ins with :func:`activation` (``activation("elu", alpha=0.5)``). A loss is a built-in's
name ("mse", "cross_entropy", ...), a built-in with parameters from :func:`loss`, or any object
with ``value(yhat, y)`` and ``gradient(yhat, y) -> m * dL/dyhat``. Each built-in's formula is
written here from its definition; a name without one raises KeyError saying so.

Everything computes in the dtype of the arrays passed in; the tests pass float64.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

_erf = np.vectorize(math.erf, otypes=[float])


def _sigmoid(z):
    # s(z) = 1 / (1 + exp(-z)), evaluated without overflow: exp(-|z|) <= 1
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Elementwise:
    """h = f(z); dZ = dH * f'(z, h)."""

    def __init__(self, name: str, f: Callable, df: Callable) -> None:
        self.name, self.f, self.df = name, f, df

    def forward(self, z):
        return self.f(z)

    def backward(self, z, h, dh):
        return dh * self.df(z, h)  # dZ = dH * act'(Z)

    def __repr__(self) -> str:
        return f"ref.{self.name}"


class Softmax:
    """Row-wise softmax; backward is the Jacobian-vector product."""

    name = "softmax"

    def forward(self, z):
        # h_j = exp(z_j - max z) / sum_k exp(z_k - max z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def backward(self, z, h, dh):
        # J = diag(h) - h h^T per row, so dz = J dh = h * (dh - <dh, h>)
        return h * (dh - np.sum(dh * h, axis=1, keepdims=True))

    def __repr__(self) -> str:
        return "ref.softmax"


def _elementwise(name: str, **params) -> Elementwise:
    """The element-wise built-ins: f(z) and f'(z, h), each from its formula."""
    if name == "sigmoid":  # s(z); s' = h (1 - h)
        return Elementwise(name, _sigmoid, lambda z, h: h * (1 - h))
    if name == "tanh":  # tanh' = 1 - h^2
        return Elementwise(name, np.tanh, lambda z, h: 1 - h * h)
    if name == "relu":  # max(z, 0); derivative 1 for z > 0, else 0 (0 at the kink)
        return Elementwise(
            name,
            lambda z: np.where(z > 0, z, 0 * z),
            lambda z, h: np.where(z > 0, 1.0, 0.0).astype(z.dtype),
        )
    if name == "leaky_relu":  # z for z > 0 else alpha z; derivative 1 or alpha
        a = params.get("alpha", 0.01)
        return Elementwise(
            name,
            lambda z: np.where(z > 0, z, a * z),
            lambda z, h: np.where(z > 0, 1.0, a).astype(z.dtype),
        )
    if name == "elu":  # z for z > 0 else alpha (exp(z) - 1); derivative 1 or alpha exp(z)
        a = params.get("alpha", 1.0)
        return Elementwise(
            name,
            lambda z: np.where(z > 0, z, a * np.expm1(np.minimum(z, 0))),
            lambda z, h: np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0))),
        )
    if name == "linear":  # identity, derivative 1
        return Elementwise(name, lambda z: z.copy(), lambda z, h: np.ones_like(z))
    if name == "gelu":  # z Phi(z), Phi(z) = (1 + erf(z / sqrt 2)) / 2; derivative Phi + z phi
        Phi = lambda z: 0.5 * (1 + _erf(z / math.sqrt(2)))  # noqa: E731
        phi = lambda z: np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
        return Elementwise(name, lambda z: z * Phi(z), lambda z, h: Phi(z) + z * phi(z))
    if name == "silu":  # z s(z); derivative s + z s (1 - s)
        return Elementwise(
            name, lambda z: z * _sigmoid(z), lambda z, h: _sigmoid(z) * (1 + z * (1 - _sigmoid(z)))
        )
    if name == "softplus":  # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)); derivative s(z)
        return Elementwise(name, _softplus, lambda z, h: _sigmoid(z))
    if name == "mish":  # z tanh(sp(z)); derivative tanh(sp) + z sp'(z) (1 - tanh(sp)^2), sp' = s
        return Elementwise(
            name,
            lambda z: z * np.tanh(_softplus(z)),
            lambda z, h: np.tanh(_softplus(z)) + z * _sigmoid(z) * (1 - np.tanh(_softplus(z)) ** 2),
        )
    raise KeyError(
        f"tests/reference.py has no formula for the activation {name!r}: add it "
        "(written from its definition, not from the library)"
    )


def _softplus(z):
    # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), without overflow
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def activation(name: str, **params) -> object:
    """The built-in activation ``name`` with parameters (``alpha`` for leaky_relu and elu)."""
    if name == "softmax":
        return Softmax()
    return _elementwise(name, **params)


# ---- losses ---------------------------------------------------------------------------------


class BuiltinLoss:
    """A built-in loss: each row's loss l_i (the batch loss is their mean over the m rows) and
    the output delta, either dH[L] = m dL/dYhat (then through the output activation) or, for a
    loss fused with its output activation, dZ[L] = Yhat - Y directly."""

    def __init__(self, name: str, rows: Callable, dH: Optional[Callable] = None) -> None:
        self.name, self.rows, self.dH = name, rows, dH
        self.fused = dH is None

    def __repr__(self) -> str:
        return f"ref.{self.name}"


def _logsumexp_rows(Z):
    zmax = Z.max(axis=1, keepdims=True)
    return zmax + np.log(np.sum(np.exp(Z - zmax), axis=1, keepdims=True))


def loss(name: str, **params) -> BuiltinLoss:
    """The built-in loss ``name`` with its parameters."""
    if name == "mse":  # l_i = ||Yhat_i - Y_i||^2 / 2, so L = ||Yhat - Y||^2 / (2m); dH = Yhat - Y
        return BuiltinLoss(
            name, lambda Z, H, Y: np.sum((H - Y) ** 2, axis=1) / 2, lambda H, Y: H - Y
        )
    if name == "cross_entropy":  # l_i = -sum_j Y_ij log softmax(Z_i)_j, log softmax = Z - lse(Z)
        return BuiltinLoss(name, lambda Z, H, Y: np.sum(Y * (_logsumexp_rows(Z) - Z), axis=1))
    if name == "binary_cross_entropy":
        # l_i = -sum_j (Y log s(Z) + (1 - Y) log(1 - s(Z))) = sum_j (max(Z,0) - Z Y + log1p(e^-|Z|))
        return BuiltinLoss(
            name,
            lambda Z, H, Y: np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z))), axis=1),
        )
    if name == "huber":
        # l_i = sum_j h(r_ij), h(r) = r^2/2 (|r| <= delta) else delta (|r| - delta/2)
        d = params.get("delta", 1.0)

        def rows(Z, H, Y):
            a = np.abs(H - Y)
            return np.sum(np.where(a <= d, 0.5 * a * a, d * (a - 0.5 * d)), axis=1)

        return BuiltinLoss(name, rows, lambda H, Y: np.clip(H - Y, -d, d))  # dH = h'(r)
    if name == "mae":  # l_i = sum_j |r_ij|, r = Yhat - Y; dH = sign(r), 0 at r = 0 (subgradient)
        return BuiltinLoss(
            name, lambda Z, H, Y: np.sum(np.abs(H - Y), axis=1), lambda H, Y: np.sign(H - Y)
        )
    raise KeyError(
        f"tests/reference.py has no formula for the loss {name!r}: add it (written "
        "from its definition, not from the library)"
    )


def _as_loss(spec):
    return loss(spec) if isinstance(spec, str) else spec


def loss_value(loss, Z, H, Y) -> float:
    """The batch loss from the output layer's Z and H = Yhat, each (m, n_L)."""
    loss = _as_loss(loss)
    if isinstance(loss, BuiltinLoss):  # L = sum(l_i) / m
        return float(np.sum(loss.rows(Z, H, Y)) / Y.shape[0])
    return float(loss.value(H, Y))


def row_losses(loss, Z, H, Y):
    """Each row's loss l_i (m,), so that the batch loss is mean(l_i)."""
    loss = _as_loss(loss)
    if isinstance(loss, BuiltinLoss):
        return loss.rows(Z, H, Y)
    return np.array([loss.value(H[i : i + 1], Y[i : i + 1]) for i in range(Y.shape[0])])


def output_gradient(loss, H, Y):
    """dH[L] = m dL/dYhat for a loss that is not fused with its output activation, else None."""
    loss = _as_loss(loss)
    if isinstance(loss, BuiltinLoss):
        return None if loss.fused else loss.dH(H, Y)
    return np.asarray(loss.gradient(H, Y))


def output_delta(loss, act, Z, H, Y):
    """dZ[L]: fused ``Yhat - Y`` for softmax+CE and sigmoid+BCE; otherwise dH[L] through act'."""
    dH = output_gradient(loss, H, Y)
    if dH is None:
        return H - Y  # fused: dZ[L] = Yhat - Y
    return act.backward(Z, H, dH)


# ---- network --------------------------------------------------------------------------------


def forward(Ws: Sequence, bs: Sequence, acts: Sequence, X) -> Tuple[List, List]:
    """Returns Zs (L of them) and Hs (L + 1, Hs[0] = X)."""
    Zs, Hs = [], [X]
    for W, b, act in zip(Ws, bs, acts):
        Z = Hs[-1] @ W + b  # Z[l] = H[l-1] @ W[l] + b[l]
        Zs.append(Z)
        Hs.append(act.forward(Z))  # H[l] = act_l(Z[l])
    return Zs, Hs


def backward(Ws, acts, loss, Zs, Hs, Y):
    """Returns (loss value, dZs, dWs, dbs, dHs); dHs[i] is dH of layer i + 1 (dHs[-1] = dH[L]
    for a loss that is not fused, else None)."""
    L = len(Ws)
    m = Y.shape[0]
    dZs, dWs, dbs, dHs = [None] * L, [None] * L, [None] * L, [None] * L
    value = loss_value(loss, Zs[-1], Hs[-1], Y)
    dZs[-1] = output_delta(loss, acts[-1], Zs[-1], Hs[-1], Y)
    dHs[-1] = output_gradient(loss, Hs[-1], Y)
    for i in range(L - 1, -1, -1):
        dWs[i] = Hs[i].T @ dZs[i] / m  # dW[l] = H[l-1].T @ dZ[l] / m
        dbs[i] = dZs[i].sum(axis=0) / m  # db[l] = sum(dZ[l], axis=0) / m
        if i > 0:
            dHs[i - 1] = dZs[i] @ Ws[i].T  # dH[l-1] = dZ[l] @ W[l].T (W before its update)
            dZs[i - 1] = acts[i - 1].backward(Zs[i - 1], Hs[i], dHs[i - 1])  # dZ = dH * act'(Z)
    return value, dZs, dWs, dbs, dHs


def gradients(Ws, bs, acts, loss, X, Y):
    """Forward then backward: (loss value, dZs, dWs, dbs, dHs)."""
    Zs, Hs = forward(Ws, bs, acts, X)
    return backward(Ws, acts, loss, Zs, Hs, Y)


def weighted_gradients(Ws, bs, acts, loss, X, Y, w):
    """The weighted mean loss L_w = sum(w_i l_i) / sum(w_i) and its gradients.

    Rows do not interact in backpropagation, so the per-sample deltas dZ of the unweighted
    pass are those of each row's own loss; L_w's gradients weight them:
    dW[l] = H[l-1].T @ (w * dZ[l]) / sum(w), db[l] = sum(w * dZ[l], axis=0) / sum(w).
    Returns (L_w, dWs, dbs)."""
    Zs, Hs = forward(Ws, bs, acts, X)
    _, dZs, _, _, _ = backward(Ws, acts, loss, Zs, Hs, Y)
    W = np.sum(w)
    value = float(np.sum(w * row_losses(loss, Zs[-1], Hs[-1], Y)) / W)
    dWs = [Hs[i].T @ (w[:, None] * dZs[i]) / W for i in range(len(Ws))]
    dbs = [np.sum(w[:, None] * dZs[i], axis=0) / W for i in range(len(Ws))]
    return value, dWs, dbs


def sgd_step(Ws, bs, dWs, dbs, lr) -> None:
    """In place: W -= lr * dW, b -= lr * db."""
    for W, b, dW, db in zip(Ws, bs, dWs, dbs):
        W -= lr * dW
        b -= lr * db


def train(
    Ws,
    bs,
    acts,
    loss,
    X,
    Y,
    epochs: int,
    lr: float,
    batch_size: Optional[int] = None,
    order=None,
    sample_weight=None,
):
    """Mini-batch SGD on copies of Ws, bs; returns (Ws, bs, history).

    Each epoch visits the rows in ``order`` (None: 0..n-1; a callable ``order(epoch)`` or a
    sequence of per-epoch index arrays otherwise) in consecutive batches of ``batch_size`` rows
    (None: all n; the last batch may be smaller). ``history[e]`` is the sample-weighted mean of
    the batch losses of epoch e, each measured in the forward pass *before* that batch's update:
    sum_batches(mb * L_batch) / n, which is the plain loss for a full batch.

    With ``sample_weight`` w, each batch takes the gradients of its weighted mean loss
    ``sum(w_i l_i) / sum(w_i)`` (a batch whose weights are all 0 is skipped) and the history
    is sum_batches(W_batch * L_batch) / sum_batches(W_batch).
    """
    Ws = [np.array(W, copy=True) for W in Ws]
    bs = [np.array(b, copy=True) for b in bs]
    n = X.shape[0]
    size = n if batch_size is None else min(batch_size, n)
    history = []
    for epoch in range(epochs):
        if order is None:
            rows = np.arange(n)
        else:
            rows = np.asarray(order(epoch) if callable(order) else order[epoch])
        total = weight = 0.0
        for start in range(0, n, size):
            idx = rows[start : start + size]
            if sample_weight is None:
                value, _, dWs, dbs, _ = gradients(Ws, bs, acts, loss, X[idx], Y[idx])
                Wb = len(idx)
            else:
                Wb = float(np.sum(sample_weight[idx]))
                if Wb == 0:
                    continue
                value, dWs, dbs = weighted_gradients(
                    Ws, bs, acts, loss, X[idx], Y[idx], sample_weight[idx]
                )
            sgd_step(Ws, bs, dWs, dbs, lr)
            total += value * Wb
            weight += Wb
        history.append(total / weight)
    return Ws, bs, history
