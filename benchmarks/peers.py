"""The systems the harness compares, behind one small interface.

``make_trainer(system, spec, weights, X, Y, lr, epochs, batch_size)`` builds a fresh model
(untimed) and returns a :class:`Trainer`: ``run()`` is the timed training, ``predict(X)`` gives
Yhat afterwards. Systems: chainrule, numpy (numpy_mlp.NumpyMLP), torch (eager, manual loop,
torch.optim.SGD) and sklearn (MLPRegressor / MLPClassifier with plain SGD).

``weights`` are the initial W of every layer, shaped (n_in, n_out); chainrule, NumPy and PyTorch
start from the same ones, scikit-learn draws its own (it has no way to be given them).
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
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from numpy_mlp import NumpyMLP

#: An earlier commit of chainrule, installed beside it as the package chainrule_base by
#: benchmarks/baseline.py: timed in every workload when present (same code paths, old build).
BASELINE = "chainrule-base"
BASELINE_MODULE = "chainrule_base"
HAS_BASELINE = importlib.util.find_spec(BASELINE_MODULE) is not None
SYSTEMS = ("chainrule",) + ((BASELINE,) if HAS_BASELINE else ()) + ("numpy", "torch", "sklearn")


@dataclass
class NetSpec:
    sizes: List[int]
    activations: List[str]
    loss: str  # "mse" or "cross_entropy" (softmax output)
    dtype: str  # "float32" or "float64"
    dropout: Optional[float] = None  # BatchNorm + Dropout(p) after every hidden layer

    def plain(self) -> "NetSpec":
        """The same network without the BatchNorm and Dropout layers."""
        return dataclasses.replace(self, dropout=None)


@dataclass
class Trainer:
    run: Callable[[], Any]
    predict: Callable[[np.ndarray], np.ndarray]


def versions() -> Dict[str, Optional[str]]:
    """Version of every system, None where it is not installed."""
    found: Dict[str, Optional[str]] = {}
    for system, module in (("chainrule", "chainrule"), (BASELINE, BASELINE_MODULE),
                           ("numpy", "numpy"), ("torch", "torch"),
                           ("sklearn", "sklearn"), ("threadpoolctl", "threadpoolctl")):
        try:
            found[system] = importlib.import_module(module).__version__
            if system == "chainrule":
                found["chainrule-1t"] = found["chainrule-plain"] = found[system]
            if system == "torch":
                found["torch-plain"] = found[system]
        except Exception:  # ImportError, or a broken install
            found[system] = None
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
    net = chainrule.Network(spec.sizes, spec.activations, loss=spec.loss, dtype=spec.dtype,
                            seed=seed)
    return [np.array(net.weights[l]) for l in range(len(spec.sizes) - 1)]


def make_trainer(system: str, spec: NetSpec, weights: Sequence[np.ndarray], X: np.ndarray,
                 Y: np.ndarray, lr: float, epochs: int, batch_size: Optional[int]) -> Trainer:
    return _FACTORIES[system](spec, weights, X, Y, lr, epochs, batch_size)


# ---- chainrule ---------------------------------------------------------------------------

def _chainrule(spec, weights, X, Y, lr, epochs, batch_size, module="chainrule") -> Trainer:
    chainrule = importlib.import_module(module)
    if spec.dropout is None:
        net = chainrule.Network(spec.sizes, spec.activations, loss=spec.loss, dtype=spec.dtype,
                                seed=0)
    else:
        layers: List[Any] = [spec.sizes[0]]
        for units, act in zip(spec.sizes[1:-1], spec.activations):
            layers += [chainrule.Dense(units, act), chainrule.BatchNorm(),
                       chainrule.Dropout(spec.dropout)]
        layers.append(chainrule.Dense(spec.sizes[-1], spec.activations[-1]))
        net = chainrule.Network(layers, loss=spec.loss, dtype=spec.dtype, seed=0)
    for l, W in enumerate(weights):  # the dense layers' W
        net.weights[l] = W
    return Trainer(run=lambda: net.fit(X, Y, epochs=epochs, lr=lr, batch_size=batch_size,
                                       shuffle=False),
                   predict=net.predict)


def _chainrule_one_thread(spec, weights, X, Y, lr, epochs, batch_size) -> Trainer:
    """chainrule restricted to one thread while it trains (the thread-scaling baseline)."""
    import chainrule
    inner = _chainrule(spec, weights, X, Y, lr, epochs, batch_size)

    def run():
        before = chainrule.get_num_threads()
        chainrule.set_num_threads(1)
        try:
            return inner.run()
        finally:
            chainrule.set_num_threads(before)
    return Trainer(run=run, predict=inner.predict)


# ---- NumPy -------------------------------------------------------------------------------

def _numpy(spec, weights, X, Y, lr, epochs, batch_size) -> Trainer:
    net = NumpyMLP(spec.sizes, spec.activations, spec.loss, dtype=spec.dtype, weights=weights)
    return Trainer(run=lambda: net.fit(X, Y, epochs, lr, batch_size), predict=net.predict)


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
            layers += [torch.nn.BatchNorm1d(W.shape[1], dtype=dtype),
                       torch.nn.Dropout(spec.dropout)]
    return torch.nn.Sequential(*layers)


def _torch(spec, weights, X, Y, lr, epochs, batch_size) -> Trainer:
    import torch
    import torch.nn.functional as F
    model = torch_model(spec, weights)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    Xt = torch.from_numpy(X)
    if spec.loss == "cross_entropy":
        Yt = torch.from_numpy(Y.argmax(axis=1))
        loss_fn = lambda out, y: F.cross_entropy(out, y)  # mean over the batch
    else:
        Yt = torch.from_numpy(Y)
        loss_fn = lambda out, y: ((out - y) ** 2).sum() / (2 * y.shape[0])
    n = X.shape[0]
    bs = n if batch_size is None else batch_size

    def run():
        model.train()
        for _ in range(epochs):
            for start in range(0, n, bs):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt[start:start + bs]), Yt[start:start + bs])
                loss.backward()
                opt.step()

    def predict(Xp):
        model.eval()  # BatchNorm's running statistics, no dropout
        with torch.no_grad():
            out = model(torch.from_numpy(Xp))
            if spec.loss == "cross_entropy":
                out = torch.softmax(out, dim=1)
            return out.numpy()

    return Trainer(run=run, predict=predict)


# ---- scikit-learn ------------------------------------------------------------------------

def _sklearn(spec, weights, X, Y, lr, epochs, batch_size) -> Trainer:
    """MLPRegressor / MLPClassifier with plain SGD: one activation (relu) for every hidden
    layer, its own Glorot-uniform initialisation, float64/float32 as given."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    common = dict(hidden_layer_sizes=tuple(spec.sizes[1:-1]), activation="relu", solver="sgd",
                  batch_size=X.shape[0] if batch_size is None else batch_size,
                  learning_rate_init=lr, momentum=0.0, alpha=0.0, max_iter=epochs,
                  shuffle=False, tol=0.0, n_iter_no_change=10**9, random_state=0)
    if spec.loss == "cross_entropy":
        model, target = MLPClassifier(**common), Y.argmax(axis=1)
        predict = model.predict_proba
    else:
        model, target = MLPRegressor(**common), (Y.ravel() if Y.shape[1] == 1 else Y)
        predict = lambda Xp: model.predict(Xp).reshape(len(Xp), -1)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, target)

    return Trainer(run=run, predict=predict)


def _plain(factory: Callable) -> Callable:
    """A factory that trains spec.plain(): the network without BatchNorm and Dropout."""
    return lambda spec, *args: factory(spec.plain(), *args)


_FACTORIES = {"chainrule": _chainrule, "chainrule-1t": _chainrule_one_thread, "numpy": _numpy,
              "torch": _torch, "sklearn": _sklearn, "chainrule-plain": _plain(_chainrule),
              "torch-plain": _plain(_torch),
              BASELINE: functools.partial(_chainrule, module=BASELINE_MODULE)}


def loss_value(spec: NetSpec, Yhat: np.ndarray, Y: np.ndarray) -> float:
    """The network's loss in float64: ||Yhat - Y||^2 / (2m) or -sum(Y log Yhat) / m."""
    Yhat, Y = np.asarray(Yhat, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if spec.loss == "mse":
        return float(np.sum((Yhat - Y) ** 2) / (2 * len(Y)))
    return float(-np.sum(Y * np.log(np.maximum(Yhat, 1e-300))) / len(Y))
