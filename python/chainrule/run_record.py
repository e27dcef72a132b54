"""Recording a run to a directory (``fit(..., log_dir=...)`` or ``callbacks=[RunRecorder(dir,
every=k)]``), to open later with ``chainrule dashboard LOG_DIR``. The directory's format,
version 1::

    run.json            {"format": "chainrule-run", "version": 1, "status": "running",
                         "finished" or "stopped" (the fit raised: "stopped_by" names the
                         exception's type, and the records go as far as it got),
                         "every": k, "planned_epochs": N, "epochs_done": n,
                         "network": the layers (dashboard_views.network_info), "started": ...}
    model.npz           the network as training began (Network.save): its layers, loss and
                        first weights; the snapshots below are loaded into it
    history.jsonl       one JSON object per epoch: {"epoch": e (from 0), "loss": ...,
                        "val_loss": ..., each metric, "lr": ...}; NaN and inf as null
    diagnostics.jsonl   one record of history.diagnostics per line, when the fit records them
    snapshots/epoch-000010.npz
                        every parameter and buffer by name (W1, b1, running_mean2, ...) after
                        that many epochs: 0 (before training), every k-th, and the last
                        (fit calls the recorder before its other callbacks: the last one
                        is taken before EarlyStopping puts the best weights back)
    sample.npz          X, Y: up to 256 evenly spaced training rows, on which the dashboard
                        computes W's gradient, the derivation of a row and the decision surface

A reader accepts any version up to its own and refuses a newer one by name
(:mod:`chainrule.run_log`). Lines are flushed at most every second and at the end, so that a
long fit writes its records in large pieces."""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import dashboard_views as views
from .callbacks import Callback

__all__ = ["RunRecorder", "RUN_FORMAT", "RUN_VERSION", "default_every", "snapshot_name"]

RUN_FORMAT = "chainrule-run"
RUN_VERSION = 1


def default_every(epochs: Optional[int]) -> int:
    """fit(log_dir=...)'s snapshot interval: about 100 snapshots over the fit."""
    return max(1, math.ceil((epochs or 0) / 100))


def snapshot_name(epoch: int) -> str:
    return f"epoch-{epoch:06d}.npz"


def _dump(value: Any) -> str:
    return json.dumps(views.jsonable(value), allow_nan=False)


