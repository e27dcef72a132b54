"""Optimizers: configuration objects for the update rules of the C++ core.

Each class mirrors the torch.optim optimizer of the same name (same hyper-parameters, same
defaults, same update); the arithmetic runs in the core. ``lr`` is the optimizer's learning
rate: ``Network.fit`` and ``Network.step`` use it unless they are given an ``lr`` of their
own, which then wins for that call.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Dict, Tuple

import numpy as np

from . import _core, _registry
from ._checks import ParamsRepr, bool_type, core_params, real_type

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "optimizer_names",
    "resolve_optimizer",
    "from_core_params",
    "checked_lr",
]


class Optimizer(ParamsRepr):
    """Base class of the built-in optimizers (configuration only: the update runs in C++).

    Each built-in is a registry entry of the core (its ``name``), which holds its parameters'
    defaults and ranges and its default ``lr``; an entry without a class written here gets one
    generated with the entry's parameters (see the end of this module)."""

    name: str = ""
    _entry: ClassVar[_registry.Entry]

    def __init_subclass__(cls, entry: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if entry:
            cls.name = entry
        if "name" in cls.__dict__:
            cls._entry = _registry.OPTIMIZERS[cls.name]
            _CLASSES[cls.name] = cls

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def get_params(self) -> Dict[str, Any]:
        """The hyper-parameters, ``lr`` first, as the constructor takes them."""
        raise NotImplementedError

    def _core_params(self) -> Dict[str, float]:
        """The hyper-parameters the core's factory takes (``lr`` is passed per step)."""
        raise NotImplementedError

    @classmethod
    def _from_core(cls, lr: float, params: Dict[str, float]) -> "Optimizer":
        """The optimizer with this lr and the core's parameters (as ``_core_params`` gives
        them; those left out take their defaults)."""
        kwargs = {
            p.name: p.from_core(params[p.name]) for p in cls._entry.params if p.name in params
        }
        return cls(lr=lr, **kwargs)  # type: ignore[call-arg]

    def _validate(self) -> "Optimizer":
        """Checks types here and values in the core; raises naming the optimizer."""
        checked_lr(self)
        self._entry.check(self._core_params())
        for name, value in self.get_params().items():  # NumPy values as Python's, for JSON
            plain = _plain(value)
            if plain is not value:
                setattr(self, name, plain)
        return self


def checked_lr(optimizer: Optimizer) -> float:
    """The optimizer's ``lr`` as a float, its type checked here and its value by the core;
    the error names the optimizer (``Adam: lr must be a finite number > 0, got -1``)."""
    owner = type(optimizer).__name__
    lr = real_type(optimizer.lr, f"{owner}: lr")
    try:
        _core.check_lr(lr)
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from None
    return lr


def _plain(value: Any) -> Any:
    """A checked hyper-parameter as a Python value: NumPy scalars and arrays (Adam's betas)
    become numbers and tuples, which a model file's JSON header and ``repr`` take as they
    take the user's own floats."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else tuple(_plain(v) for v in value)
    if isinstance(value, (tuple, list)) and any(isinstance(v, np.generic) for v in value):
        return tuple(_plain(v) for v in value)
    return value


#: factory name -> class, filled by Optimizer.__init_subclass__
_CLASSES: Dict[str, type] = {}


class SGD(Optimizer, entry="sgd"):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    With ``g = dW + weight_decay * W``: plain ``W -= lr * g`` (the default: the derivation's
    update); with momentum ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` on the
    first step) and ``W -= lr * buf``, or with ``nesterov=True`` ``W -= lr * (g + momentum * buf)``.
    """

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    def _core_params(self) -> Dict[str, float]:
        return {
            "momentum": real_type(self.momentum, "SGD: momentum"),
            "dampening": real_type(self.dampening, "SGD: dampening"),
            "nesterov": float(bool_type(self.nesterov, "SGD: nesterov")),
            "weight_decay": real_type(self.weight_decay, "SGD: weight_decay"),
        }


def _betas(betas: Any, owner: str) -> Tuple[float, float]:
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
    return (real_type(betas[0], f"{owner}: betas[0]"), real_type(betas[1], f"{owner}: betas[1]"))


class Adam(Optimizer, entry="adam"):
    """Adam, as ``torch.optim.Adam`` (``weight_decay`` is an L2 term added to the gradient).

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``W -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)`` at step t.
    """

    def __init__(
        self,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.betas = tuple(betas) if isinstance(betas, (list, tuple)) else betas
        self.eps = eps
        self.weight_decay = weight_decay
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    @classmethod
    def _from_core(cls, lr: float, params: Dict[str, float]) -> "Optimizer":
        defaults = cls._entry.defaults()
        betas = (params.get("beta1", defaults["beta1"]), params.get("beta2", defaults["beta2"]))
        return cls(
            lr=lr,
            betas=betas,
            eps=params.get("eps", defaults["eps"]),
            weight_decay=params.get("weight_decay", defaults["weight_decay"]),
        )

    def _core_params(self) -> Dict[str, float]:
        owner = type(self).__name__
        b1, b2 = _betas(self.betas, owner)
        return {
            "beta1": b1,
            "beta2": b2,
            "eps": real_type(self.eps, f"{owner}: eps"),
            "weight_decay": real_type(self.weight_decay, f"{owner}: weight_decay"),
        }


class AdamW(Adam, entry="adamw"):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay
    ``W *= 1 - lr * weight_decay`` before each update (default weight_decay 0.01)."""

    def __init__(
        self,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay)


class RMSprop(Optimizer, entry="rmsprop"):
    """RMSprop, as ``torch.optim.RMSprop``.

    ``s = alpha s + (1 - alpha) g^2``; ``d = sqrt(s) + eps`` (centered: ``sqrt(s - a^2) + eps``
    with ``a`` the running mean of g); ``W -= lr g / d``, or with momentum
    ``buf = momentum buf + g / d``, ``W -= lr buf``.
    """

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(lr)
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.centered = centered
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {
            "lr": self.lr,
            "alpha": self.alpha,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "centered": self.centered,
        }

    def _core_params(self) -> Dict[str, float]:
        return {
            "alpha": real_type(self.alpha, "RMSprop: alpha"),
            "eps": real_type(self.eps, "RMSprop: eps"),
            "weight_decay": real_type(self.weight_decay, "RMSprop: weight_decay"),
            "momentum": real_type(self.momentum, "RMSprop: momentum"),
            "centered": float(bool_type(self.centered, "RMSprop: centered")),
        }


class _Generated(Optimizer):
    """An optimizer of the core without a class written above, made from its registry entry:
    ``lr`` (the entry's default) first, then the entry's parameters."""

    _signature: ClassVar[inspect.Signature]

    def __init_subclass__(cls, entry: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(entry=entry, **kwargs)
        if entry:
            cls._signature = cls._entry.signature(first=(("lr", cls._entry.properties["lr"]),))
            cls.__signature__ = cls._signature  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        values = _registry.bind(self._signature, type(self).__name__, args, kwargs)
        super().__init__(values.pop("lr"))
        for name, value in values.items():
            setattr(self, name, value)
        self._validate()

    def get_params(self) -> Dict[str, Any]:
        return {"lr": self.lr, **{p.name: getattr(self, p.name) for p in self._entry.params}}

    def _core_params(self) -> Dict[str, float]:
        return core_params(self._entry, self.get_params())


def optimizer_names() -> list:
    """Names of the built-in optimizers."""
    return _registry.OPTIMIZERS.names()


def core_spec(optimizer: Optimizer) -> Tuple[str, Dict[str, float]]:
    """What the core's optimizer factory takes: ``(name, hyper-parameters)`` (``lr`` is passed
    per step)."""
    return (optimizer.name, optimizer._core_params())


def resolve_optimizer(spec: Any) -> Optimizer:
    """An :class:`Optimizer` from a name (``"adam"``), a class or an instance (re-validated, in
    case its attributes were changed after construction)."""
    if isinstance(spec, Optimizer):
        return spec._validate()
    if isinstance(spec, type) and issubclass(spec, Optimizer) and spec in _CLASSES.values():
        return spec()  # type: ignore[no-any-return]
    if isinstance(spec, str):
        entry = _registry.OPTIMIZERS.lookup(spec)  # the core's ValueError lists the valid names
        return _CLASSES[entry.name]()  # type: ignore[no-any-return]
    raise TypeError(
        "optimizer must be a name ('sgd', 'adam', ...) or an optimizer object like "
        f"chainrule.Adam(lr=1e-3), got {type(spec).__name__}"
    )


def from_core_params(name: str, lr: float, params: Dict[str, float]) -> Optimizer:
    """The built-in optimizer ``name`` with learning rate ``lr`` and hyper-parameters named
    as in its registry entry (``{"beta1": 0.9, "weight_decay": 1e-4}``; the others take their
    defaults), whatever its constructor's signature (Adam's ``betas`` pair)."""
    return _CLASSES[_registry.OPTIMIZERS.lookup(name).name]._from_core(lr, params)  # type: ignore


# Built-ins of the core without a class above: generated from their registry entries.
_registry.export(
    globals(),
    __all__,
    _CLASSES,
    lambda entry: _registry.generated_class(entry, _Generated, __name__),
    _registry.OPTIMIZERS,
)
