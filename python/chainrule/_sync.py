"""The network's lock around its methods: the core's layer buffers serve one call at a time,
and calls release the GIL, so threads sharing a network take turns. The lock is the core's
NetworkLock (threading.RLock's interface), which predict's fast path takes in C++."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar, cast

__all__ = ["serialised"]

_Method = TypeVar("_Method", bound=Callable[..., Any])


def serialised(method: _Method) -> _Method:
    """Runs the method under ``self._lock``; the signature is kept for type checkers."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)
