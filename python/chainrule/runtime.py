"""Threads and CPU dispatch of the core's kernels."""

from __future__ import annotations

import numbers
from typing import Any, Dict

import numpy as np

from . import _core

__all__ = [
    "set_num_threads",
    "get_num_threads",
    "cpu_info",
    "thread_pool_stats",
    "set_small_network_path",
    "small_network_path",
]


def set_num_threads(n: int) -> None:
    """Use n threads (>= 1) in the kernels. Results are bitwise identical for any n; more
    threads than the CPUs this process may run on make every parallel call slower."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n > 2**31 - 1:
        raise ValueError(f"n must be < 2**31, got {n}")
    _core.set_num_threads(int(n))  # ValueError if the system cannot start n threads


def get_num_threads() -> int:
    """Threads the kernels use (default: the CPUs this process may run on)."""
    return int(_core.get_num_threads())


def cpu_info() -> Dict[str, Any]:
    """Which kernels run: ``{"kernel": "avx512", "supported": [...], "threads": 2,
    "description": "<CPU model>; kernels supported: ...; active: ..."}``.

    The kernel level is chosen once at import, the best this CPU supports; the environment
    variable ``CHAINRULE_KERNEL=portable|avx2|avx512`` forces a lower one."""
    k = _core.kernels
    return {
        "kernel": k.active_level(),
        "supported": list(k.supported_levels()),
        "threads": get_num_threads(),
        "description": k.cpu_description(),
    }


def thread_pool_stats() -> Dict[str, int]:
    """How the kernels' threads shared the work, counted since the process started:
    ``{"jobs": ..., "worker_parts": ..., "worker_parts_run_by_caller": ...}``.

    A job is one parallel call (a large product, a step of the fused small-network path, a
    one-row predict's product); each worker thread has a part in it. The calling thread runs a
    worker's part itself when that worker has not started a few microseconds after the caller
    finished its own, instead of waiting for it: the worker's core was busy with another program
    (or another library's threads, such as OpenBLAS's after a NumPy call), or the system had not
    scheduled it. Such a call runs at about one thread's speed, so a large share of parts run by
    the caller explains a fit or a predict that two threads did not make faster. The results
    are the same bits either way. Take the difference of two calls to count a stretch of work::

        before = cr.runtime.thread_pool_stats()
        net.fit(X, Y, epochs=10)
        after = cr.runtime.thread_pool_stats()
        taken = after["worker_parts_run_by_caller"] - before["worker_parts_run_by_caller"]
    """
    return {str(k): int(v) for k, v in _core.thread_pool_stats().items()}


def set_small_network_path(enabled: bool) -> None:
    """Allow (True, the default) or forbid (False) the fused training step of small networks.

    fit trains a plain network of narrow dense layers (element-wise activations, no
    penalties, no sample weights, no clipping, one process, AVX2 or AVX-512 kernels) with one
    fused call per step, its batch's rows in the vector lanes; everything else, and every fit
    while this is False, takes the general per-layer path. The two agree to rounding: the fused
    step adds the rows of dW and db in another order (see docs/design.md). The environment
    variable ``CHAINRULE_SMALL_STEP=0`` sets False (read at the first fit; a value other than 0
    or 1 raises ValueError there)."""
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _core.kernels.set_small_step_enabled(bool(enabled))


def small_network_path() -> bool:
    """Whether fit may use the fused small-network step (see set_small_network_path)."""
    return bool(_core.kernels.small_step_enabled())
