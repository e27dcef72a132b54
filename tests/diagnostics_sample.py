"""Per-layer diagnostics for the dashboard, report, recording and TensorBoard tests.

``fit_with_diagnostics`` uses the core's real records, ``fit(..., diagnostics=True)``, once
fit accepts that argument (the per-layer diagnostics of issue 17, built beside the
dashboard). Until then it fits without them and makes records that follow the same schema
(``history.diagnostics``: ``{"epoch", "step", "layers": [{"layer", "kind", "activation",
"h_mean", "h_std", "dead_fraction", "saturated_fraction", "w_norm", "dw_norm", "b_norm",
"db_norm", "update_ratio", "histograms": {"H"|"dZ"|"W": {"edges", "counts"}}}]}``) from the
trained network's real weights, and hands them to the callbacks that take them
(``on_diagnostics``), as fit does with real ones."""

import inspect

import numpy as np

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


def fit_accepts_diagnostics(net) -> bool:
    return "diagnostics" in inspect.signature(net.fit).parameters


def _histogram(values, bins=8):
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64).ravel(), bins=bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def schema_records(net, epochs: int):
    """One record per epoch in the schema of history.diagnostics (values made up from the
    final weights; only the shape of the data matters to the views)."""
    records = []
    for epoch in range(epochs):
        layers = []
        for l, layer in enumerate(net.layers):
            params = layer.parameters
            if "W" not in params:
                continue
            W, b = np.asarray(params["W"]), np.asarray(params["b"])
            act = net.activations[l]
            name = None if act is None else getattr(act, "name", str(act))
            t = (epoch + 1) / epochs
            layers.append(
                {
                    "layer": l + 1,
                    "kind": "Dense",
                    "activation": name,
                    "h_mean": float(W.mean() * t),
                    "h_std": float(W.std() * t),
                    "dead_fraction": 0.1 * t if name == "relu" else None,
                    "saturated_fraction": 0.05 * t if name in ("tanh", "sigmoid") else None,
                    "w_norm": float(np.linalg.norm(W)),
                    "dw_norm": float(np.linalg.norm(W) / (epoch + 2)),
                    "b_norm": float(np.linalg.norm(b)),
                    "db_norm": float(np.linalg.norm(b) / (epoch + 2)),
                    "update_ratio": 1e-3 / (epoch + 1),
                    "histograms": {
                        "H": _histogram(W * t),
                        "dZ": _histogram(W / (epoch + 1)),
                        "W": _histogram(W),
                    },
                }
            )
        records.append({"epoch": epoch, "step": epoch + 1, "layers": layers})
    return records


def fit_with_diagnostics(net, X, Y, callbacks=(), **kwargs):
    """(history, records): fit with per-layer diagnostics, real ones when fit records them."""
    if fit_accepts_diagnostics(net):  # the core's diagnostics exist: use them
        history = net.fit(X, Y, diagnostics=True, callbacks=list(callbacks), **kwargs)
        return history, list(history.diagnostics)
    history = net.fit(X, Y, callbacks=list(callbacks), **kwargs)
    records = schema_records(net, history.epochs)
    history.diagnostics = records  # where fit puts real ones
    for cb in callbacks:
        if hasattr(cb, "on_diagnostics"):
            cb.on_diagnostics(records)
    return history, records
