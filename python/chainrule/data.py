"""Input conversion: anything array-like in, a C-contiguous array of the model's dtype out.

Arrays that already have the right dtype and layout pass through without a copy. Value checks
(finite numbers, valid targets) are made by the core, which names the row and column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_dtype(dtype: Any) -> type:
    """np.float32 or np.float64 from "float32"/"float64"/np.float32/np.dtype(...)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return _DTYPES[name]


def as_matrix(a: Any, dtype: type, name: str, *, column_if_1d: bool = False) -> np.ndarray:
    """A 2-D C-contiguous array of ``dtype``.

    ``column_if_1d`` makes a 1-D input one column (for targets of a one-output network).
    """
    if (type(a) is np.ndarray and a.dtype.type is dtype and a.ndim == 2 and a.size
            and a.flags.c_contiguous):
        return a  # already what the core takes (the common case, kept cheap for predict)
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(a, "to_numpy") and not isinstance(a, np.ndarray):  # pandas and friends
        a = a.to_numpy()
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real; got complex dtype {arr.dtype}")
    if arr.dtype.kind in "mM":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        try:
            with np.errstate(all="ignore"):
                arr = arr.astype(np.float64)
        except OverflowError:  # a Python int beyond float64's range
            raise ValueError(f"{name} contains a number too large for float64") from None
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype} "
                            f"(e.g. {_first_non_numeric(arr)!r})") from None
        if arr.dtype.kind == "c":
            raise TypeError(f"{name} must be real; got complex values")
    if arr.ndim == 1 and column_if_1d:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        hint = (" (use reshape(-1, 1) for one feature or reshape(1, -1) for one sample)"
                if arr.ndim == 1 else "")
        raise ValueError(f"{name} must be 2-D (samples, columns), got a {arr.ndim}-D array "
                         f"of shape {arr.shape}{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf: reported by the core
        return np.ascontiguousarray(arr, dtype=dtype)


def _first_non_numeric(arr: np.ndarray) -> Any:
    for v in arr.flat:
        try:
            float(v)
        except (TypeError, ValueError):
            return v
    return None