class RunRecorder(Callback):
    """Writes the fit's history, diagnostics and a snapshot of the weights every ``every``
    epochs to ``log_dir`` (format above). ``log_dir`` must not hold a recorded run already."""

    def __init__(self, log_dir: "str | os.PathLike[str]", every: int = 10) -> None:
        if isinstance(log_dir, bytes) or not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a directory path, got {log_dir!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"RunRecorder: every must be an integer >= 1, got {every!r}")
        self.log_dir = pathlib.Path(log_dir)
        self.every = every
        if (self.log_dir / "run.json").exists():
            raise ValueError(
                f"log_dir {str(self.log_dir)!r} already holds a recorded run; "
                "give a new directory (or delete that one)"
            )
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise ValueError(f"log_dir {str(self.log_dir)!r} is a file, not a directory")
        self._data: Optional[tuple] = None
        self._planned: Optional[int] = None
        self._files: Dict[str, Any] = {}
        self._info: Dict[str, Any] = {}
        self._epochs = 0
        self._passes = 0  # the network's training steps at the last epoch seen
        self._last_snapshot = -1
        self._last_flush = 0.0
        self._diagnostics = 0
        self._idle = False  # a data-parallel rank other than 0

    def set_training_data(self, X: np.ndarray, Y: np.ndarray, epochs: Optional[int] = None) -> None:
        self._data = views.sample_rows(X, Y)
        self._planned = epochs

    def _write_run(self, status: str) -> None:
        info = dict(
            self._info, status=status, epochs_done=self._epochs, snapshots=self._snapshots()
        )
        tmp = self.log_dir / "run.json.tmp"
        tmp.write_text(json.dumps(views.jsonable(info), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.log_dir / "run.json")

    def _snapshots(self) -> List[int]:
        folder = self.log_dir / "snapshots"
        return (
            sorted(int(p.stem.split("-")[1]) for p in folder.glob("epoch-*.npz"))
            if folder.is_dir()
            else []
        )

    def _snapshot(self, network: Any, epoch: int) -> None:
        weights = {
            name: np.asarray(value)
            for group in (network.parameters, network.buffers)
            for name, value in group.items()
        }
        np.savez(self.log_dir / "snapshots" / snapshot_name(epoch), **weights)
        self._last_snapshot = epoch

    def on_train_begin(self, network: Any) -> None:
        self._idle = not network.writes_files  # data-parallel: rank 0 records, as it saves
        if self._idle:
            return
        if (self.log_dir / "run.json").exists():
            raise ValueError(
                f"log_dir {str(self.log_dir)!r} already holds a recorded run; "
                "give a new directory (or delete that one)"
            )
        (self.log_dir / "snapshots").mkdir(parents=True, exist_ok=True)
        network.save(self.log_dir / "model.npz")
        if self._data is not None:
            np.savez(self.log_dir / "sample.npz", X=self._data[0], Y=self._data[1])
        self._info = {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "every": self.every,
            "planned_epochs": self._planned,
            "network": views.network_info(network),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        self._epochs = 0
        self._passes = network.get_dropout_state()["passes"]
        for name in ("history", "diagnostics"):
            self._files[name] = open(self.log_dir / f"{name}.jsonl", "w", encoding="utf-8")
        self._snapshot(network, 0)
        self._write_run("running")
        self._last_flush = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        if self._idle:
            return
        record = logs.get("diagnostics")
        line = {"epoch": epoch}
        line.update((k, v) for k, v in logs.items() if k != "diagnostics")
        self._files["history"].write(_dump(line) + "\n")
        if isinstance(record, dict):
            self.on_diagnostics([record])
        self._epochs = epoch + 1
        self._passes = network.get_dropout_state()["passes"]
        if self._epochs % self.every == 0:
            self._snapshot(network, self._epochs)
        now = time.perf_counter()
        if now - self._last_flush >= 1.0:
            for f in self._files.values():
                f.flush()
            self._last_flush = now

    def on_diagnostics(self, records: Sequence[Dict[str, Any]]) -> None:
        """Per-layer diagnostics records (``history.diagnostics``'s schema) to record."""
        if self._idle:
            return
        text = "".join(_dump(record) + "\n" for record in records)
        f = self._files.get("diagnostics")
        if f is not None and not f.closed:
            f.write(text)
        else:  # after the fit
            with open(self.log_dir / "diagnostics.jsonl", "a", encoding="utf-8") as f:
                f.write(text)
        self._diagnostics += len(records)

    def close(self) -> None:
        """Close the files (on_train_end does; a fit that raised leaves them to this)."""
        for f in self._files.values():
            f.close()

    def __del__(self) -> None:
        for f in getattr(self, "_files", {}).values():
            f.close()

    def on_train_end(self, network: Any) -> None:
        if self._idle:
            return
        self._end(network, "finished")

    def _end(self, network: Any, status: str, snapshot: bool = True) -> None:
        """The last snapshot (the network as it is now, after ``self._epochs`` epochs), the
        files closed, the status."""
        if snapshot and self._last_snapshot != self._epochs:
            self._snapshot(network, self._epochs)
        self.close()
        self._write_run(status)

    def on_exception(self, network: Any, exception: BaseException) -> None:
        """A fit that raised (Ctrl-C, a divergence, a callback's error): the run is kept as
        far as it went (its records, a snapshot of the network as it is now) and marked
        ``"stopped"`` with the exception's type, so that it can be opened as any other. After
        Ctrl-C within an epoch (training stops between two batches) the weights are those of
        no whole epoch, and no snapshot is named for one: the last is the last one recorded.
        (The network's count of training steps, ``get_dropout_state()["passes"]``, tells: it
        moved since the last epoch the recorder saw.)"""
        if self._idle or not self._files:
            return
        self._info["stopped_by"] = type(exception).__name__
        at_epoch_end = network.get_dropout_state()["passes"] == self._passes
        self._end(network, "stopped", snapshot=at_epoch_end)

    def on_history(self, history: Any) -> None:
        """After fit: the diagnostics it recorded, when none came during the epochs."""
        records = getattr(history, "diagnostics", None)
        if records and not self._diagnostics:
            self.on_diagnostics(list(records))

    def __repr__(self) -> str:
        return f"RunRecorder({str(self.log_dir)!r}, every={self.every})"
