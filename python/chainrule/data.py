"""Input conversion: anything array-like in, a C-contiguous array of the model's dtype out.

Arrays that already have the right dtype and layout pass through without a copy. Value checks
(finite numbers, valid targets, class labels) are made by the core, which names the row and
column.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from ._checks import refuse_masked

__all__ = ["resolve_dtype", "as_matrix", "as_targets", "feature_names", "check_feature_names"]

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
    if (
        type(a) is np.ndarray
        and a.dtype.type is dtype
        and a.ndim == 2
        and a.size
        and a.flags.c_contiguous
    ):
        return a  # already what the core takes (the common case)
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(a, "to_numpy") and not isinstance(a, np.ndarray):  # pandas and friends
        a = a.to_numpy()
    refuse_masked(a, name)  # np.asarray would train on the values under the mask
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind in "US":  # as scikit-learn: numbers written as text are not taken
        raise TypeError(
            f"{name} must be numeric, got text (dtype {arr.dtype}, e.g. {arr.flat[0].item()!r}): "
            "convert it first, e.g. with .astype(float)"
        )
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
            raise TypeError(
                f"{name} must be numeric, got dtype {arr.dtype} (e.g. {_first_non_numeric(arr)!r})"
            ) from None
        if arr.dtype.kind == "c":
            raise TypeError(f"{name} must be real; got complex values")
    if arr.ndim == 1 and column_if_1d:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        hint = (
            " (use reshape(-1, 1) for one feature or reshape(1, -1) for one sample)"
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be 2-D (samples, columns), got a {arr.ndim}-D array "
            f"of shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    with np.errstate(
        over="ignore"
    ):  # a float64 too large for float32 becomes inf: reported by the core
        return np.ascontiguousarray(arr, dtype=dtype)


def as_targets(
    a: Any,
    dtype: type,
    name: str,
    n_outputs: int,
    one_hot: Optional[Callable[[np.ndarray, str], np.ndarray]],
) -> np.ndarray:
    """Targets as the core takes them, a 2-D C-contiguous array of ``dtype``.

    ``one_hot`` is given for a network with a classification loss: with several outputs, a 1-D
    array (or a single column) holds class indices in [0, n_outputs), as PyTorch's and Keras'
    sparse targets do, and ``one_hot(labels, name)`` (the core, which checks each label and
    names the row of a bad one) makes them one-hot rows. Anything else goes through
    :func:`as_matrix` (a 1-D array is one column: binary 0/1 targets of a one-output network).
    """
    if one_hot is not None and n_outputs > 1:
        labels = _class_labels(a, name)
        if labels is not None:
            return one_hot(labels, name)
    return as_matrix(a, dtype, name, column_if_1d=True)


def _class_labels(a: Any, name: str) -> Optional[np.ndarray]:
    """A 1-D array or single column ``a`` as float64 labels (m,) (their values are the core's
    to check); None for anything else (2-D targets, or not an array: as_matrix reports it)."""
    if a is None:
        return None
    if hasattr(a, "to_numpy") and not isinstance(a, np.ndarray):  # pandas and friends
        a = a.to_numpy()
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError):
        return None
    if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)):
        return None
    if arr.dtype.kind == "O":  # Python numbers in an object array
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            pass
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold class indices (integers), got dtype {arr.dtype}"
            + (
                " (map text labels to 0..n-1 first, e.g. with np.unique(y, return_inverse=True))"
                if arr.dtype.kind in "USO"
                else ""
            )
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    return np.ascontiguousarray(arr.reshape(-1), dtype=np.float64)


def _first_non_numeric(arr: np.ndarray) -> Any:
    for v in arr.flat:
        try:
            float(v)
        except (TypeError, ValueError):
            return v
    return None


def feature_names(X: Any) -> Optional[List[str]]:
    """The column names of a DataFrame-like X (anything with ``columns``) when they are all
    strings, as scikit-learn records them; None for arrays and for integer column labels.
    Names that mix strings with other types raise TypeError, as in scikit-learn."""
    if isinstance(X, np.ndarray):
        return None
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(columns, (str, bytes)):
        return None
    try:
        names = list(columns)
    except TypeError:
        return None
    kinds = {isinstance(c, str) for c in names}
    if kinds == {True}:
        return names
    if kinds == {True, False}:
        raise TypeError(
            "X's column names mix strings with other types "
            f"({sorted({type(c).__name__ for c in names})}): give every column a "
            "string name, or none (X.columns = X.columns.astype(str))"
        )
    return None


def check_feature_names(fitted: Optional[Sequence[str]], X: Any, what: str) -> None:
    """ValueError naming the missing, unexpected or reordered columns when X has column names
    that differ from the ``fitted`` ones; X without names (an array) is accepted."""
    if fitted is None:
        return
    names = feature_names(X)
    fitted = list(fitted)
    if names is None or names == fitted:
        return
    missing = [n for n in fitted if n not in names]
    unseen = [n for n in names if n not in fitted]
    problems = []
    if missing:
        problems.append("missing: " + _names(missing))
    if unseen:
        problems.append("not seen in fit: " + _names(unseen))
    if not problems:
        first = next(i for i, (a, b) in enumerate(zip(fitted, names)) if a != b)
        problems.append(
            f"the same names in another order: column {first} is {names[first]!r}, "
            f"fit had {fitted[first]!r} there; select X[net.feature_names_in_]"
        )
    raise ValueError(
        f"{what}: the columns of X do not match the feature names the network was "
        f"fitted with ({'; '.join(problems)}); fitted with {_names(fitted)}"
    )


def _names(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
