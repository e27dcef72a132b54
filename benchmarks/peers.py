"""The systems the harness compares, behind one small interface.

``make_trainer(system, spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed)`` builds a
fresh model (untimed) and returns a :class:`Trainer`: ``run()`` is the timed training,
``predict(X)`` gives Yhat afterwards. Systems: chainrule, numpy (numpy_mlp.NumpyMLP), torch (eager, manual loop,
torch.optim.SGD or Adam), sklearn (MLPRegressor / MLPClassifier, peer_sklearn.py), and the
compiling peers jax (peer_jax.py) and torch-compile (peer_torch_compile.py), which compile when
their trainer is built (``Trainer.compile_seconds``, never inside ``run()``).

``weights`` are the initial W of every layer, shaped (n_in, n_out); chainrule, NumPy, PyTorch
(eager and compiled) and JAX start from the same ones, scikit-learn draws its own (it has no way
to be given them).
``spec.optimizer`` is "sgd" (plain) or "adam" (torch.optim.Adam's defaults but lr). With
``shuffle_seed`` the rows are visited in a new order every epoch, :func:`epoch_orders`: the
orders chainrule's ``fit(shuffle=True)`` draws from a generator in that state, given to the other
peers as index arrays (scikit-learn shuffles with its own generator).
A NetSpec with ``dropout`` set (W2n) puts a BatchNorm and a Dropout(p) after every hidden layer
(chainrule and PyTorch only); the systems ``chainrule-plain`` and ``torch-plain`` train the same
network without them, the baseline of their cost.
Optional peers that are not importable are reported by :func:`versions` as None.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from numpy_mlp import NumpyMLP

#: An earlier commit of chainrule, installed beside it as the package chainrule_base by
#: benchmarks/baseline.py: timed in every workload when present (same code paths, old build).
BASELINE = "chainrule-base"
BASELINE_MODULE = "chainrule_base"
HAS_BASELINE = importlib.util.find_spec(BASELINE_MODULE) is not None
SYSTEMS = (
    ("chainrule",)
    + ((BASELINE,) if HAS_BASELINE else ())
    + ("numpy", "torch", "torch-compile", "jax", "sklearn")
)
#: Systems that time one library another way (its version is the library's): on one thread
#: (-1t), without BatchNorm and Dropout (-plain), compiled (torch-compile).
VARIANTS = {
    "chainrule": ("chainrule-1t", "chainrule-plain"),
    "torch": ("torch-plain", "torch-compile", "torch-1t"),
}


@dataclass
class NetSpec:
    sizes: List[int]
    activations: List[str]
    loss: str  # "mse" or "cross_entropy" (softmax output)
    dtype: str  # "float32" or "float64"
    dropout: Optional[float] = None  # BatchNorm + Dropout(p) after every hidden layer
    optimizer: str = "sgd"  # or "adam"
    #: how the compiling peers (JAX) loop: "whole" (every epoch in one compiled call), "epoch"
    #: (one call per epoch, a scan over its batches), "step" (one call per training step);
    #: "auto": whole for full-batch training, epoch otherwise
    loop: str = "auto"

    def plain(self) -> "NetSpec":
        """The same network without the BatchNorm and Dropout layers."""
        return dataclasses.replace(self, dropout=None)


@dataclass
class Trainer:
    run: Callable[[], Any]
    predict: Callable[[np.ndarray], np.ndarray]
    compile_seconds: Optional[float] = None  # compiled while this trainer was built


def versions() -> Dict[str, Optional[str]]:
    """Version of every system, None where it is not installed."""
    found: Dict[str, Optional[str]] = {}
    for system, module in (
        ("chainrule", "chainrule"),
        (BASELINE, BASELINE_MODULE),
        ("numpy", "numpy"),
        ("torch", "torch"),
        ("jax", "jax"),
        ("sklearn", "sklearn"),
        ("threadpoolctl", "threadpoolctl"),
    ):
        try:
            found[system] = importlib.import_module(module).__version__
        except Exception:  # ImportError, or a broken install
            found[system] = None
    for system, variants in VARIANTS.items():
        found.update(dict.fromkeys(variants, found[system]))
    if found["sklearn"] is not None:
        # load scikit-learn's own BLAS now, so that set_threads() limits it too
        importlib.import_module("sklearn.neural_network")
    return found


def set_threads(threads: int) -> Callable[[], None]:
    """Limit every system to ``threads`` threads (torch.set_num_threads, chainrule's
    set_num_threads where it exists, threadpoolctl for the BLAS and OpenMP pools of NumPy and
    scikit-learn). Returns a function that restores the previous settings. Without threadpoolctl
    NumPy and scikit-learn keep their defaults."""
    undo: List[Callable[[], None]] = []
    try:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        undo.append(lambda: torch.set_num_threads(previous))
    except ImportError:
        pass
    for name in ("chainrule",) + ((BASELINE_MODULE,) if HAS_BASELINE else ()):
        module = importlib.import_module(name)
        if hasattr(module, "set_num_threads") and hasattr(module, "get_num_threads"):
            previous_cr = module.get_num_threads()
            module.set_num_threads(threads)
            undo.append(functools.partial(module.set_num_threads, previous_cr))
    try:
        from threadpoolctl import threadpool_limits

        undo.append(threadpool_limits(limits=threads).restore_original_limits)
    except ImportError:
        pass

    def restore() -> None:
        for fn in reversed(undo):
            fn()

    return restore


def chainrule_threads() -> int:
    import chainrule

    return int(chainrule.get_num_threads()) if hasattr(chainrule, "get_num_threads") else 1


def initial_weights(spec: NetSpec, seed: int) -> List[np.ndarray]:
    """chainrule's own initialisation (seeded), shared with the NumPy and PyTorch peers."""
    import chainrule

    net = chainrule.Network(
        spec.sizes, spec.activations, loss=spec.loss, dtype=spec.dtype, seed=seed
    )
    return [np.array(net.weights[l]) for l in range(len(spec.sizes) - 1)]


