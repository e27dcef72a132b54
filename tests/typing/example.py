"""A small program over chainrule's public API; tests/test_typing.py checks it with mypy --strict."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Optional

import numpy as np
import numpy.typing as npt

import chainrule as cr


class Cube(cr.Activation):
    def forward(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return z**3

    def derivative(
        self, z: npt.NDArray[np.float64], h: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        return 3 * z**2


def stop_when_small(epoch: int, logs: Dict[str, float], net: cr.Network) -> bool:
    return logs["loss"] > 1e-4


def train() -> float:
    rng = np.random.default_rng(0)
    X: npt.NDArray[np.float64] = rng.uniform(-1, 1, size=(64, 2))
    Y = np.sum(X**2, axis=1, keepdims=True)
    net = cr.Network(
        [2, 8, 1],
        [Cube(), "linear"],
        loss="mse",
        dtype="float64",
        seed=0,
        optimizer=cr.Adam(lr=1e-2),
    )
    history: cr.History = net.fit(
        X,
        Y,
        epochs=5,
        batch_size=16,
        shuffle=True,
        validation_split=0.25,
        metrics=["r2"],
        early_stopping=cr.EarlyStopping(patience=3),
        callbacks=[stop_when_small],
        lr_schedule=cr.StepLR(step_size=2, gamma=0.5),
    )
    losses: List[float] = history.loss
    grads: cr.Gradients = net.gradients(X, Y)
    net.step(grads, lr=0.01)
    Yhat: np.ndarray = net.predict(X)
    W0: np.ndarray = net.weights[0]
    print(net.summary(), W0.shape, Yhat.shape, len(losses), cr.get_num_threads())
    path = os.path.join(tempfile.mkdtemp(), "m.npz")
    net.save(path)
    cr.register_activation(Cube)
    again: Any = cr.load(path)
    state: Dict[str, Any] = net.get_optimizer_state()
    scores: Dict[str, float] = net.evaluate(X, Y, metrics=["mae", "rmse"], batch_size=16)
    labels = (X[:, 0] > 0).astype(np.int64)
    clf = cr.Network([2, 4, 2], loss="cross_entropy", seed=0)
    clf.fit(X, labels, epochs=2, class_weight="balanced")
    clf.fit(X, labels, epochs=2, class_weight={0: 2.0, 1: 1.0})
    print(again, state["step"], cr.cpu_info(), scores["rmse"])
    folder = tempfile.mkdtemp()
    net.fit(
        X,
        Y,
        epochs=2,
        callbacks=[
            cr.ModelCheckpoint(os.path.join(folder, "m{epoch}.npz"), monitor="loss"),
            cr.CSVLogger(os.path.join(folder, "log.csv"), append=True),
        ],
    )
    finder: cr.LRFinderResult = net.lr_find(X, Y, num=10, batch_size=8)
    suggestion: Optional[float] = finder.suggestion
    print(suggestion, len(finder.lrs), net._repr_html_()[:5], history._repr_html_()[:5])
    return float(net.loss(X, Y))


if __name__ == "__main__":
    print(train())
