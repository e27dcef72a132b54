"""What fit records and calls at the end of every epoch: History, callbacks, early stopping
and progress output. The core re-enters Python at most once per epoch, and only when one of
these is attached (less often when every one of them has a ``min_interval``)."""

from __future__ import annotations

import html
import math
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _registry
from ._checks import bool_type, choice, int_type, real_type
from .diagnostics import DiagnosticsLog

__all__ = ["History", "Callback", "EarlyStopping", "StopTraining", "monitor_mode", "check_recorded"]


class StopTraining(Exception):
    """Raise inside a callback to end ``fit`` cleanly after the current epoch."""


class History:
    """What ``fit`` recorded, one value per epoch run: ``history.loss`` (mean training loss,
    each batch's measured before its update), ``history.lr`` (the learning rate of the
    epoch), ``history.val_loss`` with validation data, and each metric (``history.accuracy``,
    ``history.val_accuracy``, ``history.r2``, ...). ``history.history`` is the dict of all.
    ``history.diagnostics``: the per-layer records of ``fit(..., diagnostics=True)`` (a
    :class:`~chainrule.diagnostics.DiagnosticsLog`, empty without)."""

    def __init__(
        self,
        history: Optional[Dict[str, List[float]]] = None,
        *,
        diagnostics: Optional[DiagnosticsLog] = None,
        **series: List[float],
    ) -> None:
        self.history: Dict[str, List[float]] = dict(history or {})
        self.history.update(series)
        self.history.setdefault("loss", [])
        self._diagnostics = diagnostics if diagnostics is not None else DiagnosticsLog()

    @property
    def diagnostics(self) -> DiagnosticsLog:
        # (absent from Histories pickled before it existed)
        log = self.__dict__.get("_diagnostics")
        return log if log is not None else DiagnosticsLog()

    def __getattr__(self, name: str) -> List[float]:
        if name.startswith("__"):
            raise AttributeError(name)
        history = self.__dict__.get("history", {})
        if name in history:
            return history[name]
        raise AttributeError(
            f"History has no {name!r}: fit recorded {', '.join(history)}"
            + (
                " (val_* needs validation_data or validation_split)"
                if name.startswith("val_")
                else ""
            )
            + (
                " (metrics need fit(..., metrics=[...]))"
                if (name[4:] if name.startswith("val_") else name) in _registry.METRICS
                else ""
            )
        )

    def keys(self) -> List[str]:
        return list(self.history)

    @property
    def epochs(self) -> int:
        return len(self.history["loss"])

    def __len__(self) -> int:
        return self.epochs

    def __repr__(self) -> str:
        return f"History({self.epochs} epochs: {', '.join(self.history)})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, History)
            and self.history == other.history
            and self.diagnostics == other.diagnostics
        )

    def _repr_html_(self) -> str:
        """A table with one row per epoch (what Jupyter shows); a long history shows its
        first and last 10 epochs."""
        keys = list(self.history)
        n = self.epochs
        shown = list(range(n)) if n <= 20 else list(range(10)) + [-1] + list(range(n - 10, n))
        head = "<th>epoch</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        rows = []
        for e in shown:
            if e < 0:
                rows.append(f"<tr><td>...</td>{'<td>...</td>' * len(keys)}</tr>")
                continue
            cells = "".join(
                f"<td>{self.history[k][e]:.6g}</td>" if e < len(self.history[k]) else "<td></td>"
                for k in keys
            )
            rows.append(f"<tr><td>{e + 1}</td>{cells}</tr>")
        return (
            f"<div><p><b>History</b>: {n} epochs</p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def plot(
        self,
        path: Union[None, str, "os.PathLike[str]", Sequence[str]] = None,
        *,
        keys: Optional[Sequence[str]] = None,
    ) -> Any:
        """Draw the curves with matplotlib: one panel per quantity (loss, each metric, lr),
        training and validation together; returns the Figure. Needs matplotlib.

        ``path`` (a file name such as ``"loss.png"``) also saves the figure there, in the
        format its extension names. ``keys`` chooses the panels (default: all); a list
        passed in the place of ``path`` is taken as ``keys``, as before."""
        if path is not None and not isinstance(path, (str, bytes, os.PathLike)):
            if keys is not None:
                raise TypeError("History.plot: pass the keys once (keys=...)")
            path, keys = None, path
        if isinstance(keys, (str, bytes)):
            raise TypeError(
                f"History.plot: keys must be a list of names like ['loss'], got {keys!r}"
            )
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib, which is not installed: pip install matplotlib"
            ) from None
        names = [k for k in (keys or self.history) if not k.startswith("val_")]
        for k in names:
            if k not in self.history:
                raise ValueError(f"History.plot: no {k!r}; recorded: {', '.join(self.history)}")
        fig, axes = plt.subplots(
            1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3), squeeze=False
        )
        epochs = np.arange(1, self.epochs + 1)
        for ax, k in zip(axes[0], names):
            ax.plot(epochs, self.history[k], label=k)
            if "val_" + k in self.history:
                ax.plot(epochs, self.history["val_" + k], label="val_" + k)
            ax.set_xlabel("epoch")
            ax.set_title(k)
            if k in ("loss", "lr") and all(v > 0 for v in self.history[k]):
                ax.set_yscale("log")
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig

    def report(
        self,
        path: Union[str, "os.PathLike[str]"],
        network: Any = None,
        X: Any = None,
        Y: Any = None,
        *,
        title: Optional[str] = None,
    ) -> None:
        """Write the dashboard's views of this fit as one self-contained HTML file (it opens
        without a server or network): the loss, metric and learning-rate curves and the
        per-layer diagnostics. With ``network`` (the trained one), also the network drawn
        layer by layer and the heatmaps of its weights; with its training rows ``X, Y``
        too, the gradients dW, the derivation's Z, H and dZ for the first rows and, for
        two input features, the decision surface. Needs plotly (``pip install
        "chainrule[dashboard]"``)."""
        from . import report  # upward: the report draws with the dashboard's page

        report.history_report(self, path, network, X, Y, title=title)


