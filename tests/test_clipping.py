"""Gradient clipping in fit and step (clip_norm, clip_value): PyTorch parity of 20-step
trajectories in float64 (torch.nn.utils.clip_grad_norm_ / clip_grad_value_ between backward
and the optimizer step), the argument checks, the divergence rollback, thread invariance,
and the unfused SGD path it takes."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import pytest
from conftest import assert_close, general_path, make_data

import chainrule as cr

SIZES = [3, 7, 6, 2]
ACTS = ["tanh", "gelu", "linear"]
RTOL = 1e-10


def _params(net: cr.Network) -> List[np.ndarray]:
    return [np.array(p) for p in list(net.weights) + list(net.biases)]


def _torch_run(
    net: cr.Network,
    X: np.ndarray,
    Y: np.ndarray,
    epochs: int,
    batch_size: int,
    optimizer: str,
    lr: float,
    clip_norm: Optional[float],
    clip_value: Optional[float],
) -> Dict[str, Any]:
    """Trains a torch copy of net with clip_grad_value_ then clip_grad_norm_ before each
    step; returns its weights, loss history and how many steps each clipping changed."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the oracle of gradient clipping (pip install torch)"
    )
    F = torch.nn.functional
    acts = [torch.tanh, F.gelu, lambda z: z]
    Ws = [torch.tensor(np.array(W), requires_grad=True) for W in net.weights]
    bs = [torch.tensor(np.array(b), requires_grad=True) for b in net.biases]
    params = Ws + bs
    opt = torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else torch.optim.Adam(params, lr=lr)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    n = X.shape[0]
    losses, norm_clipped, value_clipped, steps = [], 0, 0, 0
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch_size):
            x, y = Xt[start : start + batch_size], Yt[start : start + batch_size]
            opt.zero_grad()
            h = x
            for W, b, act in zip(Ws, bs, acts):
                h = act(h @ W + b)
            loss = torch.sum((h - y) ** 2) / (2 * x.shape[0])  # ||Yhat - Y||^2 / (2m)
            loss.backward()
            if clip_value is not None:
                before = max(float(p.grad.abs().max()) for p in params)
                torch.nn.utils.clip_grad_value_(params, clip_value)
                value_clipped += before > clip_value
            if clip_norm is not None:
                norm = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
                norm_clipped += clip_norm / (norm + 1e-6) < 1
            opt.step()
            steps += 1
            total += loss.item() * x.shape[0]
        losses.append(total / n)
    return {
        "params": [p.detach().numpy() for p in params],
        "loss": losses,
        "steps": steps,
        "norm_clipped": norm_clipped,
        "value_clipped": value_clipped,
    }


# (id, optimizer, lr, clip_norm, clip_value, what each clipping must do: "all" steps clipped,
# "none", or "some")
CASES = [
    ("sgd-norm-active", "sgd", 0.2, 0.05, None, {"norm": "all"}),
    ("sgd-norm-inactive", "sgd", 0.2, 100.0, None, {"norm": "none"}),
    ("sgd-norm-sometimes", "sgd", 0.2, 0.8, None, {"norm": "some"}),
    ("sgd-value", "sgd", 0.2, None, 0.02, {"value": "all"}),
    ("sgd-value-then-norm", "sgd", 0.2, 0.8, 0.3, {"value": "some", "norm": "some"}),
    ("adam-norm-active", "adam", 0.01, 0.05, None, {"norm": "all"}),
    ("adam-norm-inactive", "adam", 0.01, 100.0, None, {"norm": "none"}),
    ("adam-value", "adam", 0.01, None, 0.02, {"value": "all"}),
    ("adam-value-then-norm", "adam", 0.01, 0.8, 0.3, {"value": "some", "norm": "some"}),
]


