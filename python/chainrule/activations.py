"""Activation functions: the built-ins of the C++ core and the base class for your own.

A built-in is named by a string (``"leaky_relu"``) or an object (``LeakyReLU(alpha=0.2)``);
either way its maths runs in the core. A subclass of :class:`Activation` that defines
``forward(z)`` and ``derivative(z, h)`` on NumPy arrays runs in any layer of a float32 or
float64 network without recompiling.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import _core, _registry
from ._checks import ParamsRepr

__all__ = [
    "Activation",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Linear",
    "GELU",
    "SiLU",
    "Softplus",
    "activation_names",
    "resolve_activation",
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
    class name in lower case). A name that is a built-in's only shows: the activation keeps
    none of the built-in's treatment (losses fused with it, such as cross-entropy with softmax,
    refuse it; He initialisation; the diagnostics' dead and saturated counts).
    ``get_params()`` (the parameters that ``repr``, ``==``, save and load use) reads one
    attribute per argument of ``__init__``; override it when the constructor stores its
    arguments under other names.
    """

    name: str = ""

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define forward(z)")

    def derivative(self, z: np.ndarray, h: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} must define derivative(z, h) or backward(z, h, dh)"
        )

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


#: factory name -> class, filled by _Builtin.__init_subclass__
_CLASSES: Dict[str, type] = {}


class _Builtin(_registry.EntryBacked, Activation):
    """A built-in activation of the core, made from its registry entry: the constructor takes
    the entry's parameters (defaults from the registry, values checked by the core), and
    forward/derivative/backward call the core.

    A subclass names its entry, ``class ReLU(_Builtin, entry="relu")``; an entry without a
    class written here gets one generated (see the end of this module)."""

    _family = _registry.ACTIVATIONS
    _classes = _CLASSES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.name = self._core_name
        self._set_params(args, kwargs)

    def forward(self, z: Any) -> np.ndarray:
        arr, bits = _core_array(z)
        return getattr(_core, "activation_forward" + bits)(self._core_name, self.get_params(), arr)

    def backward(self, z: Any, h: Any, dh: Any) -> np.ndarray:
        arr, bits = _core_array(z)
        dt = arr.dtype
        h_arr, dh_arr = _core_array(h, "h")[0], _core_array(dh, "dh")[0]
        return getattr(_core, "activation_backward" + bits)(
            self._core_name,
            self.get_params(),
            arr,
            np.ascontiguousarray(h_arr, dtype=dt),
            np.ascontiguousarray(dh_arr, dtype=dt),
        )

    def derivative(self, z: Any, h: Any) -> np.ndarray:
        if not self._entry.properties.get("elementwise", True):
            raise NotImplementedError(
                f"{self._core_name} is not element-wise: use backward(z, h, dh)"
            )
        arr, _ = _core_array(z)
        return self.backward(arr, h, np.ones_like(arr))


class Sigmoid(_Builtin, entry="sigmoid"):
    """``1 / (1 + exp(-z))``, derivative ``h (1 - h)``."""


class Tanh(_Builtin, entry="tanh"):
    """``tanh(z)``, derivative ``1 - h**2``."""


class ReLU(_Builtin, entry="relu"):
    """``max(z, 0)``, derivative 1 for z > 0 else 0."""


class LeakyReLU(_Builtin, entry="leaky_relu"):
    """``z`` for z > 0 else ``alpha * z`` (default alpha 0.01)."""

    def __init__(self, alpha: Optional[float] = None) -> None:
        super().__init__(alpha=alpha)


class ELU(_Builtin, entry="elu"):
    """``z`` for z > 0 else ``alpha * (exp(z) - 1)`` (default alpha 1.0)."""

    def __init__(self, alpha: Optional[float] = None) -> None:
        super().__init__(alpha=alpha)


class Softmax(_Builtin, entry="softmax"):
    """Row-wise softmax; its backward is the Jacobian-vector product, so it works in any layer."""


class Linear(_Builtin, entry="linear"):
    """The identity ``z``."""


class GELU(_Builtin, entry="gelu"):
    """The exact GELU ``z * Phi(z)`` (erf form, as ``torch.nn.GELU()``)."""


class SiLU(_Builtin, entry="silu"):
    """``z * sigmoid(z)`` (swish)."""


class Softplus(_Builtin, entry="softplus"):
    """``log(1 + exp(z))``, computed stably."""


def activation_names() -> list:
    """The names of the built-in activations."""
    return _registry.ACTIVATIONS.names()


def resolve_activation(spec: Any, layer: Optional[int] = None) -> Activation:
    """An :class:`Activation` from a name, a built-in object or a user subclass instance."""
    where = f"layer {layer}: " if layer is not None else ""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, type) and issubclass(spec, Activation):
        return spec()
    if isinstance(spec, str):
        try:
            entry = _registry.ACTIVATIONS.lookup(spec)
        except ValueError as exc:  # the core's message lists the valid names
            raise ValueError(f"{where}{exc}") from None
        return _CLASSES[entry.name]()  # type: ignore[no-any-return]
    raise TypeError(
        f"{where}an activation must be a name (str) or a chainrule.Activation, "
        f"got {type(spec).__name__}"
    )


def is_builtin(act: Activation) -> bool:
    """True for the core's own activations (``ReLU()``, ``LeakyReLU(0.2)``, ...), which a model
    file stores by name; False for a user's :class:`Activation` subclass."""
    return isinstance(act, _Builtin)


def core_spec(act: Activation) -> tuple:
    """The tuple the core's Network constructor takes for one activation."""
    if isinstance(act, _Builtin):
        return (act.core_name, act.core_values(), None, repr(act), False)
    has_backward = type(act).backward is not Activation.backward
    if not has_backward and type(act).derivative is Activation.derivative:
        raise TypeError(f"{type(act).__name__} must define derivative(z, h) or backward(z, h, dh)")
    if type(act).forward is Activation.forward:
        raise TypeError(f"{type(act).__name__} must define forward(z)")
    return (act._display_name(), {}, act, repr(act), has_backward)


# Built-ins of the core without a class above (a new entry needs none): generated from their
# registry entries, exported like the others.
_registry.export(
    globals(),
    __all__,
    _CLASSES,
    lambda entry: _registry.generated_class(entry, _Builtin, __name__),
    _registry.ACTIVATIONS,
)
