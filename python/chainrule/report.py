"""``history.report("run.html")``: the dashboard's views of a finished fit as one
self-contained HTML file (its scripts, the plotly.js bundle of the installed ``plotly`` and
the data inlined; it opens without a server or network). Given the network (and its
training rows), the file also holds the network views at its final weights: the layers, the
heatmaps of W and dW, the derivation of a few rows and the decision surface. A recorded run
(``chainrule.run_log.RunLog.report``) writes one frame per snapshot to step through."""

from __future__ import annotations

import copy
import os
from typing import Any, Dict, List, Optional

from . import dashboard_views as views
from .dashboard_page import inline_page, require

__all__ = ["write_report", "history_report"]

#: The rows whose derivation a report from a network holds (the page's "row" field).
REPORT_ROWS = 5


def write_report(
    path: "str | os.PathLike[str]", run: Dict[str, Any], frames: List[Dict[str, Any]], title: str
) -> None:
    """Writes ``run`` (what the server's ``api/run`` gives) and its ``frames`` as one page."""
    require(report=True)
    data = views.jsonable({"run": dict(run, format=views.FORMAT, live=False), "frames": frames})
    html = inline_page(data, title)
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write(html)


def history_report(
    history: Any,
    path: "str | os.PathLike[str]",
    network: Any = None,
    X: Any = None,
    Y: Any = None,
    title: Optional[str] = None,
) -> None:
    """What ``History.report`` does (see there)."""
    require(report=True)
    if (X is None) != (Y is None):
        raise ValueError("History.report: give both X and Y (the training rows), or neither")
    if X is not None and network is None:
        raise ValueError("History.report: X and Y are shown through the network: pass network= too")
    records = list(getattr(history, "diagnostics", None) or [])
    epochs = history.epochs
    run: Dict[str, Any] = {
        "meta": {"title": title or "chainrule run", "planned_epochs": None},
        "history": views.history_series(history.history),
        "diagnostics": records,
        "epochs": [],
        "epochs_done": epochs,
        "status": "report",
        "version": 0,
    }
    frames: List[Dict[str, Any]] = []
    if network is not None:
        run["meta"].update(views.network_info(network))
        run["epochs"] = [epochs]
        clone = copy.deepcopy(network)  # the frames' passes leave the caller's network alone
        rows = [0]
        if X is not None:
            Xs, Ys = views.sample_rows(*views.as_rows(network, X, Y))
            rows = list(range(min(REPORT_ROWS, Xs.shape[0])))
        else:
            Xs = Ys = None
        frames = [views.frame(clone, Xs, Ys, epochs, row) for row in rows]
    write_report(path, run, frames, title or "chainrule run")
