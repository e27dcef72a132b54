"""A plain NumPy multilayer perceptron: the benchmark's NumPy peer.

Written from docs/design.md section 1 (batch-major, row-major, NumPy's shapes), not from chainrule:

    Z[l]  = H[l-1] @ W[l] + b[l]            (m, n_l)
    H[l]  = act_l(Z[l])
    dZ[l] = dH[l] * act_l'(Z[l])            (softmax + cross-entropy: dZ[L] = Yhat - Y)
    dW[l] = H[l-1].T @ dZ[l] / m            (n_{l-1}, n_l)
    db[l] = sum(dZ[l], axis=0) / m          (n_l,)
    dH[l-1] = dZ[l] @ W[l].T                from W[l] before its update
    W -= lr * dW,  b -= lr * db          (optimizer="sgd")

or Adam as torch.optim.Adam (optimizer="adam", betas (0.9, 0.999), eps 1e-8), at step t:
    m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
    W -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

Losses: "mse" ``||Yhat - Y||^2 / (2m)`` (dH[L] = Yhat - Y) and "cross_entropy" with a softmax
output (``-sum(Y log Yhat) / m``, fused dZ[L] = Yhat - Y). Every array keeps the network's dtype.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np


def _forward(name: str, Z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(Z, 0)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-Z))
    if name == "linear":
        return Z
    if name == "softmax":
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def _backward(name: str, Z: np.ndarray, H: np.ndarray, dH: np.ndarray) -> np.ndarray:
    """dZ = dH * act'(Z), using H where it is cheaper."""
    if name == "relu":
        return dH * (Z > 0)
    if name == "tanh":
        return dH * (1 - H * H)
    if name == "sigmoid":
        return dH * H * (1 - H)
    if name == "linear":
        return dH
    if name == "softmax":  # Jacobian-vector product
        return H * (dH - np.sum(dH * H, axis=1, keepdims=True))
    raise ValueError(f"unknown activation {name!r}")


class NumpyMLP:
    """Fully-connected network trained with plain SGD or Adam, all in NumPy.

    ``weights[l]`` is W[l+1] of shape (n_in, n_out), ``biases[l]`` is b[l+1] of shape (n_out,).
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activations: Sequence[str],
        loss: str = "mse",
        dtype=np.float64,
        seed: int = 0,
        weights: Optional[Sequence[np.ndarray]] = None,
        optimizer: str = "sgd",
    ) -> None:
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {optimizer!r}")
        self.optimizer = optimizer
        self.steps = 0  # training steps taken: Adam's t
        if loss not in ("mse", "cross_entropy"):
            raise ValueError(f"unknown loss {loss!r}")
        if loss == "cross_entropy" and activations[-1] != "softmax":
            raise ValueError("cross_entropy needs a softmax output")
        self.layer_sizes = list(layer_sizes)
        self.activations = list(activations)
        self.loss_name = loss
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.weights: List[np.ndarray] = []
        self.biases: List[np.ndarray] = []
        for l, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            if weights is not None:
                W = np.array(weights[l], dtype=self.dtype)
            else:  # He normal for relu, Xavier normal otherwise
                fan = n_in if activations[l] == "relu" else (n_in + n_out) / 2
                scale = np.sqrt(2 / fan)
                W = (rng.standard_normal((n_in, n_out)) * scale).astype(self.dtype)
            self.weights.append(W)
            self.biases.append(np.zeros(n_out, dtype=self.dtype))
        # Adam's moments of every parameter, in the order W1, b1, W2, b2, ...
        self.moments = [
            (np.zeros_like(p), np.zeros_like(p))
            for W, b in zip(self.weights, self.biases)
            for p in (W, b)
        ]

    def forward(self, X: np.ndarray) -> List[np.ndarray]:
        """Returns [Z1, H1, ..., ZL, HL]; H[L] = Yhat."""
        cache, H = [], X
        for W, b, act in zip(self.weights, self.biases, self.activations):
            Z = H @ W + b
            H = _forward(act, Z)
            cache += [Z, H]
        return cache

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)[-1]

    def loss(self, Yhat: np.ndarray, Y: np.ndarray) -> float:
        m = Y.shape[0]
        if self.loss_name == "mse":
            return float(np.sum((Yhat - Y) ** 2) / (2 * m))
        return float(-np.sum(Y * np.log(np.maximum(Yhat, np.finfo(self.dtype).tiny))) / m)

    def train_step(self, X: np.ndarray, Y: np.ndarray, lr: float) -> float:
        """One SGD step on the batch (X, Y); returns the batch loss before the update."""
        m = X.shape[0]
        self.steps += 1
        cache = self.forward(X)
        Yhat = cache[-1]
        loss = self.loss(Yhat, Y)
        dH = Yhat - Y  # MSE: dH[L]; softmax + cross-entropy: already dZ[L]
        fused = self.loss_name == "cross_entropy"
        for l in reversed(range(len(self.weights))):
            Z, H = cache[2 * l], cache[2 * l + 1]
            H_prev = X if l == 0 else cache[2 * l - 1]
            if fused and l == len(self.weights) - 1:
                dZ = dH
            else:
                dZ = _backward(self.activations[l], Z, H, dH)
            dW = H_prev.T @ dZ / m
            db = dZ.sum(axis=0) / m
            if l > 0:
                dH = dZ @ self.weights[l].T  # before W[l] changes
            self.update(2 * l, self.weights[l], dW, lr)
            self.update(2 * l + 1, self.biases[l], db, lr)
        return loss

    def update(self, k: int, P: np.ndarray, G: np.ndarray, lr: float) -> None:
        """P -= the optimizer's step for the gradient G (k: the parameter's index)."""
        if self.optimizer == "sgd":
            P -= lr * G
            return
        b1, b2, eps = 0.9, 0.999, 1e-8
        t, (m, v) = self.steps, self.moments[k]
        m *= b1
        m += (1 - b1) * G
        v *= b2
        v += (1 - b2) * G * G
        P -= (lr / (1 - b1**t)) * m / (np.sqrt(v / (1 - b2**t)) + eps)

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        epochs: int,
        lr: float,
        batch_size: Optional[int] = None,
        orders: Optional[Sequence[np.ndarray]] = None,
    ) -> List[float]:
        """Mini-batch training over the rows in order, or in ``orders[epoch]`` when given;
        returns the mean batch loss of each epoch."""
        n = X.shape[0]
        bs = n if batch_size is None else batch_size
        history = []
        X_all, Y_all = X, Y
        for epoch in range(epochs):
            if orders is not None:
                X, Y = X_all[orders[epoch]], Y_all[orders[epoch]]
            total = 0.0
            for start in range(0, n, bs):
                Xb, Yb = X[start : start + bs], Y[start : start + bs]
                total += self.train_step(Xb, Yb, lr) * Xb.shape[0]
            history.append(total / n)
        return history
