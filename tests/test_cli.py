"""The command line end to end: train, predict and summary on CSV files written here."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr

SCRIPT = shutil.which("chainrule")


def run(*args, cwd=None):
    cmd = [SCRIPT] if SCRIPT else [sys.executable, "-m", "chainrule"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture
def regression_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 3))
    y1 = X[:, 0] ** 2 + X[:, 1]
    y2 = X[:, 2] - X[:, 0]
    path = tmp_path / "reg.csv"
    write_csv(path, ["a", "y", "b", "c", "y2"],
              [[x[0], t1, x[1], x[2], t2] for x, t1, t2 in zip(X, y1, y2)])
    return path


@pytest.fixture
def classes_csv(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    label = np.where(X[:, 0] + X[:, 1] > 0.5, "high", np.where(X[:, 0] < -0.3, "low", "mid"))
    path = tmp_path / "cls.csv"
    write_csv(path, ["x1", "x2", "kind"], [[a, b, k] for (a, b), k in zip(X, label)])
    return path, label


def test_console_script_is_installed():
    assert SCRIPT is not None, "pip install . should put a 'chainrule' script on PATH"


def test_train_predict_summary_regression(tmp_path, regression_csv):
    model = tmp_path / "m.npz"
    r = run("train", regression_csv, "--target", "y", "--target", "y2", "--layers", "16,8",
            "--activations", "tanh,relu", "--epochs", "200", "--batch-size", "20", "--lr", "0.05",
            "--optimizer", "sgd", "--validation-split", "0.1", "--seed", "3", "-o", model)
    assert r.returncode == 0, r.stderr
    assert "saved" in r.stdout and model.exists() and "validation loss" in r.stdout
    assert "200/200" in r.stderr  # the progress bar
    net = cr.load(model)
    assert net.layer_sizes == [3, 16, 8, 2] and net.optimizer.name == "sgd"
    assert len(net.history.val_loss) == 200
    assert [a.name for a in net.activations] == ["tanh", "relu", "linear"]
    assert net.history.loss[-1] < 0.5 * net.history.loss[0]

    # predict reads the feature columns by name, whatever their order in the new file
    data = np.genfromtxt(regression_csv, delimiter=",", names=True)
    shuffled = tmp_path / "new.csv"
    write_csv(shuffled, ["c", "b", "a"], [[r["c"], r["b"], r["a"]] for r in data])
    out = tmp_path / "pred.csv"
    r = run("predict", model, shuffled, "-o", out)
    assert r.returncode == 0, r.stderr
    pred = np.genfromtxt(out, delimiter=",", names=True)
    assert pred.dtype.names == ("y", "y2")
    X = np.column_stack([data["a"], data["b"], data["c"]])
    want = net.predict(X)
    np.testing.assert_allclose(np.column_stack([pred["y"], pred["y2"]]), want, rtol=1e-15)

    r = run("summary", model)
    assert r.returncode == 0 and "3 -> 16 -> 8 -> 2" in r.stdout and "features: a, b, c" in r.stdout


def test_train_classification_with_labels(tmp_path, classes_csv):
    path, label = classes_csv
    model = tmp_path / "c.npz"
    r = run("train", path, "--target", "kind", "--loss", "cross_entropy", "--layers", "16",
            "--epochs", "150", "--optimizer", "adam", "--lr", "0.01", "--quiet", "-o", model)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --quiet: no progress bar
    net, meta = cr.load(model, with_metadata=True)
    assert meta["classes"] == ["high", "low", "mid"] and net.optimizer.name == "adam"
    out = tmp_path / "p.csv"
    r = run("predict", model, path, "-o", out)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["kind", "p_high", "p_low", "p_mid"]
    accuracy = np.mean([row["kind"] == k for row, k in zip(rows, label)])
    assert accuracy > 0.85
    probs = np.array([[float(row[f"p_{c}"]) for c in ("high", "low", "mid")] for row in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)


def test_plot(tmp_path, regression_csv):
    pytest.importorskip("matplotlib")
    r = run("train", regression_csv, "--target", "y", "--epochs", "5", "-o", tmp_path / "m.npz",
            "--plot", tmp_path / "loss.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "loss.png").stat().st_size > 1000


@pytest.mark.parametrize("make_args, message", [
    (lambda t, reg: ["train", t / "missing.csv", "--target", "y", "-o", t / "m.npz"],
     "missing.csv: no such file"),
    (lambda t, reg: ["train", reg, "--target", "nope", "-o", t / "m.npz"],
     "unknown column 'nope'"),
    (lambda t, reg: ["train", reg, "--target", "y", "--layers", "4,x", "-o", t / "m.npz"],
     "--layers: 'x' is not an integer"),
    (lambda t, reg: ["train", reg, "--target", "y", "--layers", "4", "--activations",
                     "relu,tanh,relu", "-o", t / "m.npz"], "3 names for 1 hidden layers"),
    (lambda t, reg: ["train", reg, "--target", "y", "--activations", "swoosh", "--layers", "3",
                     "-o", t / "m.npz"], "unknown activation 'swoosh'"),
    (lambda t, reg: ["predict", t / "none.npz", reg, "-o", t / "p.csv"], "none.npz: no such file"),
    (lambda t, reg: ["train", reg, "--target", "y", "--optimizer", "lion", "-o", t / "m.npz"],
     "unknown optimizer 'lion'"),
    (lambda t, reg: ["train", reg, "--target", "y", "--validation-split", "1.5",
                     "-o", t / "m.npz"], "--validation-split must be between 0 and 1"),
    (lambda t, reg: ["train", reg, "--target", "y", "--lr", "-1", "-o", t / "m.npz"], "lr"),
    (lambda t, reg: ["summary", reg], "not a chainrule model file"),
])
def test_errors_are_one_line(tmp_path, regression_csv, make_args, message):
    r = run(*make_args(tmp_path, regression_csv))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error:"), r.stderr
    assert message in lines[0]


def test_non_numeric_value_names_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    write_csv(path, ["x", "y"], [[1, 2], [3, 4], ["oops", 5]])
    r = run("train", path, "--target", "y", "-o", tmp_path / "m.npz")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "row 4, column 'x': 'oops' is not a number" in r.stderr


def test_ragged_and_empty_files(tmp_path):
    ragged = tmp_path / "r.csv"
    ragged.write_text("x,y\n1,2\n3\n")
    r = run("train", ragged, "--target", "y", "-o", tmp_path / "m.npz")
    assert r.returncode == 1 and "row 3 has 1 fields" in r.stderr
    empty = tmp_path / "e.csv"
    empty.write_text("")
    r = run("train", empty, "--target", "y", "-o", tmp_path / "m.npz")
    assert r.returncode == 1 and "empty" in r.stderr


def test_predict_shape_mismatch(tmp_path, regression_csv):
    model = tmp_path / "m.npz"
    assert run("train", regression_csv, "--target", "y", "--epochs", "1", "-o", model).returncode == 0
    other = tmp_path / "o.csv"
    write_csv(other, ["a", "b"], [[1, 2]])
    r = run("predict", model, other, "-o", tmp_path / "p.csv")
    assert r.returncode == 1 and "needs column(s) 'c'" in r.stderr
    # a model saved without feature names checks the column count
    net = cr.Network([4, 1], ["linear"])
    net.save(tmp_path / "plain.npz")
    r = run("predict", tmp_path / "plain.npz", other, "-o", tmp_path / "p.csv")
    assert r.returncode == 1 and "takes 4 features" in r.stderr


def test_bad_arguments_exit_2():
    r = run("train")
    assert r.returncode == 2 and "usage" in r.stderr


def test_python_dash_m_runs_the_same_cli():
    r = subprocess.run([sys.executable, "-m", "chainrule", "demo", "--epochs", "3", "--every", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "final loss" in r.stdout
