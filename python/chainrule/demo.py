"""The demo: the derivation's two example networks on its synthetic data.

Besides the loss every ``every`` epochs and the final loss, it prints the *baseline*: the loss
of predicting the mean of Y for every sample, the best a model that ignores its input can do.
A final loss well below it is what the network learned from X; a final loss close to it means
training has barely started (at the derivation's settings, 1000 full-batch epochs are short:
``--epochs 20000`` takes both networks far below it).
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np

from .network import Network

__all__ = ["DEMO_NETWORKS", "make_data", "baseline_loss", "run"]

#: (layer sizes, activations, learning rate) of the derivation's two example networks.
DEMO_NETWORKS = [
    ([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], 0.01),
    ([2, 15, 1], ["sigmoid", "linear"], 0.1),
]


def make_data(n: int = 100, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """n samples x in R^2, uniform in [-1, 1]^2, with target y = x1^2 + x2^2 of shape (n, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    Y = np.sum(X**2, axis=1, keepdims=True)
    return X, Y


def baseline_loss(X: np.ndarray, Y: np.ndarray, dtype: str = "float64") -> float:
    """The MSE of predicting the column means of Y for every row: ``||mean(Y) - Y||^2 / (2m)``.

    It is measured by the core's own MSE (the same ``||Yhat - Y||^2 / (2m)`` as every network's
    loss), on a one-layer linear network whose W is 0 and whose b is the mean of Y, so that
    ``Yhat = X @ 0 + mean(Y)`` for every row."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    X = np.asarray(X, dtype=np.float64)
    mean_model = Network([X.shape[1], Y.shape[1]], ["linear"], loss="mse", dtype=dtype)
    mean_model.weights[0] = np.zeros((X.shape[1], Y.shape[1]))
    mean_model.biases[0] = Y.mean(axis=0)
    return mean_model.loss(X, Y)


def _print_every(every: int, epochs: int) -> Callable[[int, Dict[str, float], Network], None]:
    """A callback printing the loss every `every` epochs and after the last."""
    width = len(str(epochs))

    def report(epoch: int, logs: Dict[str, float], network: Network) -> None:
        if (epoch + 1) % every == 0 or epoch + 1 == epochs:
            print(f"epoch {epoch + 1:>{width}}/{epochs}  loss {logs['loss']:.6g}", flush=True)

    return report


def run(epochs: int = 1000, seed: int = 42, dtype: str = "float64", every: int = 100) -> None:
    X, Y = make_data()
    baseline = baseline_loss(X, Y, dtype)
    for sizes, acts, lr in DEMO_NETWORKS:
        net = Network(sizes, acts, loss="mse", dtype=dtype, seed=seed)
        print(
            f"{'-'.join(map(str, sizes))} {'/'.join(acts)}, MSE, lr {lr}, {epochs} epochs, "
            f"{X.shape[0]} samples, {dtype}"
        )
        print(
            f"baseline loss {baseline:.6g} (predicting the mean of y, {float(Y.mean()):.6g}, "
            f"for every sample)"
        )
        history = net.fit(X, Y, epochs=epochs, lr=lr, callbacks=[_print_every(every, epochs)])
        final = net.loss(X, Y)
        first = f" (first epoch {history.loss[0]:.6g})" if history.loss else ""
        print(f"final loss {final:.6g}{first} = {final / baseline:.3g} x baseline\n")
