"""The standardisation of the command line's columns: their means and scales (what a model
file keeps for predict), taken without overflow or underflow near the float limits, and their
application and inversion, with an error naming the cell that leaves the float range."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .cli_csv import CliError, Rows

__all__ = [
    "fit_scaling",
    "standardise",
    "unstandardise",
    "scaling_arrays",
    "standardised",
    "first_non_finite",
]


def fit_scaling(A: np.ndarray, names: List[str]) -> Dict[str, Any]:
    """Per-column mean and standard deviation of ``A`` (n, k), as scikit-learn's StandardScaler
    takes them. Each column is scaled by its largest magnitude first (``mean = s * mean(x /
    s)``, likewise the deviation, ``s`` a power of two), so that values near the largest double
    do not overflow and tiny ones do not underflow: the mean and scale are finite for finite
    data. A (near-)constant column keeps scale 1, as with StandardScaler: its variance is within
    the rounding error of computing it (StandardScaler's test), or its deviation is 0 or not a
    normal double (where StandardScaler's variance, taken unscaled, has underflowed to 0; it
    does so already below about 1e-162, where this keeps the true, normal scale)."""
    # by the power of two of the largest magnitude: exact, so the statistics are those of the
    # column itself wherever that arithmetic would neither overflow nor underflow
    exponent = np.frexp(np.max(np.abs(A), axis=0))[1]
    U = np.ascontiguousarray(np.ldexp(A, -exponent).T)  # a row per column, within (-1, 1)
    mean_u = U.mean(axis=1)
    D = U - mean_u[:, None]  # the corrected two-pass variance, as StandardScaler takes it
    var_u = np.maximum((D**2).mean(axis=1) - D.mean(axis=1) ** 2, 0.0)
    eps = np.finfo(np.float64).eps
    n = A.shape[0]
    constant = var_u <= n * eps * var_u + (n * mean_u * eps) ** 2
    mean, scale = np.ldexp(mean_u, exponent), np.ldexp(np.sqrt(var_u), exponent)
    scale[constant | (scale < np.finfo(np.float64).tiny)] = 1.0
    return {
        "columns": list(names),
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
    }


def standardise(A: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(A - mean) / scale``; a difference beyond the float range (values near the largest
    double, of the other sign than the mean) is taken at half size, so only a result beyond
    the range is infinite (no NumPy warning either way)."""
    with np.errstate(over="ignore"):
        Z = (A - mean) / scale
        wide = np.isinf(Z)
        if wide.any():
            Z[wide] = (((A / 2 - mean / 2) / scale) * 2)[wide]
    return Z


def unstandardise(Z: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``Z * scale + mean``, the inverse of :func:`standardise`, at half size where the product
    alone is beyond the float range; only a result beyond the range is infinite."""
    with np.errstate(over="ignore"):
        A = Z * scale + mean
        wide = ~np.isfinite(A)
        if wide.any():
            A[wide] = ((Z * (scale / 2) + mean / 2) * 2)[wide]
    return A


def scaling_arrays(entry: Dict[str, Any], k: int, what: str) -> Tuple[np.ndarray, np.ndarray]:
    try:
        mean = np.asarray(entry["mean"], dtype=float)
        scale = np.asarray(entry["scale"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise CliError(f"the model's {what} scaling is malformed") from None
    if mean.shape != (k,) or scale.shape != (k,) or not np.all(scale > 0):
        raise CliError(f"the model's {what} scaling does not fit its {k} {what} column(s)")
    return mean, scale


def first_non_finite(A: np.ndarray) -> Optional[Tuple[int, int]]:
    """The (row, column) of A's first value that is not finite, if any."""
    bad = np.argwhere(~np.isfinite(A))
    return (int(bad[0][0]), int(bad[0][1])) if bad.size else None


def standardised(
    path: str, rows: Rows, names: List[str], A: np.ndarray, entry: Dict[str, Any], hint: str
) -> np.ndarray:
    """``A``'s columns standardised by ``entry``'s means and scales; a value whose standardised
    form is beyond the float range (a row the statistics were not taken from: held out for
    validation, or predicted) is an error naming its place."""
    mean, scale = np.asarray(entry["mean"]), np.asarray(entry["scale"])
    Z = standardise(A, mean, scale)
    bad = first_non_finite(Z)
    if bad is not None:
        i, j = bad
        raise CliError(
            f"{rows.place(path, i, names[j])}: {float(A[i, j])!r} is too far from the mean "
            f"{mean[j]:.6g}, in units of the scale {scale[j]:.6g}, to standardise (beyond the "
            f"float range){hint}"
        )
    return Z
