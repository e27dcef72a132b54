"""Losses: the built-ins of the C++ core (their classes made from the core's registry) and the
base class for your own."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from . import _registry
from ._checks import ParamsRepr

__all__ = [
    "Loss",
    "MSE",
    "SoftmaxCrossEntropy",
    "SigmoidBinaryCrossEntropy",
    "loss_names",
    "resolve_loss",
]


class Loss(ParamsRepr):
    """Base class of losses.

    Subclass it and define, on arrays of shape (m, n_out):

    * ``value(yhat, y)``: the batch loss L, a number (averaged over the m rows);
    * ``gradient(yhat, y)``: ``dH[L] = m * dL/dYhat``, the per-sample output delta
      (for MSE ``L = ||yhat - y||^2 / (2m)`` that is ``yhat - y``).

    The network multiplies ``gradient`` by the output activation's derivative and divides
    by m in ``dW``/``db``, as in the derivation. Exceptions raised here reach the caller.

    ``get_params()`` gives the loss's parameters (``{"delta": 0.1}``) for ``repr``, ``==``,
    save and load: by default one attribute per argument of ``__init__``, as scikit-learn
    does; override it when the constructor stores its arguments under other names.
    """

    name: str = ""

    def value(self, yhat: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define value(yhat, y)")

    def gradient(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define gradient(yhat, y)")

    #: The output activation this loss is computed from (``"softmax"``), or "" for any.
    required_activation: str = ""


#: factory name -> class, filled by _Builtin.__init_subclass__
_CLASSES: Dict[str, type] = {}


class _Builtin(_registry.EntryBacked, Loss):
    """A built-in loss of the core, made from its registry entry: the constructor takes the
    entry's parameters (defaults from the registry, values checked by the core); the value and
    gradient are computed inside the network.

    A subclass names its entry, ``class MSE(_Builtin, entry="mse")``; an entry without a class
    written here gets one generated (see the end of this module)."""

    _family = _registry.LOSSES
    _classes = _CLASSES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.name = self._core_name
        self.required_activation = self._entry.properties["required_activation"]
        self._set_params(args, kwargs)

    def value(self, yhat: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError(
            f"{self!r} is computed inside the network: use Network.loss(X, Y)"
        )

    gradient = value  # type: ignore[assignment]


class MSE(_Builtin, entry="mse"):
    """``L = ||Yhat - Y||^2 / (2m)``; ``dH[L] = Yhat - Y``."""


class SoftmaxCrossEntropy(_Builtin, entry="cross_entropy"):
    """``L = -sum(Y log softmax(Z)) / m`` from the logits; fused delta ``Yhat - Y``.

    Needs a softmax output layer; rows of Y must be distributions (e.g. one-hot)."""


class SigmoidBinaryCrossEntropy(_Builtin, entry="binary_cross_entropy"):
    """``L = -sum(Y log s(Z) + (1 - Y) log(1 - s(Z))) / m``; fused delta ``Yhat - Y``.

    Needs a sigmoid output layer; targets in [0, 1]."""


def loss_names() -> list:
    """Names (and aliases) of the built-in losses."""
    return _registry.LOSSES.names(with_aliases=True)


def resolve_loss(spec: Any) -> Loss:
    """A :class:`Loss` from a name, a built-in object or a user subclass instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, type) and issubclass(spec, Loss):
        return spec()
    if isinstance(spec, str):
        entry = _registry.LOSSES.lookup(spec)  # the core's ValueError lists the valid names
        return _CLASSES[entry.name]()  # type: ignore[no-any-return]
    raise TypeError(f"loss must be a name (str) or a chainrule.Loss, got {type(spec).__name__}")


def is_classification(loss: Loss) -> bool:
    """True for a built-in loss of class targets (its registry entry's property
    "classification": cross-entropy, binary cross-entropy), which take integer class labels
    and fit's ``class_weight``; False for the others and for a user's :class:`Loss`."""
    return (
        isinstance(loss, _Builtin)
        and _registry.LOSSES[loss.core_name].properties.get("classification") is True
    )


def classification_loss_names() -> list:
    """The factory names of the built-in classification losses."""
    return _registry.LOSSES.with_property("classification")


def is_builtin(loss: Loss) -> bool:
    """True for the core's own losses (``MSE()``, ...), which a model file stores by name;
    False for a user's :class:`Loss` subclass."""
    return isinstance(loss, _Builtin)


def core_spec(loss: Loss) -> tuple:
    """The tuple the core's Network constructor takes for the loss."""
    if isinstance(loss, _Builtin):
        return (loss.core_name, None, repr(loss), loss.core_values())
    for method in ("value", "gradient"):
        if getattr(type(loss), method) is getattr(Loss, method):
            raise TypeError(f"{type(loss).__name__} must define {method}(yhat, y)")
    return (loss.name or type(loss).__name__.lower(), loss, repr(loss), {})


# Built-ins of the core without a class above (a new entry needs none): generated from their
# registry entries, exported like the others.
_registry.export(
    globals(),
    __all__,
    _CLASSES,
    lambda entry: _registry.generated_class(entry, _Builtin, __name__),
    _registry.LOSSES,
)
