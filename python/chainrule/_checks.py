"""Type checks of configuration values shared by the facade's modules (value ranges of the
optimizers and schedules are checked by the core, which names the owner of a bad value)."""

from __future__ import annotations

import copy
import inspect
import numbers
from typing import Any, Dict, Optional

import numpy as np


class ParamsRepr:
    """repr, equality and hashing from ``get_params()``, for configuration objects
    (activations, losses, optimizers, schedules): ``Adam(lr=0.001, betas=(0.9, 0.999), ...)``.

    The default ``get_params()`` reads, as scikit-learn's estimators do, one attribute per
    parameter of ``__init__`` (``Huber(delta=0.1)`` stores ``self.delta``), so a subclass
    whose constructor keeps its arguments under their own names needs nothing more to be
    shown, compared, saved and loaded with its parameters."""

    def get_params(self) -> Dict[str, Any]:
        """The object's parameters by name: those of ``__init__``, read from the attributes of
        the same names. Override it when the constructor stores them otherwise."""
        init = type(self).__init__
        if init is object.__init__:
            return {}
        params = {}
        for p in inspect.signature(init).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if not hasattr(self, p.name):
                raise TypeError(
                    f"{type(self).__name__}.__init__ takes {p.name!r}, but the object has no "
                    f"attribute {p.name!r}: store it as self.{p.name} or define get_params() "
                    "returning the constructor's arguments"
                )
            params[p.name] = getattr(self, p.name)
        return params

    def __sklearn_clone__(self) -> "ParamsRepr":
        """scikit-learn's ``clone`` of an estimator given such an object (``activation=
        cr.LeakyReLU(0.2)``): a copy, as clone copies a parameter that is not an estimator.
        Without it, clone would take the object for an estimator by its ``get_params`` and
        call ``get_params(deep=False)``, which this ``get_params`` (a user's too) does not take."""
        return copy.deepcopy(self)

    def _params_or_none(self) -> Optional[Dict[str, Any]]:
        try:
            return self.get_params()
        except Exception:  # a user's get_params: repr and == must not raise
            return None

    def __repr__(self) -> str:
        params = self._params_or_none()
        if params is None:
            return f"{type(self).__name__}(...)"
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        mine = self._params_or_none()
        return self is other if mine is None else mine == other._params_or_none()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        params = self._params_or_none()
        if params is None:
            return id(self)
        try:
            return hash((type(self), tuple(sorted(params.items()))))
        except TypeError:  # a parameter that is a list or a dict
            return hash((type(self), tuple(sorted(params))))


def check_int(value: Any, name: str, minimum: int) -> int:
    """An integer >= minimum (TypeError for other types, ValueError below the minimum)."""
    value = int_type(value, name)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > 2**62:  # beyond the core's 64-bit indices
        raise ValueError(f"{name} must be <= 2**62, got {value}")
    return value


def int_type(value: Any, name: str) -> int:
    """An integer (bool excluded); TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def real_type(value: Any, name: str) -> float:
    """A real number (bool excluded) as a float; TypeError for other types, ValueError for a
    number beyond the float range (an int such as ``10**400``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return _to_float(value, name)


def int_as_real(value: Any, name: str) -> float:
    """An integer (as for :func:`int_type`) as the float the core takes; ValueError beyond
    the float range, or past 2**53 where the float would be another integer."""
    as_int = int_type(value, name)
    as_float = _to_float(as_int, name)
    if as_float != as_int:  # (the core would see, and name, the rounded value)
        raise ValueError(f"{name} must be an integer of magnitude at most 2**53, got {as_int}")
    return as_float


def _to_float(value: Any, name: str) -> float:
    """float(value), with the OverflowError of a number beyond the float range (a Python int
    or Fraction past about 1.8e308) as a ValueError naming the parameter."""
    try:
        return float(value)
    except OverflowError:
        if isinstance(value, numbers.Integral):  # str() of a huge int is slow or refused
            digits = int(int(value).bit_length() * 0.30103) + 1
            shown = f"{'a negative' if value < 0 else 'an'} integer of about {digits} digits"
        else:
            shown = f"{value!r:.60}"
        raise ValueError(
            f"{name} must be within the float range (magnitude below about 1.8e308), got {shown}"
        ) from None


def optional_real(value: Any, name: str) -> Optional[float]:
    """None, or a real number as for :func:`real_type`."""
    return None if value is None else real_type(value, name)


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


def core_number(kind: str, value: Any, name: str) -> float:
    """A parameter value as the core's factories take it, by the kind its registry entry
    gives: "flag" (True or False), "integer" or "real"; TypeError naming it otherwise. The
    value's range is the core's to check."""
    if kind == "flag":
        return float(bool_type(value, name))
    if kind == "integer":
        return int_as_real(value, name)
    return real_type(value, name)


def core_params(
    entry: Any, values: Dict[str, Any], owner: Optional[str] = None
) -> Dict[str, float]:
    """The parameters of a registry entry (``_registry.Entry``) by name as the core's factory
    takes them, from ``values`` by name; a value of None is left out (its default, or for an
    optional parameter without one, the factory's choice). Type errors name
    ``"<owner>: <label>"`` (owner: the entry's class name by default)."""
    owner = owner or entry.class_name
    return {
        p.name: core_number(p.kind, values[p.name], f"{owner}: {p.label}")
        for p in entry.params
        if values.get(p.name) is not None
    }


def refuse_masked(a: Any, name: str) -> None:
    """ValueError when ``a`` is a masked array with masked values: np.asarray would take the
    values under the mask, which mean nothing."""
    if np.ma.is_masked(a):
        raise ValueError(
            f"{name} is a masked array with {int(np.ma.count_masked(a))} masked value(s): "
            "fill them (.filled(value)) or drop their rows first"
        )
