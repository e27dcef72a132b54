"""The live dashboard: a callback that serves a local web page while ``fit`` runs
(``fit(..., dashboard=True)`` or ``callbacks=[cr.Dashboard()]``) and prints its URL.

The training loop pays only for what the callback does at the end of an epoch: it appends
the epoch's figures to lists and, at most every ``interval`` seconds, copies the weights
(a snapshot). Everything the page shows from the weights (heatmaps, the derivation of a
row, the decision surface) is computed when the browser asks, on the server's thread, from
a copy of the network that holds the snapshot, never on the network being trained. Needs
the ``dashboard`` extra (tornado and plotly)."""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np

from . import dashboard_views as views
from .callbacks import Callback
from .dashboard_page import require

if TYPE_CHECKING:  # the server (asyncio, sockets: several MB) is imported when one starts
    from .dashboard_server import Server

__all__ = ["Dashboard", "serve"]


def serve(source: Any, title: str = "chainrule", port: int = 0) -> Server:
    """Serve a run source (an object with ``run()`` and ``frame(epoch, row)``): the server
    behind the live dashboard and ``chainrule dashboard LOG_DIR``."""
    from .dashboard_server import Server

    return Server(source, title=title, port=port)


def weights_of(network: Any) -> Dict[str, np.ndarray]:
    """Copies of every parameter and buffer, by name: one snapshot."""
    return {
        name: np.array(value, copy=True)
        for group in (network.parameters, network.buffers)
        for name, value in group.items()
    }


def load_weights(network: Any, weights: Dict[str, np.ndarray]) -> None:
    """Puts a snapshot into ``network`` (a copy of the trained one)."""
    params, buffers = network.parameters, network.buffers
    for name, value in weights.items():
        if name in params:
            params[name] = value
        elif name in buffers:
            buffers[name] = value


class Snapshots:
    """Snapshots by epochs done (0: the weights before training), at most ``keep``: when
    full, every other one is dropped (the first and the newest stay), so the kept ones stay
    spread over the whole run."""

    def __init__(self, keep: int = 200) -> None:
        self.keep = max(2, int(keep))
        self.items: Dict[int, Dict[str, np.ndarray]] = {}

    def add(self, epoch: int, weights: Dict[str, np.ndarray]) -> None:
        self.items[epoch] = weights
        if len(self.items) > self.keep:
            epochs = sorted(self.items)
            for e in epochs[1:-1:2]:
                del self.items[e]

    def epochs(self) -> List[int]:
        return sorted(self.items)

    def at(self, epoch: Optional[int]) -> Optional[tuple]:
        """(epoch, weights) of the latest snapshot at or before ``epoch`` (None: the newest)."""
        epochs = self.epochs()
        if not epochs:
            return None
        chosen = (
            epochs[-1] if epoch is None else max([e for e in epochs if e <= epoch] or epochs[:1])
        )
        return chosen, self.items[chosen]


class Frames:
    """Computes frames on a private copy of the network, one request at a time, and keeps
    the last one. With ``duty`` (the live dashboard), a newer frame is computed only once
    the server has been idle ``1 / duty - 1`` times as long as the last one took (until then
    the last one is served again, and the page asks anew): the frames then take at most
    that fraction of one core, whatever the size of the network."""

    def __init__(self, duty: Optional[float] = None) -> None:
        self.lock = threading.Lock()
        self.duty = duty
        self.network: Any = None
        self.X: Optional[np.ndarray] = None
        self.Y: Optional[np.ndarray] = None
        self._last: Optional[tuple] = None
        self._ready_at = 0.0  # when the throttle lets the next frame be computed

    def reset(self, network: Any, X: Optional[np.ndarray], Y: Optional[np.ndarray]) -> None:
        with self.lock:
            self.network, self.X, self.Y, self._last = network, X, Y, None
            self._ready_at = 0.0

    def get_json(self, snapshot: Optional[tuple], row: int) -> str:
        """:meth:`get` as JSON text (encoded once per frame)."""
        result = self.get(snapshot, row)
        with self.lock:
            if self._last is not None and self._last[1] is result:
                return self._last[2]
        return json.dumps(result, allow_nan=False)

    def get(self, snapshot: Optional[tuple], row: int) -> Dict[str, Any]:
        with self.lock:
            if snapshot is None or self.network is None:
                return {
                    "format": views.FORMAT,
                    "epoch": None,
                    "heatmaps": [],
                    "derivation": None,
                    "surface": None,
                    "loss": None,
                }
            epoch, weights = snapshot
            key = (epoch, id(weights), row)
            if self._last is not None and (
                self._last[0] == key
                or (self.duty is not None and time.perf_counter() < self._ready_at)
            ):
                return self._last[1]
            t0 = time.perf_counter()
            load_weights(self.network, weights)
            result = views.frame(self.network, self.X, self.Y, epoch, row)
            text = json.dumps(result, allow_nan=False)  # once per frame, not per request
            self._last = (key, result, text)
            if self.duty is not None:
                took = time.perf_counter() - t0
                self._ready_at = time.perf_counter() + took * (1 / self.duty - 1)
            return result


