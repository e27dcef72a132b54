"""The Network facade: configuration and data on the Python side, every computation in the core."""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import threading
from typing import (Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, TypeVar, Union, cast)

import numpy as np

from . import _core, _registry
from ._core import DivergenceError
from ._checks import check_int as _check_int, real_type
from .activations import (Activation, core_spec as activation_spec,
                          is_builtin as is_builtin_activation, resolve_activation)
from .callbacks import (EarlyStopping, EpochLines, History, ProgressBar, StopTraining,
                        as_callback)
from .data import as_matrix, check_feature_names, feature_names, resolve_dtype
from .distributed import Context, global_order
from .initializers import initializer_for
from .losses import Loss, core_spec as loss_spec, is_builtin as is_builtin_loss, resolve_loss
from .optimizers import Optimizer, core_spec as optimizer_spec, resolve_optimizer
from .schedules import LRSchedule, core_spec as schedule_spec, resolve_schedule

__all__ = ["Network", "LayerGradients", "Gradients", "NamedParameters", "parameter_layout"]

ArrayLike = Any


class LayerGradients(NamedTuple):
    """One layer's gradients (docs/design.md section 1): ``dW`` (n_in, n_out), ``db`` (n_out,),
    and the per-sample delta ``dZ`` (m, n_out)."""

    dW: np.ndarray
    db: np.ndarray
    dZ: np.ndarray


class Gradients(List[LayerGradients]):
    """Per-layer gradients, index 0 = layer 1; ``loss`` is the batch loss they came from."""

    def __init__(self, layers: Sequence[LayerGradients], loss: float) -> None:
        super().__init__(layers)
        self.loss = loss