@pytest.mark.torch
@pytest.mark.parametrize(
    "name,optimizer,lr,clip_norm,clip_value,expect", CASES, ids=[c[0] for c in CASES]
)
def test_fit_matches_torch(
    name: str,
    optimizer: str,
    lr: float,
    clip_norm: Optional[float],
    clip_value: Optional[float],
    expect: Dict[str, str],
) -> None:
    # 40 rows in batches of 10, 5 epochs: 20 steps
    X, Y = make_data(SIZES, "mse", n=40, seed=41)
    net = cr.Network(SIZES, ACTS, seed=3, optimizer=optimizer)
    initial = _params(net)
    want = _torch_run(net, X, Y, 5, 10, optimizer, lr, clip_norm, clip_value)
    assert want["steps"] == 20
    for kind, how in expect.items():
        count = want[f"{kind}_clipped"]
        ok = {"all": count == 20, "none": count == 0, "some": 0 < count < 20}[how]
        assert ok, f"clipping by {kind} changed {count} of 20 steps; the case wants {how}"
    h = net.fit(X, Y, epochs=5, batch_size=10, lr=lr, clip_norm=clip_norm, clip_value=clip_value)
    moved = max(np.max(np.abs(p - p0)) for p, p0 in zip(_params(net), initial))
    assert moved > 1e-3, f"training barely moved the weights ({moved:.2e})"
    assert_close(np.array(h.loss), np.array(want["loss"]), RTOL, "loss history")
    for k, (got, theirs) in enumerate(zip(_params(net), want["params"])):
        assert_close(
            got,
            theirs,
            RTOL,
            f"parameter {k} after 20 steps",
            scale=max(float(np.max(np.abs(theirs))), 1e-2),
        )


@pytest.mark.torch
@pytest.mark.parametrize("given", [False, True], ids=["last-backward", "given-grads"])
def test_step_matches_torch(given: bool) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of gradient clipping")
    X, Y = make_data(SIZES, "mse", n=15, seed=42)
    net = cr.Network(SIZES, ACTS, seed=4, optimizer="adam")
    Ws = [torch.tensor(np.array(W), requires_grad=True) for W in net.weights]
    bs = [torch.tensor(np.array(b), requires_grad=True) for b in net.biases]
    params = Ws + bs
    opt = torch.optim.Adam(params, lr=0.01)
    acts = [torch.tanh, torch.nn.functional.gelu, lambda z: z]
    for _ in range(4):
        opt.zero_grad()
        h = torch.tensor(X)
        for W, b, act in zip(Ws, bs, acts):
            h = act(h @ W + b)
        (torch.sum((h - torch.tensor(Y)) ** 2) / (2 * X.shape[0])).backward()
        torch.nn.utils.clip_grad_value_(params, 0.3)
        torch.nn.utils.clip_grad_norm_(params, 0.2)
        opt.step()
        grads = net.gradients(X, Y)
        if given:
            copies = [np.array(g.dW) for g in grads]
            net.step(grads, lr=0.01, clip_norm=0.2, clip_value=0.3)
            for g, c in zip(grads, copies):
                assert np.array_equal(g.dW, c), "step clipped the arrays it was given"
        else:
            net.step(lr=0.01, clip_norm=0.2, clip_value=0.3)
    for got, theirs in zip(_params(net), [p.detach().numpy() for p in params]):
        assert_close(
            got,
            theirs,
            RTOL,
            "parameters after 4 clipped steps",
            scale=max(float(np.max(np.abs(theirs))), 1e-2),
        )


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_penalty_gradients_are_clipped_with_the_rest(optimizer: str) -> None:
    # L1/L2 penalty gradients are part of dW: clip_grad_norm_ over the penalised loss's
    # gradients, as in torch with the penalty added to the loss
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of gradient clipping")
    rng = np.random.default_rng(47)
    X, Y = rng.normal(size=(16, 4)), rng.normal(size=(16, 2))
    net = cr.Network(
        [
            4,
            cr.Dense(6, "tanh", l1=1e-2, l2=5e-2),
            cr.Dense(5, "relu", l2=1e-3),
            cr.Dense(2, "linear", l1=3e-3),
        ],
        seed=1,
        optimizer=optimizer,
    )
    model = net.to_torch()
    lr = 0.05 if optimizer == "sgd" else 0.01
    params = list(model.parameters())
    t_opt = (
        torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else torch.optim.Adam(params, lr=lr)
    )
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    h = net.fit(X, Y, epochs=10, batch_size=8, lr=lr, clip_norm=0.3, clip_value=0.1)
    losses, clipped = [], 0
    for _ in range(10):
        total = 0.0
        for s in (0, 8):
            t_opt.zero_grad()
            loss = ((model(Xt[s : s + 8]) - Yt[s : s + 8]) ** 2).sum() / (2 * 8)
            for c, lin in zip(net.layer_configs, linears):
                loss = loss + c.l1 * lin.weight.abs().sum() + c.l2 * (lin.weight**2).sum()
            loss.backward()
            torch.nn.utils.clip_grad_value_(params, 0.1)
            clipped += float(torch.nn.utils.clip_grad_norm_(params, 0.3)) > 0.3
            t_opt.step()
            total += loss.item() * 8
        losses.append(total / 16)
    assert clipped > 0
    assert_close(np.array(h.loss), np.array(losses), RTOL, "loss history")
    for k, lin in enumerate(linears):
        assert_close(net.weights[k], lin.weight.detach().numpy().T, RTOL, f"W{k + 1}")
        assert_close(
            net.biases[k],
            lin.bias.detach().numpy(),
            RTOL,
            f"b{k + 1}",
            scale=float(np.max(np.abs(net.weights[k]))),
        )


