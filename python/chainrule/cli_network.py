"""What the train command builds from its options: the network (hidden layers with their
activations, batch normalisation and dropout), fit's options, and the standardisation of
columns that a model file keeps for predict."""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Tuple

import numpy as np

from .cli_csv import CliError
from .layers import layer_class
from .losses import resolve_loss
from .network import Network

__all__ = [
    "build_network",
    "hidden_sizes",
    "training_options",
    "fit_scaling",
    "standardise",
    "unstandardise",
    "scaling_arrays",
]


def _split_list(text: str, what: str) -> List[str]:
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise CliError(f"{what} must be a comma-separated list, got {text!r}")
    return items


def _positive_int(text: str, what: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise CliError(f"{what}: {text!r} is not an integer") from None
    if v < 1:
        raise CliError(f"{what}: sizes must be >= 1, got {v}")
    return v


def hidden_sizes(args: argparse.Namespace) -> List[int]:
    """--layers as sizes ([] for "")."""
    return (
        [_positive_int(v, "--layers") for v in _split_list(args.layers, "--layers")]
        if args.layers.strip()
        else []
    )


def build_network(args: argparse.Namespace, n_features: int, n_outputs: int) -> Network:
    """The network of --layers, --activations, --batch-norm, --dropout, --loss, --dtype and
    --seed for data of these widths."""
    hidden = hidden_sizes(args)
    out_act = resolve_loss(args.loss).required_activation or "linear"
    acts = (
        _split_list(args.activations, "--activations")
        if args.activations
        else ["relu"] * len(hidden)
    )
    if len(acts) == len(hidden):
        acts = acts + [out_act]
    elif len(acts) != len(hidden) + 1:
        raise CliError(
            f"--activations has {len(acts)} names for {len(hidden)} hidden layers "
            f"(give one per hidden layer, or one more for the output)"
        )
    layers: List[Any] = [n_features]
    for n in hidden:  # each hidden layer, then its normalisation and dropout when asked
        layers += (
            [n]
            + ([layer_class("batch_norm")()] if args.batch_norm else [])
            + ([layer_class("dropout")(args.dropout)] if args.dropout else [])
        )
    try:
        return Network(layers + [n_outputs], acts, args.loss, dtype=args.dtype, seed=args.seed)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None


def training_options(args: argparse.Namespace) -> Dict[str, Any]:
    """fit() arguments for the optimizer, class weight, validation and progress options."""
    opts: Dict[str, Any] = {"optimizer": args.optimizer, "verbose": 0 if args.quiet else 1}
    if args.class_weight:
        opts["class_weight"] = args.class_weight
    if args.validation_split:
        if not 0 < args.validation_split < 1:
            raise CliError(
                f"--validation-split must be between 0 and 1, got {args.validation_split}"
            )
        opts["validation_split"] = args.validation_split
    return opts


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
