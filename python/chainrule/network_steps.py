"""Network's step-by-step API: gradients, forward and backward, step and gradient_check (the
derivation's quantities, one call at a time). A part of :class:`~chainrule.Network`, which
inherits it; every computation is one call of the core."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from ._checks import optional_real, real_type
from ._sync import serialised
from .data import as_matrix
from .diagnostics import Diagnosis, Diagnostics
from .optimizers import Optimizer

__all__ = ["Steps", "LayerGradients", "Gradients"]

ArrayLike = Any


class LayerGradients(NamedTuple):
    """One layer's gradients (docs/design.md section 1): ``dW`` (n_in, n_out), ``db`` (n_out,),
    and the per-sample delta ``dZ`` (m, n_out)."""

    dW: np.ndarray
    db: np.ndarray
    dZ: np.ndarray


class Gradients(List[LayerGradients]):
    """Per-layer gradients of the dense layers, index 0 = the first dense layer (layer 1 of a
    network of dense layers); ``loss`` is the batch loss they came from and ``parameters``
    every parameter's gradient by name (``{"W1": dW1, "b1": db1, "gamma2": ..., ...}``)."""

    def __init__(
        self,
        layers: Sequence[LayerGradients],
        loss: float,
        parameters: Optional[Dict[str, np.ndarray]] = None,
    ) -> None:
        super().__init__(layers)
        self.loss = loss
        self.parameters: Dict[str, np.ndarray] = dict(parameters or {})


def _shape_of(a: Any) -> Optional[tuple]:
    """The shape of an array-like as a tuple of ints, or None when it has none (ragged
    nesting: the conversion reports it)."""
    try:
        return tuple(int(n) for n in np.shape(a))
    except (TypeError, ValueError):
        return None


