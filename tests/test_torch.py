"""PyTorch autograd as a second oracle: same weights, losses written as in docs/design.md section 1."""

from __future__ import annotations

from typing import Any, List

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: it is the second gradient oracle (pip install torch)"
)
F = torch.nn.functional

from conftest import ALL_ACTIVATIONS, ALL_LOSSES, assert_close, make_data, required_output, spec_id  # noqa: E402

import chainrule as cr  # noqa: E402

pytestmark = pytest.mark.torch

RTOL = 1e-10


def torch_activation(spec: Any):
    """The torch function of every built-in activation (a new one is added here: the test
    parametrises over the registry and fails with a KeyError until it is)."""
    name = spec if isinstance(spec, str) else spec.name
    params = {} if isinstance(spec, str) else spec.get_params()
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, negative_slope=params.get("alpha", 0.01)),
        "elu": lambda z: F.elu(z, alpha=params.get("alpha", 1.0)),
        "softmax": lambda z: torch.softmax(z, dim=1),
        "linear": lambda z: z,
        "gelu": F.gelu,  # default approximate="none": the exact erf form
        "silu": F.silu,
        "softplus": F.softplus,  # threshold 20: the inputs here stay far below it
        "mish": F.mish,
    }[name]


def torch_loss(loss: Any, Z, H, Y):
    """Every built-in loss written with torch (a new one is added here, as for activations)."""
    name = cr.losses.resolve_loss(loss).name
    params = {} if isinstance(loss, str) else loss.get_params()
    m = Y.shape[0]
    if name == "mse":  # ||Yhat - Y||^2 / (2m)
        return torch.sum((H - Y) ** 2) / (2 * m)
    if name == "cross_entropy":  # -sum(Y log softmax(Z)) / m, from the logits
        return -torch.sum(Y * torch.log_softmax(Z, dim=1)) / m
    if name == "binary_cross_entropy":  # BCE with logits, summed over outputs, / m
        return F.binary_cross_entropy_with_logits(Z, Y, reduction="sum") / m
    if name == "huber":  # torch's Huber summed over outputs, / m
        return F.huber_loss(H, Y, reduction="sum", delta=params.get("delta", 1.0)) / m
    if name == "mae":  # torch's L1 summed over outputs, / m (its gradient at 0 is sign(0) = 0)
        return F.l1_loss(H, Y, reduction="sum") / m
    raise KeyError(f"test_torch.py has no torch formula for the loss {name!r}: add it")


def torch_forward(Ws, bs, acts, X):
    H, Z = X, None
    for W, b, act in zip(Ws, bs, acts):
        Z = H @ W + b
        H = act(Z)
    return Z, H


def _params(net) -> List:
    Ws = [torch.tensor(np.array(W, np.float64), requires_grad=True) for W in net.weights]
    bs = [torch.tensor(np.array(b, np.float64), requires_grad=True) for b in net.biases]
    return Ws, bs


ACTS: List[Any] = ALL_ACTIVATIONS

CASES = []
for a in ACTS:
    aid = spec_id(a)
    CASES.append((f"hidden-{aid}-mse", [3, 7, 6, 2], [a, a, "linear"], "mse"))
    CASES.append((f"output-{aid}-mse", [3, 5, 4], ["tanh", a], "mse"))
    CASES.append((f"hidden-{aid}-ce", [3, 6, 3], [a, "softmax"], "cross_entropy"))
    CASES.append((f"hidden-{aid}-bce", [3, 6, 2], [a, "sigmoid"], "binary_cross_entropy"))
for l in ALL_LOSSES:  # every loss on the output it needs, or linear
    CASES.append((f"loss-{spec_id(l)}", [3, 7, 4], ["tanh", required_output(l) or "linear"], l))
CASES.append(("demo-2-10-8-5-1", [2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], "mse"))
CASES.append(("demo-2-15-1", [2, 15, 1], ["sigmoid", "linear"], "mse"))
CASES.append(
    ("deep-ce", [4, 9, 8, 7, 3], ["gelu", "softplus", "softmax", "softmax"], "cross_entropy")
)

cases = pytest.mark.parametrize("name,sizes,acts,loss", CASES, ids=[str(c[0]) for c in CASES])


@cases
def test_gradients_match_autograd(name, sizes, acts, loss) -> None:
    X, Y = make_data(sizes, loss, n=40, seed=21)
    net = cr.Network(sizes, acts, loss=loss, seed=8)
    Ws, bs = _params(net)
    Z, H = torch_forward(Ws, bs, [torch_activation(a) for a in acts], torch.tensor(X))
    value = torch_loss(loss, Z, H, torch.tensor(Y))
    value.backward()
    grads = net.gradients(X, Y)
    assert_close(grads.loss, value.item(), RTOL, "loss")
    assert_close(net.predict(X), H.detach().numpy(), RTOL, "predict")
    for l, g in enumerate(grads):
        assert_close(g.dW, Ws[l].grad.numpy(), RTOL, f"layer {l + 1} dW")
        assert_close(g.db, bs[l].grad.numpy(), RTOL, f"layer {l + 1} db")


@cases
def test_sgd_trajectory_matches_autograd(name, sizes, acts, loss, network_path) -> None:
    X, Y = make_data(sizes, loss, n=40, seed=22)
    lr = 0.05
    net = cr.Network(sizes, acts, loss=loss, seed=9)
    Ws, bs = _params(net)
    fns = [torch_activation(a) for a in acts]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    history = []
    for _ in range(50):
        Z, H = torch_forward(Ws, bs, fns, Xt)
        value = torch_loss(loss, Z, H, Yt)
        history.append(value.item())
        for p in Ws + bs:
            p.grad = None
        value.backward()
        with torch.no_grad():
            for p in Ws + bs:
                p -= lr * p.grad
    h = net.fit(X, Y, epochs=50, lr=lr)
    assert_close(np.array(h.loss), np.array(history), RTOL, "loss history")
    for l in range(len(Ws)):
        W, b = Ws[l].detach().numpy(), bs[l].detach().numpy()
        assert_close(net.weights[l], W, RTOL, f"W{l + 1} after 50 steps")
        assert_close(
            net.biases[l],
            b,
            RTOL,
            f"b{l + 1} after 50 steps",
            scale=max(np.max(np.abs(b)), np.max(np.abs(W))),
        )
