"""The arguments of ``Network.fit`` in Python: sample and class weights, validation data or
split, metric names, the callback list, the one function the core calls after each epoch,
and the History made of what the core returns.
Their values are checked by the core's Trainer; here types, shapes and Python objects."""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _registry
from ._checks import real_type
from .callbacks import (
    EarlyStopping,
    EpochLines,
    History,
    ProgressBar,
    StopTraining,
    as_callback,
)
from .data import as_matrix, check_feature_names
from .losses import classification_loss_names, is_classification

__all__ = [
    "sample_weights",
    "class_weight_spec",
    "training_rows",
    "split_validation",
    "metric_names",
    "callback_list",
    "check_distinct",
    "rank_settings",
    "epoch_hook",
    "hook_interval",
    "figures",
    "recorded",
    "history",
    "begin_training",
    "end_training",
    "notify_exception",
]

ArrayLike = Any


def sample_weights(
    w: ArrayLike, n: int, what: str, dtype: np.dtype, call: str = "fit"
) -> np.ndarray:
    """Sample weights as a contiguous (n,) array of the network's dtype (values are
    checked by the core); messages start with ``call``."""
    if hasattr(w, "to_numpy") and not isinstance(w, np.ndarray):
        w = w.to_numpy()
    arr = np.asarray(w)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{call}: {what} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(
            f"{call}: {what} must have shape ({n},), one weight per row, got shape {arr.shape}"
        )
    with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf: the core
        return np.ascontiguousarray(arr, dtype=dtype)


_MAX_INDEX = 2**62  # class indices beyond this do not fit the core's 64-bit indices


def class_weight_spec(class_weight: Any, loss: Any, comm: Any) -> Any:
    """fit's ``class_weight`` as the core takes it: ``"balanced"``, or a list of ``(class
    index, weight)`` pairs from a dict (types here; the classes and weights are checked by the
    core). The loss must be a classification loss (its registry property)."""
    if not is_classification(loss):
        raise ValueError(
            "fit: class_weight needs a classification loss ("
            f"{', '.join(map(repr, classification_loss_names()))}), got {loss!r}"
        )
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                "fit: class_weight must be 'balanced' or a dict {class index: "
                f"weight}}, got {class_weight!r}"
            )
        if comm is not None:
            raise ValueError(
                "fit: class_weight='balanced' counts the classes of the rows fit "
                "trains on, which a data-parallel fit (comm=...) holds on several "
                "ranks: compute the weights over the global data (e.g. sklearn."
                "utils.class_weight.compute_class_weight) and pass them as a dict"
            )
        return class_weight
    if not isinstance(class_weight, Mapping):
        raise TypeError(
            "fit: class_weight must be 'balanced' or a dict {class index: weight}, "
            f"got {type(class_weight).__name__}"
        )
    pairs = []
    for key, weight in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral):
            raise TypeError(
                f"fit: class_weight's keys must be class indices (integers), got {key!r}"
            )
        if abs(int(key)) > _MAX_INDEX:  # beyond the core's 64-bit indices: no core to ask
            raise ValueError(f"fit: class_weight: unknown class {int(key)}")
        pairs.append((int(key), real_type(weight, f"fit: class_weight[{int(key)}]")))
    return pairs


def training_rows(n: int, validation_split: float) -> int:
    """How many of n rows ``validation_split`` leaves for training (the first ones)."""
    return int(math.floor(n * (1.0 - validation_split)))


