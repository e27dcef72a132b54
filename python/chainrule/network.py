"""The Network facade: configuration and data on the Python side, every computation in the core."""

from __future__ import annotations

import dataclasses
import functools
import numbers
import threading
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from . import _core
from .activations import Activation, core_spec as activation_spec, resolve_activation
from .data import as_matrix, resolve_dtype
from .initializers import initializer_for
from .losses import Loss, core_spec as loss_spec, resolve_loss

__all__ = ["Network", "LayerGradients", "Gradients", "History"]

ArrayLike = Any


class LayerGradients(NamedTuple):
    """One layer's gradients (DESIGN.md section 1): ``dW`` (n_in, n_out), ``db`` (n_out,),
    and the per-sample delta ``dZ`` (m, n_out)."""

    dW: np.ndarray
    db: np.ndarray
    dZ: np.ndarray


class Gradients(List[LayerGradients]):
    """Per-layer gradients, index 0 = layer 1; ``loss`` is the batch loss they came from."""

    def __init__(self, layers: Sequence[LayerGradients], loss: float) -> None:
        super().__init__(layers)
        self.loss = loss


@dataclass
class History:
    """What ``fit`` recorded: ``loss[e]`` is the mean training loss of epoch e."""

    loss: List[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def __len__(self) -> int:
        return len(self.loss)


class _ParameterList(Sequence[np.ndarray]):
    """``net.weights`` / ``net.biases``: live NumPy views of the core's parameters.

    ``net.weights[l]`` is a writable view (l = 0 is layer 1); ``net.weights[l] = A`` copies A
    in after checking its shape and values."""

    def __init__(self, net: "Network", kind: str) -> None:
        self._net = net
        self._kind = kind

    def __len__(self) -> int:
        return self._net.n_layers

    def _index(self, l: int) -> int:
        if isinstance(l, bool) or not isinstance(l, numbers.Integral):
            raise TypeError(f"layer index must be an integer, got {type(l).__name__}")
        n = len(self)
        if not -n <= l < n:
            raise IndexError(f"layer index {l} out of range for a network with {n} layers")
        return int(l) % n

    def __getitem__(self, l: Any) -> Any:
        if isinstance(l, slice):
            return [self[i] for i in range(*l.indices(len(self)))]
        i = self._index(l)
        return self._net._core.weight(i) if self._kind == "weights" else self._net._core.bias(i)

    def __setitem__(self, l: int, value: ArrayLike) -> None:
        with self._net._lock:
            self._assign(l, value)

    def _assign(self, l: int, value: ArrayLike) -> None:
        target = self[l]
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self._kind}[{l}] must be a real numeric array, got dtype {arr.dtype}")
        what = f"layer {self._index(l) + 1}: {'weight' if self._kind == 'weights' else 'bias'}"
        if arr.shape != target.shape:
            raise ValueError(f"{what} must have shape {target.shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contains NaN or inf")
        np.copyto(target, arr, casting="unsafe")

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"<{len(self)} {self._kind}: " + ", ".join(str(a.shape) for a in self) + ">"


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _check_lr(lr: Any) -> float:
    """The type of lr; its value (finite, > 0) is checked by the core."""
    return _check_real(lr, "lr")