def make_trainer(
    system: str,
    spec: NetSpec,
    weights: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    lr: float,
    epochs: int,
    batch_size: Optional[int],
    shuffle_seed: Optional[int] = None,
) -> Trainer:
    if system in _IN_MODULES:
        factory = getattr(importlib.import_module(_IN_MODULES[system]), "make_trainer")
    else:
        factory = _FACTORIES[system]
    return factory(spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed)


def epoch_orders(shuffle_seed: Optional[int], n: int, epochs: int) -> Optional[List[np.ndarray]]:
    """The row order of every epoch: what chainrule's fit(shuffle=True) draws, one
    ``rng.permutation(n)`` per epoch, from ``default_rng(shuffle_seed)``; None: no shuffling."""
    if shuffle_seed is None:
        return None
    rng = np.random.default_rng(shuffle_seed)
    return [rng.permutation(n) for _ in range(epochs)]


def batch_slices(n: int, batch_size: Optional[int]) -> List[slice]:
    """The batches of an epoch, in order: full ones, then the remainder."""
    bs = n if batch_size is None else batch_size
    return [slice(start, min(start + bs, n)) for start in range(0, n, bs)]


# ---- chainrule ---------------------------------------------------------------------------


def _chainrule(
    spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None, module="chainrule"
) -> Trainer:
    chainrule = importlib.import_module(module)
    if spec.dropout is None:
        net = chainrule.Network(
            spec.sizes, spec.activations, loss=spec.loss, dtype=spec.dtype, seed=0
        )
    else:
        layers: List[Any] = [spec.sizes[0]]
        for units, act in zip(spec.sizes[1:-1], spec.activations):
            layers += [
                chainrule.Dense(units, act),
                chainrule.BatchNorm(),
                chainrule.Dropout(spec.dropout),
            ]
        layers.append(chainrule.Dense(spec.sizes[-1], spec.activations[-1]))
        net = chainrule.Network(layers, loss=spec.loss, dtype=spec.dtype, seed=0)
    for l, W in enumerate(weights):  # the dense layers' W
        net.weights[l] = W
    kwargs: Dict[str, Any] = {} if spec.optimizer == "sgd" else {"optimizer": spec.optimizer}
    if shuffle_seed is not None:
        net.set_rng_state(np.random.default_rng(shuffle_seed).bit_generator.state)
    return Trainer(
        run=lambda: net.fit(
            X,
            Y,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            shuffle=shuffle_seed is not None,
            **kwargs,
        ),
        predict=net.predict,
    )


def _one_thread(factory: Callable, module: str) -> Callable:
    """A factory whose trainer runs ``module`` (chainrule or torch, which both have
    get_num_threads / set_num_threads) on one thread while it trains: a thread-scaling
    baseline, measured in the same run as the system on every thread."""

    def make(spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None) -> Trainer:
        lib = importlib.import_module(module)
        inner = factory(spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed)

        def run():
            before = lib.get_num_threads()
            lib.set_num_threads(1)
            try:
                return inner.run()
            finally:
                lib.set_num_threads(before)

        return Trainer(run=run, predict=inner.predict)

    return make


# ---- NumPy -------------------------------------------------------------------------------


def _numpy(spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None) -> Trainer:
    net = NumpyMLP(
        spec.sizes,
        spec.activations,
        spec.loss,
        dtype=spec.dtype,
        weights=weights,
        optimizer=spec.optimizer,
    )
    orders = epoch_orders(shuffle_seed, X.shape[0], epochs)
    return Trainer(
        run=lambda: net.fit(X, Y, epochs, lr, batch_size, orders=orders), predict=net.predict
    )


# ---- PyTorch -----------------------------------------------------------------------------


