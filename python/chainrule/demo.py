"""The demo: the derivation's two example networks on its synthetic data."""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np

from .network import Network

#: (layer sizes, activations, learning rate) of the derivation's two example networks.
DEMO_NETWORKS = [
    ([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], 0.01),
    ([2, 15, 1], ["sigmoid", "linear"], 0.1),
]


def make_data(n: int = 100, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """n samples x in R^2, uniform in [-1, 1]^2, with target y = x1^2 + x2^2 of shape (n, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    Y = np.sum(X ** 2, axis=1, keepdims=True)
    return X, Y


def _print_every(every: int, epochs: int) -> Callable:
    """A callback printing the loss every `every` epochs and after the last."""
    width = len(str(epochs))

    def report(epoch: int, logs: Dict[str, float], network: Network) -> None:
        if (epoch + 1) % every == 0 or epoch + 1 == epochs:
            print(f"epoch {epoch + 1:>{width}}/{epochs}  loss {logs['loss']:.6g}", flush=True)

    return report


def run(epochs: int = 1000, seed: int = 42, dtype: str = "float64", every: int = 100) -> None:
    X, Y = make_data()
    for sizes, acts, lr in DEMO_NETWORKS:
        net = Network(sizes, acts, loss="mse", dtype=dtype, seed=seed)
        print(f"{'-'.join(map(str, sizes))} {'/'.join(acts)}, MSE, lr {lr}, {epochs} epochs, "
              f"{X.shape[0]} samples, {dtype}")
        history = net.fit(X, Y, epochs=epochs, lr=lr, callbacks=[_print_every(every, epochs)])
        final = net.loss(X, Y)
        print(f"final loss {final:.6g} (first epoch {history.loss[0]:.6g})\n" if history.loss
              else f"final loss {final:.6g}\n")
