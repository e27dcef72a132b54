"""The documentation site builds with warnings as errors, and its API reference lists every
public name.

The site is docs/ (Sphinx, MyST Markdown guides, autodoc + numpydoc for the API reference from
the installed package's docstrings). The examples on its pages run in tests/test_readme.py.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

import chainrule as cr

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_the_api_reference_lists_every_public_name() -> None:
    text = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^\.\. auto(?:class|function):: (\w+)$", text, re.M))
    public = set(cr.__all__) - {"__version__"}
    assert public - listed == set(), f"public names missing from docs/api.rst: {public - listed}"
    assert listed - public == set(), (
        f"docs/api.rst lists names that are not public: {listed - public}"
    )


def test_every_page_is_in_the_table_of_contents() -> None:
    pages = {
        p.relative_to(DOCS).with_suffix("").as_posix()
        for p in DOCS.rglob("*")
        if p.suffix in (".md", ".rst") and "_build" not in p.parts
    }
    index = (DOCS / "index.md").read_text()
    toc = set()
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.S):
        toc |= {
            line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")
        }
    assert pages - {"index"} == toc, (
        f"pages outside the table of contents: {pages - toc - {'index'}}; "
        f"entries without a page: {toc - pages}"
    )


def test_the_site_builds_without_warnings(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("sphinx", reason="sphinx (the docs extra) is not installed")
    for module in ("myst_parser", "numpydoc", "furo"):
        pytest.importorskip(module, reason=f"{module} (the docs extra) is not installed")
    out = tmp_path / "html"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
            "-d",
            str(tmp_path / "doctrees"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"sphinx-build failed:\n{run.stdout}\n{run.stderr}"
    api = (out / "api.html").read_text()
    # autodoc rendered the docstrings (not raw reStructuredText)
    assert "chainrule.Network" in api and ".. py:class::" not in api
    assert (out / "index.html").exists()
