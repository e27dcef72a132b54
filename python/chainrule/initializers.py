"""Weight initialisation, drawn with NumPy's seeded Generator (the same on every platform)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _registry
from .activations import Activation, is_builtin

__all__ = ["HE_ACTIVATIONS", "he_normal", "xavier_normal", "initializer_for"]

#: Activations whose layers get He initialisation under init="auto": the ReLU-like ones, those
#: whose registry entry has the property "he_init".
HE_ACTIVATIONS = tuple(_registry.ACTIVATIONS.with_property("he_init"))


def he_normal(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """N(0, 2 / fan_in), for ReLU-like layers."""
    return rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)


def xavier_normal(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out)) (Glorot), for the other layers."""
    return rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))


def initializer_for(init: Any, activation: Activation, layer: int) -> Callable:
    """The function drawing W for one layer: init is "auto", "he", "xavier" or a callable
    ``init(n_in, n_out, rng) -> array of shape (n_in, n_out)``."""
    if callable(init):
        return init
    if init == "auto":
        # a custom activation's name only shows it: He initialisation is for the built-ins
        he = is_builtin(activation) and activation.name in HE_ACTIVATIONS
        return he_normal if he else xavier_normal
    if init == "he":
        return he_normal
    if init == "xavier":
        return xavier_normal
    raise ValueError(
        f"layer {layer}: init must be 'auto', 'he', 'xavier' or a callable "
        f"(n_in, n_out, rng) -> array, got {init!r}"
    )
