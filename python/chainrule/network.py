"""The Network facade: configuration and data on the Python side, every computation in the core."""

from __future__ import annotations

import html
import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core, _registry
from ._checks import check_int as _check_int
from ._sync import new_lock, serialised
from .activations import is_builtin as is_builtin_activation
from .callbacks import History
from .data import as_matrix, as_targets, check_feature_names, resolve_dtype
from .initializers import initializer_for
from .layers import BoundLayer, Dense, Layer, LayerList, plain_dense, resolve_layers
from .layers import core_spec as layer_spec
from .losses import Loss, is_classification, resolve_loss
from .losses import core_spec as loss_spec
from .losses import is_builtin as is_builtin_loss
from .network_fit import Fitting
from .network_lr_find import LRFind
from .network_state import TrainingState, optimizer_settings
from .network_steps import Steps
from .optimizers import Optimizer, resolve_optimizer
from .optimizers import core_spec as optimizer_spec
from .parameters import FrozenList, NamedParameters, ParameterList

__all__ = ["Network"]

ArrayLike = Any


class Network(TrainingState, Fitting, Steps, LRFind):
    """A feed-forward network ``layer_sizes[0] -> ... -> layer_sizes[-1]``.

    Parameters
    ----------
    layer_sizes : sequence
        ``[n0, n1, ..., nL]``: the input width, then each layer: an int is a dense layer of
        that width (>= 1); a layer object adds that layer: ``Dense(64, "relu", l2=1e-4)``,
        ``Dropout(0.2)``, ``BatchNorm()``, ``LayerNorm()`` (``cr.layer_names()``). The last
        layer must be a dense one (the loss follows its activation).
    activations : sequence, optional
        One activation per plain int of ``layer_sizes`` (for a list of ints, one per layer):
        names (``"relu"``), built-in objects (``LeakyReLU(alpha=0.2)``) or instances of your
        own :class:`Activation` subclass. Default, also for a ``Dense`` without one: relu in
        hidden layers and, for the output, linear (MSE), softmax (cross-entropy) or sigmoid
        (binary cross-entropy).
    loss : str or Loss, default "mse"
        A built-in loss by name (``cr.loss_names()``: ``"mse"``, ``"cross_entropy"`` (needs a
        softmax output), ``"binary_cross_entropy"`` (needs a sigmoid output), ...) or as an
        object with its parameters, or an instance of your own :class:`Loss` subclass.
    dtype : "float64" or "float32"
    seed : int, optional
        Seeds the NumPy Generator that draws the initial weights and the shuffling order, and
        the key of the dropout masks: a seed reproduces a fit exactly.
    init : "auto", "he", "xavier" or callable
        "auto": He normal ``sqrt(2/fan_in)`` for relu and leaky relu layers, Xavier normal
        ``sqrt(2/(fan_in+fan_out))`` for the others; biases zero. A callable is called as
        ``init(n_in, n_out, rng)`` and returns W of shape (n_in, n_out).
    optimizer : str or Optimizer, default "sgd"
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` (torch's defaults) or an object such
        as ``SGD(lr=0.1, momentum=0.9)`` or ``Adam(lr=1e-3)``. Its ``lr`` is the learning rate
        of :meth:`fit` and :meth:`step` unless they are given one.

    Notes
    -----
    Threads may share a network: its calls take turns (a ``predict`` from one thread waits until
    a ``fit`` running in another has finished), and a callback of a ``fit`` may call
    ``predict`` on the network it is given. A wait for another thread's call releases the GIL
    and still lets Ctrl-C through. A ``forward`` / ``backward`` pair is two calls: another
    thread's call between them makes ``backward`` raise.

    Ctrl-C stops a long ``predict``, ``evaluate`` or ``gradient_check``, and ``fit`` (its
    validation pass too), between two chunks of rows (1,024 for ``predict``) and raises
    KeyboardInterrupt; only ``fit`` has changed the network then. ``loss`` and ``gradients``
    run one pass over all their rows, which Ctrl-C does not cut short.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activations: Optional[Sequence[Any]] = None,
        loss: Union[str, Loss] = "mse",
        *,
        dtype: Any = "float64",
        seed: Optional[int] = None,
        init: Union[str, Callable] = "auto",
        optimizer: Union[str, Optimizer] = "sgd",
    ) -> None:
        self.dtype = np.dtype(resolve_dtype(dtype))
        self.loss_function = resolve_loss(loss)
        n_in, layers = resolve_layers(
            layer_sizes, activations, self.loss_function.required_activation or "linear"
        )
        #: The layers' configurations (``Dense(64, relu)``, ``Dropout(p=0.2)``, ...), in order.
        self.layer_configs: List[Layer] = FrozenList(layers)
        #: One activation per layer (None for a layer without one, such as Dropout).
        self.activations = FrozenList(getattr(c, "activation", None) for c in layers)
        self._optimizer = resolve_optimizer(optimizer)
        self._lock = new_lock()  # threading.RLock's interface (_sync.py)
        #: The communicator of the last ``fit(comm=...)``: ``save`` then writes on rank 0 only.
        self.comm: Any = None
        core_cls = _core.Network64 if self.dtype == np.float64 else _core.Network32
        try:
            self._core = core_cls(
                n_in,
                [layer_spec(c) for c in layers],
                loss_spec(self.loss_function),
                optimizer_spec(self._optimizer),
            )
            self._installed_params = optimizer_settings(self._optimizer)
            for config in layers:  # the core holds their parameters now
                _registry.hold(config)
                _registry.hold(getattr(config, "activation", None))
            _registry.hold(self.loss_function)
        except MemoryError:
            widths = [n_in] + [getattr(c, "units", None) for c in layers]
            n_params = sum(
                (a + 1) * b
                for a, b in zip(widths[:-1], widths[1:])
                if a is not None and b is not None
            )
            raise MemoryError(
                f"layer sizes {widths}: cannot allocate {n_params:.4g} parameters "
                f"({n_params * self.dtype.itemsize * 2 / 2**30:.4g} GiB with their "
                "gradients)"
            ) from None
        sizes = [n_in] + [int(self._core.layer_shape(l)[1]) for l in range(len(layers))]
        #: The dense layers' positions among the layers (net.weights[k] is layer dense[k] + 1).
        self._dense = [l for l, c in enumerate(layers) if isinstance(c, Dense)]
        self.layer_sizes = FrozenList(sizes)
        try:
            self._rng = np.random.default_rng(seed)
            # the key of the layers' random streams (dropout masks): a child of the seed
            key = np.random.SeedSequence(seed).spawn(1)[0].generate_state(1, np.uint64)[0]
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"seed must be None or a non-negative integer, got {seed!r} ({exc})"
            ) from None
        # a NumPy integer kept as a Python int, which the model file's JSON holds
        self.seed = int(seed) if isinstance(seed, numbers.Integral) else seed
        self._core.set_random_state(int(key), 0)
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
        # dense layers: W drawn, b zero; the other layers start as the core made them
        # (BatchNorm and LayerNorm: gamma 1, beta 0)
        for k, l in enumerate(self._dense):
            n_in, n_out = self.layer_sizes[l], self.layer_sizes[l + 1]
            draw = initializer_for(init, self.activations[l], l + 1)
            W = np.asarray(draw(n_in, n_out, self._rng))
            self.weights[k] = W
            self.biases[k] = np.zeros(n_out)

    @property
    def n_layers(self) -> int:
        """L, the number of layers after the input."""
        return len(self.layer_sizes) - 1

    @property
    def layers(self) -> LayerList:
        """The layers, index 0 = layer 1: ``net.layers[l].W``, ``.gamma``, ``.running_mean``,
        ``.mask``, ... (see :class:`~chainrule.layers.BoundLayer`)."""
        core = self._core

        def bound(l: int) -> BoundLayer:
            shape = tuple(int(v) for v in core.layer_shape(l))
            return BoundLayer(
                lambda group: core.layer_tensors(l, group),
                self._lock,
                l,
                self.layer_configs[l],
                (shape[0], shape[1]),
                core.non_negative_buffers(l),
                self._drop_forward_pass,
            )

        return LayerList(bound, self.n_layers)

    @property
    def buffers(self) -> NamedParameters:
        """The tensors the layers keep but do not learn (BatchNorm's ``running_mean2``,
        ``running_var2``, ...), by name, as live views."""
        core = self._core
        return NamedParameters(
            core.buffer_names(), core.buffer, self._lock, core.non_negative_buffers()
        )

    @property
    def parameters(self) -> NamedParameters:
        """Every learnable tensor by name (``W1``, ``b1``, ``W2``, ...), as live views; see
        :class:`~chainrule.parameters.NamedParameters`. An assignment drops the forward pass
        kept for :meth:`backward`; an in-place change through a view cannot be seen, and
        backward() then mixes the kept pass with the new values."""
        return NamedParameters(
            self._core.parameter_names(),
            self._core.parameter,
            self._lock,
            on_assign=self._drop_forward_pass,
        )

    @property
    def weights(self) -> ParameterList:
        """Live views of the dense layers' W, each (n_in, n_out); ``weights[0]`` is the first
        dense layer's (layer 1 of a network of dense layers)."""
        dense, core = self._dense, self._core
        numbers = [l + 1 for l in dense]
        return ParameterList(
            numbers, lambda k: core.weight(dense[k]), self._lock, "weights", self._drop_forward_pass
        )

    @property
    def biases(self) -> ParameterList:
        """Live views of the dense layers' b, each (n_out,)."""
        dense, core = self._dense, self._core
        numbers = [l + 1 for l in dense]
        return ParameterList(
            numbers, lambda k: core.bias(dense[k]), self._lock, "biases", self._drop_forward_pass
        )

    @property
    def n_params(self) -> int:
        """The number of learnable values, over every parameter."""
        return sum(int(p.size) for p in self.parameters.values())

    # ---- data ----------------------------------------------------------------------------

    def _X(self, X: ArrayLike, what: str) -> np.ndarray:
        check_feature_names(self.feature_names_in_, X, what)
        return self._unaliased(as_matrix(X, self.dtype.type, "X"))

    def _Y(self, Y: ArrayLike, name: str = "Y") -> np.ndarray:
        # a classification network with several outputs also takes class indices (m,)
        one_hot = self._core.one_hot if is_classification(self.loss_function) else None
        return self._unaliased(as_targets(Y, self.dtype.type, name, self.layer_sizes[-1], one_hot))

    def _unaliased(self, a: np.ndarray) -> np.ndarray:
        """``a``, or a copy of it if it may share memory with a parameter (data that is a view
        of the network's own weights would change under fit, step or gradient_check)."""
        return a.copy() if self._core.aliases_parameters(a) else a

    # ---- computation ---------------------------------------------------------------------

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Yhat = H[L] for X (m, n0); returns (m, nL)."""
        # No copy of X when it aliases the weights: prediction only reads both. The core takes an
        # ndarray that already is what it reads (its dtype, C-contiguous, 2-D, not empty) as it
        # is, under the network's lock, which it takes itself (a one-row predict of the demo's
        # networks takes under 1 us, and an RLock's acquire and release cost ~120 ns of it); it
        # returns None for anything else, or when another thread holds the lock, and then this
        # converts X and waits for the lock. A forward() pass kept for backward() is dropped
        # here (the core knows it is gone; this lets its X go).
        if self._forward_X is None:
            Yhat = self._core.predict_ready(X, self._lock)
            if Yhat is not None:
                return Yhat
        with self._lock:
            self._forward_X = None
            check_feature_names(self.feature_names_in_, X, "predict")
            return self._core.predict(as_matrix(X, self.dtype.type, "X"))

    @serialised
    def loss(self, X: ArrayLike, Y: ArrayLike) -> float:
        """The loss of the network on (X, Y), e.g. ``||Yhat - Y||^2 / (2m)`` for MSE (Y may be
        integer class labels for a classification loss with several outputs, as in fit)."""
        X, Y = self._X(X, "loss"), self._Y(Y)
        self._forward_X = None
        return float(self._core.loss(X, Y))

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
        ``fit(comm=...)`` only rank 0 writes; on other ranks this does nothing. A network
        whose parameters, buffers or optimizer state hold NaN or inf is refused before
        anything is written (ValueError naming the tensor), as load would refuse the file."""
        from . import serialization  # upward, at call time (see the comment above)

        if not self.writes_files:
            return  # data-parallel: rank 0 writes the file, the other ranks nothing
        with self._lock:
            serialization.save(self, path, metadata)

    @property
    def writes_files(self) -> bool:
        """Whether :meth:`save` writes here: False on the ranks other than 0 after
        ``fit(comm=...)`` (while ``comm`` is set), True otherwise."""
        return self.comm is None or self.comm.Get_rank() == 0

    # What a network keeps in its own __dict__: the model file holds (or rebuilds) all of it.
    # Any other attribute is a user's own (``net.note = "baseline"``), which pickle and
    # copy.deepcopy carry as they are, as they do a torch.nn.Module's.
    _OWN_ATTRIBUTES = frozenset(
        {
            "_core",
            "_dense",
            "_forward_X",
            "_installed_params",
            "_live_diagnostics",
            "_lock",
            "_optimizer",
            "_rng",
            "activations",
            "comm",
            "dtype",
            "feature_names_in_",
            "history",
            "layer_configs",
            "layer_sizes",
            "loss_function",
            "seed",
        }
    )

    def __reduce__(self) -> Any:
        # pickle / copy.deepcopy: the model file's bytes, plus the activation and loss objects
        # themselves when one is a user class (pickle carries classes by reference), and the
        # user's own attributes as the state that pickle then puts in the new __dict__
        from . import serialization  # upward, at call time (see the comment above save)

        with self._lock:
            data = serialization.to_bytes(self, what="pickling a Network")
        custom = any(
            a is not None and not is_builtin_activation(a) for a in self.activations
        ) or not is_builtin_loss(self.loss_function)
        objects = (
            {"activations": list(self.activations), "loss": self.loss_function} if custom else None
        )
        own = Network._OWN_ATTRIBUTES
        users = {k: v for k, v in vars(self).items() if k not in own}
        return (_unpickle_network, (data, objects), users or None)

    @serialised
    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` with this network's layers and weights (needs torch); see
        :func:`chainrule.interop.to_torch`."""
        from . import interop  # upward, at call time (see the comment above save)

        return interop.to_torch(self)

    @serialised
    def to_onnx(self, path: Any = None) -> Any:
        """Exports ``predict`` as an ONNX model (needs the ``onnx`` package); see
        :func:`chainrule.interop.to_onnx`."""
        from . import interop  # upward, at call time (see the comment above save)

        return interop.to_onnx(self, path)

    # ---- display -------------------------------------------------------------------------

    def _summary_table(self, batch_size: Optional[int]) -> List[Tuple[str, ...]]:
        """The rows of :meth:`summary`'s table, the header first."""
        m = "m" if batch_size is None else str(_check_int(batch_size, "batch_size", 1))
        rows = [("layer", "kind", "Z, H, dZ", "parameters", "params")]
        rows.append(("0 (input)", "", f"X: ({m}, {self.layer_sizes[0]})", "", ""))
        for layer in self.layers:
            params = layer.parameters
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in params.items())
            count = sum(int(v.size) for v in params.values())
            rows.append(
                (
                    str(layer.index + 1),
                    repr(layer.config),
                    f"({m}, {layer.shape[1]})",
                    shapes,
                    f"{count:,}",
                )
            )
        return rows

    def _summary_title(self) -> str:
        return (
            f"Network {' -> '.join(map(str, self.layer_sizes))}  loss "
            f"{self.loss_function!r}  dtype {self.dtype.name}"
        )

    def summary(self, batch_size: Optional[int] = None) -> str:
        """The dimension table of docs/design.md section 1: every layer's output (Z, H, dZ),
        parameter shapes (W/dW and b/db for a dense layer, gamma and beta for a normalisation)
        and parameter count; m is the number of rows in a batch."""
        rows = self._summary_table(batch_size)
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = [self._summary_title()]
        for i, r in enumerate(rows):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"total parameters: {self.n_params:,}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The summary as an HTML table (what Jupyter shows for a network)."""
        rows = self._summary_table(None)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
        )
        return (
            f"<div><p><b>{html.escape(self._summary_title())}</b></p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>total parameters: {self.n_params:,}</p></div>"
        )

    def __repr__(self) -> str:
        if plain_dense(self.layer_configs):
            acts = ", ".join(repr(a) for a in self.activations)
            return (
                f"Network({self.layer_sizes}, activations=[{acts}], "
                f"loss={self.loss_function!r}, dtype='{self.dtype.name}', "
                f"optimizer={self._optimizer!r})"
            )
        layers = ", ".join([str(self.layer_sizes[0])] + [repr(c) for c in self.layer_configs])
        return (
            f"Network([{layers}], loss={self.loss_function!r}, dtype='{self.dtype.name}', "
            f"optimizer={self._optimizer!r})"
        )


def _unpickle_network(data: bytes, objects: Optional[Dict[str, Any]]) -> Network:
    # what pickles of a Network call (by this name, so it stays); the model file's reader
    from . import serialization  # upward, at call time (see the comment above Network.save)

    net, _ = serialization.read(data, "unpickling a Network", overrides=objects)
    return net
