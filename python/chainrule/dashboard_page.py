"""The dashboard's page: the HTML, script and style files shipped in ``dashboard_static/``
and the plotly.js bundle of the installed ``plotly`` package (no CDN), put together for the
server (scripts by URL, with the token) or for the report (everything inlined in one file).
Needs the ``dashboard`` extra; :func:`require` says what to install."""

from __future__ import annotations

import json
import pathlib
from typing import Any

__all__ = ["STATIC", "INSTALL_HINT", "require", "plotly_js", "static", "served_page", "inline_page"]

STATIC = pathlib.Path(__file__).resolve().parent / "dashboard_static"
INSTALL_HINT = (
    "the dashboard needs tornado and plotly, which are not installed: "
    'pip install "chainrule[dashboard]" (or pip install tornado plotly)'
)
#: The files the server serves besides the page, with their media types.
FILES = {
    "dashboard.js": "application/javascript",
    "dashboard.css": "text/css",
    "plotly.min.js": "application/javascript",
}


def require(report: bool = False) -> None:
    """ImportError naming the extra to install, when tornado or plotly is missing (the report
    needs plotly only)."""
    try:
        import plotly  # noqa: F401

        if not report:
            import tornado  # noqa: F401
    except ImportError:
        raise ImportError(INSTALL_HINT) from None


def plotly_js() -> str:
    """The plotly.js bundle shipped inside the installed ``plotly`` package."""
    require(report=True)
    import plotly

    path = pathlib.Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8")


def static(name: str) -> str:
    """One of :data:`FILES`' text."""
    if name == "plotly.min.js":
        return plotly_js()
    return (STATIC / name).read_text(encoding="utf-8")


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _template(title: str) -> str:
    return (
        (STATIC / "index.html").read_text(encoding="utf-8").replace("<!--TITLE-->", _escape(title))
    )


def served_page(token: str, title: str) -> str:
    """The page the server sends: its scripts and style are fetched with the token."""
    scripts = "".join(
        f'<script src="static/{name}?token={token}"></script>'
        for name in ("plotly.min.js", "dashboard.js")
    )
    style = f'<link rel="stylesheet" href="static/dashboard.css?token={token}">'
    return (
        _template(title)
        .replace("<!--STYLE-->", style)
        .replace("<!--SCRIPTS-->", scripts)
        .replace("<!--DATA-->", "")
    )


def _script(text: str) -> str:
    # "</" would end the script element early; "<\/" means the same in JavaScript strings
    return "<script>" + text.replace("</", "<\\/") + "</script>"


def inline_page(data: Any, title: str) -> str:
    """The page with its scripts, style and ``data`` (``{"run": ..., "frames": [...]}``)
    inside: one file that opens without a server or network."""
    payload = "window.CHAINRULE_REPORT = " + json.dumps(data, allow_nan=False) + ";"
    return (
        _template(title)
        .replace("<!--STYLE-->", "<style>" + static("dashboard.css") + "</style>")
        .replace("<!--DATA-->", _script(payload))
        .replace("<!--SCRIPTS-->", _script(plotly_js()) + _script(static("dashboard.js")))
    )
