"""What the dashboard, its replay and the report show, as JSON-ready dicts: the network's
layers, the loss and metric curves, the per-layer diagnostics, and one *frame*: the weights
of one epoch seen through the run's own rows (heatmaps of W and dW, the derivation's Z, H
and dZ per layer for a chosen row, and, for two input features, the decision boundary or
regression surface over the plane as TensorFlow Playground draws it).

Everything is computed by the network's public calls (``forward``, ``backward``,
``predict``, ``layers``), on a copy of the network that holds the weights of the frame's
epoch, never on the network being trained. Nothing here imports the rest of the package."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

__all__ = [
    "FORMAT",
    "jsonable",
    "network_info",
    "history_series",
    "sample_rows",
    "frame",
    "as_rows",
    "MAX_HEATMAP",
    "SAMPLE_ROWS",
    "GRID",
]

#: The version of the JSON the page reads (``run`` and ``frame``); the page checks it.
FORMAT = 1
#: Heatmaps show at most this many rows and columns of a W (evenly spaced ones).
MAX_HEATMAP = 64
#: The rows of the training data a run keeps for its frames (evenly spaced ones).
SAMPLE_ROWS = 256
#: The decision surface is drawn on a GRID x GRID lattice.
GRID = 41


def jsonable(value: Any) -> Any:
    """Lists, dicts and floats the json module writes as strict JSON: arrays become
    (nested) lists, NaN and infinities None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biu":
            return value.tolist()
        if value.dtype.kind == "f":  # whole arrays at once: heatmaps are thousands of values
            a = value.astype(np.float64)
            finite = np.isfinite(a)
            return a.tolist() if finite.all() else np.where(finite, a, None).tolist()
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dict, Mapping)):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.floating):
        return jsonable(float(value))
    return value


def _name(obj: Any) -> Optional[str]:
    if obj is None:
        return None
    name = getattr(obj, "name", None)
    return str(name) if name is not None else type(obj).__name__


def network_info(net: Any) -> Dict[str, Any]:
    """The network drawn layer by layer: each layer's kind, activation, widths and
    parameter names (``layer`` counts from 1 as in the derivation)."""
    layers = []
    for l, bound in enumerate(net.layers):
        n_in, n_out = bound.shape
        layers.append(
            {
                "layer": l + 1,
                "kind": bound.kind,
                "activation": _name(net.activations[l]),
                "n_in": int(n_in),
                "n_out": int(n_out),
                "parameters": sorted(bound.parameters),
                "repr": repr(bound.config),
            }
        )
    return {
        "layer_sizes": [int(n) for n in net.layer_sizes],
        "layers": layers,
        "loss": _name(net.loss_function),
        "dtype": str(net.dtype),
        "n_params": int(net.n_params),
    }


def history_series(history: Mapping[str, Sequence[float]]) -> Dict[str, List[Any]]:
    """The curves: one list per recorded quantity (``loss``, ``val_loss``, metrics, ``lr``)."""
    return {str(k): jsonable(list(v)) for k, v in history.items()}


def sample_rows(X: np.ndarray, Y: np.ndarray, rows: int = SAMPLE_ROWS) -> tuple:
    """Up to ``rows`` evenly spaced rows of (X, Y), copied: what the frames are computed on."""
    n = X.shape[0]
    index = (
        np.unique(np.linspace(0, n - 1, min(n, rows)).round().astype(np.int64))
        if n
        else np.zeros(0, dtype=np.int64)
    )
    return np.array(X[index], copy=True), np.array(Y[index], copy=True)


def as_rows(net: Any, X: Any, Y: Any) -> tuple:
    """(X, Y) as 2-D arrays of the network's dtype; class labels (n,) become one-hot rows."""
    X = np.asarray(X, dtype=net.dtype)
    Y = np.asarray(Y)
    n_out = int(net.layer_sizes[-1])
    if Y.ndim == 1:
        Y = (
            np.eye(n_out, dtype=net.dtype)[Y.astype(np.int64)]
            if n_out > 1 and Y.dtype.kind in "biu"
            else Y.reshape(-1, 1)
        )
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"expected X (n, {net.layer_sizes[0]}) and Y (n, {n_out}), got {X.shape} and {Y.shape}"
        )
    return X, np.asarray(Y, dtype=net.dtype)