def test_step_clips_the_last_backward_in_place() -> None:
    X, Y = make_data(SIZES, "mse", n=15, seed=43)
    net = cr.Network(SIZES, ACTS, seed=4, optimizer="sgd")
    grads = net.gradients(X, Y)
    flat = np.concatenate([np.ravel(a) for g in grads for a in (g.dW, g.db)])
    norm = float(np.sqrt(np.sum(flat**2)))
    assert norm > 0.1
    coef = 0.1 / (norm + 1e-6)
    before = _params(net)
    net.step(lr=0.5, clip_norm=0.1)
    for l, g in enumerate(grads):
        assert_close(net.weights[l], before[l] - 0.5 * coef * g.dW, 1e-14, f"W{l + 1}")
    # the network's gradients were scaled in place (as torch scales .grad): a second step
    # without clipping applies the clipped gradients again
    net.step(lr=0.5)
    for l, g in enumerate(grads):
        assert_close(net.weights[l], before[l] - 2 * 0.5 * coef * g.dW, 1e-14, f"W{l + 1}")


def test_unclipped_fit_equals_fused_sgd_bitwise() -> None:
    # a clip_norm that never clips takes the unfused path (gradients, then the update): the
    # same numbers as the update fused into the backward pass
    # (on the general path: the fused small-network step, which a clipped fit never takes,
    # adds dW's rows in another order)
    X, Y = make_data([5, 40, 30, 3], "mse", n=90, seed=44)
    a = cr.Network([5, 40, 30, 3], ["relu", "tanh", "linear"], seed=5, optimizer="sgd")
    b = cr.Network([5, 40, 30, 3], ["relu", "tanh", "linear"], seed=5, optimizer="sgd")
    with general_path():
        ha = a.fit(X, Y, epochs=4, batch_size=32, lr=0.05)
    hb = b.fit(X, Y, epochs=4, batch_size=32, lr=0.05, clip_norm=1e300, clip_value=1e300)
    assert ha.loss == hb.loss
    for p, q in zip(_params(a), _params(b)):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_thread_count_does_not_change_clipped_training(dtype: str) -> None:
    # big enough for the threaded GEMM paths; the norm is summed in a fixed order
    sizes = [64, 96, 80, 10]
    X, Y = make_data(sizes, "cross_entropy", n=300, seed=45)
    before = cr.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            cr.set_num_threads(threads)
            net = cr.Network(
                sizes,
                ["relu", "tanh", "softmax"],
                "cross_entropy",
                seed=6,
                optimizer="adam",
                dtype=dtype,
            )
            h = net.fit(X, Y, epochs=3, batch_size=128, lr=0.01, clip_norm=0.05, clip_value=0.01)
            runs.append((h.loss, _params(net)))
    finally:
        cr.set_num_threads(before)
    for loss, params in runs[1:]:
        assert loss == runs[0][0]
        for p, q in zip(params, runs[0][1]):
            assert np.array_equal(p, q)