class Callback:
    """Base class of callbacks (any object with ``on_epoch_end`` works too).

    ``on_epoch_end(epoch, logs, network)`` runs after every epoch (``epoch`` counts from 0;
    ``logs`` holds that epoch's ``loss``, metrics, ``val_*`` values and ``lr``); returning
    ``False`` or raising :class:`StopTraining` ends training after it. Optional
    ``on_train_begin(network)`` and ``on_train_end(network)`` run around the fit (every
    callback's ``on_train_end``, even when an earlier one raises: early stopping still puts
    the best weights back, and then the first such error reaches the caller), and
    ``on_exception(network, exception)`` instead of ``on_train_end`` when the fit raises after
    this callback's ``on_train_begin`` (Ctrl-C, a divergence, another callback's error, a
    later callback's ``on_train_begin`` included; as PyTorch Lightning's hook of that name),
    before the exception reaches the caller. An optional ``check_logs(keys)`` runs first,
    before any callback's ``on_train_begin``, with the names every epoch's ``logs`` will hold,
    in order: raising there refuses the fit with the network as it was (EarlyStopping and
    ModelCheckpoint check that their monitored value is recorded, CSVLogger that a log it
    appends to has these columns).

    ``min_interval`` (seconds, default 0: after every epoch): a callback that only observes
    (a live view) may set it to be called at most that often, so that re-entering Python
    after each of many tiny epochs does not slow training. ``fit`` gives the core the
    smallest ``min_interval`` of its callbacks (so 0 whenever one needs every epoch: early
    stopping, checkpoints, functions); the core then calls back only once that much time has
    passed since the last call, and always after the last epoch. ``logs`` are then those of
    the epoch called for; ``fit``'s History still holds every epoch."""

    min_interval: float = 0.0

    def on_train_begin(self, network: Any) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> Optional[bool]:
        return None

    def on_train_end(self, network: Any) -> None:
        pass

    def on_exception(self, network: Any, exception: BaseException) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row.

    ``mode="auto"`` minimises losses and maximises the metrics that are better higher
    (accuracy and r2: their registry entries say so). With
    ``restore_best_weights`` the weights of the best epoch are put back when training ends,
    whether it stopped early or ran all its epochs. After fit, ``best_epoch`` (from 0),
    ``best`` and ``stopped_epoch`` (None when it did not stop training) tell what happened."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        mode: str = "auto",
    ) -> None:
        if not isinstance(monitor, str):
            raise TypeError(
                f"EarlyStopping: monitor must be a name like 'val_loss', got {monitor!r}"
            )
        self.monitor = monitor
        self.patience = int_type(patience, "EarlyStopping: patience")
        if self.patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.min_delta = real_type(min_delta, "EarlyStopping: min_delta")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(
                f"EarlyStopping: min_delta must be a finite number >= 0, got {min_delta}"
            )
        self.restore_best_weights = bool_type(
            restore_best_weights, "EarlyStopping: restore_best_weights"
        )
        self.mode = monitor_mode(monitor, mode, "EarlyStopping")
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None
        self.best = math.inf if self.mode == "min" else -math.inf
        self._wait = 0
        self._best_weights: Optional[Dict[str, np.ndarray]] = None

    def check_logs(self, available: Sequence[str]) -> None:
        """ValueError before training when fit will not record the monitored value."""
        check_recorded(self.monitor, available, "EarlyStopping")

    def on_train_begin(self, network: Any) -> None:
        self.best_epoch = self.stopped_epoch = None
        self.best = math.inf if self.mode == "min" else -math.inf
        self._wait = 0
        self._best_weights = None

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> Optional[bool]:
        value = logs[self.monitor]
        improved = (
            value < self.best - self.min_delta
            if self.mode == "min"
            else value > self.best + self.min_delta
        )
        if improved:
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                # the parameters and the buffers (running statistics), as Keras restores
                # every weight of the model
                self._best_weights = {
                    name: np.array(p, copy=True)
                    for tensors in (network.parameters, network.buffers)
                    for name, p in tensors.items()
                }
            return True
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return False
        return True

    def on_train_end(self, network: Any) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            for name, value in self._best_weights.items():
                if name in network.parameters:
                    network.parameters[name] = value
                else:
                    network.buffers[name] = value

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, restore_best_weights={self.restore_best_weights}, "
            f"mode={self.mode!r})"
        )


