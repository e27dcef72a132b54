"""Every optimizer and learning-rate schedule against torch.optim: the same initial weights,
data and hyper-parameters, 50 steps, weights and loss history equal to 1e-10 relative in
float64."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch",
    reason="PyTorch is not installed: it is the oracle of the optimizer and schedule "
    "parity tests (pip install torch)",
)

from conftest import assert_close, make_data  # noqa: E402

import chainrule as cr  # noqa: E402

pytestmark = pytest.mark.torch

RTOL = 1e-10
SIZES = [3, 7, 6, 2]
ACTS = ["tanh", "gelu", "linear"]
TORCH_ACTS = [torch.tanh, torch.nn.functional.gelu, lambda z: z]


def _torch_run(
    net: cr.Network,
    X: np.ndarray,
    Y: np.ndarray,
    epochs: int,
    make_opt,
    make_sched=None,
    batch_size: Optional[int] = None,
    val: Optional[tuple] = None,
    plateau_on: str = "val_loss",
    before_epoch=None,
):
    """Train copies of net's weights with torch; returns (Ws, bs, loss history, lr history).
    ``before_epoch(epoch, opt)`` may change the optimizer's param_groups."""
    Ws = [torch.tensor(np.array(W), requires_grad=True) for W in net.weights]
    bs = [torch.tensor(np.array(b), requires_grad=True) for b in net.biases]
    opt = make_opt(Ws + bs)
    sched = make_sched(opt) if make_sched else None
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    n = X.shape[0]
    size = n if batch_size is None else batch_size

    def forward(x):
        h = x
        for W, b, act in zip(Ws, bs, TORCH_ACTS):
            h = act(h @ W + b)
        return h

    losses, lrs = [], []
    for epoch in range(epochs):
        if before_epoch is not None:
            before_epoch(epoch, opt)
        lrs.append(opt.param_groups[0]["lr"])
        total = 0.0
        for start in range(0, n, size):
            x, y = Xt[start : start + size], Yt[start : start + size]
            opt.zero_grad()
            loss = torch.sum((forward(x) - y) ** 2) / (2 * x.shape[0])  # ||Yhat - Y||^2 / (2m)
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
        losses.append(total / n)
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if plateau_on == "val_loss":
                with torch.no_grad():
                    xv, yv = (torch.tensor(a) for a in val)
                    metric = (torch.sum((forward(xv) - yv) ** 2) / (2 * xv.shape[0])).item()
            else:
                metric = losses[-1]
            sched.step(metric)
        elif sched is not None:
            sched.step()
    return ([W.detach().numpy() for W in Ws], [b.detach().numpy() for b in bs], losses, lrs)


def _compare(net: cr.Network, h: cr.History, Ws, bs, losses, lrs, initial) -> None:
    moved = max(np.max(np.abs(W - W0)) for W, W0 in zip(Ws, initial))
    assert moved > 1e-3, f"training barely moved the weights ({moved:.2e}): the test proves nothing"
    assert_close(np.array(h.loss), np.array(losses), RTOL, "loss history")
    assert_close(np.array(h.lr), np.array(lrs), RTOL, "lr history")
    for l in range(len(Ws)):
        assert_close(net.weights[l], Ws[l], RTOL, f"W{l + 1} after 50 steps")
        assert_close(
            net.biases[l],
            bs[l],
            RTOL,
            f"b{l + 1} after 50 steps",
            scale=max(np.max(np.abs(bs[l])), np.max(np.abs(Ws[l]))),
        )


