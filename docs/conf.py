"""Sphinx configuration of chainrule's documentation site.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` (tests/test_docs_build.py does,
warnings as errors). The guides are MyST Markdown; the API reference comes from the docstrings
of the installed package (autodoc, read by numpydoc).
"""

import chainrule

project = "chainrule"
author = "the chainrule developers"
copyright = "2026, the chainrule developers"
release = chainrule.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc", "numpydoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]

# Markdown: ``$...$`` maths is not used; fenced ```python blocks are plain code (the tests run
# them, see tests/test_readme.py); headings get anchors for links within a page.
myst_heading_anchors = 3
# Pages link to files of the repository (sources, tests, benchmarks) by relative path; those are
# not documents of the site, so Sphinx cannot resolve them.
suppress_warnings = ["myst.xref_missing"]

autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks: set = set()

html_theme = "furo"
html_title = f"chainrule {release}"
