"""Reading a recorded run (the directory :class:`~chainrule.run_record.RunRecorder` writes,
format described there): :class:`RunLog` gives its history, diagnostics and snapshots, and is
the source the dashboard serves for ``chainrule dashboard LOG_DIR`` (replay: step back and
forth through the recorded epochs) and that :meth:`RunLog.report` writes as one HTML file."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Dict, List, Optional

import numpy as np

from . import dashboard_views as views
from .dashboard import Frames, serve
from .report import write_report
from .run_record import RUN_FORMAT, RUN_VERSION, snapshot_name
from .serialization import load

__all__ = ["RunLog", "open_dashboard"]


def _lines(path: pathlib.Path) -> List[Dict[str, Any]]:
    """The JSON lines of a file; a last line cut short (a run still being written) is
    skipped."""
    if not path.exists():
        return []
    out = []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            if i == len(lines) - 1:
                break  # being written
            raise ValueError(f"{path}: line {i + 1} is not JSON") from None
    return out


class RunLog:
    """A run recorded by ``fit(..., log_dir=...)``: ``history`` (dict of lists),
    ``diagnostics`` (records), ``epochs`` (the epochs with a snapshot), :meth:`weights`
    and :meth:`network` (the network holding one epoch's weights). Read again on every
    :meth:`run`, so that a run still training shows its newest epochs."""

    def __init__(self, log_dir: "str | os.PathLike[str]") -> None:
        self.path = pathlib.Path(log_dir)
        meta = self.path / "run.json"
        if not meta.exists():
            raise ValueError(
                f"{str(self.path)!r} is not a recorded run (no run.json); "
                "record one with fit(..., log_dir=...)"
            )
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except ValueError:
            raise ValueError(f"{meta}: not JSON") from None
        if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
            raise ValueError(
                f"{meta}: not a chainrule run (format {info.get('format')!r})"
                if isinstance(info, dict)
                else f"{meta}: not a chainrule run"
            )
        version = info.get("version")
        if not isinstance(version, int) or version > RUN_VERSION:
            raise ValueError(
                f"{meta}: run format version {version!r}; this chainrule reads "
                f"versions up to {RUN_VERSION}: upgrade chainrule"
            )
        self.info = info
        self._network: Any = None
        self._frames = Frames()
        self._cache: Dict[int, Dict[str, np.ndarray]] = {}
        self.refresh()

    def refresh(self) -> None:
        self.info = json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        history: Dict[str, List[Any]] = {}
        for line in _lines(self.path / "history.jsonl"):
            for k, v in line.items():
                if k != "epoch":
                    history.setdefault(k, []).append(float("nan") if v is None else v)
        self.history = history
        self.diagnostics = _lines(self.path / "diagnostics.jsonl")
        folder = self.path / "snapshots"
        self.epochs = sorted(int(p.stem.split("-")[1]) for p in folder.glob("epoch-*.npz"))

    def weights(self, epoch: int) -> Dict[str, np.ndarray]:
        """Every parameter and buffer after ``epoch`` epochs (one of :attr:`epochs`)."""
        if epoch not in self.epochs:
            raise ValueError(
                f"no snapshot of epoch {epoch}; recorded: {', '.join(map(str, self.epochs))}"
            )
        if epoch not in self._cache:
            with np.load(self.path / "snapshots" / snapshot_name(epoch)) as f:
                self._cache = {epoch: {k: f[k] for k in f.files}}  # one at a time
        return self._cache[epoch]

    def sample(self) -> tuple:
        """(X, Y): the training rows kept for the frames, or (None, None)."""
        path = self.path / "sample.npz"
        if not path.exists():
            return None, None
        with np.load(path) as f:
            return f["X"], f["Y"]

    def network(self, epoch: Optional[int] = None) -> Any:
        """A network (loaded from model.npz) holding the weights of ``epoch`` (None: the
        last snapshot)."""
        from .dashboard import load_weights

        net = load(self.path / "model.npz")
        if self.epochs:
            load_weights(net, self.weights(self.epochs[-1] if epoch is None else epoch))
        return net

    # ---- the dashboard's source ----------------------------------------------------------

    def run(self) -> Dict[str, Any]:
        self.refresh()
        status = self.info.get("status", "running")
        meta = dict(
            self.info.get("network", {}),
            title=self.title,
            planned_epochs=self.info.get("planned_epochs"),
        )
        return {
            "meta": meta,
            "history": views.history_series(self.history),
            "diagnostics": self.diagnostics,
            "epochs": self.epochs,
            "epochs_done": len(self.history.get("loss", [])),
            "status": "replay" if status == "finished" else status,
            "stopped_by": self.info.get("stopped_by"),
            "version": len(self.history.get("loss", [])) * 1000 + len(self.epochs),
            "live": False,
        }

    def frame(self, epoch: Optional[int], row: int) -> Dict[str, Any]:
        if self._network is None:
            self._network = load(self.path / "model.npz")
            self._frames.reset(self._network, *self.sample())
        if not self.epochs:
            return self._frames.get(None, row)
        chosen = (
            self.epochs[-1]
            if epoch is None
            else max([e for e in self.epochs if e <= epoch] or self.epochs[:1])
        )
        return self._frames.get((chosen, self.weights(chosen)), row)

    @property
    def title(self) -> str:
        return f"run {self.path.name}"

    def report(self, path: "str | os.PathLike[str]", max_frames: int = 40) -> None:
        """The run as one self-contained HTML file, stepping through up to ``max_frames``
        of its snapshots (evenly spaced, the last included)."""
        run = self.run()
        epochs = self.epochs
        if len(epochs) > max_frames:
            index = np.unique(np.linspace(0, len(epochs) - 1, max_frames).round().astype(int))
            epochs = [epochs[i] for i in index]
        run["epochs"] = epochs
        frames = [self.frame(e, 0) for e in epochs]
        write_report(path, run, frames, self.title)


def open_dashboard(log_dir: "str | os.PathLike[str]", port: int = 0) -> Any:
    """Serve a recorded run; returns the server (its ``url``; ``close()`` to stop)."""
    log = RunLog(log_dir)
    return serve(log, log.title, port)