def monitor_mode(monitor: str, mode: str, who: str) -> str:
    """ "min" or "max" for a callback watching ``monitor``: ``mode`` itself, or for ``"auto"``
    "max" when the monitored metric is better higher (its registry entry says so: accuracy,
    r2, ...) and "min" otherwise (losses)."""
    mode = choice(mode, f"{who}: mode", ("auto", "min", "max"))
    if mode != "auto":
        return mode
    base = monitor[4:] if monitor.startswith("val_") else monitor
    metric = _registry.METRICS.get(base)
    return "max" if metric and metric.properties.get("higher_is_better") else "min"


def check_recorded(monitor: str, available: Sequence[str], who: str) -> None:
    """ValueError before training when fit will not record ``monitor``."""
    if monitor not in available:
        hint = (
            ": pass validation_data or validation_split, or monitor='loss'"
            if monitor.startswith("val_") and "val_loss" not in available
            else ""
        )
        raise ValueError(
            f"{who} monitors {monitor!r}, which this fit does not record (it "
            f"records {', '.join(available)}){hint}"
        )


def _format_logs(logs: Dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.6g}" for k, v in logs.items())


class EpochLines(Callback):
    """verbose=2: one line per epoch on stdout (what ``Network.fit`` installs; not exported at
    the top level)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.width = len(str(epochs))
        self.t0 = time.perf_counter()

    def on_train_begin(self, network: Any) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        now = time.perf_counter()
        ms = 1000 * (now - self.t0)
        self.t0 = now
        print(
            f"epoch {epoch + 1:>{self.width}}/{self.epochs}  {_format_logs(logs)}  ({ms:.3g} ms)",
            flush=True,
        )


class ProgressBar(Callback):
    """verbose=1: a tqdm progress bar over the epochs (tqdm.auto: a widget in notebooks),
    showing the epoch, the ETA and the last losses (what ``Network.fit`` installs; not exported
    at the top level). ``fit`` calls :meth:`on_progress` between batches and closes the bar
    even when training raises."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.bar: Any = None

    def on_train_begin(self, network: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=self.epochs, desc="fit", unit="epoch", file=sys.stderr, dynamic_ncols=True
        )

    def on_progress(self, epoch: int, rows_done: int, rows: int) -> None:
        """Within an epoch (the core calls it between batches): the bar shows the fraction of
        the epoch done, so a long epoch does not look stalled."""
        if self.bar is not None and rows > 0:
            self.bar.n = round(epoch + rows_done / rows, 2)
            self.bar.refresh()

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        shown = {k: v for k, v in logs.items() if k != "lr"}
        self.bar.set_postfix_str(", ".join(f"{k}={v:.4g}" for k, v in shown.items()), refresh=False)
        self.bar.n = epoch  # whole epochs: update() below moves it to epoch + 1
        self.bar.update(1)

    def on_train_end(self, network: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_exception(self, network: Any, exception: BaseException) -> None:
        """A fit that raised (a later callback's on_train_begin too): the bar is closed."""
        self.on_train_end(network)


def as_callback(cb: Any, index: int) -> Callback:
    """A callback object from an object with on_epoch_end or a function
    f(epoch, logs, network); TypeError otherwise."""
    if callable(getattr(cb, "on_epoch_end", None)):
        return cb
    if callable(cb):
        return _FunctionCallback(cb)
    raise TypeError(
        f"callbacks[{index}] must be a function f(epoch, logs, network) or an object "
        f"with on_epoch_end(epoch, logs, network), got {cb!r}"
    )


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> Optional[bool]:
        return self.fn(epoch, logs, network)
