"""chainrule in a Jupyter notebook: a real IPython kernel (nbclient) runs cells that train with
the progress bar, show a network and a History as HTML tables, and serve the live dashboard,
whose page the kernel then fetches while the notebook stays responsive. Skips with a reason
where nbclient, nbformat or ipykernel is absent (the test extra installs them); the dashboard
cell needs the dashboard extra (tornado, plotly)."""

from __future__ import annotations

import importlib.util
from typing import Any, Dict, List

import pytest

for _module in ("nbclient", "nbformat", "ipykernel"):
    pytest.importorskip(_module, reason=f"{_module} is not installed (the test extra has it)")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

SETUP = """
import numpy as np
import chainrule as cr
rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, size=(64, 2))
Y = np.sum(X ** 2, axis=1, keepdims=True)
net = cr.Network([2, 8, 1], activations=["tanh", "linear"], seed=0)
"""


def run_notebook(cells: List[str]) -> List[Dict[str, Any]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False).execute()
    return [cell.outputs for cell in nb.cells]


def texts(outputs: List[Dict[str, Any]]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        for value in out.get("data", {}).values():
            parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)


def test_progress_bar_and_html_reprs_in_a_kernel() -> None:
    outputs = run_notebook(
        [
            SETUP,
            "history = net.fit(X, Y, epochs=20, lr=0.05, verbose=1)",
            "net",
            "history",
            "print(len(history.loss), np.isfinite(history.loss[-1]))",
        ]
    )
    # the progress bar reached the last epoch (a widget, or tqdm's text where ipywidgets is absent)
    bar = texts(outputs[1])
    assert "20/20" in bar or "IntProgress" in str(outputs[1]) or "HBox" in str(outputs[1]), bar
    # the network and the history display as HTML tables
    for cell in (outputs[2], outputs[3]):
        html = [o["data"]["text/html"] for o in cell if "text/html" in o.get("data", {})]
        assert html and "<table" in html[0]
    assert "20 True" in texts(outputs[4])


@pytest.mark.skipif(
    importlib.util.find_spec("tornado") is None or importlib.util.find_spec("plotly") is None,
    reason="the dashboard extra (tornado, plotly) is not installed",
)
def test_dashboard_serves_from_a_kernel() -> None:
    outputs = run_notebook(
        [
            SETUP,
            "dash = cr.Dashboard()\nhistory = net.fit(X, Y, epochs=30, lr=0.05, callbacks=[dash])",
            # the page answers while the kernel is idle between cells, and refuses a request
            # without the token
            "import urllib.request, urllib.error\n"
            "page = urllib.request.urlopen(dash.url, timeout=10).read().decode()\n"
            "base = dash.url.split('?')[0]\n"
            "try:\n"
            "    urllib.request.urlopen(base, timeout=10)\n"
            "    refused = False\n"
            "except urllib.error.HTTPError as e:\n"
            "    refused = e.code == 403\n"
            "print(dash.url.startswith('http://127.0.0.1:'), '<html' in page.lower(), refused)\n"
            "dash.close()",
        ]
    )
    assert "chainrule dashboard: http://127.0.0.1:" in texts(outputs[1])
    assert "True True True" in texts(outputs[2])
