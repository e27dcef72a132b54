"""Shared by the tests of bad input (test_errors.py) and of misbehaving extensions and divergence
(test_misbehaving_extensions.py, test_divergence.py): a small regression problem, the network
fitted to it, and the check that an error message names what was wrong."""

from __future__ import annotations

import numpy as np

import chainrule as cr

_rng = np.random.default_rng(0)
X = _rng.normal(size=(10, 2))
Y = _rng.normal(size=(10, 1))


def small_net(**kw) -> cr.Network:
    """2-4-1 tanh/linear, seed 0."""
    return cr.Network([2, 4, 1], ["tanh", "linear"], seed=0, **kw)


def assert_message(exc_info, *parts: str) -> None:
    """Every one of ``parts`` is in the message of the exception ``exc_info`` holds."""
    msg = str(exc_info.value)
    for p in parts:
        assert p in msg, f"{p!r} not in message {msg!r}"