def _strided(a: np.ndarray, limit: int = MAX_HEATMAP) -> np.ndarray:
    a = np.atleast_2d(a)
    r = np.unique(np.linspace(0, a.shape[0] - 1, min(a.shape[0], limit)).round().astype(int))
    c = np.unique(np.linspace(0, a.shape[1] - 1, min(a.shape[1], limit)).round().astype(int))
    return a[np.ix_(r, c)]


def _heatmaps(net: Any, grads: Any) -> List[Dict[str, Any]]:
    out = []
    for l, bound in enumerate(net.layers):
        params = bound.parameters
        if "W" not in params:
            continue
        W = np.asarray(params["W"])
        dW = grads.parameters.get(f"W{l + 1}") if grads is not None else None
        out.append(
            {
                "layer": l + 1,
                "shape": list(W.shape),
                "W": jsonable(_strided(W)),
                "dW": None if dW is None else jsonable(_strided(np.asarray(dW))),
                "shown": list(_strided(W).shape),
            }
        )
    return out


def _derivation(net: Any, grads: Any, X: np.ndarray, Y: np.ndarray, row: int) -> Dict[str, Any]:
    """Z, H (and a layer's other caches) and dZ of one row, per layer, from the forward and
    backward pass over the sample (so that batch statistics see the same rows as training)."""
    dense = [l for l, c in enumerate(net.layer_configs) if "W" in net.layers[l].parameters]
    dZ = {l: np.asarray(g.dZ) for l, g in zip(dense, grads)} if grads is not None else {}
    layers = []
    for l, bound in enumerate(net.layers):
        entry: Dict[str, Any] = {
            "layer": l + 1,
            "kind": bound.kind,
            "activation": _name(net.activations[l]),
        }
        for name in ("Z", "H"):
            try:
                value = np.asarray(getattr(bound, name))
            except AttributeError:
                continue
            if value.ndim == 2 and value.shape[0] > row:
                entry[name] = jsonable(value[row])
        if l in dZ and dZ[l].shape[0] > row:
            entry["dZ"] = jsonable(dZ[l][row])
        layers.append(entry)
    return {"row": int(row), "x": jsonable(X[row]), "y": jsonable(Y[row]), "layers": layers}


def _surface(net: Any, X: np.ndarray, Y: np.ndarray) -> Optional[Dict[str, Any]]:
    """For two input features: the network's output over the plane of the data, as
    Playground draws it (one output: its value; several: the arg-max class), with the rows."""
    if X.shape[1] != 2 or X.shape[0] == 0:
        return None
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, 0.1 * (hi - lo), 1.0)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], GRID)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], GRID)
    xx, yy = np.meshgrid(gx, gy)  # rows follow y, as a heatmap's z
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(net.dtype)
    out = np.asarray(net.predict(grid))
    if out.shape[1] == 1:
        z, kind, label = out[:, 0], "value", Y[:, 0]
    else:
        z, kind, label = out.argmax(axis=1), "class", Y.argmax(axis=1)
    return {
        "x": jsonable(gx),
        "y": jsonable(gy),
        "z": jsonable(z.reshape(GRID, GRID)),
        "kind": kind,
        "points": {"x": jsonable(X[:, 0]), "y": jsonable(X[:, 1]), "label": jsonable(label)},
    }


def frame(
    net: Any, X: Optional[np.ndarray], Y: Optional[np.ndarray], epoch: int, row: int = 0
) -> Dict[str, Any]:
    """The views of one epoch: ``net`` holds that epoch's weights (a copy of the trained
    network; its layer caches are overwritten). Without data, only the weights."""
    out: Dict[str, Any] = {
        "format": FORMAT,
        "epoch": int(epoch),
        "derivation": None,
        "surface": None,
        "loss": None,
    }
    grads = None
    if X is not None and Y is not None and X.shape[0] > 0:
        row = min(max(int(row), 0), X.shape[0] - 1)
        net.forward(X)
        grads = net.backward(Y)
        out["loss"] = jsonable(grads.loss)
        out["derivation"] = _derivation(net, grads, X, Y, row)
        out["rows"] = int(X.shape[0])
        out["surface"] = _surface(net, X, Y)
    out["heatmaps"] = _heatmaps(net, grads)
    return out
