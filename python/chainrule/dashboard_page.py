"""The dashboard's page: the HTML, script and style files shipped in ``dashboard_static/``
and the plotly.js bundle of the installed ``plotly`` package (no CDN), put together for the
server (scripts by URL, with the token) or for the report (everything inlined in one file).
Needs the ``dashboard`` extra; :func:`require` says what to install."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any, Dict

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


_PLACEHOLDER = re.compile(r"<!--(TITLE|STYLE|DATA|SCRIPTS)-->")


def _page(title: str, style: str, data: str, scripts: str) -> str:
    """index.html with its placeholders filled in one pass over the template: what is put in
    (a title, the data, a script) is never searched for placeholders itself."""
    parts: Dict[str, str] = {
        "TITLE": _escape(title),
        "STYLE": style,
        "DATA": data,
        "SCRIPTS": scripts,
    }
    template = (STATIC / "index.html").read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], template)


def served_page(token: str, title: str) -> str:
    """The page the server sends: its scripts and style are fetched with the token."""
    scripts = "".join(
        f'<script src="static/{name}?token={token}"></script>'
        for name in ("plotly.min.js", "dashboard.js")
    )
    style = f'<link rel="stylesheet" href="static/dashboard.css?token={token}">'
    return _page(title, style, "", scripts)


def _script(text: str) -> str:
    # "</" would end the script element early; "<\/" means the same in JavaScript strings
    return "<script>" + text.replace("</", "<\\/") + "</script>"


def _json_script(data: Any) -> str:
    """``data`` as JSON to put inside a script element: ``<``, ``>`` and ``&`` written as
    ``\\u003c``, ``\\u003e`` and ``\\u0026`` (the same strings to JSON and JavaScript), as
    Django's ``json_script`` does, so that no text in it can end the script, open an HTML
    comment or read as one of the page's placeholders. (Other non-ASCII characters, U+2028
    among them, are escaped by ``json.dumps`` too.)"""
    text = json.dumps(data, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def inline_page(data: Any, title: str) -> str:
    """The page with its scripts, style and ``data`` (``{"run": ..., "frames": [...]}``)
    inside: one file that opens without a server or network."""
    return _page(
        title,
        "<style>" + static("dashboard.css") + "</style>",
        "<script>window.CHAINRULE_REPORT = " + _json_script(data) + ";</script>",
        _script(plotly_js()) + _script(static("dashboard.js")),
    )