def split_validation(
    X: np.ndarray,
    Y: np.ndarray,
    w: Optional[np.ndarray],
    validation_data: Any,
    validation_split: Any,
    names: Optional[Sequence[str]],
    dtype: np.dtype,
    targets: Callable[[Any, str], np.ndarray],
) -> tuple:
    """(X, Y, w) for training and (X_val, Y_val, w_val) for validation (None when absent);
    ``targets(Y_val, name)`` converts validation targets as the network converts its own."""
    split = real_type(validation_split, "validation_split")
    if not (0.0 <= split < 1.0):
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    if validation_data is not None:
        if split > 0:
            raise ValueError("pass either validation_data or validation_split, not both")
        if (
            isinstance(validation_data, (str, bytes, np.ndarray))
            or not isinstance(validation_data, Sequence)
            or len(validation_data) not in (2, 3)
        ):
            raise TypeError(
                "validation_data must be a tuple (X_val, Y_val) or "
                "(X_val, Y_val, sample_weight_val)"
            )
        check_feature_names(names, validation_data[0], "fit: validation_data")
        X_val = as_matrix(validation_data[0], dtype.type, "validation_data X")
        Y_val = targets(validation_data[1], "validation_data Y")
        w_val = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            w_val = sample_weights(
                validation_data[2], X_val.shape[0], "validation_data sample_weight", dtype
            )
        return X, Y, w, X_val, Y_val, w_val
    if split == 0:
        return X, Y, w, None, None, None
    n = X.shape[0]
    n_train = training_rows(n, split)
    if n_train == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} rows leaves no validation rows"
        )
    if n_train == 0:
        raise ValueError(f"validation_split={validation_split} of {n} rows leaves no training rows")
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
            raise TypeError(
                f"metrics must be names like {' or '.join(map(repr, _registry.METRICS))}, got {m!r}"
            )
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
            raise TypeError(
                "callbacks must be a list of functions f(epoch, logs, network) "
                f"or objects with on_epoch_end, got {type(callbacks).__name__}"
            )
        cbs.extend(as_callback(cb, i) for i, cb in enumerate(callbacks))
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(
                "early_stopping must be a chainrule.EarlyStopping, got "
                f"{type(early_stopping).__name__}"
            )
        cbs.append(early_stopping)
    return cbs


def check_distinct(cbs: List[Any]) -> None:
    """ValueError when one callback object comes twice (an EarlyStopping given as
    early_stopping= and in callbacks=, a Dashboard as dashboard= and in callbacks=, one
    listed twice): it would run twice after every epoch, an EarlyStopping counting each
    epoch twice. Refused rather than run once, which would mean choosing silently where."""
    seen = set()
    for cb in cbs:
        if id(cb) in seen:
            raise ValueError(
                f"fit: the same {type(cb).__name__} is given twice (callbacks=, "
                "early_stopping= and dashboard= each add theirs): it would run twice after "
                "every epoch; give it once"
            )
        seen.add(id(cb))


def rank_settings(
    network: Any,
    loop: Dict[str, Any],
    optimizer: Tuple[str, Dict[str, Any]],
    schedule: Any,
    clipping: Dict[str, Any],
    metrics: List[str],
    class_weight: Any,
    core_args: Tuple[Any, ...],
    diagnostics: Any,
    early_stopping: Any,
) -> List[Tuple[str, Any]]:
    """What every rank of a data-parallel fit must pass alike (Context.check_same compares
    them): the network's description, the loop's settings (``loop``: epochs, lr, batch_size,
    shuffle), the optimizer's ``(name, params)``, the schedule's and diagnostics' core specs,
    clipping, metrics, class weights, whether each of validation data, sample weights and
    validation weights is given (``core_args``: fit's ``(w, X_val, Y_val, w_val, ...)``) and
    early stopping's settings, which decide when every rank stops."""
    w, X_val, _, w_val = core_args[:4]
    return [
        ("layer sizes", list(network.layer_sizes)),
        # kinds (collectives inside), activations with their parameters, l1/l2, dropout p,
        # BatchNorm momentum and eps: the reprs say them all
        ("layers", [repr(c) for c in network.layer_configs]),
        ("loss", repr(network.loss_function)),
        ("dtype", str(network.dtype)),
        *loop.items(),
        ("optimizer", optimizer),
        ("lr_schedule", schedule),
        ("clip_norm", clipping["clip_norm"]),
        ("clip_value", clipping["clip_value"]),
        ("metrics", metrics),
        (
            "class_weight",
            sorted(class_weight.items(), key=repr)
            if isinstance(class_weight, dict)
            else class_weight,
        ),
        ("validation (present or not)", X_val is not None),
        # (weights far from 1 are scaled by a power of two on every rank alike)
        ("sample_weight (present or not)", w is not None),
        ("validation sample_weight (present or not)", w_val is not None),
        ("diagnostics", diagnostics),
        ("early_stopping", None if early_stopping is None else repr(early_stopping)),
    ]


def hook_interval(cbs: List[Any]) -> float:
    """The seconds the core may let pass between calls of the epoch hook: the smallest
    ``min_interval`` of the callbacks (an object without one needs every epoch: 0)."""
    interval = math.inf
    for cb in cbs:
        value = getattr(cb, "min_interval", 0.0)
        value = real_type(value, f"{type(cb).__name__}.min_interval")
        if not (0.0 <= value < math.inf):
            raise ValueError(
                f"{type(cb).__name__}.min_interval must be a number of seconds >= 0, got {value!r}"
            )
        interval = min(interval, value)
    return 0.0 if interval == math.inf else interval


