"""Callbacks that write files as training goes: :class:`ModelCheckpoint` (the model, in the
safe model format) and :class:`CSVLogger` (one row of figures per epoch), as Keras has them.
Both follow the protocol of :class:`~chainrule.callbacks.Callback`."""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Union

from ._checks import bool_type, real_type
from .callbacks import Callback, check_recorded, monitor_mode
from .model_archive import refuse_directory

__all__ = ["ModelCheckpoint", "CSVLogger"]

PathLike = Union[str, "os.PathLike[str]"]


def _path(path: Any, who: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: path must be a file name (str or os.PathLike), got {path!r}")
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{who}: path must not be empty")
    return path


def _writable_directory(directory: str, who: str) -> None:
    """The directory exists (made with its parents if missing, as Keras's ModelCheckpoint
    makes it) and takes a new file; else the OSError names it. Run before training, so that
    a bad path fails at once rather than after the first epoch's work."""
    directory = directory or "."
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise type(exc)(
            f"{who}: cannot write files into {directory!r}: {exc.strerror or exc}"
        ) from None


class ModelCheckpoint(Callback):
    """Save the network after every epoch, or only when ``monitor`` improved.

    The file is written with :meth:`Network.save` (chainrule's safe ``.npz`` format: load it
    with :func:`chainrule.load`), atomically: it is written to a temporary file that then
    replaces ``path``, so a crash never leaves half a file, and a checkpoint from an earlier
    epoch stays intact until the new one is complete.

    Parameters
    ----------
    path : str or os.PathLike
        The file name. As in Keras it may name the epoch (counted from 1) and any recorded
        value: ``"ckpt-{epoch:03d}-{val_loss:.3f}.npz"`` keeps one file per save, while a
        plain ``"best.npz"`` is overwritten each time. Missing directories are made (as
        Keras makes them); one that cannot be written, or a path that is a directory, fails
        at the start of ``fit``, before any training, with an OSError naming it.
    monitor : str, default "val_loss"
        The value that decides what "best" is (``"loss"``, ``"val_accuracy"``, ...). With
        ``save_best_only``, a fit that does not record it is a ValueError before training;
        without, as in Keras, such a fit saves every epoch and leaves ``best`` unchanged.
    save_best_only : bool, default False
        Save only when ``monitor`` improved on the best value so far (by more than
        ``min_delta``); False saves after every epoch.
    mode : "auto", "min" or "max"
        "auto" minimises losses and maximises metrics that are better higher (accuracy, r2).
    min_delta : float, default 0.0
        The smallest change that counts as an improvement.
    verbose : bool
        Print a line for every save.
    initial_value_threshold : float, optional
        The value ``best`` starts from, as in Keras: with ``save_best_only``, only an epoch
        that beats it is saved (a fit resumed from a checkpoint then does not overwrite it with
        a worse model). None starts from the worst value (inf for "min", -inf for "max").

    After fit: ``best`` (the best monitored value seen), ``best_epoch`` (from 0, in the fit
    that reached it) and ``last_saved`` (the path of the last file written, or None). As in
    Keras, they carry over to the next fit given the same ModelCheckpoint: with
    ``save_best_only``, that fit saves only what beats the best of the earlier ones (a new
    ModelCheckpoint starts afresh). The file's metadata records
    the epoch (from 1) and that epoch's figures: ``cr.load(path, with_metadata=True)``.
    With ``fit(comm=...)`` only rank 0 writes, as ``Network.save``; on the other ranks
    ``last_saved`` stays None (``best`` and ``best_epoch`` are the same on every rank).
    """

    def __init__(
        self,
        path: PathLike,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        min_delta: float = 0.0,
        verbose: bool = False,
        initial_value_threshold: Optional[float] = None,
    ) -> None:
        self.path = _path(path, "ModelCheckpoint")
        if not isinstance(monitor, str):
            raise TypeError(
                f"ModelCheckpoint: monitor must be a name like 'val_loss', got {monitor!r}"
            )
        self.monitor = monitor
        self.save_best_only = bool_type(save_best_only, "ModelCheckpoint: save_best_only")
        self.mode = monitor_mode(monitor, mode, "ModelCheckpoint")
        self.min_delta = real_type(min_delta, "ModelCheckpoint: min_delta")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(
                f"ModelCheckpoint: min_delta must be a finite number >= 0, got {min_delta!r}"
            )
        self.verbose = bool_type(verbose, "ModelCheckpoint: verbose")
        self.initial_value_threshold: Optional[float] = None
        if initial_value_threshold is not None:
            threshold = real_type(
                initial_value_threshold, "ModelCheckpoint: initial_value_threshold"
            )
            if math.isnan(threshold):
                raise ValueError("ModelCheckpoint: initial_value_threshold must not be nan")
            self.initial_value_threshold = threshold
        self.best = (
            self.initial_value_threshold
            if self.initial_value_threshold is not None
            else math.inf
            if self.mode == "min"
            else -math.inf
        )
        self.best_epoch: Optional[int] = None
        self.last_saved: Optional[str] = None

    def check_logs(self, available: Sequence[str]) -> None:
        """Before training: the monitored value is recorded (when saving the best only) and
        the path's fields name the epoch or recorded values; ValueError otherwise."""
        if self.save_best_only:
            check_recorded(self.monitor, available, "ModelCheckpoint")
        try:
            self.path.format(epoch=1, **{k: 0.0 for k in available})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"ModelCheckpoint: path {self.path!r} cannot be formatted: "
                f"{type(exc).__name__} {exc} (it may name {{epoch}} and the "
                f"recorded values: {', '.join(available)})"
            ) from None

    def on_train_begin(self, network: Any) -> None:
        # (best and best_epoch carry over from an earlier fit, as Keras keeps best)
        directory = os.path.dirname(self.path)
        if "{" not in directory:  # (a directory named by the figures is made at each save)
            _writable_directory(directory, "ModelCheckpoint")
        if "{" not in self.path:  # (a path named by the figures is checked at each save)
            refuse_directory(self.path, "ModelCheckpoint: path")

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        value = logs.get(self.monitor)
        if value is not None:
            improved = (
                value < self.best - self.min_delta
                if self.mode == "min"
                else value > self.best + self.min_delta
            )
            if improved:
                self.best, self.best_epoch = value, epoch
        else:
            improved = False
        if self.save_best_only and not improved:
            return
        if not network.writes_files:
            return  # data-parallel: rank 0 writes, and last_saved names no file elsewhere
        path = self.path.format(epoch=epoch + 1, **logs)
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        figures = {k: v if math.isfinite(v) else None for k, v in logs.items()}  # JSON
        network.save(path, metadata={"checkpoint": {"epoch": epoch + 1, **figures}})
        self.last_saved = path
        if self.verbose:
            what = f"{self.monitor} {value:.6g}, " if value is not None else ""
            print(f"epoch {epoch + 1}: {what}saved {path}", flush=True)

    def __repr__(self) -> str:
        return (
            f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}, "
            f"save_best_only={self.save_best_only}, mode={self.mode!r}"
            + (
                ""
                if self.initial_value_threshold is None
                else f", initial_value_threshold={self.initial_value_threshold!r}"
            )
            + ")"
        )


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (from 0, as the callbacks count it), then the
    epoch's figures in fit's order: ``loss``, the metrics, ``val_loss`` and ``val_*``, ``lr``.

    The header is written with the first row. Each row is written and the file closed at the
    end of its epoch, so the file can be read while training runs and holds every finished
    epoch if training stops with an error. Values are written in full precision (``repr``).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file. Opened (or, appending to a file not there yet, its directory checked)
        at the start of ``fit``: a path that cannot be written fails before any training.
    separator : str, default ","
    append : bool, default False
        False starts a new file at each fit. True appends to an existing file (with the same
        columns: ValueError otherwise, at the start of ``fit``, before any training),
        continuing its epoch numbers, so several fits of one network make one log.
    """

    def __init__(self, path: PathLike, separator: str = ",", append: bool = False) -> None:
        self.path = _path(path, "CSVLogger")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.separator = separator
        self.append = bool_type(append, "CSVLogger: append")
        self._header: Optional[List[str]] = None
        self._first_epoch = 0
        self._unended = False  # the log appended to lacks its last line end

    def check_logs(self, keys: Sequence[str]) -> None:
        """Before training: a log appended to must have the columns this fit writes
        (``epoch`` and ``keys``; ValueError otherwise), and its epochs are numbered on."""
        self._header, self._first_epoch, self._unended = None, 0, False
        if not (self.append and os.path.exists(self.path)):
            return
        with open(self.path, newline="", encoding="utf-8") as f:
            text = f.read()
        # a log edited by hand: blank lines are no rows, and a last line without its line end
        # gets one before the first new row (else that row would continue it)
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=self.separator) if row]
        self._unended = bool(text) and not text.endswith(("\n", "\r"))
        if not rows:
            return  # empty: the header comes with the first row
        columns = ["epoch", *keys]
        if rows[0] != columns:
            raise ValueError(
                f"CSVLogger: {self.path!r} has the columns {', '.join(rows[0])}, but this "
                f"fit records {', '.join(columns)}: use another file or append=False"
            )
        self._header = columns
        if len(rows) > 1:
            try:
                self._first_epoch = int(rows[-1][0]) + 1
            except ValueError:
                raise ValueError(
                    f"CSVLogger: cannot append to {self.path!r}: its last row's epoch is "
                    f"{rows[-1][0]!r}"
                ) from None

    def on_train_begin(self, network: Any) -> None:
        if not self.append:
            with open(self.path, "w", newline="", encoding="utf-8"):
                pass  # a new, empty log
        elif not os.path.exists(self.path):
            _writable_directory(os.path.dirname(self.path), "CSVLogger")

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if self._unended:
                writer.writerow([])  # the line end alone
                self._unended = False
            if self._header is None:  # (an appended log's columns were checked by check_logs)
                self._header = ["epoch", *logs]
                writer.writerow(self._header)
            writer.writerow(
                [str(self._first_epoch + epoch)] + [repr(float(v)) for v in logs.values()]
            )

    def __repr__(self) -> str:
        return f"CSVLogger({self.path!r}, separator={self.separator!r}, append={self.append})"
