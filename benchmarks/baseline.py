"""Install an earlier commit of chainrule beside the current one, as the package ``chainrule_base``,
so that ``benchmarks/run.py`` measures both in one run (the rows ``chainrule-base``).

    python benchmarks/baseline.py 5dc03bd          # build and install that commit
    python benchmarks/run.py                       # now also times chainrule-base
    python -m pip uninstall -y chainrule-base      # remove it again

The commit's tree is exported (``git archive``) to a temporary folder, its Python package is
renamed to ``chainrule_base`` (the distribution to ``chainrule-base``, without the console
script), its absolute imports of ``chainrule`` are rewritten, and its extension module is built
with pybind11 internals of its own (``PYBIND11_COMPILER_TYPE``), so that both extension modules,
which bind the same C++ types, load in one process. Nothing of the current checkout changes.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "chainrule_base"


def export(rev: str, dest: Path) -> None:
    """The tree of commit ``rev`` in ``dest``."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            tar.extractall(dest)


def rename(tree: Path) -> None:
    """Make the tree build and install ``chainrule_base`` instead of ``chainrule``."""
    (tree / "python" / "chainrule").rename(tree / "python" / NAME)
    for py in (tree / "python" / NAME).rglob("*.py*"):
        text = py.read_text()
        text = re.sub(r"\b(import|from) chainrule\b", rf"\1 {NAME}", text)
        text = re.sub(r"(__import__|import_module)\((['\"])chainrule\2", rf"\1(\2{NAME}\2", text)
        py.write_text(text)
    pyproject = tree / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('name = "chainrule"', 'name = "chainrule-base"')
    text = text.replace(
        'wheel.packages = ["python/chainrule"]', f'wheel.packages = ["python/{NAME}"]'
    )
    text = re.sub(r"\[project\.scripts\]\n[^\[]*", "", text)  # no second `chainrule` command
    pyproject.write_text(text)
    cmake = tree / "CMakeLists.txt"
    text = cmake.read_text()
    text = text.replace(
        "install(TARGETS _core LIBRARY DESTINATION chainrule)",
        f"install(TARGETS _core LIBRARY DESTINATION {NAME})\n"
        f'  target_compile_definitions(_core PRIVATE PYBIND11_COMPILER_TYPE="_{NAME}")',
    )
    if f"DESTINATION {NAME}" not in text:
        raise SystemExit(
            "baseline: the commit's CMakeLists.txt installs _core differently; "
            "update benchmarks/baseline.py"
        )
    # Hidden symbols: GCC binds the default-visibility template statics of the core (its
    # registries) process-wide, so the second module loaded would see the first one's (empty
    # to its own registrations). Commits from before CMakeLists.txt set this need it added.
    text += (
        "\nset_target_properties(chainrule_core PROPERTIES CXX_VISIBILITY_PRESET hidden\n"
        "                      VISIBILITY_INLINES_HIDDEN ON)\n"
    )
    cmake.write_text(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the commit to install as chainrule_base")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        export(args.rev, tree)
        rename(tree)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", str(tree)], check=True
        )
    out = subprocess.run(
        [sys.executable, "-c", f"import chainrule, {NAME}; print({NAME}.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"installed commit {rev} as {NAME} ({out.stdout.strip()}), importable beside chainrule")


if __name__ == "__main__":
    main()
