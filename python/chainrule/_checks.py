"""Type checks of configuration values shared by the facade's modules (value ranges of the
optimizers and schedules are checked by the core, which names the owner of a bad value)."""

from __future__ import annotations

import numbers
from typing import Any, Dict

import numpy as np


class ParamsRepr:
    """repr, equality and hashing from ``get_params()``, for configuration objects
    (activations, optimizers, schedules): ``Adam(lr=0.001, betas=(0.9, 0.999), ...)``."""

    def get_params(self) -> Dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and \
            self.get_params() == other.get_params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.get_params().items()))))


def check_int(value: Any, name: str, minimum: int) -> int:
    """An integer >= minimum (TypeError for other types, ValueError below the minimum)."""
    value = int_type(value, name)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > 2 ** 62:  # beyond the core's 64-bit indices
        raise ValueError(f"{name} must be <= 2**62, got {value}")
    return value


def int_type(value: Any, name: str) -> int:
    """An integer (bool excluded); TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def real_type(value: Any, name: str) -> float:
    """A real number (bool excluded); TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def bool_type(value: Any, name: str) -> bool:
    """True or False (NumPy booleans too); TypeError otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def choice(value: Any, name: str, choices: tuple) -> str:
    """One of the given strings; ValueError (or TypeError) naming the choices otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
