"""Losses: the built-ins of the C++ core and the base class for your own."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from . import _core
from ._checks import ParamsRepr

__all__ = ["Loss", "MSE", "SoftmaxCrossEntropy", "SigmoidBinaryCrossEntropy", "loss_names",
           "resolve_loss"]


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


class _Builtin(Loss):
    _core_name = ""

    def __init__(self) -> None:
        self.name = self._core_name
        self.required_activation = _core.loss_required_activation(self._core_name)

    def get_params(self) -> Dict[str, Any]:
        return {}

    def value(self, yhat: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError(f"{self!r} is computed inside the network: use Network.loss(X, Y)")

    gradient = value  # type: ignore[assignment]


class MSE(_Builtin):
    """``L = ||Yhat - Y||^2 / (2m)``; ``dH[L] = Yhat - Y``."""
    _core_name = "mse"


class SoftmaxCrossEntropy(_Builtin):
    """``L = -sum(Y log softmax(Z)) / m`` from the logits; fused delta ``Yhat - Y``.

    Needs a softmax output layer; rows of Y must be distributions (e.g. one-hot)."""
    _core_name = "cross_entropy"


class SigmoidBinaryCrossEntropy(_Builtin):
    """``L = -sum(Y log s(Z) + (1 - Y) log(1 - s(Z))) / m``; fused delta ``Yhat - Y``.

    Needs a sigmoid output layer; targets in [0, 1]."""
    _core_name = "binary_cross_entropy"


_CLASSES = {cls._core_name: cls for cls in (MSE, SoftmaxCrossEntropy, SigmoidBinaryCrossEntropy)}


def loss_names() -> list:
    """Names (and aliases) of the built-in losses."""
    return list(_core.loss_names())


def resolve_loss(spec: Any) -> Loss:
    """A :class:`Loss` from a name, a built-in object or a user subclass instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, type) and issubclass(spec, Loss):
        return spec()
    if isinstance(spec, str):
        if spec not in _core.loss_names():
            raise ValueError(f"unknown loss {spec!r}; valid names: " + ", ".join(loss_names()))
        return _CLASSES[_core.loss_canonical_name(spec)]()
    raise TypeError(f"loss must be a name (str) or a chainrule.Loss, got {type(spec).__name__}")


def is_builtin(loss: Loss) -> bool:
    """True for the core's own losses (``MSE()``, ...), which a model file stores by name;
    False for a user's :class:`Loss` subclass."""
    return isinstance(loss, _Builtin)


def core_spec(loss: Loss) -> tuple:
    """The tuple the core's Network constructor takes for the loss."""
    if isinstance(loss, _Builtin):
        return (loss._core_name, None, repr(loss))
    for method in ("value", "gradient"):
        if getattr(type(loss), method) is getattr(Loss, method):
            raise TypeError(f"{type(loss).__name__} must define {method}(yhat, y)")
    return (loss.name or type(loss).__name__.lower(), loss, repr(loss))