OPTIMIZERS: List[tuple] = [
    ("sgd", cr.SGD(lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    (
        "sgd-momentum",
        cr.SGD(lr=0.02, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9),
    ),
    (
        "sgd-dampening",
        cr.SGD(lr=0.02, momentum=0.8, dampening=0.3),
        lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.8, dampening=0.3),
    ),
    (
        "sgd-nesterov",
        cr.SGD(lr=0.02, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, nesterov=True),
    ),
    (
        "sgd-weight-decay",
        cr.SGD(lr=0.05, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.01),
    ),
    (
        "sgd-momentum-weight-decay",
        cr.SGD(lr=0.02, momentum=0.9, weight_decay=0.05),
        lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, weight_decay=0.05),
    ),
    ("adam", cr.Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (
        "adam-betas-eps",
        cr.Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    ),
    (
        "adam-weight-decay",
        cr.Adam(lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    ("adamw", cr.AdamW(lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    (
        "adamw-strong-decay",
        cr.AdamW(lr=0.01, weight_decay=0.5, betas=(0.85, 0.995)),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.5, betas=(0.85, 0.995)),
    ),
    ("rmsprop", cr.RMSprop(lr=0.005), lambda p: torch.optim.RMSprop(p, lr=0.005)),
    (
        "rmsprop-momentum",
        cr.RMSprop(lr=0.002, momentum=0.9, alpha=0.9),
        lambda p: torch.optim.RMSprop(p, lr=0.002, momentum=0.9, alpha=0.9),
    ),
    (
        "rmsprop-centered-decay",
        cr.RMSprop(lr=0.003, centered=True, weight_decay=0.05),
        lambda p: torch.optim.RMSprop(p, lr=0.003, centered=True, weight_decay=0.05),
    ),
]


@pytest.mark.parametrize("name,ours,theirs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_matches_torch_full_batch(
    name: str, ours: cr.Optimizer, theirs, network_path
) -> None:
    X, Y = make_data(SIZES, "mse", n=40, seed=31)
    net = cr.Network(SIZES, ACTS, seed=5, optimizer=ours)
    initial = [np.array(W) for W in net.weights]
    Ws, bs, losses, lrs = _torch_run(net, X, Y, 50, theirs)
    h = net.fit(X, Y, epochs=50)  # lr: the optimizer's
    _compare(net, h, Ws, bs, losses, lrs, initial)
    assert net.get_optimizer_state()["step"] == 50


@pytest.mark.parametrize(
    "name,ours,theirs",
    [OPTIMIZERS[i] for i in (2, 6, 9, 13)],
    ids=[OPTIMIZERS[i][0] for i in (2, 6, 9, 13)],
)
def test_optimizer_matches_torch_mini_batches_over_two_fits(
    name, ours, theirs, network_path
) -> None:
    # 40 rows in batches of 12 (12, 12, 12, 4): 4 steps per epoch, 13 epochs = 52 steps,
    # split over two fit calls: the optimizer's state (and Adam's step count) carries over
    X, Y = make_data(SIZES, "mse", n=40, seed=32)
    net = cr.Network(SIZES, ACTS, seed=6, optimizer=ours)
    initial = [np.array(W) for W in net.weights]
    Ws, bs, losses, lrs = _torch_run(net, X, Y, 13, theirs, batch_size=12)
    h1 = net.fit(X, Y, epochs=6, batch_size=12)
    h2 = net.fit(X, Y, epochs=7, batch_size=12)
    h = cr.History(loss=h1.loss + h2.loss, lr=h1.lr + h2.lr)
    _compare(net, h, Ws, bs, losses, lrs, initial)


CHANGES: List[tuple] = [
    ("sgd-momentum-on", cr.SGD(lr=0.02), {"momentum": 0.9}, {"momentum": 0.9}),
    (
        "sgd-nesterov-decay",
        cr.SGD(lr=0.02, momentum=0.9),
        {"nesterov": True, "weight_decay": 0.05},
        {"nesterov": True, "weight_decay": 0.05},
    ),
    (
        "adam-betas-eps-decay",
        cr.Adam(lr=0.01),
        {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
        {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
    ),
    (
        "rmsprop-alpha",
        cr.RMSprop(lr=0.005),
        {"alpha": 0.9, "lr": 0.002},
        {"alpha": 0.9, "lr": 0.002},
    ),
]


@pytest.mark.parametrize("name,ours,change,theirs", CHANGES, ids=[c[0] for c in CHANGES])
def test_hyper_parameters_changed_between_fits_match_torch_param_groups(
    name: str, ours: cr.Optimizer, change: Dict[str, Any], theirs: Dict[str, Any], network_path
) -> None:
    # net.optimizer.<name> = v between two fits acts as torch's param_groups[0][name] = v
    # between two epochs: the optimizer's state (steps, moments) carries on
    X, Y = make_data(SIZES, "mse", n=40, seed=33)
    net = cr.Network(SIZES, ACTS, seed=7, optimizer=copy.deepcopy(ours))  # (changed below)
    initial = [np.array(W) for W in net.weights]
    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    params = ours.get_params()

    def before_epoch(epoch: int, opt) -> None:
        if epoch == 20:
            opt.param_groups[0].update(theirs)

    Ws, bs, losses, lrs = _torch_run(
        net, X, Y, 45, lambda p: kind[ours.name](p, **params), before_epoch=before_epoch
    )
    h1 = net.fit(X, Y, epochs=20)
    for key, value in change.items():
        setattr(net.optimizer, key, value)
    h2 = net.fit(X, Y, epochs=25)
    assert net.get_optimizer_state()["step"] == 45
    h = cr.History(loss=h1.loss + h2.loss, lr=h1.lr + h2.lr)
    _compare(net, h, Ws, bs, losses, lrs, initial)


SCHEDULES: List[tuple] = [
    ("constant", "constant", None, {}),
    (
        "constant-warm",
        cr.ConstantLR(factor=0.25, total_iters=6),
        lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=0.25, total_iters=6),
        {},
    ),
    (
        "step",
        cr.StepLR(step_size=7, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
        {},
    ),
    (
        "exponential",
        cr.ExponentialLR(gamma=0.93),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.93),
        {},
    ),
    (
        "cosine-periodic",
        cr.CosineAnnealingLR(T_max=20, eta_min=0.002),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.002),
        {},
    ),
    (
        "cosine-over-the-fit",
        "cosine",
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50),
        {},
    ),
    (
        "plateau-val-loss",
        cr.ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.02, cooldown=1),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, factor=0.5, patience=2, threshold=0.02, cooldown=1
        ),
        {"plateau_on": "val_loss"},
    ),
    (
        "plateau-train-loss-abs",
        cr.ReduceLROnPlateau(
            factor=0.7,
            patience=1,
            threshold=0.01,
            threshold_mode="abs",
            min_lr=0.01,
            monitor="loss",
        ),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, factor=0.7, patience=1, threshold=0.01, threshold_mode="abs", min_lr=0.01
        ),
        {"plateau_on": "loss"},
    ),
    (
        "plateau-max-mode",
        cr.ReduceLROnPlateau(mode="max", factor=0.8, patience=3, monitor="loss"),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode="max", factor=0.8, patience=3),
        {"plateau_on": "loss"},
    ),
]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name,ours,theirs,kw", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_torch(
    name: str, ours: Any, theirs, kw: Dict[str, Any], optimizer: str
) -> None:
    X, Y = make_data(SIZES, "mse", n=40, seed=33)
    Xv, Yv = make_data(SIZES, "mse", n=25, seed=34)
    lr = 0.1 if optimizer == "sgd" else 0.02
    net = cr.Network(SIZES, ACTS, seed=7, optimizer=optimizer)
    initial = [np.array(W) for W in net.weights]
    make_opt = (
        (lambda p: torch.optim.SGD(p, lr=lr))
        if optimizer == "sgd"
        else (lambda p: torch.optim.Adam(p, lr=lr))
    )
    Ws, bs, losses, lrs = _torch_run(net, X, Y, 50, make_opt, theirs, val=(Xv, Yv), **kw)
    h = net.fit(X, Y, epochs=50, lr=lr, lr_schedule=ours, validation_data=(Xv, Yv))
    _compare(net, h, Ws, bs, losses, lrs, initial)
    if name.startswith("plateau"):
        changes = int(np.sum(np.diff(h.lr) != 0))
        assert changes >= 2, f"the plateau schedule changed the lr {changes} times: too few to test"
    elif name != "constant":
        assert len(set(h.lr)) > 1