def _serialised(method: Callable) -> Callable:
    """Runs the method under the network's lock: the core's layer buffers serve one call at a
    time, and calls release the GIL, so threads sharing a network take turns."""

    @functools.wraps(method)
    def wrapper(self: "Network", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Network:
    """A fully-connected network ``layer_sizes[0] -> ... -> layer_sizes[-1]``.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n0, n1, ..., nL]``: input width, then each layer's width (all >= 1).
    activations : sequence, optional
        One activation per layer (L of them): names (``"relu"``), built-in objects
        (``LeakyReLU(alpha=0.2)``) or instances of your own :class:`Activation` subclass.
        Default: relu in hidden layers and, for the output, linear (MSE), softmax
        (cross-entropy) or sigmoid (binary cross-entropy).
    loss : str or Loss, default "mse"
        ``"mse"``, ``"cross_entropy"`` (needs a softmax output), ``"binary_cross_entropy"``
        (needs a sigmoid output), or an instance of your own :class:`Loss` subclass.
    dtype : "float64" or "float32"
    seed : int, optional
        Seeds the NumPy Generator that draws the initial weights and the shuffling order.
    init : "auto", "he", "xavier" or callable
        "auto": He normal ``sqrt(2/fan_in)`` for relu and leaky relu layers, Xavier normal
        ``sqrt(2/(fan_in+fan_out))`` for the others; biases zero. A callable is called as
        ``init(n_in, n_out, rng)`` and returns W of shape (n_in, n_out).
    """

    def __init__(self, layer_sizes: Sequence[int], activations: Optional[Sequence[Any]] = None,
                 loss: Union[str, Loss] = "mse", *, dtype: Any = "float64",
                 seed: Optional[int] = None, init: Union[str, Callable] = "auto") -> None:
        if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence) and \
                not isinstance(layer_sizes, np.ndarray):
            raise TypeError("layer_sizes must be a sequence of integers like [2, 10, 1], got "
                            f"{type(layer_sizes).__name__}")
        sizes = []
        for i, s in enumerate(layer_sizes):
            where = "the input size" if i == 0 else f"the size of layer {i}"
            if isinstance(s, bool) or not isinstance(s, numbers.Integral):
                raise TypeError(f"{where} must be an integer, got {s!r}")
            if s < 1:
                raise ValueError(f"{where} must be >= 1, got {s}")
            sizes.append(int(s))
        if len(sizes) < 2:
            raise ValueError("layer_sizes needs at least an input and an output size, got "
                             f"{list(layer_sizes)}")
        n_layers = len(sizes) - 1
        self.dtype = np.dtype(resolve_dtype(dtype))
        self.loss_function = resolve_loss(loss)
        if activations is None:
            out = self.loss_function.required_activation or "linear"
            activations = ["relu"] * (n_layers - 1) + [out]
        elif isinstance(activations, (str, Activation)) or not isinstance(activations, Sequence):
            raise TypeError(f"activations must be a list with one activation per layer "
                            f"({n_layers} here), got {activations!r}")
        if len(activations) != n_layers:
            raise ValueError(f"got {len(activations)} activations for {n_layers} layers "
                             f"(layer_sizes {sizes} has {n_layers} layers after the input)")
        self.activations = [resolve_activation(a, layer=l + 1) for l, a in enumerate(activations)]
        self._lock = threading.RLock()
        core_cls = _core.Network64 if self.dtype == np.float64 else _core.Network32
        self._core = core_cls(sizes, [activation_spec(a) for a in self.activations],
                              loss_spec(self.loss_function))
        self.layer_sizes = sizes
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._forward_X: Optional[np.ndarray] = None
        #: The History of the last fit (empty before any).
        self.history = History()
        self._initialize(init)

    # ---- parameters ----------------------------------------------------------------------

    def _initialize(self, init: Any) -> None:
        for l, act in enumerate(self.activations):
            n_in, n_out = self.layer_sizes[l], self.layer_sizes[l + 1]
            draw = initializer_for(init, act, l + 1)
            W = np.asarray(draw(n_in, n_out, self._rng))
            self.weights[l] = W
            self.biases[l] = np.zeros(n_out)

    @property
    def n_layers(self) -> int:
        """L, the number of layers after the input."""
        return len(self.layer_sizes) - 1

    @property
    def weights(self) -> _ParameterList:
        """Live views of W[1..L], each (n_in, n_out); ``weights[0]`` is layer 1."""
        return _ParameterList(self, "weights")

    @property
    def biases(self) -> _ParameterList:
        """Live views of b[1..L], each (n_out,)."""
        return _ParameterList(self, "biases")

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:]))

    # ---- data ----------------------------------------------------------------------------

    def _X(self, X: ArrayLike) -> np.ndarray:
        return as_matrix(X, self.dtype.type, "X")

    def _Y(self, Y: ArrayLike) -> np.ndarray:
        return as_matrix(Y, self.dtype.type, "Y", column_if_1d=True)

    # ---- computation ---------------------------------------------------------------------

    @_serialised
    def predict(self, X: ArrayLike) -> np.ndarray:
        """Yhat = H[L] for X (m, n0); returns (m, nL)."""
        X = self._X(X)
        self._forward_X = None
        return self._core.predict(X)

    @_serialised
    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """The loss of the network on (X, Y), e.g. ``||Yhat - Y||^2 / (2m)`` for MSE."""
        X, Y = self._X(X), self._Y(Y)
        self._forward_X = None
        return float(self._core.loss(X, Y))

    def _collect_gradients(self, loss: float) -> Gradients:
        c = self._core
        return Gradients([LayerGradients(c.grad_weight(l), c.grad_bias(l), c.delta(l))
                          for l in range(self.n_layers)], float(loss))

    @_serialised
    def gradients(self, X: ArrayLike, Y: ArrayLike) -> Gradients:
        """Backpropagation on (X, Y): per layer ``dW = H_prev.T @ dZ / m``,
        ``db = sum(dZ) / m`` and the delta ``dZ``; the weights are not changed."""
        X, Y = self._X(X), self._Y(Y)
        self._forward_X = None
        return self._collect_gradients(self._core.gradients(X, Y))

    @_serialised
    def forward(self, X: ArrayLike) -> np.ndarray:
        """Forward pass of X, kept for a following :meth:`backward`; returns Yhat (m, nL)."""
        X = self._X(X)
        out = self._core.forward(X)
        self._forward_X = X  # the core reads X again in backward(); keep it alive
        return out

    @_serialised
    def backward(self, Y: ArrayLike) -> Gradients:
        """Backward pass for the last :meth:`forward`; returns the gradients."""
        if self._forward_X is None:
            raise ValueError("backward: call forward(X) first")
        return self._collect_gradients(self._core.backward(self._Y(Y)))

    @_serialised
    def step(self, grads: Optional[Sequence[Any]] = None, *, lr: float) -> None:
        """``W -= lr * dW``, ``b -= lr * db`` for every layer.

        ``grads`` is what :meth:`gradients`/:meth:`backward` returned (possibly modified), or
        any sequence of one ``(dW, db)`` pair per layer; None uses the last backward pass."""
        lr = _check_lr(lr)
        if grads is None:
            self._core.step(lr)
            return
        if isinstance(grads, (str, bytes)) or not isinstance(grads, Sequence):
            raise TypeError("grads must be a sequence with one (dW, db) pair per layer")
        if len(grads) != self.n_layers:
            raise ValueError(f"step: expected gradients for {self.n_layers} layers, got {len(grads)}")
        dWs, dbs = [], []
        for l, g in enumerate(grads):
            dW, db = (g.dW, g.db) if isinstance(g, LayerGradients) else tuple(g)[:2]
            dWs.append(as_matrix(dW, self.dtype.type, f"layer {l + 1} dW"))
            dbs.append(np.ascontiguousarray(np.ravel(np.asarray(db, dtype=self.dtype)).reshape(1, -1)))
        self._core.step_with(dWs, dbs, lr)

    @_serialised
    def fit(self, X: ArrayLike, Y: ArrayLike, epochs: int = 100, lr: float = 0.01,
            batch_size: Optional[int] = None, shuffle: bool = False, verbose: int = 0) -> History:
        """Train with mini-batch SGD; the whole loop runs in C++ without the GIL.

        Parameters
        ----------
        epochs : int
            Passes over the data (>= 0).
        lr : float
            Learning rate (> 0).
        batch_size : int, optional
            Rows per step; None uses the whole data set (full-batch gradient descent).
        shuffle : bool
            Visit the rows in a new random order every epoch (from the network's seeded
            Generator).
        verbose : int
            0: silent; k > 0: print the loss every k epochs and at the end.

        Returns a :class:`History` with the mean loss of each epoch. Ctrl-C stops at a batch
        boundary with consistent weights and raises KeyboardInterrupt. A loss that becomes
        NaN/inf raises :class:`DivergenceError` and keeps the weights of the last finite epoch.
        """
        X, Y = self._X(X), self._Y(Y)
        epochs = _check_int(epochs, "epochs", 0)
        lr = _check_lr(lr)
        bs = 0 if batch_size is None else _check_int(batch_size, "batch_size", 1)
        verbose = _check_int(verbose, "verbose", 0)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        self._forward_X = None
        n = X.shape[0]
        permutation = (lambda epoch: self._rng.permutation(n)) if shuffle else None
        on_epoch_end = None
        if verbose:
            width = len(str(epochs))

            def on_epoch_end(epoch: int, loss: float) -> bool:
                if (epoch + 1) % verbose == 0 or epoch + 1 == epochs:
                    print(f"epoch {epoch + 1:>{width}}/{epochs}  loss {loss:.6g}", flush=True)
                return True
        losses = self._core.fit(X, Y, epochs, lr, bs, permutation, on_epoch_end)
        self.history = History(loss=[float(v) for v in losses])
        return self.history

    @_serialised
    def gradient_check(self, X: ArrayLike, Y: ArrayLike, eps: Optional[float] = None,
                       per_tensor: bool = False) -> Union[float, Dict[str, float]]:
        """Compare backpropagation with central finite differences of the loss.

        For each parameter tensor, ``||g_backprop - g_numeric|| / (||g_backprop|| +
        ||g_numeric||)``; returns the maximum (or, with ``per_tensor``, a dict
        ``{"W1": ..., "b1": ..., ...}``). ``eps`` defaults to ``eps_machine ** (1/3)``
        (about 6e-6 in float64). A correct gradient gives about 1e-8 or less in float64;
        float32 is too coarse for a tight check."""
        X, Y = self._X(X), self._Y(Y)
        if eps is None:
            eps = float(np.finfo(self.dtype).eps ** (1.0 / 3.0))
        eps = _check_real(eps, "eps")
        self._forward_X = None
        errors = self._core.gradient_check(X, Y, eps)
        if per_tensor:
            return {f"{'Wb'[i % 2]}{i // 2 + 1}": float(e) for i, e in enumerate(errors)}
        return float(max(errors))

    # ---- persistence ---------------------------------------------------------------------

    def _training_state(self) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
        """(JSON-able state, arrays) beyond the weights that a resumed training needs."""
        state = {"seed": self.seed, "rng": self._rng.bit_generator.state,
                 "history": dataclasses.asdict(self.history)}
        return state, {}

    def _restore_training_state(self, state: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
        seed = state.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"invalid seed {seed!r}")
        self.seed = seed
        if "rng" in state:
            rng = np.random.default_rng()
            try:
                rng.bit_generator.state = state["rng"]
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"invalid random generator state: {exc}") from None
            self._rng = rng
        history = state.get("history", {})
        if not isinstance(history, dict) or not all(
                isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
                for v in history.values()):
            raise ValueError("invalid training history")
        fields = {f.name for f in dataclasses.fields(History)}
        self.history = History(**{k: [float(x) for x in v] for k, v in history.items()
                                  if k in fields})

    def save(self, path: Any, metadata: Optional[Dict[str, Any]] = None) -> None:
        """Writes the network (architecture, weights, training state and history, plus any
        JSON ``metadata``) to ``path`` in chainrule's safe ``.npz`` format; see
        :mod:`chainrule.serialization`. Load it with :func:`chainrule.load`."""
        from . import serialization
        with self._lock:
            serialization.save(self, path, metadata)

    def __reduce__(self) -> Any:
        # pickle / copy.deepcopy: the model file's bytes, plus the activation and loss objects
        # themselves when one is a user class (pickle carries classes by reference)
        from . import serialization
        from .activations import _Builtin as BuiltinActivation
        from .losses import _Builtin as BuiltinLoss
        with self._lock:
            data = serialization.to_bytes(self)
        custom = any(not isinstance(a, BuiltinActivation) for a in self.activations) or \
            not isinstance(self.loss_function, BuiltinLoss)
        objects = {"activations": list(self.activations), "loss": self.loss_function} \
            if custom else None
        return (_unpickle_network, (data, objects))

    # ---- interop -------------------------------------------------------------------------

    @_serialised
    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` with this network's layers and weights (needs torch)."""
        from .interop import to_torch
        return to_torch(self)

    @_serialised
    def to_onnx(self, path: Any = None) -> Any:
        """Exports ``predict`` as an ONNX model (needs the ``onnx`` package); see
        :func:`chainrule.interop.to_onnx`."""
        from .interop import to_onnx
        return to_onnx(self, path)

    # ---- display -------------------------------------------------------------------------

    def summary(self, batch_size: Optional[int] = None) -> str:
        """The dimension table of DESIGN.md section 1: every layer's Z/H/dZ, W/dW and b/db
        shapes and parameter count; m is the number of rows in a batch."""
        m = "m" if batch_size is None else str(_check_int(batch_size, "batch_size", 1))
        rows = [("layer", "activation", "Z, H, dZ", "W, dW", "b, db", "params")]
        rows.append(("0 (input)", "", f"X: ({m}, {self.layer_sizes[0]})", "", "", ""))
        for l in range(self.n_layers):
            n_in, n_out = self.layer_sizes[l], self.layer_sizes[l + 1]
            rows.append((str(l + 1), repr(self.activations[l]), f"({m}, {n_out})",
                         f"({n_in}, {n_out})", f"({n_out},)", f"{n_in * n_out + n_out:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = [f"Network {' -> '.join(map(str, self.layer_sizes))}  loss {self.loss_function!r}"
                 f"  dtype {self.dtype.name}"]
        for i, r in enumerate(rows):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"total parameters: {self.n_params:,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        acts = ", ".join(repr(a) for a in self.activations)
        return (f"Network({self.layer_sizes}, activations=[{acts}], loss={self.loss_function!r}, "
                f"dtype='{self.dtype.name}')")


def _unpickle_network(data: bytes, objects: Optional[Dict[str, Any]]) -> Network:
    from . import serialization
    net, _ = serialization.read(data, "unpickling a Network", overrides=objects)
    return net