def _copy_into(target: np.ndarray, value: ArrayLike, what: str, name: str) -> None:
    """Copies ``value`` into the live parameter view ``target`` after checking its type, shape
    and values (finite, and finite once converted to the network's dtype)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.shape != target.shape:
        raise ValueError(f"{what} must have shape {target.shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf")
    # convert first (a fresh copy, so a view of the target itself is read before it is
    # written) and check again: a value beyond float32's range becomes inf
    with np.errstate(over="ignore"):
        converted = arr.astype(target.dtype, copy=True)
    if not np.all(np.isfinite(converted)):
        raise ValueError(f"{what} has values too large for {target.dtype.name} "
                         f"(max |value| {float(np.max(np.abs(arr))):.6g})")
    np.copyto(target, converted)


def parameter_layout(layer_sizes: Sequence[int]) -> List[Tuple[str, Tuple[int, ...]]]:
    """The names and shapes of the parameters of a network of these layer sizes, in the order
    of ``net.parameters``, without building it: ``[("W1", (n0, n1)), ("b1", (n1,)), ...]`` (a
    model file is checked against it before any memory is allocated)."""
    layout: List[Tuple[str, Tuple[int, ...]]] = []
    for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        layout += [(f"W{l + 1}", (int(n_in), int(n_out))), (f"b{l + 1}", (int(n_out),))]
    return layout


class NamedParameters(Mapping[str, np.ndarray]):
    """``net.parameters``: every learnable tensor by name, in order (``W1``, ``b1``, ``W2``, ...:
    the parameter's name in its layer, then the layer's number), as live NumPy views of the
    core's memory. ``net.parameters["W1"] = A`` copies A in after checking its shape and values.
    Everything that walks a model (save and load, the optimizer state, early-stopping
    snapshots, the data-parallel broadcast) goes through this list."""

    def __init__(self, net: "Network") -> None:
        self._net = net
        self._names: List[str] = list(net._core.parameter_names())
        self._index = {name: k for k, name in enumerate(self._names)}

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._index:
            raise KeyError(f"no parameter {name!r}; the network has {', '.join(self._names)}")
        return self._net._core.parameter(self._index[name])

    def __setitem__(self, name: str, value: ArrayLike) -> None:
        target = self[name]
        with self._net._lock:
            _copy_into(target, value, f"parameter {name}", f"parameters[{name!r}]")

    def __repr__(self) -> str:
        return "<parameters: " + ", ".join(f"{k} {self[k].shape}" for k in self._names) + ">"


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
        what = f"layer {self._index(l) + 1}: {'weight' if self._kind == 'weights' else 'bias'}"
        _copy_into(self[l], value, what, f"{self._kind}[{l}]")

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"<{len(self)} {self._kind}: " + ", ".join(str(a.shape) for a in self) + ">"


_MAX_INDEX = 2 ** 62  # counts beyond this do not fit the core's 64-bit indices


def _is_scalar(a: Any) -> bool:
    try:
        return np.ndim(a) == 0
    except ValueError:  # ragged nesting: let the conversion report it
        return False


def _check_real(value: Any, name: str) -> float:
    return real_type(value, name)


def _check_lr(lr: Any) -> float:
    """The type of lr; its value (finite, > 0) is checked by the core."""
    return _check_real(lr, "lr")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _serialised(method: _Method) -> _Method:
    """Runs the method under the network's lock: the core's layer buffers serve one call at a
    time, and calls release the GIL, so threads sharing a network take turns. The signature
    is kept for type checkers."""

    @functools.wraps(method)
    def wrapper(self: "Network", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


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
        A built-in loss by name (``cr.loss_names()``: ``"mse"``, ``"cross_entropy"`` (needs a
        softmax output), ``"binary_cross_entropy"`` (needs a sigmoid output), ...) or as an
        object with its parameters, or an instance of your own :class:`Loss` subclass.
    dtype : "float64" or "float32"
    seed : int, optional
        Seeds the NumPy Generator that draws the initial weights and the shuffling order.
    init : "auto", "he", "xavier" or callable
        "auto": He normal ``sqrt(2/fan_in)`` for relu and leaky relu layers, Xavier normal
        ``sqrt(2/(fan_in+fan_out))`` for the others; biases zero. A callable is called as
        ``init(n_in, n_out, rng)`` and returns W of shape (n_in, n_out).
    optimizer : str or Optimizer, default "sgd"
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` (torch's defaults) or an object such
        as ``SGD(lr=0.1, momentum=0.9)`` or ``Adam(lr=1e-3)``. Its ``lr`` is the learning rate
        of :meth:`fit` and :meth:`step` unless they are given one.
    """

    def __init__(self, layer_sizes: Sequence[int], activations: Optional[Sequence[Any]] = None,
                 loss: Union[str, Loss] = "mse", *, dtype: Any = "float64",
                 seed: Optional[int] = None, init: Union[str, Callable] = "auto",
                 optimizer: Union[str, Optimizer] = "sgd") -> None:
        if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence) and \
                not isinstance(layer_sizes, np.ndarray):
            raise TypeError("layer_sizes must be a sequence of integers like [2, 10, 1], got "
                            f"{type(layer_sizes).__name__}")
        # types here; values (sizes >= 1, at least two, one activation per layer) in the core
        sizes = []
        for i, s in enumerate(layer_sizes):
            where = "the input size" if i == 0 else f"the size of layer {i}"
            if isinstance(s, bool) or not isinstance(s, numbers.Integral):
                raise TypeError(f"{where} must be an integer, got {s!r}")
            if s < -_MAX_INDEX:  # beyond the core's 64-bit indices: no core to ask
                raise ValueError(f"{where} must be >= 1, got {s}")
            sizes.append(int(s))
        n_layers = max(len(sizes) - 1, 1)
        self.dtype = np.dtype(resolve_dtype(dtype))
        self.loss_function = resolve_loss(loss)
        if activations is None:
            out = self.loss_function.required_activation or "linear"
            activations = ["relu"] * (n_layers - 1) + [out]
        elif isinstance(activations, (str, Activation)) or not isinstance(activations, Sequence):
            raise TypeError(f"activations must be a list with one activation per layer "
                            f"({n_layers} here), got {activations!r}")
        self.activations = [resolve_activation(a, layer=l + 1) for l, a in enumerate(activations)]
        self._optimizer = resolve_optimizer(optimizer)
        self._lock = threading.RLock()
        #: The communicator of the last ``fit(comm=...)``: ``save`` then writes on rank 0 only.
        self.comm: Any = None
        core_cls = _core.Network64 if self.dtype == np.float64 else _core.Network32
        if sizes and max(sizes) > _MAX_INDEX:
            raise ValueError(f"layer sizes must be <= 2**62, got {sizes}")
        try:
            self._core = core_cls(sizes, [activation_spec(a) for a in self.activations],
                                  loss_spec(self.loss_function), optimizer_spec(self._optimizer))
        except MemoryError:
            n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
            raise MemoryError(f"layer sizes {sizes}: cannot allocate {n_params:.4g} parameters "
                              f"({n_params * self.dtype.itemsize * 2 / 2**30:.4g} GiB with their "
                              "gradients)") from None
        self.layer_sizes = sizes
        self.seed = seed
        try:
            self._rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None or a non-negative integer, got {seed!r} ({exc})") \
                from None
        self._forward_X: Optional[np.ndarray] = None
        #: The History of the last fit (empty before any).
        self.history = History()
        #: The column names of the DataFrame the network was first fitted on (an array of str,
        #: as in scikit-learn), or None. Later DataFrames must have exactly these columns in this
        #: order (plain arrays are accepted as they are); set it to None to forget them.
        self.feature_names_in_: Optional[np.ndarray] = None
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
    def parameters(self) -> NamedParameters:
        """Every learnable tensor by name (``W1``, ``b1``, ``W2``, ...), as live views; see
        :class:`NamedParameters`."""
        return NamedParameters(self)

    @property
    def weights(self) -> _ParameterList:
        """Live views of W[1..L], each (n_in, n_out); ``weights[0]`` is layer 1."""
        return _ParameterList(self, "weights")

    @property
    def biases(self) -> _ParameterList:
        """Live views of b[1..L], each (n_out,)."""
        return _ParameterList(self, "biases")

    @property
    def optimizer(self) -> Optimizer:
        """The optimizer's configuration. Assigning a name or an optimizer object installs it
        with fresh state; the state otherwise carries over from one fit or step to the next."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, spec: Union[str, Optimizer]) -> None:
        with self._lock:
            opt = resolve_optimizer(spec)
            self._core.set_optimizer(optimizer_spec(opt))
            self._optimizer = opt

    def get_optimizer_state(self) -> Dict[str, Any]:
        """A copy of the optimizer's state: ``{"optimizer": name, "step": steps taken,
        "buffers": {name: [one array per parameter, in the order of net.parameters (W1, b1,
        W2, b2, ...), shaped like it]}}`` (e.g. Adam's ``exp_avg`` and ``exp_avg_sq``; plain SGD
        has none)."""
        with self._lock:
            step, buffers = self._core.get_optimizer_state()
            return {"optimizer": self._optimizer.name, "step": int(step),
                    "buffers": {name: list(arrays) for name, arrays in buffers}}

    def set_optimizer_state(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`get_optimizer_state` returned (for an optimizer of the same
        kind on a network of the same shape); checked first, so on error nothing changes.
        Each buffer is a list in the order of ``net.parameters`` or a dict by parameter name
        (``{"W1": ..., "b1": ..., ...}``)."""
        if not isinstance(state, dict) or not {"step", "buffers"} <= set(state):
            raise TypeError("optimizer state must be a dict with 'step' and 'buffers', as "
                            "get_optimizer_state() returns")
        name = state.get("optimizer", self._optimizer.name)
        if name != self._optimizer.name:
            raise ValueError(f"set_optimizer_state: the state is of optimizer {name!r}, but the "
                             f"network uses {self._optimizer.name!r}")
        step = _check_int(state["step"], "set_optimizer_state: step", 0)
        buffers = state["buffers"]
        if not isinstance(buffers, dict):
            raise TypeError("set_optimizer_state: 'buffers' must be a dict name -> list of arrays")
        converted = []
        names = list(self._core.parameter_names())
        for key, arrays in buffers.items():
            if isinstance(arrays, Mapping):  # by parameter name
                unknown = sorted(set(arrays) - set(names))
                missing = [n for n in names if n not in arrays]
                if unknown or missing:
                    raise ValueError(f"set_optimizer_state: buffer {key!r} must have one array per "
                                     f"parameter ({', '.join(names)})"
                                     + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
                                     + (f"; missing: {', '.join(missing)}" if missing else ""))
                arrays = [arrays[n] for n in names]
            if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
                raise TypeError(f"set_optimizer_state: buffer {key!r} must be a list with one array "
                                "per parameter tensor (W1, b1, W2, ...)")
            converted.append((str(key), [np.ascontiguousarray(np.asarray(a), dtype=self.dtype)
                                         for a in arrays]))
        with self._lock:
            self._core.set_optimizer_state(step, converted)

    @property
    def n_params(self) -> int:
        """The number of learnable values, over every parameter."""
        return sum(int(p.size) for p in self.parameters.values())

    # ---- data ----------------------------------------------------------------------------

    def _X(self, X: ArrayLike, what: str) -> np.ndarray:
        check_feature_names(self.feature_names_in_, X, what)
        return self._unaliased(as_matrix(X, self.dtype.type, "X"))

    def _Y(self, Y: ArrayLike) -> np.ndarray:
        return self._unaliased(as_matrix(Y, self.dtype.type, "Y", column_if_1d=True))

    def _unaliased(self, a: np.ndarray) -> np.ndarray:
        """``a``, or a copy of it if it may share memory with a parameter (data that is a view
        of the network's own weights would change under fit, step or gradient_check)."""
        return a.copy() if self._core.aliases_parameters(a) else a

    # ---- computation ---------------------------------------------------------------------

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Yhat = H[L] for X (m, n0); returns (m, nL)."""
        # No copy of X when it aliases the weights: prediction only reads both. A ready array
        # skips the call to as_matrix (the same test as its first line) and the lock is taken
        # inline (a one-sample predict is ~10 us, and the wrapper layers cost ~0.3 of it).
        if not (type(X) is np.ndarray and X.dtype is self.dtype and X.ndim == 2 and X.size
                and X.flags.c_contiguous):
            check_feature_names(self.feature_names_in_, X, "predict")
            X = as_matrix(X, self.dtype.type, "X")
        with self._lock:  # as @_serialised
            self._forward_X = None
            return self._core.predict(X)

    @_serialised
    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """The loss of the network on (X, Y), e.g. ``||Yhat - Y||^2 / (2m)`` for MSE."""
        X, Y = self._X(X, "loss"), self._Y(Y)
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
        X, Y = self._X(X, "gradients"), self._Y(Y)
        self._forward_X = None
        return self._collect_gradients(self._core.gradients(X, Y))

    @_serialised
    def forward(self, X: ArrayLike) -> np.ndarray:
        """Forward pass of X, kept for a following :meth:`backward`; returns Yhat (m, nL)."""
        X = self._X(X, "forward")
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
    def step(self, grads: Optional[Sequence[Any]] = None, *, lr: Optional[float] = None) -> None:
        """One optimizer step for every layer (plain SGD: ``W -= lr * dW``, ``b -= lr * db``).

        ``grads`` is what :meth:`gradients`/:meth:`backward` returned (possibly modified), or
        any sequence of one ``(dW, db)`` pair per layer; None uses the last backward pass.
        ``lr`` defaults to the optimizer's."""
        lr = _check_lr(self._optimizer.lr if lr is None else lr)
        if grads is None:
            self._core.step(lr)
            return
        if isinstance(grads, (str, bytes)) or not isinstance(grads, Sequence):
            raise TypeError("grads must be a sequence with one (dW, db) pair per layer")
        dWs, dbs = [], []
        for l, g in enumerate(grads):
            if isinstance(g, LayerGradients):
                dW, db = g.dW, g.db
            else:
                try:
                    dW, db = tuple(g)[:2]
                except (TypeError, ValueError):
                    raise TypeError(f"step: grads[{l}] must be a (dW, db) pair, got {g!r}") from None
            # copies when they may be views of the parameters that step() is about to change
            dWs.append(self._unaliased(as_matrix(dW, self.dtype.type, f"layer {l + 1} dW")))
            db = as_matrix(np.reshape(db, -1) if _is_scalar(db) else db, self.dtype.type,
                           f"layer {l + 1} db", column_if_1d=True)
            dbs.append(self._unaliased(db.reshape(1, -1)))
        self._core.step_with(dWs, dbs, lr)

    @_serialised
    def fit(self, X: ArrayLike, Y: ArrayLike, epochs: int = 100, lr: Optional[float] = None,
            batch_size: Optional[int] = None, shuffle: bool = False, verbose: int = 0, *,
            optimizer: Union[None, str, Optimizer] = None,
            lr_schedule: Union[None, str, LRSchedule] = None,
            sample_weight: Optional[ArrayLike] = None,
            validation_data: Optional[Sequence[ArrayLike]] = None,
            validation_split: float = 0.0, metrics: Optional[Sequence[str]] = None,
            early_stopping: Optional[EarlyStopping] = None,
            callbacks: Optional[Sequence[Any]] = None, comm: Any = None) -> History:
        """Train with mini-batches; the epoch loop runs in C++ without the GIL.

        Parameters
        ----------
        epochs : int
            Passes over the data (>= 0).
        lr : float, optional
            Base learning rate (> 0) for this call; None uses the optimizer's ``lr``.
        batch_size : int, optional
            Rows per step; None uses the whole data set (full-batch gradient descent).
        shuffle : bool
            Visit the rows in a new random order every epoch (from the network's seeded
            Generator).
        verbose : 0, 1, 2 or bool
            0 (False): silent; 1 (True): a progress bar (tqdm) with the epoch, losses and ETA,
            advancing within long epochs too; 2: one line per epoch.
        optimizer : str or Optimizer, optional
            Install this optimizer (fresh state) before training; None continues with the
            network's optimizer and its state.
        lr_schedule : str or LRSchedule, optional
            The learning rate per epoch: ``"constant"``, ``"cosine"``, ``"reduce_on_plateau"``
            or an object (``StepLR(step_size=10, gamma=0.5)``, ``ExponentialLR(0.95)``, ...),
            starting from the base learning rate at epoch 0 of this call.
        sample_weight : array (n,), optional
            Per-row weights >= 0: each batch's loss is ``sum(w_i l_i) / sum(w_i)`` and its
            gradients those of that weighted mean.
        validation_data : (X_val, Y_val) or (X_val, Y_val, sample_weight_val), optional
            Evaluated after every epoch: ``val_loss`` and ``val_<metric>``.
        validation_split : float
            Instead of validation_data: hold out the last ``validation_split`` fraction of
            the rows (before any shuffling), as Keras does.
        metrics : list of str, optional
            ``"accuracy"`` (argmax, or threshold 0.5 for one output) and/or ``"r2"``. Training
            metrics accumulate over the epoch's batches, each before its update.
        early_stopping : EarlyStopping, optional
            Stop when its monitored value stops improving; restores the best weights.
        callbacks : list, optional
            Functions ``f(epoch, logs, network)`` or objects with ``on_epoch_end(epoch, logs,
            network)``, called after every epoch (epoch from 0). Returning False or raising
            :class:`StopTraining` ends training after that epoch; any other exception reaches
            the caller with the weights of the epoch just finished.
        comm : mpi4py communicator, optional
            Data-parallel training (:mod:`chainrule.distributed`): X, Y (and sample_weight,
            validation_data) are this rank's shard of the global data, ``batch_size`` counts
            global rows, and every rank ends with the same weights, those of single-process
            training on the global data. Call it on every rank with the same settings.

        Returns a :class:`History` (``loss``, ``lr``, ``val_loss``, metrics per epoch). Ctrl-C
        stops at a batch boundary with consistent weights and raises KeyboardInterrupt. A loss
        that becomes NaN/inf raises :class:`DivergenceError` and keeps the weights of the last
        finite epoch. Bad arguments raise before anything changes.
        """
        ctx = None
        if isinstance(verbose, (bool, np.bool_)):
            verbose = int(verbose)  # as Keras: True is the progress bar, False silence
        if comm is not None:
            ctx = Context(comm)
            if ctx.rank != 0 and verbose in (1, 2):
                verbose = 0  # only rank 0 shows progress
        # with a communicator, a bad argument or shard on any rank raises on every rank
        with (ctx.agreed("fit") if ctx is not None else contextlib.nullcontext()):
            names_in = feature_names(X)
            X, Y = self._X(X, "fit"), self._Y(Y)
            epochs = _check_int(epochs, "epochs", 0)
            new_optimizer = None if optimizer is None else resolve_optimizer(optimizer)
            base = new_optimizer or self._optimizer
            lr = _check_lr(base.lr if lr is None else lr)
            bs = 0 if batch_size is None else _check_int(batch_size, "batch_size", 1)
            if not isinstance(verbose, numbers.Integral) or verbose not in (0, 1, 2):
                raise ValueError("verbose must be 0 (silent), 1 (progress bar) or 2 (one line per "
                                 f"epoch), or False/True for 0/1, got {verbose!r}")
            if not isinstance(shuffle, (bool, np.bool_)):
                raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
            schedule = resolve_schedule(lr_schedule)
            w = None if sample_weight is None else self._weights(sample_weight, X.shape[0], "sample_weight")
            X, Y, w, X_val, Y_val, w_val = self._validation(
                X, Y, w, validation_data, validation_split,
                names_in if self.feature_names_in_ is None else self.feature_names_in_)
            names = self._metric_names(metrics)
            cbs = self._callbacks(callbacks, early_stopping, verbose, epochs)
            recorded = ["loss"] + names + (["val_loss"] + [f"val_{m}" for m in names]
                                           if X_val is not None else []) + ["lr"]
            for cb in cbs:
                if isinstance(cb, EarlyStopping):
                    cb.check_monitor(recorded)
            schedule_args = None if schedule is None else schedule_spec(schedule)
            core_args = (w, X_val, Y_val, w_val, schedule_args, names)
            if new_optimizer is not None or cbs or ctx is not None:
                # before installing an optimizer, starting a bar or any collective step
                self._core.check_fit(X, Y, epochs, lr, bs, *core_args)
        dist_args: Dict[str, Any] = {}
        n = X.shape[0]
        if ctx is not None:
            ctx.check_same("fit", [
                ("layer sizes", list(self.layer_sizes)), ("dtype", str(self.dtype)),
                ("epochs", epochs), ("lr", lr), ("batch_size", bs), ("shuffle", bool(shuffle)),
                ("optimizer", (base.name, base.get_params())),
                ("lr_schedule", schedule_args),
                ("metrics", names), ("validation (present or not)", X_val is not None),
                ("early_stopping (present or not)", early_stopping is not None)])
            sizes = ctx.comm.allgather(n)
            n = int(sum(sizes))
            dist_args = {"global_rows": n, "row_offset": int(sum(sizes[:ctx.rank]))}
        if new_optimizer is not None:  # installed only once the whole call is known to be valid
            self._core.set_optimizer(optimizer_spec(new_optimizer))
            self._optimizer = new_optimizer
        if self.feature_names_in_ is None and names_in is not None:
            self.feature_names_in_ = np.array(names_in, dtype=object)
        self._forward_X = None
        if ctx is not None:
            ctx.broadcast_model(self)  # rank 0's weights, optimizer state and generator
            self.comm = comm
        if shuffle:
            permutation: Optional[Callable] = lambda epoch: self._rng.permutation(n)
        elif ctx is not None:
            order = global_order(sizes)
            permutation = lambda epoch: order
        else:
            permutation = None
        on_epoch_end = self._epoch_hook(cbs, names, X_val is not None) if cbs else None
        detach: Callable[[], None] = lambda: None
        if ctx is not None:  # the gradient all-reduce (shared memory on one node)
            dist_args["allreduce"], dist_args["reduce_buffer"], detach = ctx.attach(self)
            dist_args["sum_across"] = ctx.sum_across
        bars = [cb for cb in cbs if isinstance(cb, ProgressBar)]
        if bars:  # called by the core between batches, at most every 250 ms
            dist_args["on_progress"] = bars[0].on_progress
        try:
            for cb in cbs:
                if hasattr(cb, "on_train_begin"):
                    cb.on_train_begin(self)
            try:
                loss, val_loss, lrs, train_m, val_m = self._core.fit(
                    X, Y, epochs, lr, bs, permutation, on_epoch_end, *core_args, **dist_args)
            finally:
                for cb in cbs:
                    if isinstance(cb, ProgressBar):
                        cb.on_train_end(self)
            for cb in cbs:
                if hasattr(cb, "on_train_end") and not isinstance(cb, ProgressBar):
                    cb.on_train_end(self)
        except DivergenceError:
            raise  # the loss is global: every rank raises it together
        except BaseException as exc:
            if ctx is not None and ctx.size > 1:
                ctx.abort(exc)  # only this rank saw it: end every rank rather than hang them
            raise
        finally:
            detach()
        series: Dict[str, List[float]] = {"loss": list(loss)}
        for k, name in enumerate(names):
            series[name] = list(train_m[k])
        if X_val is not None:
            series["val_loss"] = list(val_loss)
            for k, name in enumerate(names):
                series[f"val_{name}"] = list(val_m[k])
        series["lr"] = list(lrs)
        self.history = History(series)
        return self.history

    def _weights(self, w: ArrayLike, n: int, what: str) -> np.ndarray:
        """Sample weights as a contiguous (n,) array of the network's dtype (values are
        checked by the core)."""
        if hasattr(w, "to_numpy") and not isinstance(w, np.ndarray):
            w = w.to_numpy()
        arr = np.asarray(w)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"fit: {what} must be a real numeric array, got dtype {arr.dtype}")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"fit: {what} must have shape ({n},), one weight per row, got "
                             f"shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=self.dtype)

    def _validation(self, X: np.ndarray, Y: np.ndarray, w: Optional[np.ndarray],
                    validation_data: Any, validation_split: Any,
                    names: Optional[Sequence[str]]) -> tuple:
        """(X, Y, w) for training and (X_val, Y_val, w_val) for validation (None when absent)."""
        split = _check_real(validation_split, "validation_split")
        if not (0.0 <= split < 1.0):
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if validation_data is not None:
            if split > 0:
                raise ValueError("pass either validation_data or validation_split, not both")
            if isinstance(validation_data, (str, bytes, np.ndarray)) or \
                    not isinstance(validation_data, Sequence) or len(validation_data) not in (2, 3):
                raise TypeError("validation_data must be a tuple (X_val, Y_val) or "
                                "(X_val, Y_val, sample_weight_val)")
            check_feature_names(names, validation_data[0], "fit: validation_data")
            X_val = as_matrix(validation_data[0], self.dtype.type, "validation_data X")
            Y_val = as_matrix(validation_data[1], self.dtype.type, "validation_data Y",
                              column_if_1d=True)
            w_val = None
            if len(validation_data) == 3 and validation_data[2] is not None:
                w_val = self._weights(validation_data[2], X_val.shape[0],
                                      "validation_data sample_weight")
            return X, Y, w, X_val, Y_val, w_val
        if split == 0:
            return X, Y, w, None, None, None
        n = X.shape[0]
        n_train = int(math.floor(n * (1.0 - split)))
        if n_train == n:
            raise ValueError(f"validation_split={validation_split} of {n} rows leaves no "
                             "validation rows")
        if n_train == 0:
            raise ValueError(f"validation_split={validation_split} of {n} rows leaves no "
                             "training rows")
        w_train = None if w is None else w[:n_train]
        w_val = None if w is None else w[n_train:]
        return X[:n_train], Y[:n_train], w_train, X[n_train:], Y[n_train:], w_val

    @staticmethod
    def _metric_names(metrics: Any) -> List[str]:
        if metrics is None:
            return []
        if isinstance(metrics, str) or not isinstance(metrics, Sequence):
            raise TypeError(f"metrics must be a list of names like ['accuracy'], got {metrics!r}")
        names = []
        for m in metrics:
            if not isinstance(m, str):
                raise TypeError("metrics must be names like "
                                f"{' or '.join(map(repr, _registry.METRICS))}, got {m!r}")
            _registry.METRICS.lookup(m)  # the core's ValueError lists the valid names
            if m in names:
                raise ValueError(f"metric {m!r} is listed twice")
            names.append(m)
        return names

    @staticmethod
    def _callbacks(callbacks: Any, early_stopping: Any, verbose: int, epochs: int) -> List[Any]:
        """Progress first, then the user's callbacks in order, then early stopping."""
        cbs: List[Any] = []
        if verbose == 1:
            cbs.append(ProgressBar(epochs))
        elif verbose == 2:
            cbs.append(EpochLines(epochs))
        if callbacks is not None:
            if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
                raise TypeError("callbacks must be a list of functions f(epoch, logs, network) "
                                f"or objects with on_epoch_end, got {type(callbacks).__name__}")
            cbs.extend(as_callback(cb, i) for i, cb in enumerate(callbacks))
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                raise TypeError("early_stopping must be a chainrule.EarlyStopping, got "
                                f"{type(early_stopping).__name__}")
            cbs.append(early_stopping)
        return cbs

    def _epoch_hook(self, cbs: List[Any], names: List[str], validation: bool) -> Callable:
        """The one Python function the core calls after each epoch."""
        val_names = [f"val_{m}" for m in names]

        def on_epoch_end(epoch: int, loss: float, val_loss: float, lr: float,
                         metrics: tuple, val_metrics: tuple) -> bool:
            logs: Dict[str, float] = {"loss": loss}
            logs.update(zip(names, metrics))
            if validation:
                logs["val_loss"] = val_loss
                logs.update(zip(val_names, val_metrics))
            logs["lr"] = lr
            go_on = True
            for cb in cbs:
                try:
                    if cb.on_epoch_end(epoch, dict(logs), self) is False:
                        go_on = False
                except StopTraining:
                    go_on = False
            return go_on

        return on_epoch_end

    @_serialised
    def gradient_check(self, X: ArrayLike, Y: ArrayLike, eps: Optional[float] = None,
                       per_tensor: bool = False) -> Union[float, Dict[str, float]]:
        """Compare backpropagation with central finite differences of the loss.

        For each parameter tensor, ``||g_backprop - g_numeric|| / (||g_backprop|| +
        ||g_numeric||)``; returns the maximum (or, with ``per_tensor``, a dict
        ``{"W1": ..., "b1": ..., ...}``). ``eps`` defaults to ``eps_machine ** (1/3)``
        (about 6e-6 in float64). A correct gradient gives about 1e-8 or less in float64;
        float32 is too coarse for a tight check."""
        X, Y = self._X(X, "gradient_check"), self._Y(Y)
        if eps is None:
            eps = float(np.finfo(self.dtype).eps ** (1.0 / 3.0))
        eps = _check_real(eps, "eps")
        self._forward_X = None
        errors = self._core.gradient_check(X, Y, eps)
        if per_tensor:
            return {name: float(e) for name, e in zip(self._core.parameter_names(), errors)}
        return float(max(errors))

    # ---- training state ------------------------------------------------------------------
    # What a resumed or a data-parallel training needs beyond the weights. The model file
    # (chainrule.serialization) stores get_training_state() as it is, and data-parallel fit
    # (chainrule.distributed) broadcasts the generator and the optimizer state and places the
    # gradient buffer: both go through these methods, never the network's private attributes.

    def get_rng_state(self) -> Dict[str, Any]:
        """The state of the generator that draws the shuffling order of ``fit(shuffle=True)``
        (seeded by ``seed``): NumPy's ``bit_generator.state``, a JSON-able dict."""
        with self._lock:
            return cast(Dict[str, Any], self._rng.bit_generator.state)

    def set_rng_state(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned: later shuffles repeat those of the
        network it came from. ValueError for an invalid state, and then nothing changes."""
        rng = self._generator_from(state)
        with self._lock:
            self._rng = rng

    @staticmethod
    def _generator_from(state: Any) -> np.random.Generator:
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"invalid random generator state: {exc}") from None
        return rng

    def get_training_state(self) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
        """What a resumed training needs beyond the weights, as ``(state, arrays)``.

        ``state`` is JSON-able::

            {"seed": the constructor's seed,
             "rng": the shuffling generator's state (get_rng_state()),
             "history": {"loss": [...], ...}, the History of the last fit,
             "optimizer": {"name": "adam", "params": its get_params() (tuples as lists),
                           "step": steps taken, "buffers": the buffer names, sorted}}

        ``arrays`` holds the optimizer's buffers (get_optimizer_state()), one contiguous
        array per buffer and parameter, named ``"opt.<buffer>.<parameter>"``
        (``"opt.exp_avg.W1"`` is Adam's first moment of W1). A model file holds both as they
        are: its header's ``"state"`` and its ``state.*`` arrays. :meth:`set_training_state`
        restores them (and reads the older layout ``"opt.<buffer>.<slot>"``, slots 0, 1, 2, ...
        in parameter order)."""
        with self._lock:
            opt = self.get_optimizer_state()
            params = {k: list(v) if isinstance(v, tuple) else v
                      for k, v in self._optimizer.get_params().items()}
            state = {"seed": self.seed, "rng": self.get_rng_state(),
                     "history": {k: list(v) for k, v in self.history.history.items()},
                     "optimizer": {"name": self._optimizer.name, "params": params,
                                   "step": opt["step"], "buffers": sorted(opt["buffers"])}}
        names = list(self._core.parameter_names())
        arrays = {f"opt.{name}.{names[slot]}": np.ascontiguousarray(a)
                  for name, per_slot in opt["buffers"].items() for slot, a in enumerate(per_slot)}
        return state, arrays

    def set_training_state(self, state: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_training_state` returned (or a model file holds), so that
        training resumes bit for bit: the seed, the shuffling generator, the history, and the
        optimizer, installed from its name and parameters and then given its step count and
        buffers (for a network of the same shape).

        Entries may be absent, as in files written before they existed: without ``"seed"``
        the seed is None, without ``"rng"`` the generator is kept, without ``"history"`` the
        history is empty, and without ``"optimizer"`` the optimizer and its state are kept.
        Everything is checked first: on an error (ValueError naming the entry; TypeError when
        ``state`` is not a dict) the network is unchanged."""
        if not isinstance(state, dict) or not isinstance(arrays, Mapping):
            raise TypeError("set_training_state takes the (state dict, arrays dict) that "
                            "get_training_state() returns")
        seed = state.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"invalid seed {seed!r}")
        rng = self._generator_from(state["rng"]) if "rng" in state else None
        history = state.get("history", {})
        if not isinstance(history, dict) or not all(
                isinstance(k, str) and isinstance(v, list) and
                all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                for k, v in history.items()):
            raise ValueError("invalid training history")
        opt = state.get("optimizer")
        optimizer, optimizer_state = None, None
        if opt is not None:
            optimizer, optimizer_state = self._optimizer_from(opt, arrays)
        with self._lock:
            if optimizer is not None:
                previous = (self._optimizer, self.get_optimizer_state())
                self.optimizer = optimizer
                try:
                    self.set_optimizer_state(cast(Dict[str, Any], optimizer_state))
                except BaseException:  # e.g. a buffer of the wrong shape: put the old one back
                    self.optimizer = previous[0]
                    self.set_optimizer_state(previous[1])
                    raise
            self.seed = seed
            if rng is not None:
                self._rng = rng
            self.history = History({k: [float(x) for x in v] for k, v in history.items()})

    def _optimizer_from(self, opt: Any, arrays: Mapping[str, np.ndarray]
                        ) -> Tuple[Optimizer, Dict[str, Any]]:
        """The optimizer and the state (for set_optimizer_state) of a training state's
        ``"optimizer"`` entry and its buffer arrays."""
        if not isinstance(opt, dict) or not isinstance(opt.get("name"), str) or \
                not isinstance(opt.get("params", {}), dict):
            raise ValueError(f"invalid optimizer entry {opt!r:.200}")
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in opt.get("params", {}).items()}
        try:
            optimizer = type(resolve_optimizer(opt["name"]))(**params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid optimizer {opt['name']!r} {params}: {exc}") from None
        names = opt.get("buffers", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("invalid optimizer buffer list")
        buffers = {}
        for name in names:
            per_slot = []
            for slot, param in enumerate(self._core.parameter_names()):
                # named by parameter; files written before that: by slot number
                a = arrays.get(f"opt.{name}.{param}", arrays.get(f"opt.{name}.{slot}"))
                if a is None:
                    raise ValueError(f"the optimizer buffer {name!r} of {param} is missing")
                per_slot.append(a)
            buffers[name] = per_slot
        return optimizer, {"optimizer": opt["name"], "step": opt.get("step", 0),
                           "buffers": buffers}

    # ---- data-parallel hooks -------------------------------------------------------------

    def reduction_buffer_size(self) -> int:
        """How many values one data-parallel step sums over the ranks: the gradients (layer
        after layer, ``dW`` row-major then ``db``: ``n_params`` values) followed by the step's
        weighted loss sum and weight. :mod:`chainrule.distributed` allocates a shared-memory
        window of this size and passes it to the core's reducer, which keeps the gradients
        there for the fit (the values are not carried over)."""
        return int(self._core.reduction_buffer_size())

    # ---- conveniences over the modules above: model files, PyTorch, ONNX ------------------
    # net.save(path), pickle.dumps(net), net.to_torch() and net.to_onnx() are thin delegates to
    # chainrule.serialization and chainrule.interop. Those modules sit *above* this one: they
    # import Network to build networks (load, from_torch), so this module cannot import them
    # when it loads. Each delegate imports its module inside its body, when it is called, and
    # calls one public function of it with self; this is the package's one sanctioned upward
    # reference, and tests/test_layering.py lists every function allowed to make it.

    def save(self, path: Any, metadata: Optional[Dict[str, Any]] = None) -> None:
        """Writes the network (architecture, weights, training state and history, plus any
        JSON ``metadata``) to ``path`` in chainrule's safe ``.npz`` format; see
        :mod:`chainrule.serialization`. Load it with :func:`chainrule.load`. After
        ``fit(comm=...)`` only rank 0 writes; on other ranks this does nothing."""
        from . import serialization  # upward, at call time (see the comment above)
        if self.comm is not None and self.comm.Get_rank() != 0:
            return  # data-parallel: rank 0 writes the file, the other ranks nothing
        with self._lock:
            serialization.save(self, path, metadata)

    def __reduce__(self) -> Any:
        # pickle / copy.deepcopy: the model file's bytes, plus the activation and loss objects
        # themselves when one is a user class (pickle carries classes by reference)
        from . import serialization  # upward, at call time (see the comment above save)
        with self._lock:
            data = serialization.to_bytes(self)
        custom = any(not is_builtin_activation(a) for a in self.activations) or \
            not is_builtin_loss(self.loss_function)
        objects = {"activations": list(self.activations), "loss": self.loss_function} \
            if custom else None
        return (_unpickle_network, (data, objects))

    @_serialised
    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` with this network's layers and weights (needs torch); see
        :func:`chainrule.interop.to_torch`."""
        from . import interop  # upward, at call time (see the comment above save)
        return interop.to_torch(self)

    @_serialised
    def to_onnx(self, path: Any = None) -> Any:
        """Exports ``predict`` as an ONNX model (needs the ``onnx`` package); see
        :func:`chainrule.interop.to_onnx`."""
        from . import interop  # upward, at call time (see the comment above save)
        return interop.to_onnx(self, path)

    # ---- display -------------------------------------------------------------------------

    def summary(self, batch_size: Optional[int] = None) -> str:
        """The dimension table of docs/design.md section 1: every layer's Z/H/dZ, W/dW and b/db
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
                f"dtype='{self.dtype.name}', optimizer={self._optimizer!r})")


def _unpickle_network(data: bytes, objects: Optional[Dict[str, Any]]) -> Network:
    # what pickles of a Network call (by this name, so it stays); the model file's reader
    from . import serialization  # upward, at call time (see the comment above Network.save)
    net, _ = serialization.read(data, "unpickling a Network", overrides=objects)
    return net
