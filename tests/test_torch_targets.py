"""PyTorch as the oracle of the classification targets and of the robust losses: integer class
labels (F.cross_entropy with class indices), class weights (CrossEntropyLoss(weight=...),
whose mean divides by the targets' weights, as chainrule's weighted mean does; and binary
cross-entropy weighted per row), and 20-step SGD and Adam trajectories of MAE and Huber.
float64, 1e-10 relative."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: it is the second oracle (pip install torch)"
)
F = torch.nn.functional

from conftest import assert_close  # noqa: E402
from test_torch import torch_activation, torch_forward, torch_loss  # noqa: E402

import chainrule as cr  # noqa: E402

pytestmark = pytest.mark.torch

RTOL = 1e-10
STEPS = 20


def _train(
    net: cr.Network,
    acts: List[str],
    X: np.ndarray,
    loss_of: Callable,
    steps: int,
    make_opt: Callable,
    batch_size: Optional[int] = None,
) -> tuple:
    """``steps`` epochs of torch on copies of net's weights, in the order of fit's unshuffled
    batches; ``loss_of(Z, H, rows)`` is a batch's loss. Returns (Ws, bs, loss history)."""
    Ws = [torch.tensor(np.array(W), requires_grad=True) for W in net.weights]
    bs = [torch.tensor(np.array(b), requires_grad=True) for b in net.biases]
    fns = [torch_activation(a) for a in acts]
    opt = make_opt(Ws + bs)
    Xt = torch.tensor(X)
    n = len(X)
    size = n if batch_size is None else batch_size
    history = []
    for _ in range(steps):
        total = weight = 0.0
        for start in range(0, n, size):
            rows = torch.arange(start, min(start + size, n))
            opt.zero_grad()
            Z, H = torch_forward(Ws, bs, fns, Xt[rows])
            value, w = loss_of(Z, H, rows)
            value.backward()
            opt.step()
            total += value.item() * w
            weight += w
        history.append(total / weight)
    return [W.detach().numpy() for W in Ws], [b.detach().numpy() for b in bs], history


def _compare(
    net: cr.Network, h: cr.History, Ws: List[np.ndarray], bs: List[np.ndarray], history: List[float]
) -> None:
    assert_close(np.array(h.loss), np.array(history), RTOL, "loss history")
    for l in range(len(Ws)):
        assert_close(net.weights[l], Ws[l], RTOL, f"W{l + 1} after {STEPS} epochs")
        assert_close(
            net.biases[l],
            bs[l],
            RTOL,
            f"b{l + 1} after {STEPS} epochs",
            scale=max(np.max(np.abs(bs[l])), np.max(np.abs(Ws[l]))),
        )


def _moved(net: cr.Network, initial: List[np.ndarray]) -> None:
    moved = max(np.max(np.abs(np.asarray(W) - W0)) for W, W0 in zip(net.weights, initial))
    assert moved > 1e-3, f"training barely moved the weights ({moved:.2e}): the test proves nothing"


ROBUST = [("mae", "mae"), ("huber", "huber"), ("huber-0.3", cr.Huber(delta=0.3))]
OPTIMIZERS = {
    "sgd": (lambda: cr.SGD(lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "adam": (lambda: cr.Adam(lr=0.02), lambda p: torch.optim.Adam(p, lr=0.02)),
}


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("name,loss", ROBUST, ids=[r[0] for r in ROBUST])
def test_robust_loss_trajectories_match_torch(name: str, loss: Any, opt: str) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    Y = np.tanh(X @ rng.normal(size=(3, 2))) + 0.5 * rng.standard_t(2, size=(40, 2))  # outliers
    acts = ["tanh", "linear"]
    make_ours, make_torch = OPTIMIZERS[opt]
    net = cr.Network([3, 8, 2], acts, loss=loss, seed=3, optimizer=make_ours())
    initial = [np.array(W) for W in net.weights]
    Yt = torch.tensor(Y)
    Ws, bs, history = _train(
        net,
        acts,
        X,
        lambda Z, H, rows: (torch_loss(loss, Z, H, Yt[rows]), len(rows)),
        STEPS,
        make_torch,
        batch_size=16,
    )
    h = net.fit(X, Y, epochs=STEPS, batch_size=16)
    _compare(net, h, Ws, bs, history)
    _moved(net, initial)


def test_integer_labels_match_torch_cross_entropy_with_class_indices() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(48, 3))
    y = rng.integers(0, 4, size=48)
    acts = ["tanh", "softmax"]
    net = cr.Network([3, 8, 4], acts, loss="cross_entropy", seed=3)
    initial = [np.array(W) for W in net.weights]
    yt = torch.tensor(y)
    # F.cross_entropy takes the logits Z and class indices, mean over the rows
    Ws, bs, history = _train(
        net,
        acts,
        X,
        lambda Z, H, rows: (F.cross_entropy(Z, yt[rows]), len(rows)),
        STEPS,
        lambda p: torch.optim.SGD(p, lr=0.2),
        batch_size=16,
    )
    h = net.fit(X, y, epochs=STEPS, batch_size=16, lr=0.2)
    _compare(net, h, Ws, bs, history)
    _moved(net, initial)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_class_weights_match_torch_weighted_cross_entropy(batch_size: Optional[int]) -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(48, 3))
    y = rng.integers(0, 3, size=48)
    cw = {0: 0.5, 1: 3.0, 2: 1.25}
    acts = ["tanh", "softmax"]
    net = cr.Network([3, 8, 3], acts, loss="cross_entropy", seed=3)
    initial = [np.array(W) for W in net.weights]
    yt = torch.tensor(y)
    weight = torch.tensor([cw[c] for c in range(3)], dtype=torch.float64)
    # CrossEntropyLoss(weight=w): sum_i w[y_i] l_i / sum_i w[y_i], the batch's weighted mean
    ce = torch.nn.CrossEntropyLoss(weight=weight)
    Ws, bs, history = _train(
        net,
        acts,
        X,
        lambda Z, H, rows: (ce(Z, yt[rows]), float(weight[yt[rows]].sum())),
        STEPS,
        lambda p: torch.optim.SGD(p, lr=0.2),
        batch_size=batch_size,
    )
    h = net.fit(X, y, epochs=STEPS, batch_size=batch_size, lr=0.2, class_weight=cw)
    _compare(net, h, Ws, bs, history)
    _moved(net, initial)


def test_class_weights_of_binary_cross_entropy_match_torch() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + rng.normal(size=40) > 0.8).astype(float)  # imbalanced
    counts = np.bincount(y.astype(int))
    balanced = len(y) / (2 * counts)  # scikit-learn's "balanced"
    acts = ["tanh", "sigmoid"]
    net = cr.Network([3, 8, 1], acts, loss="binary_cross_entropy", seed=3)
    initial = [np.array(W) for W in net.weights]
    yt = torch.tensor(y).reshape(-1, 1)
    w = torch.tensor(balanced[y.astype(int)]).reshape(-1, 1)

    def loss_of(Z: Any, H: Any, rows: Any) -> tuple:
        rowwise = F.binary_cross_entropy_with_logits(Z, yt[rows], reduction="none")
        return (w[rows] * rowwise).sum() / w[rows].sum(), float(w[rows].sum())

    Ws, bs, history = _train(net, acts, X, loss_of, STEPS, lambda p: torch.optim.SGD(p, lr=0.3))
    h = net.fit(X, y, epochs=STEPS, lr=0.3, class_weight="balanced")
    _compare(net, h, Ws, bs, history)
    _moved(net, initial)
