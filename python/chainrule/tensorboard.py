"""``cr.TensorBoard(log_dir)``: the fit's loss, metrics and learning rate, the per-layer
diagnostics (when the fit records them) and histograms of the parameters, as TensorBoard
event files written by ``tensorboardX`` (the ``tensorboard`` extra). Open them with
``tensorboard --logdir LOG_DIR``."""

from __future__ import annotations

import numbers
import os
from typing import Any, Dict, Sequence

import numpy as np

from .callbacks import Callback

__all__ = ["TensorBoard"]

INSTALL_HINT = (
    "TensorBoard needs tensorboardX, which is not installed: "
    'pip install "chainrule[tensorboard]" (or pip install tensorboardX)'
)
#: The per-layer figures of a diagnostics record written as scalars.
FIGURES = (
    "h_mean",
    "h_std",
    "dead_fraction",
    "saturated_fraction",
    "w_norm",
    "dw_norm",
    "b_norm",
    "db_norm",
    "update_ratio",
)


class TensorBoard(Callback):
    """Writes TensorBoard event files to ``log_dir`` while ``fit`` runs.

    Every epoch (step = epochs done, from 1): each value of the epoch's logs as a scalar
    (``loss``, ``val_loss``, ``accuracy``, ``lr``, ...). Every ``histogram_every`` epochs
    (0: never): a histogram of every parameter (``parameters/W1``, ``parameters/b1``, ...).
    Each per-layer diagnostics record (``history.diagnostics``'s schema): its figures as
    ``layer1/dead_fraction``, ... and its histograms as ``layer1/H``, ``layer1/dZ``,
    ``layer1/W``. The writer is flushed at the end of the fit and closed by :meth:`close`
    (the callback can serve several fits, which continue its step count)."""

    def __init__(
        self, log_dir: "str | os.PathLike[str]", histogram_every: int = 10, flush_secs: int = 10
    ) -> None:
        if isinstance(log_dir, bytes) or not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"TensorBoard: log_dir must be a directory path, got {log_dir!r}")
        if not os.fspath(log_dir):  # (tensorboardX would write to runs/<date>_<host> instead)
            raise ValueError("TensorBoard: log_dir must be a directory path, got ''")
        if (
            isinstance(flush_secs, bool)
            or not isinstance(flush_secs, numbers.Real)
            or not (0 < flush_secs < float("inf"))
        ):
            # (tensorboardX's writer thread would die on it, and nothing would be written)
            raise ValueError(f"TensorBoard: flush_secs must be a number > 0, got {flush_secs!r}")
        if (
            isinstance(histogram_every, bool)
            or not isinstance(histogram_every, int)
            or histogram_every < 0
        ):
            raise ValueError(
                f"TensorBoard: histogram_every must be an integer >= 0, got {histogram_every!r}"
            )
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError(INSTALL_HINT) from None
        self.log_dir = os.fspath(log_dir)
        self.histogram_every = histogram_every
        self.writer = SummaryWriter(logdir=self.log_dir, flush_secs=flush_secs)
        self._offset = 0  # epochs of earlier fits
        self._step = 0

    def on_train_begin(self, network: Any) -> None:
        self._offset = self._step
        self._diagnostics = 0

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        step = self._offset + epoch + 1
        self._step = step
        for key, value in logs.items():
            if key == "diagnostics":
                if isinstance(value, dict):
                    self.on_diagnostics([value])
                continue
            self.writer.add_scalar(key, value, step)
        if self.histogram_every and step % self.histogram_every == 0:
            for name, value in network.parameters.items():
                self.writer.add_histogram(f"parameters/{name}", np.asarray(value), step)

    def on_diagnostics(self, records: Sequence[Dict[str, Any]]) -> None:
        """Per-layer diagnostics records (``history.diagnostics``'s schema) to write; a
        record's step is its epoch + 1, plus the epochs of earlier fits."""
        for record in records:
            step = self._offset + int(record.get("epoch", 0)) + 1
            for layer in record.get("layers", []):
                prefix = f"layer{layer['layer']}"
                for key in FIGURES:
                    value = layer.get(key)
                    if value is not None:
                        self.writer.add_scalar(f"{prefix}/{key}", value, step)
                for name, hist in (layer.get("histograms") or {}).items():
                    self._histogram(f"{prefix}/{name}", hist, step)
            self._diagnostics += 1

    def _histogram(self, tag: str, hist: Dict[str, Any], step: int) -> None:
        edges = np.asarray(hist["edges"], dtype=np.float64)
        counts = np.asarray(hist["counts"], dtype=np.float64)
        if counts.size == 0 or counts.sum() == 0:
            return
        centres = (edges[:-1] + edges[1:]) / 2
        self.writer.add_histogram_raw(
            tag,
            min=float(edges[0]),
            max=float(edges[-1]),
            num=float(counts.sum()),
            sum=float((centres * counts).sum()),
            sum_squares=float((centres**2 * counts).sum()),
            bucket_limits=edges[1:].tolist(),
            bucket_counts=counts.tolist(),
            global_step=step,
        )

    def on_train_end(self, network: Any) -> None:
        self.writer.flush()

    def on_history(self, history: Any) -> None:
        """After fit: the diagnostics it recorded, when none came during the epochs."""
        records = getattr(history, "diagnostics", None)
        if records and not self._diagnostics:
            self.on_diagnostics(list(records))
            self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

    def __repr__(self) -> str:
        return f"TensorBoard({self.log_dir!r}, histogram_every={self.histogram_every})"
