"""Activation functions: the built-ins of the C++ core and the base class for your own.

A built-in is named by a string (``"leaky_relu"``) or an object (``LeakyReLU(alpha=0.2)``);
either way its maths runs in the core. A subclass of :class:`Activation` that defines
``forward(z)`` and ``derivative(z, h)`` on NumPy arrays runs in any layer of a float32 or
float64 network without recompiling.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import _core
from ._checks import ParamsRepr

__all__ = [
    "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softmax", "Linear", "GELU",
    "SiLU", "Softplus", "activation_names", "resolve_activation",
]


class Activation(ParamsRepr):
    """Base class of activations.

    Subclass it and define

    * ``forward(z)``: ``H = act(Z)`` for an array ``z`` of shape (m, n), returning the same shape;
    * ``derivative(z, h)``: the element-wise derivative ``act'(z)`` given ``z`` and ``h = act(z)``
      (use whichever is cheaper), same shape.

    An activation that is not element-wise (like softmax) defines
    ``backward(z, h, dh)`` instead of ``derivative``, returning ``dZ``, the vector-Jacobian
    product of ``dh``. Arrays passed in are fresh copies in the network's dtype. An exception
    raised inside these methods reaches the caller of ``fit``/``predict`` unchanged.

    Set the class attribute ``name`` to choose the name shown in summaries (default: the
    class name in lower case). ``get_params()`` (the parameters that ``repr``, ``==``, save
    and load use) reads one attribute per argument of ``__init__``; override it when the
    constructor stores its arguments under other names.
    """

    name: str = ""

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define forward(z)")

    def derivative(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} must define derivative(z, h) or backward(z, h, dh)")

    def backward(self, z: np.ndarray, h: np.ndarray, dh: np.ndarray) -> np.ndarray:
        """``dZ = dh * act'(z)``; override for activations that are not element-wise."""
        return np.asarray(dh) * self.derivative(z, h)

    def __call__(self, z: Any) -> np.ndarray:
        return self.forward(z)

    def _display_name(self) -> str:
        return self.name or type(self).__name__.lower()



def _core_array(z: Any, name: str = "z") -> Tuple[np.ndarray, str]:
    try:
        arr = np.asarray(z)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.dtype == np.float32:
        return np.ascontiguousarray(arr), "32"
    return np.ascontiguousarray(arr, dtype=np.float64), "64"


class _Builtin(Activation):
    """A built-in activation of the core; forward/derivative/backward call the core."""

    _core_name = ""

    def get_params(self) -> Dict[str, float]:
        """The activation's parameters by name (``{"alpha": 0.01}``)."""
        return {}

    def __init__(self) -> None:
        self.name = self._core_name

    def forward(self, z: Any) -> np.ndarray:
        arr, bits = _core_array(z)
        return getattr(_core, "activation_forward" + bits)(self._core_name, self.get_params(), arr)

    def backward(self, z: Any, h: Any, dh: Any) -> np.ndarray:
        arr, bits = _core_array(z)
        dt = arr.dtype
        h_arr, dh_arr = _core_array(h, "h")[0], _core_array(dh, "dh")[0]
        return getattr(_core, "activation_backward" + bits)(
            self._core_name, self.get_params(), arr, np.ascontiguousarray(h_arr, dtype=dt),
            np.ascontiguousarray(dh_arr, dtype=dt))

    def derivative(self, z: Any, h: Any) -> np.ndarray:
        arr, _ = _core_array(z)
        return self.backward(arr, h, np.ones_like(arr))


class Sigmoid(_Builtin):
    """``1 / (1 + exp(-z))``, derivative ``h (1 - h)``."""
    _core_name = "sigmoid"


class Tanh(_Builtin):
    """``tanh(z)``, derivative ``1 - h**2``."""
    _core_name = "tanh"


class ReLU(_Builtin):
    """``max(z, 0)``, derivative 1 for z > 0 else 0."""
    _core_name = "relu"


class _AlphaBuiltin(_Builtin):
    """A built-in with one finite parameter ``alpha``."""

    _default_alpha = 0.0

    def __init__(self, alpha: Optional[float] = None) -> None:
        super().__init__()
        self.alpha = _finite_param(type(self).__name__, "alpha",
                                   self._default_alpha if alpha is None else alpha)

    def get_params(self) -> Dict[str, float]:
        return {"alpha": self.alpha}


class LeakyReLU(_AlphaBuiltin):
    """``z`` for z > 0 else ``alpha * z`` (default alpha 0.01)."""
    _core_name = "leaky_relu"
    _default_alpha = 0.01


class ELU(_AlphaBuiltin):
    """``z`` for z > 0 else ``alpha * (exp(z) - 1)`` (default alpha 1.0)."""
    _core_name = "elu"
    _default_alpha = 1.0


class Softmax(_Builtin):
    """Row-wise softmax; its backward is the Jacobian-vector product, so it works in any layer."""
    _core_name = "softmax"

    def derivative(self, z: Any, h: Any) -> np.ndarray:
        raise NotImplementedError("softmax is not element-wise: use backward(z, h, dh)")


class Linear(_Builtin):
    """The identity ``z``."""
    _core_name = "linear"


class GELU(_Builtin):
    """The exact GELU ``z * Phi(z)`` (erf form, as ``torch.nn.GELU()``)."""
    _core_name = "gelu"


class SiLU(_Builtin):
    """``z * sigmoid(z)`` (swish)."""
    _core_name = "silu"


class Softplus(_Builtin):
    """``log(1 + exp(z))``, computed stably."""
    _core_name = "softplus"


_BUILTINS = {cls._core_name: cls for cls in
             (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softmax, Linear, GELU, SiLU, Softplus)}


def _finite_param(cls: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: {param} must be a real number, got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{cls}: {param} must be finite, got {value}")
    return float(value)


def activation_names() -> list:
    """The names of the built-in activations."""
    return list(_core.activation_names())


def resolve_activation(spec: Any, layer: Optional[int] = None) -> Activation:
    """An :class:`Activation` from a name, a built-in object or a user subclass instance."""
    where = f"layer {layer}: " if layer is not None else ""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, type) and issubclass(spec, Activation):
        return spec()
    if isinstance(spec, str):
        cls = _BUILTINS.get(spec)
        if cls is None:
            raise ValueError(f"{where}unknown activation {spec!r}; valid names: "
                             + ", ".join(sorted(_BUILTINS)))
        return cls()
    raise TypeError(f"{where}an activation must be a name (str) or a chainrule.Activation, "
                    f"got {type(spec).__name__}")


def is_builtin(act: Activation) -> bool:
    """True for the core's own activations (``ReLU()``, ``LeakyReLU(0.2)``, ...), which a model
    file stores by name; False for a user's :class:`Activation` subclass."""
    return isinstance(act, _Builtin)


def core_spec(act: Activation) -> tuple:
    """The tuple the core's Network constructor takes for one activation."""
    if isinstance(act, _Builtin):
        return (act._core_name, act.get_params(), None, repr(act), False)
    has_backward = type(act).backward is not Activation.backward
    if not has_backward and type(act).derivative is Activation.derivative:
        raise TypeError(f"{type(act).__name__} must define derivative(z, h) or backward(z, h, dh)")
    if type(act).forward is Activation.forward:
        raise TypeError(f"{type(act).__name__} must define forward(z)")
    return (act._display_name(), {}, act, repr(act), has_backward)