class Dashboard(Callback):
    """A live dashboard of the fit it is passed to, at a local URL printed when training
    starts (``dashboard.url``; ``open_browser=True`` also opens it).

    The page shows the loss and metric curves, the network drawn layer by layer, per-layer
    diagnostics over time (when the fit records them), heatmaps of each W and of its
    gradient dW on the run's rows, the derivation's Z, H and dZ per layer for a chosen row,
    and, with two input features, the decision boundary or regression surface. It updates
    about every ``interval`` seconds; ``keep`` snapshots of the weights at most are kept to
    step back through. The server binds 127.0.0.1 on a free port (or ``port``: one it cannot
    listen on raises an OSError that names it, when training starts), answers only
    requests carrying the URL's token, and keeps serving after training (the page then shows
    the finished run, or, when the fit raised, the run as far as it got, "stopped by" the
    exception's type) until :meth:`close` or the end of the process.

    It only observes, so it asks to be called at most every ``min_interval`` seconds (0.05, or
    ``interval`` when smaller; see :class:`~chainrule.callbacks.Callback`): while training
    runs its curves get a point per call, and after the fit they hold every epoch (from the
    History)."""

    #: While training runs, the frames take at most this fraction of one core.
    DUTY = 0.2
    #: Seconds between the training loop's calls at most (its page polls every 0.7 s).
    min_interval = 0.05

    def __init__(
        self,
        port: int = 0,
        interval: float = 0.5,
        open_browser: bool = False,
        keep: int = 200,
        title: Optional[str] = None,
        quiet: bool = False,
    ) -> None:
        require()
        if not (isinstance(interval, (int, float)) and interval >= 0):
            raise ValueError(
                f"Dashboard: interval must be a number of seconds >= 0, got {interval!r}"
            )
        self.interval = float(interval)
        # (interval=0, a copy of the weights after every epoch: called after every epoch)
        self.min_interval = min(type(self).min_interval, self.interval)
        self.port = int(port)
        self.open_browser = bool(open_browser)
        self.quiet = bool(quiet)
        self.title = title or "chainrule"
        self.server: Optional[Server] = None
        self._lock = threading.Lock()
        self._frames = Frames()
        self._snapshots = Snapshots(keep)
        self._history: Dict[str, List[float]] = {}
        self._diagnostics: List[Dict[str, Any]] = []
        self._meta: Dict[str, Any] = {}
        self._status = "waiting"
        self._stopped_by: Optional[str] = None  # the exception's type, when a fit raised
        self._run = 0  # fits served so far
        self._rows: List[Dict[str, Any]] = []  # the logs of each epoch fit called for
        self._row_epochs: List[int] = []  # their epochs, counted from 1
        self._epoch_numbers: List[int] = []  # those of the rows converted into _history
        self._converted = 0  # how many of them are in _history
        self._planned: Optional[int] = None
        self._last_snapshot = 0.0
        self._data: Optional[tuple] = None
        self._idle = False  # a data-parallel rank other than 0

    # ---- what fit calls ------------------------------------------------------------------

    def set_training_data(self, X: np.ndarray, Y: np.ndarray, epochs: Optional[int] = None) -> None:
        """fit hands over its training rows (a sample is kept for the frames)."""
        self._data = views.sample_rows(X, Y)
        self._planned = epochs

    def on_train_begin(self, network: Any) -> None:
        self._idle = not network.writes_files  # data-parallel: rank 0 serves, as it saves
        if self._idle:
            return
        started = self.server is None
        if started:  # first: a port it cannot listen on leaves the dashboard as it was
            self.server = serve(self, self.title, self.port)
        try:
            clone = copy.deepcopy(network)  # through the model file: the same layers
        except Exception:  # e.g. an activation that cannot be saved: curves only
            clone = None
        X, Y = self._data if self._data is not None else (None, None)
        self._frames.reset(clone, X, Y)
        self._frames.duty = self.DUTY
        with self._lock:
            self._meta = views.network_info(network)
            self._history = {}
            self._rows = []
            self._row_epochs = []
            self._epoch_numbers = []
            self._converted = 0
            self._diagnostics = []
            self._snapshots = Snapshots(self._snapshots.keep)
            self._snapshots.add(0, weights_of(network))
            self._status = "running"
            self._stopped_by = None
            self._run += 1
        self._last_snapshot = time.perf_counter()
        if started:
            if not self.quiet:
                print(f"chainrule dashboard: {self.server.url}", file=sys.stderr, flush=True)
            if self.open_browser:
                import webbrowser

                webbrowser.open(self.server.url)

    def on_epoch_end(self, epoch: int, logs: Dict[str, float], network: Any) -> None:
        # The training loop waits for this, so it does little: keep the epoch's logs (a
        # dict of its own: fit's hook copies it for each callback; list.append is atomic)
        # and, at most every `interval` seconds, copy the weights. run() makes the curves.
        # (Called at most every min_interval seconds: not every epoch has a row.)
        if self._idle:
            return
        self._row_epochs.append(epoch + 1)  # first, so that every row has its epoch
        self._rows.append(logs)
        if time.perf_counter() - self._last_snapshot >= self.interval:
            weights = weights_of(network)
            with self._lock:
                self._snapshots.add(epoch + 1, weights)
            self._last_snapshot = time.perf_counter()

    def on_diagnostics(self, records: Sequence[Dict[str, Any]]) -> None:
        """Per-layer diagnostics records (``history.diagnostics``'s schema) to show."""
        with self._lock:
            self._diagnostics.extend(records)

    def on_train_end(self, network: Any) -> None:
        if self._idle:
            return
        weights = weights_of(network)
        with self._lock:
            self._snapshots.add(self._row_epochs[-1] if self._row_epochs else 0, weights)
            self._status = "finished"
        self._frames.duty = None  # nothing to share the cores with any more

    def on_exception(self, network: Any, exception: BaseException) -> None:
        """A fit that raised (Ctrl-C, a divergence, a callback's error): the page shows the
        run as far as it got, ``"stopped"`` with the exception's type, and keeps serving. No
        snapshot is added: the weights may be of an epoch it was not called for (a divergence
        goes back to the last finite epoch) or of part of one (Ctrl-C)."""
        if self._idle:
            return
        with self._lock:
            self._status = "stopped"
            self._stopped_by = type(exception).__name__
        self._frames.duty = None  # nothing to share the cores with any more

    def on_history(self, history: Any) -> None:
        """After fit: every epoch's figures (the live curves may have skipped some), and the
        diagnostics it recorded if the dashboard did not see them live."""
        if self._idle:
            return
        records = getattr(history, "diagnostics", None)
        self.run()  # what came with the epochs' logs first
        series = getattr(history, "history", None)
        if isinstance(series, dict) and series.get("loss"):
            n = len(series["loss"])
            with self._lock:
                self._history = {k: list(v) for k, v in series.items() if len(v) == n}
                self._epoch_numbers = list(range(1, n + 1))
        if records and not self._diagnostics:
            self.on_diagnostics(list(records))

    # ---- what the server asks ------------------------------------------------------------

    def version(self) -> str:
        """Changes whenever :meth:`run` would give something new (the page polls it)."""
        return (
            f"{self._run}.{len(self._rows)}.{len(self._epoch_numbers)}."
            f"{len(self._snapshots.items)}."
            f"{len(self._diagnostics)}.{self._status}"
        )

    def run(self) -> Dict[str, Any]:
        with self._lock:
            rows = self._rows
            n = len(rows)  # the training thread may append meanwhile: read up to n
            self._epoch_numbers.extend(self._row_epochs[self._converted : n])
            for logs in rows[self._converted : n]:
                for k, v in logs.items():
                    if k == "diagnostics":
                        if isinstance(v, dict):
                            self._diagnostics.append(v)
                    else:
                        self._history.setdefault(k, []).append(v)
            self._converted = n
            epochs = self._snapshots.epochs()
            return {
                "meta": dict(self._meta, title=self.title, planned_epochs=self._planned),
                "history": {k: list(v) for k, v in self._history.items()},
                "history_epochs": list(self._epoch_numbers),
                "diagnostics": list(self._diagnostics),
                "epochs": epochs,
                "epochs_done": self._epoch_numbers[-1] if self._epoch_numbers else 0,
                "status": self._status,
                "stopped_by": self._stopped_by,
                "version": self.version(),
                "live": True,
            }

    def frame(self, epoch: Optional[int], row: int) -> Dict[str, Any]:
        with self._lock:
            snapshot = self._snapshots.at(epoch)
        return self._frames.get(snapshot, row)

    def frame_json(self, epoch: Optional[int], row: int) -> str:
        with self._lock:
            snapshot = self._snapshots.at(epoch)
        return self._frames.get_json(snapshot, row)

    # ---- the user's ----------------------------------------------------------------------

    @property
    def url(self) -> Optional[str]:
        """The page's address with its token (None before training starts)."""
        return None if self.server is None else self.server.url

    def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.close()
            self.server = None

    def __repr__(self) -> str:
        return f"Dashboard(url={self.url!r}, status={self._status!r})"
