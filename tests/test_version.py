"""One version number: pyproject.toml's, compiled into the core by CMake
(``chainrule._core.__version__``), re-exported as ``chainrule.__version__`` and recorded in
model files, ONNX exports and the command line's ``--version``."""

import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import _core, _version

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        match = re.search(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
        assert match, "no version in pyproject.toml's [project] table"
        return match.group(1)
    return str(tomllib.loads(text)["project"]["version"])


def test_pyproject_core_package_and_metadata_agree():
    version = pyproject_version()
    assert _core.__version__ == version
    assert cr.__version__ == _version.__version__ == version
    assert importlib.metadata.version("chainrule") == version


def test_cmake_reads_the_same_number():
    """CMakeLists.txt takes the version from scikit-build-core or pyproject.toml; it writes
    none of its own."""
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "SKBUILD_PROJECT_VERSION_FULL" in cmake and "pyproject.toml" in cmake
    assert not re.search(r"project\(chainrule VERSION \d", cmake)
    assert '"__version__"' in (ROOT / "cpp" / "bindings" / "module.cpp").read_text()


def test_model_files_record_it(tmp_path):
    net = cr.Network([2, 1])
    path = tmp_path / "m.npz"
    net.save(path)
    with np.load(path) as f:
        header = json.loads(f["header"].tobytes().decode())
    assert header["chainrule_version"] == cr.__version__


def test_the_command_line_prints_it():
    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.split() == ["chainrule", cr.__version__]


def test_onnx_export_records_it():
    pytest.importorskip("onnx")
    model = cr.Network([2, 1]).to_onnx()
    assert model.producer_version == cr.__version__