class Steps:
    """Network's gradients, forward, backward, step and gradient_check."""

    # set by Network.__init__ (and its other parts)
    _core: Any
    _lock: Any
    _optimizer: Optimizer
    _sync_optimizer: Callable[[], None]
    _forward_X: Optional[np.ndarray]
    _dense: List[int]
    dtype: np.dtype
    # Network's data conversions
    _X: Any
    _Y: Any
    _unaliased: Any

    def _collect_gradients(self, loss: float) -> Gradients:
        c = self._core
        dense = [LayerGradients(c.grad_weight(l), c.grad_bias(l), c.delta(l)) for l in self._dense]
        # the dense layers' dW and db are the same arrays in both views (an in-place change
        # of one shows in the other)
        shared = {
            name: a
            for l, g in zip(self._dense, dense)
            for name, a in ((f"W{l + 1}", g.dW), (f"b{l + 1}", g.db))
        }
        named = {
            name: shared[name] if name in shared else c.parameter_grad(k)
            for k, name in enumerate(c.parameter_names())
        }
        return Gradients(dense, float(loss), named)

    @serialised
    def gradients(self, X: ArrayLike, Y: ArrayLike) -> Gradients:
        """Backpropagation on (X, Y): per layer ``dW = H_prev.T @ dZ / m``,
        ``db = sum(dZ) / m`` and the delta ``dZ``; the weights are not changed."""
        X, Y = self._X(X, "gradients"), self._Y(Y)
        self._forward_X = None
        return self._collect_gradients(self._core.gradients(X, Y))

    @serialised
    def diagnose(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        lr: Optional[float] = None,
        *,
        histograms: bool = False,
        bins: int = 20,
    ) -> Diagnosis:
        """The per-layer figures of ``fit(..., diagnostics=True)`` for one batch (X, Y): a
        forward pass in training mode (running statistics not updated) and a backward pass,
        computed by the core; the model does not change. ``str()`` of the result is a table
        like :meth:`summary` followed by a plain-words flag for each problem seen (dead or
        saturated units, vanishing or exploding gradients and, given ``lr``, an update ratio
        ``lr ||dW|| / ||W||`` far from ~1e-3); ``.layers`` holds the figures (the dicts of
        ``history.diagnostics``), ``.problems`` the flags."""
        X, Y = self._X(X, "diagnose"), self._Y(Y)
        spec = Diagnostics(histograms=histograms, bins=bins).core_spec()
        rate = 0.0 if lr is None else real_type(lr, "lr")  # its value: the core
        self._forward_X = None  # the layers' caches now hold this batch's pass
        record = self._core.diagnose(X, Y, spec, rate)
        return Diagnosis(record, lr, X.shape[0])

    @serialised
    def forward(self, X: ArrayLike) -> np.ndarray:
        """Forward pass of X, kept for a following :meth:`backward`; returns Yhat (m, nL).
        The pass keeps a copy of X (as torch saves what backward needs): a change of the
        caller's array before backward() does not reach the gradients."""
        given = X
        X = self._X(X, "forward")
        if X is given or not X.flags.owndata:  # the caller's memory, not a converted copy
            X = X.copy()
        out = self._core.forward(X)
        self._forward_X = X  # the core reads X again in backward(); keep it alive
        return out

    @serialised
    def backward(self, Y: ArrayLike) -> Gradients:
        """Backward pass for the last :meth:`forward`; returns the gradients. Any call that
        changes the parameters or the layers' caches in between (a step, an assignment of a
        parameter, predict, loss, gradients, fit) drops that forward pass, and backward then
        raises, as torch does for a graph whose tensors have changed (an in-place change
        through a live view cannot be seen)."""
        if self._forward_X is None:
            raise ValueError(
                "backward: call forward(X) first (a step, a parameter assignment, predict, "
                "loss, gradients or fit since the last forward pass drops it)"
            )
        return self._collect_gradients(self._core.backward(self._Y(Y)))

    @serialised
    def step(
        self,
        grads: Optional[Sequence[Any]] = None,
        *,
        lr: Optional[float] = None,
        clip_norm: Optional[float] = None,
        clip_value: Optional[float] = None,
    ) -> None:
        """One optimizer step for every layer (plain SGD: ``W -= lr * dW``, ``b -= lr * db``).

        ``grads`` is what :meth:`gradients`/:meth:`backward` returned (possibly modified), any
        sequence of one ``(dW, db)`` pair per dense layer (a network whose only parameters are
        the dense layers': dropout may sit between them), or a dict
        with one gradient per parameter name (``{"W1": ..., "b1": ..., "gamma2": ...}``; for a
        network with other layers, a Gradients is read through its ``parameters``); None
        uses the last backward pass.
        ``lr`` defaults to the optimizer's. ``clip_value`` and ``clip_norm`` clip the
        gradients first, as in :meth:`fit` (``torch.nn.utils.clip_grad_value_``, then
        ``clip_grad_norm_``): the last backward pass's in place (as torch clips ``.grad``),
        given ``grads`` in a copy (the arrays passed are left as they are)."""
        self._sync_optimizer()  # hyper-parameters changed on net.optimizer
        lr = real_type(self._optimizer.lr if lr is None else lr, "lr")
        clip = {
            "clip_norm": optional_real(clip_norm, "clip_norm"),
            "clip_value": optional_real(clip_value, "clip_value"),
        }  # values: the core
        if grads is None:
            self._core.step(lr, **clip)  # (it refuses non-finite kept gradients)
        else:
            self._core.step_with(self._gradients_by_parameter(grads), lr, **clip)
        self._drop_forward_pass()  # of the parameters before the step

    def _drop_forward_pass(self) -> None:
        """The parameters changed (a step, an assignment): the forward pass kept for backward()
        was of the old ones, so backward() refuses until the next forward(X)."""
        self._forward_X = None

    def _gradients_by_parameter(self, grads: Any) -> List[np.ndarray]:
        """step's ``grads`` as the core's step_with takes them: one array per parameter, in
        the order of ``net.parameters``. A sequence of ``(dW, db)`` pairs holds one per dense
        layer: ``grads[k]`` is the k-th dense layer's (``W{l}, b{l}`` for its layer l), whatever
        other layers (dropout) sit between them."""
        names = list(self._core.parameter_names())
        dense_names = [n for l in self._dense for n in (f"W{l + 1}", f"b{l + 1}")]
        if isinstance(grads, Gradients) and dense_names != names:
            grads = grads.parameters  # other layers' gradients are there only
        if isinstance(grads, Mapping):
            unknown = sorted(set(map(str, grads)) - set(names))
            missing = [n for n in names if n not in grads]
            if unknown or missing:
                raise ValueError(
                    "step: grads must have one gradient per parameter ("
                    + ", ".join(names)
                    + ")"
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                )
            given = {n: grads[n] for n in names}
        else:
            if isinstance(grads, (str, bytes)) or not isinstance(grads, Sequence):
                raise TypeError(
                    "grads must be a sequence with one (dW, db) pair per dense layer "
                    "or a dict of gradients by parameter name"
                )
            if dense_names != names:
                raise TypeError(
                    "step: this network has parameters besides the dense layers' W "
                    f"and b ({', '.join(n for n in names if n not in dense_names)}): "
                    "pass grads as a dict by parameter name or as the Gradients "
                    "that gradients() returned"
                )
            layers = [l + 1 for l in self._dense]
            if len(grads) != len(layers):
                raise ValueError(
                    f"step: grads must have one (dW, db) pair per dense layer: {len(layers)} "
                    f"(layer{'s' if len(layers) > 1 else ''} "
                    f"{', '.join(map(str, layers))}), got {len(grads)}"
                )
            given = {}
            for k, (l, g) in enumerate(zip(layers, grads)):
                if isinstance(g, LayerGradients):
                    dW, db = g.dW, g.db
                else:
                    try:
                        dW, db = tuple(g)[:2]
                    except (TypeError, ValueError):
                        raise TypeError(
                            f"step: grads[{k}] must be a (dW, db) pair, got {g!r}"
                        ) from None
                given[f"W{l}"], given[f"b{l}"] = dW, db
        converted = []
        for k, name in enumerate(names):
            g, shape = given[name], self._core.parameter(k).shape
            # each gradient has its parameter's shape exactly, as torch requires of .grad. The
            # core sees a vector's gradient as one row and checks only its size, and a matrix's
            # only once it is 2-D: what it cannot see is checked here, the rest by the core
            given_shape = _shape_of(g)
            if given_shape is not None and (
                given_shape != shape if len(shape) == 1 else len(given_shape) != 2
            ):
                raise ValueError(
                    f"step: the gradient of {name} must have shape {shape}, got {given_shape}"
                )
            a = as_matrix(g, self.dtype.type, f"step: the gradient of {name}", column_if_1d=True)
            # copies when they may be views of the parameters that step() is about to change
            converted.append(self._unaliased(a.reshape(1, -1) if len(shape) == 1 else a))
        return converted

    @serialised
    def gradient_check(
        self, X: ArrayLike, Y: ArrayLike, eps: Optional[float] = None, per_tensor: bool = False
    ) -> Union[float, Dict[str, float]]:
        """Compare backpropagation with central finite differences of the loss.

        For each parameter tensor, ``||g_backprop - g_numeric|| / (||g_backprop|| +
        ||g_numeric||)``; returns the maximum (or, with ``per_tensor``, a dict
        ``{"W1": ..., "b1": ..., ...}``). ``eps`` defaults to ``eps_machine ** (1/3)``
        (about 6e-6 in float64). A correct gradient gives about 1e-8 or less in float64;
        float32 is too coarse for a tight check. The check runs one training pass (dropout
        draws the next pass's masks) and leaves the parameters, the running statistics and
        the dropout stream as they were; the gradients are then backprop's of (X, Y)."""
        X, Y = self._X(X, "gradient_check"), self._Y(Y)
        if eps is None:
            eps = float(np.finfo(self.dtype).eps ** (1.0 / 3.0))
        eps = real_type(eps, "eps")
        self._forward_X = None
        errors = self._core.gradient_check(X, Y, eps)
        if per_tensor:
            return {name: float(e) for name, e in zip(self._core.parameter_names(), errors)}
        return float(max(errors))
