"""The README's Python examples run as written, and its two commands are the real ones."""

import pathlib
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_has_examples():
    assert len(_python_blocks()) >= 2


def test_readme_examples_run(capsys):
    for i, block in enumerate(_python_blocks()):
        namespace: dict = {}
        exec(compile(block, f"README block {i}", "exec"), namespace)
        if "net" in namespace and "X" in namespace and "Y" in namespace:
            # every example ends with a trained, finite network
            assert np.all(np.isfinite(namespace["net"].predict(namespace["X"])))
    out = capsys.readouterr().out
    assert "epoch 1000/1000" in out
    assert "total parameters: 169" in out


def test_readme_commands_exist():
    assert "python -m chainrule demo" in README
    assert "bash tests/run_all.sh" in README
    assert (ROOT / "tests" / "run_all.sh").exists()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tests/run_all.sh" in ci
