"""The arguments of ``Network.fit`` in Python: sample weights, validation data or split,
metric names, the callback list and the one function the core calls after each epoch. Their
values are checked by the core's Trainer; here types, shapes and Python objects."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import _registry
from ._checks import real_type
from .callbacks import EarlyStopping, EpochLines, ProgressBar, StopTraining, as_callback
from .data import as_matrix, check_feature_names

__all__ = ["sample_weights", "training_rows", "split_validation", "metric_names", "callback_list", "epoch_hook"]

ArrayLike = Any


def sample_weights(w: ArrayLike, n: int, what: str, dtype: np.dtype) -> np.ndarray:
    """Sample weights as a contiguous (n,) array of the network's dtype (values are
    checked by the core)."""
    if hasattr(w, "to_numpy") and not isinstance(w, np.ndarray):
        w = w.to_numpy()
    arr = np.asarray(w)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"fit: {what} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"fit: {what} must have shape ({n},), one weight per row, got "
                         f"shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def training_rows(n: int, validation_split: float) -> int:
    """How many of n rows ``validation_split`` leaves for training (the first ones)."""
    return int(math.floor(n * (1.0 - validation_split)))


def split_validation(X: np.ndarray, Y: np.ndarray, w: Optional[np.ndarray],
                     validation_data: Any, validation_split: Any,
                     names: Optional[Sequence[str]], dtype: np.dtype) -> tuple:
    """(X, Y, w) for training and (X_val, Y_val, w_val) for validation (None when absent)."""
    split = real_type(validation_split, "validation_split")
    if not (0.0 <= split < 1.0):
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    if validation_data is not None:
        if split > 0:
            raise ValueError("pass either validation_data or validation_split, not both")
        if isinstance(validation_data, (str, bytes, np.ndarray)) or \
                not isinstance(validation_data, Sequence) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (X_val, Y_val) or "
                            "(X_val, Y_val, sample_weight_val)")
        check_feature_names(names, validation_data[0], "fit: validation_data")
        X_val = as_matrix(validation_data[0], dtype.type, "validation_data X")
        Y_val = as_matrix(validation_data[1], dtype.type, "validation_data Y",
                          column_if_1d=True)
        w_val = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            w_val = sample_weights(validation_data[2], X_val.shape[0],
                                   "validation_data sample_weight", dtype)
        return X, Y, w, X_val, Y_val, w_val
    if split == 0:
        return X, Y, w, None, None, None
    n = X.shape[0]
    n_train = training_rows(n, split)
    if n_train == n:
        raise ValueError(f"validation_split={validation_split} of {n} rows leaves no "
                         "validation rows")
    if n_train == 0:
        raise ValueError(f"validation_split={validation_split} of {n} rows leaves no "
                         "training rows")
    w_train = None if w is None else w[:n_train]
    w_val = None if w is None else w[n_train:]
    return X[:n_train], Y[:n_train], w_train, X[n_train:], Y[n_train:], w_val


def metric_names(metrics: Any) -> List[str]:
    """The metric names fit records, checked against the registry."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise TypeError(f"metrics must be a list of names like ['accuracy'], got {metrics!r}")
    names = []
    for m in metrics:
        if not isinstance(m, str):
            raise TypeError("metrics must be names like "
                            f"{' or '.join(map(repr, _registry.METRICS))}, got {m!r}")
        _registry.METRICS.lookup(m)  # the core's ValueError lists the valid names
        if m in names:
            raise ValueError(f"metric {m!r} is listed twice")
        names.append(m)
    return names


def callback_list(callbacks: Any, early_stopping: Any, verbose: int, epochs: int) -> List[Any]:
    """Progress first, then the user's callbacks in order, then early stopping."""
    cbs: List[Any] = []
    if verbose == 1:
        cbs.append(ProgressBar(epochs))
    elif verbose == 2:
        cbs.append(EpochLines(epochs))
    if callbacks is not None:
        if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
            raise TypeError("callbacks must be a list of functions f(epoch, logs, network) "
                            f"or objects with on_epoch_end, got {type(callbacks).__name__}")
        cbs.extend(as_callback(cb, i) for i, cb in enumerate(callbacks))
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError("early_stopping must be a chainrule.EarlyStopping, got "
                            f"{type(early_stopping).__name__}")
        cbs.append(early_stopping)
    return cbs


def epoch_hook(cbs: List[Any], names: List[str], validation: bool, network: Any) -> Callable:
    """The one Python function the core calls after each epoch."""
    val_names = [f"val_{m}" for m in names]

    def on_epoch_end(epoch: int, loss: float, val_loss: float, lr: float,
                     metrics: tuple, val_metrics: tuple) -> bool:
        logs: Dict[str, float] = {"loss": loss}
        logs.update(zip(names, metrics))
        if validation:
            logs["val_loss"] = val_loss
            logs.update(zip(val_names, val_metrics))
        logs["lr"] = lr
        go_on = True
        for cb in cbs:
            try:
                if cb.on_epoch_end(epoch, dict(logs), network) is False:
                    go_on = False
            except StopTraining:
                go_on = False
        return go_on

    return on_epoch_end