def torch_model(spec: NetSpec, weights: Sequence[np.ndarray]):
    """nn.Sequential of Linear layers and activations. With cross-entropy the softmax is left
    to the loss (F.cross_entropy on the logits), as PyTorch code does."""
    import torch

    dtype = getattr(torch, spec.dtype)
    modules = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    layers = []
    for l, (W, act) in enumerate(zip(weights, spec.activations)):
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))  # (n_out, n_in)
            linear.bias.zero_()
        layers.append(linear)
        if act in modules:
            layers.append(modules[act]())
        elif act == "softmax" and spec.loss != "cross_entropy":
            layers.append(torch.nn.Softmax(dim=1))
        elif act not in ("linear", "softmax"):
            raise ValueError(f"no PyTorch module for activation {act!r}")
        if spec.dropout is not None and l < len(weights) - 1:  # (torch's defaults = ours)
            layers += [
                torch.nn.BatchNorm1d(W.shape[1], dtype=dtype),
                torch.nn.Dropout(spec.dropout),
            ]
    return torch.nn.Sequential(*layers)


def torch_loss(spec: NetSpec, Y: np.ndarray):
    """(the targets as a tensor, loss(out, y)) as PyTorch code writes them: F.cross_entropy on
    the logits and class indices, or ||out - y||^2 / (2m)."""
    import torch
    import torch.nn.functional as F

    if spec.loss == "cross_entropy":
        return torch.from_numpy(Y.argmax(axis=1)), lambda out, y: F.cross_entropy(out, y)
    return torch.from_numpy(Y), lambda out, y: ((out - y) ** 2).sum() / (2 * y.shape[0])


def torch_optimizer(spec: NetSpec, params, lr: float):
    import torch

    return (
        torch.optim.Adam(params, lr=lr)
        if spec.optimizer == "adam"
        else torch.optim.SGD(params, lr=lr)
    )


def torch_epochs(
    X: np.ndarray, Yt, epochs: int, batch_size: Optional[int], shuffle_seed: Optional[int]
) -> Callable[[], Any]:
    """A generator function of every epoch's batches as (X, Y) tensors, the rows of a shuffled
    epoch gathered in its order (as a DataLoader would, inside the timed loop)."""
    import torch

    Xt, n = torch.from_numpy(X), X.shape[0]
    slices = batch_slices(n, batch_size)
    orders = epoch_orders(shuffle_seed, n, epochs)
    orders_t = None if orders is None else [torch.from_numpy(o) for o in orders]

    def batches():
        for e in range(epochs):
            xs, ys = (Xt, Yt) if orders_t is None else (Xt[orders_t[e]], Yt[orders_t[e]])
            yield [(xs[s], ys[s]) for s in slices]

    return batches


def torch_predict(spec: NetSpec, model) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def predict(Xp):
        model.eval()  # BatchNorm's running statistics, no dropout
        with torch.no_grad():
            out = model(torch.from_numpy(Xp))
            if spec.loss == "cross_entropy":
                out = torch.softmax(out, dim=1)
            return out.numpy()

    return predict


def _torch(spec, weights, X, Y, lr, epochs, batch_size, shuffle_seed=None) -> Trainer:
    model = torch_model(spec, weights)
    opt = torch_optimizer(spec, model.parameters(), lr)
    Yt, loss_fn = torch_loss(spec, Y)
    batches = torch_epochs(X, Yt, epochs, batch_size, shuffle_seed)

    def run():
        model.train()
        for epoch in batches():
            for xb, yb in epoch:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()

    return Trainer(run=run, predict=torch_predict(spec, model))


def _plain(factory: Callable) -> Callable:
    """A factory that trains spec.plain(): the network without BatchNorm and Dropout."""
    return lambda spec, *args: factory(spec.plain(), *args)


#: Peers in modules of their own, imported when first used: the compiling ones and
#: scikit-learn.
_IN_MODULES = {"jax": "peer_jax", "torch-compile": "peer_torch_compile", "sklearn": "peer_sklearn"}

_FACTORIES = {
    "chainrule": _chainrule,
    "chainrule-1t": _one_thread(_chainrule, "chainrule"),
    "numpy": _numpy,
    "torch": _torch,
    "chainrule-plain": _plain(_chainrule),
    "torch-plain": _plain(_torch),
    "torch-1t": _one_thread(_torch, "torch"),
    BASELINE: functools.partial(_chainrule, module=BASELINE_MODULE),
}


def loss_value(spec: NetSpec, Yhat: np.ndarray, Y: np.ndarray) -> float:
    """The network's loss in float64: ||Yhat - Y||^2 / (2m) or -sum(Y log Yhat) / m."""
    Yhat, Y = np.asarray(Yhat, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if spec.loss == "mse":
        return float(np.sum((Yhat - Y) ** 2) / (2 * len(Y)))
    return float(-np.sum(Y * np.log(np.maximum(Yhat, 1e-300))) / len(Y))
