"""The public API type-checks: mypy --strict passes on tests/typing/example.py, which runs too."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).parent / "typing" / "example.py"


def test_example_runs():
    r = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_mypy_strict_on_the_example(tmp_path):
    pytest.importorskip("mypy")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, MYPY_FORCE_COLOR="0"),
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_catches_a_wrong_use(tmp_path):
    """The check is live: the same API misused is reported (predict returns an array)."""
    pytest.importorskip("mypy")
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import chainrule as cr\n"
        "net = cr.Network([2, 1], ['linear'])\n"
        "labels: list[str] = net.predict([[1.0, 2.0]])\n"
        "net.fit([[1.0, 2.0]], [[1.0]], epochs='ten')\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 1
    assert "bad.py:3: error: Incompatible types in assignment" in r.stdout
    assert 'bad.py:4: error: Argument "epochs"' in r.stdout


def test_stubs_and_marker_are_installed():
    import chainrule

    root = pathlib.Path(chainrule.__file__).parent
    assert (root / "py.typed").exists()
    assert (root / "_core" / "__init__.pyi").exists() and (root / "_core" / "kernels.pyi").exists()
