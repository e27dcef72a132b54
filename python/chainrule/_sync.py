"""The network's lock around its methods: the core's layer buffers serve one call at a time,
and calls release the GIL, so threads sharing a network take turns. The lock is the core's
NetworkLock (threading.RLock's interface), which predict's fast path takes in C++."""

from __future__ import annotations

import functools
import os
import weakref
from typing import Any, Callable, TypeVar, cast

from . import _core

__all__ = ["serialised", "new_lock"]

# every network's lock, so that a forked child can free those the parent's other threads
# held (a fit running in another thread at the fork): the child has none of those threads
_LOCKS: "weakref.WeakSet[Any]" = weakref.WeakSet()


def new_lock() -> Any:
    """A network's lock (``_core.NetworkLock``), reset in a forked child unless the forking
    thread held it."""
    lock = _core.NetworkLock()
    _LOCKS.add(lock)
    return lock


def _free_in_child() -> None:
    for lock in list(_LOCKS):
        lock._at_fork_reinit()


if hasattr(os, "register_at_fork"):  # (POSIX)
    os.register_at_fork(after_in_child=_free_in_child)

_Method = TypeVar("_Method", bound=Callable[..., Any])


def serialised(method: _Method) -> _Method:
    """Runs the method under ``self._lock``; the signature is kept for type checkers."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)