def epoch_hook(
    cbs: List[Any],
    names: List[str],
    validation: bool,
    network: Any,
    agree: Optional[Callable[[bool], bool]] = None,
    history: Optional[History] = None,
) -> Callable:
    """The one Python function the core calls after each epoch. ``agree`` (data-parallel
    training) turns this process's decision to go on into every process's: training goes on
    only if it goes on everywhere, so that a stop on one rank stops every rank after the same
    epoch. ``history`` (given when the core calls after every epoch): the fit's History so
    far, which each call extends with its epoch and makes ``network.history`` before the
    callbacks run."""

    def on_epoch_end(
        epoch: int, loss: float, val_loss: float, lr: float, metrics: tuple, val_metrics: tuple
    ) -> bool:
        logs = figures(names, loss, metrics, val_loss if validation else None, val_metrics, lr)
        if history is not None:
            for key, value in logs.items():
                history.history[key].append(value)
            network.history = history
        go_on = True
        for cb in cbs:
            try:
                result = cb.on_epoch_end(epoch, dict(logs), network)
                # False stops (NumPy's too: a comparison of NumPy values), None goes on
                if isinstance(result, (bool, np.bool_)) and not result:
                    go_on = False
            except StopTraining:
                go_on = False
        return go_on if agree is None else agree(go_on)

    return on_epoch_end


def figures(
    names: List[str],
    loss: Any,
    metrics: Sequence[Any],
    val_loss: Any,
    val_metrics: Sequence[Any],
    lr: Any,
) -> Dict[str, Any]:
    """A fit's figures by name, in the order it records them: loss, the metrics (``names``),
    val_loss and val_<metric> (unless val_loss is None: no validation data), lr. The values
    are an epoch's (its logs) or every epoch's (the History's series)."""
    out: Dict[str, Any] = {"loss": loss}
    out.update(zip(names, metrics))
    if val_loss is not None:
        out["val_loss"] = val_loss
        out.update(zip([f"val_{m}" for m in names], val_metrics))
    out["lr"] = lr
    return out


def recorded(names: List[str], validation: bool) -> List[str]:
    """The names of what a fit records each epoch, in order (see figures)."""
    none = [None] * len(names)
    return list(figures(names, None, none, "" if validation else None, none, None))


def history(
    names: List[str],
    loss: Sequence[float],
    train_metrics: Sequence[Sequence[float]],
    val_loss: Optional[Sequence[float]],
    val_metrics: Sequence[Sequence[float]],
    lrs: Sequence[float],
    diagnostics: Any,
) -> History:
    """The History of the core's per-epoch series (val_loss None: no validation data)."""
    series = figures(names, loss, train_metrics, val_loss, val_metrics, lrs)
    return History({k: list(v) for k, v in series.items()}, diagnostics=diagnostics)


def begin_training(cbs: List[Any], network: Any, uninstall: Callable[[], None]) -> None:
    """Each callback's optional ``on_train_begin(network)``, in order. When one raises,
    nothing has trained: ``uninstall()`` puts back what fit installed (an optimizer, feature
    names), the callbacks begun before it get ``on_exception`` (a recorder: its run
    "stopped"), and the error is raised."""
    begun: List[Any] = []
    try:
        for cb in cbs:
            if hasattr(cb, "on_train_begin"):
                cb.on_train_begin(network)
            begun.append(cb)
    except BaseException as exc:
        uninstall()
        notify_exception(begun, network, exc)
        raise


def end_training(cbs: List[Any], network: Any) -> None:
    """Each callback's optional ``on_train_end(network)``, in order, every one even when an
    earlier one raises (early stopping, which comes last, still puts the best weights back);
    then the first such error is raised."""
    error: Optional[BaseException] = None
    for cb in cbs:
        if hasattr(cb, "on_train_end"):
            try:
                cb.on_train_end(network)
            except BaseException as exc:
                if error is None:
                    error = exc
    if error is not None:
        raise error


def notify_exception(cbs: List[Any], network: Any, exc: BaseException) -> None:
    """Each callback's optional ``on_exception(network, exception)``, when fit raises after
    the callbacks' ``on_train_begin``; an error of such a hook does not replace the one fit
    raises."""
    for cb in cbs:
        hook = getattr(cb, "on_exception", None)
        if callable(hook):
            with contextlib.suppress(Exception):
                hook(network, exc)
