"""The type stubs of the C++ core (python/chainrule/_core/*.pyi) are what pybind11-stubgen
generates from the build, and every binding names its arguments (no ``arg0`` in a stub).

Regenerate them after changing cpp/bindings (and rebuilding)::

    python tests/test_stubs.py

The stubs describe the extension module alone: it is loaded under a bare ``chainrule``
package, without the package's ``__init__`` (which renames ``DivergenceError``'s module to
``chainrule`` for its users). One line is normalised: the version's value
(``__version__: str``), so that a new version number in pyproject.toml needs no new stubs.
"""

from __future__ import annotations

import difflib
import pathlib
import re
import subprocess
import sys
from typing import Dict

import pytest

import chainrule

ROOT = pathlib.Path(__file__).resolve().parents[1]
STUBS = ROOT / "python" / "chainrule" / "_core"
FILES = ("__init__.pyi", "kernels.pyi")

_GENERATE = """
import sys, types
package = types.ModuleType("chainrule")
package.__path__ = [sys.argv[1]]
sys.modules["chainrule"] = package
import chainrule._core  # the extension alone
import pybind11_stubgen
sys.argv = ["pybind11-stubgen", "chainrule._core", "-o", sys.argv[2], "--exit-code"]
pybind11_stubgen.main()
"""


def generate(out: pathlib.Path) -> Dict[str, str]:
    """{file name: text} of the stubs pybind11-stubgen makes from the installed core."""
    package = pathlib.Path(chainrule.__file__).parent
    r = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(package), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0:
        raise RuntimeError(f"pybind11-stubgen failed:\n{r.stdout}\n{r.stderr}")
    texts = {}
    for name in FILES:
        text = (out / "chainrule" / "_core" / name).read_text(encoding="utf-8")
        texts[name] = re.sub(r"^__version__: str = .*$", "__version__: str", text, flags=re.M)
    return texts


def test_checked_in_stubs_are_what_pybind11_stubgen_generates(tmp_path):
    pytest.importorskip(
        "pybind11_stubgen",
        reason="pybind11-stubgen is not installed (it is in "
        "the test extra: pip install -e .[test])",
    )
    generated = generate(tmp_path)
    for name in FILES:
        checked_in = (STUBS / name).read_text(encoding="utf-8")
        if checked_in != generated[name]:
            diff = "".join(
                difflib.unified_diff(
                    checked_in.splitlines(True),
                    generated[name].splitlines(True),
                    f"checked in: {name}",
                    f"generated: {name}",
                    n=1,
                )
            )
            pytest.fail(
                f"python/chainrule/_core/{name} differs from what pybind11-stubgen "
                f"generates from the build: run `python tests/test_stubs.py`\n{diff}"
            )


def test_every_binding_names_its_arguments():
    for name in FILES:
        text = (STUBS / name).read_text(encoding="utf-8")
        unnamed = [line.strip() for line in text.splitlines() if re.search(r"\barg\d+\b", line)]
        assert not unnamed, f"{name}: bindings without py::arg names: {unnamed}"


def test_the_core_reports_named_arguments_at_run_time():
    """The same, on the module itself: its signatures name every argument."""
    core = chainrule._core
    for owner in (core, core.kernels, core.Network64, core.Network32):
        for attr in dir(owner):
            doc = getattr(getattr(owner, attr), "__doc__", None) or ""
            first = doc.splitlines()[0] if doc else ""
            assert not re.search(r"\barg\d+\b", first), f"{owner.__name__}.{attr}: {first}"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name, text in generate(pathlib.Path(tmp)).items():
            (STUBS / name).write_text(text, encoding="utf-8")
            print(f"wrote {STUBS / name}")