BAD = [
    ("clip_norm", 0, ValueError, "clip_norm must be a finite number > 0, got 0"),
    ("clip_norm", -1.5, ValueError, "clip_norm must be a finite number > 0, got -1.5"),
    ("clip_norm", float("inf"), ValueError, "clip_norm must be a finite number > 0, got inf"),
    ("clip_norm", float("nan"), ValueError, "clip_norm must be a finite number > 0, got nan"),
    ("clip_value", 0.0, ValueError, "clip_value must be a finite number > 0, got 0"),
    ("clip_value", -2, ValueError, "clip_value must be a finite number > 0, got -2"),
    ("clip_value", float("-inf"), ValueError, "clip_value must be a finite number > 0, got -inf"),
    ("clip_norm", "1", TypeError, "clip_norm must be a real number, got str"),
    ("clip_value", True, TypeError, "clip_value must be a real number, got bool"),
    ("clip_value", [1.0], TypeError, "clip_value must be a real number, got list"),
]


@pytest.mark.parametrize("arg,value,exc,message", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_clipping_leaves_the_model_unchanged(
    arg: str, value: Any, exc: type, message: str
) -> None:
    X, Y = make_data(SIZES, "mse", n=12, seed=46)
    net = cr.Network(SIZES, ACTS, seed=7, optimizer="adam")
    net.fit(X, Y, epochs=1)
    before, state = _params(net), net.get_optimizer_state()
    calls = [
        lambda: net.fit(X, Y, epochs=2, **{arg: value}),
        lambda: net.fit(X, Y, epochs=2, optimizer="sgd", **{arg: value}),
        lambda: net.fit(X, Y, epochs=2, verbose=2, **{arg: value}),
        lambda: net.step(**{arg: value}),
        lambda: net.step(net.gradients(X, Y), **{arg: value}),
    ]
    for call in calls:
        with pytest.raises(exc) as info:
            call()
        assert message in str(info.value)
        for p, q in zip(_params(net), before):
            assert np.array_equal(p, q)
        after = net.get_optimizer_state()
        assert after["step"] == state["step"] and net.optimizer.name == "adam"


def test_non_finite_gradient_norm_rolls_back() -> None:
    # float32 gradients overflow to inf while the loss (summed in double) stays finite: the
    # norm is inf, the clipped gradients NaN (inf * 0) or 0, the weights non-finite, and fit's
    # divergence check restores the last finite epoch's weights with its usual message
    X = np.array([[1e20, 2e20], [3e20, 1e20], [2e20, 2e20]], dtype=np.float32)
    Y = np.zeros((3, 1), dtype=np.float32)
    net = cr.Network([2, 1], ["linear"], seed=0, dtype="float32")
    grads = net.gradients(X, Y)
    assert np.isinf(grads[0].dW).any() and np.isfinite(net.loss(X, Y))
    before = _params(net)
    with pytest.raises(
        cr.DivergenceError,
        match="a weight became non-finite in epoch 1; the initial weights were kept",
    ):
        net.fit(X, Y, epochs=3, lr=0.1, clip_norm=1.0)
    for p, q in zip(_params(net), before):
        assert np.array_equal(p, q)
