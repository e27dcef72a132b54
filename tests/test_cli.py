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
    return subprocess.run(
        cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


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
    write_csv(
        path,
        ["a", "y", "b", "c", "y2"],
        [[x[0], t1, x[1], x[2], t2] for x, t1, t2 in zip(X, y1, y2)],
    )
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
    r = run(
        "train",
        regression_csv,
        "--target",
        "y",
        "--target",
        "y2",
        "--layers",
        "16,8",
        "--activations",
        "tanh,relu",
        "--epochs",
        "200",
        "--batch-size",
        "20",
        "--lr",
        "0.05",
        "--optimizer",
        "sgd",
        "--validation-split",
        "0.1",
        "--seed",
        "3",
        "-o",
        model,
    )
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
    # the features and targets were standardised (the default); the file holds the transform
    _, meta = cr.load(model, with_metadata=True)
    fs, ts = meta["scaling"]["features"], meta["scaling"]["targets"]
    assert fs["columns"] == ["a", "b", "c"] and ts["columns"] == ["y", "y2"]
    want = net.predict((X - fs["mean"]) / fs["scale"]) * ts["scale"] + ts["mean"]
    np.testing.assert_allclose(np.column_stack([pred["y"], pred["y2"]]), want, rtol=1e-15)

    r = run("summary", model)
    assert r.returncode == 0 and "3 -> 16 -> 8 -> 2" in r.stdout and "features: a, b, c" in r.stdout
    assert "scaling: standardised features and targets" in r.stdout


def test_train_classification_with_labels(tmp_path, classes_csv):
    path, label = classes_csv
    model = tmp_path / "c.npz"
    r = run(
        "train",
        path,
        "--target",
        "kind",
        "--loss",
        "cross_entropy",
        "--layers",
        "16",
        "--epochs",
        "150",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--quiet",
        "-o",
        model,
    )
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
    r = run(
        "train",
        regression_csv,
        "--target",
        "y",
        "--epochs",
        "5",
        "-o",
        tmp_path / "m.npz",
        "--plot",
        tmp_path / "loss.png",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "loss.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "make_args, message",
    [
        (
            lambda t, reg: ["train", t / "missing.csv", "--target", "y", "-o", t / "m.npz"],
            "missing.csv: no such file",
        ),
        (
            lambda t, reg: ["train", reg, "--target", "nope", "-o", t / "m.npz"],
            "unknown column 'nope'",
        ),
        (
            lambda t, reg: ["train", reg, "--target", "y", "--layers", "4,x", "-o", t / "m.npz"],
            "--layers: 'x' is not an integer",
        ),
        (
            lambda t, reg: [
                "train",
                reg,
                "--target",
                "y",
                "--layers",
                "4",
                "--activations",
                "relu,tanh,relu",
                "-o",
                t / "m.npz",
            ],
            "3 names for 1 hidden layers",
        ),
        (
            lambda t, reg: [
                "train",
                reg,
                "--target",
                "y",
                "--activations",
                "swoosh",
                "--layers",
                "3",
                "-o",
                t / "m.npz",
            ],
            "unknown activation 'swoosh'",
        ),
        (
            lambda t, reg: ["predict", t / "none.npz", reg, "-o", t / "p.csv"],
            "none.npz: no such file",
        ),
        (
            lambda t, reg: [
                "train",
                reg,
                "--target",
                "y",
                "--optimizer",
                "lion",
                "-o",
                t / "m.npz",
            ],
            "unknown optimizer 'lion'",
        ),
        (
            lambda t, reg: [
                "train",
                reg,
                "--target",
                "y",
                "--validation-split",
                "1.5",
                "-o",
                t / "m.npz",
            ],
            "--validation-split must be between 0 and 1",
        ),
        (lambda t, reg: ["train", reg, "--target", "y", "--lr", "-1", "-o", t / "m.npz"], "lr"),
        (lambda t, reg: ["summary", reg], "not a chainrule model file"),
        (
            lambda t, reg: ["train", reg, "--target", "y", "--target", "y", "-o", t / "m.npz"],
            "--target 'y' is given twice",
        ),
    ],
)
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
    # rows are the file's lines, blank ones counted (and a ragged row's too)
    path.write_text("x,y\n\n1,2\n\n3,4\noops,5\n")
    r = run("train", path, "--target", "y", "-o", tmp_path / "m.npz")
    assert "row 6, column 'x': 'oops' is not a number" in r.stderr
    path.write_text("x,y\n\n1,2\n\n3,4\n7\n")
    r = run("train", path, "--target", "y", "-o", tmp_path / "m.npz")
    assert "row 6 has 1 fields, the header has 2" in r.stderr


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
    assert (
        run("train", regression_csv, "--target", "y", "--epochs", "1", "-o", model).returncode == 0
    )
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
    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "demo", "--epochs", "3", "--every", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "final loss" in r.stdout


# ---- defaults that train well on ordinary, unscaled CSV files --------------------------------


def in_process(capsys, *args):
    """(exit status, stdout, stderr) of chainrule.cli.main run in this process."""
    from chainrule.cli import main

    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def r2(y, pred):
    return 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


@pytest.fixture
def unscaled_csv(tmp_path):
    """Features at scales ~1e3 and a smooth nonlinear target ~1e5; 1200 rows to train on and
    300 held out (features in one file, the true targets returned)."""
    rng = np.random.default_rng(0)
    n = 1500
    x1 = rng.uniform(0, 6e3, n)  # a full period of the sine
    x2 = rng.uniform(-2e3, 2e3, n)  # both arms of the parabola
    x3 = rng.uniform(500, 1500, n)  # a column the target does not use
    y = 1e5 * (np.sin(x1 / 1e3) + (x2 / 1e3) ** 2)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    write_csv(train, ["x1", "x2", "x3", "y"], zip(x1[:1200], x2[:1200], x3[:1200], y[:1200]))
    write_csv(test, ["x1", "x2", "x3"], zip(x1[1200:], x2[1200:], x3[1200:]))
    A = np.column_stack([x1, x2, x3, np.ones(n)])
    return train, test, A, y


def test_default_train_fits_unscaled_nonlinear_data(tmp_path, capsys, unscaled_csv):
    train, test, A, y = unscaled_csv
    # a linear model cannot: the least-squares fit of the same rows explains ~20%
    coef = np.linalg.lstsq(A[:1200], y[:1200], rcond=None)[0]
    assert r2(y[1200:], A[1200:] @ coef) < 0.5

    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    status, stdout, _ = in_process(capsys, "train", train, "--target", "y", "--quiet", "-o", model)
    assert status == 0 and "trained 3-64-64-1 for 100 epochs" in stdout  # the defaults
    net, meta = cr.load(model, with_metadata=True)
    assert net.optimizer.name == "adam" and [a.name for a in net.activations] == [
        "relu",
        "relu",
        "linear",
    ]
    assert meta["scaling"]["features"]["columns"] == ["x1", "x2", "x3"]
    assert meta["scaling"]["targets"]["columns"] == ["y"]
    assert in_process(capsys, "predict", model, test, "-o", out)[0] == 0
    score = r2(y[1200:], np.genfromtxt(out, delimiter=",", names=True)["y"])
    with capsys.disabled():
        print(f" [R^2 of the default model on held-out rows: {score:.4f}]", end="")
    assert score >= 0.9

    # and a linear model (no hidden layers) trained the same way cannot either
    linear = tmp_path / "linear.npz"
    assert (
        in_process(
            capsys, "train", train, "--target", "y", "--layers", "", "--quiet", "-o", linear
        )[0]
        == 0
    )
    assert in_process(capsys, "predict", linear, test, "-o", out)[0] == 0
    assert r2(y[1200:], np.genfromtxt(out, delimiter=",", names=True)["y"]) < 0.5


def test_no_scale_keeps_the_raw_columns(tmp_path, capsys, regression_csv):
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    status, stdout, _ = in_process(
        capsys,
        "train",
        regression_csv,
        "--target",
        "y",
        "--target",
        "y2",
        "--no-scale",
        "--epochs",
        "5",
        "--quiet",
        "-o",
        model,
    )
    assert status == 0 and "(standardised)" not in stdout
    net, meta = cr.load(model, with_metadata=True)
    assert "scaling" not in meta
    assert in_process(capsys, "predict", model, regression_csv, "-o", out)[0] == 0
    data = np.genfromtxt(regression_csv, delimiter=",", names=True)
    X = np.column_stack([data["a"], data["b"], data["c"]])
    pred = np.genfromtxt(out, delimiter=",", names=True)
    np.testing.assert_array_equal(np.column_stack([pred["y"], pred["y2"]]), net.predict(X))
    assert "scaling: none" in in_process(capsys, "summary", model)[1]


def test_scaling_statistics_and_constant_columns(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal([1e3, -5.0], [300.0, 0.01], size=(100, 2))
    y = 2e4 + 1e3 * X[:, 0] / 300
    path = tmp_path / "d.csv"
    write_csv(path, ["big", "tiny", "same", "y"], [[a, b, 7.5, t] for (a, b), t in zip(X, y)])
    model = tmp_path / "m.npz"
    assert (
        in_process(
            capsys,
            "train",
            path,
            "--target",
            "y",
            "--validation-split",
            "0.2",
            "--epochs",
            "3",
            "--quiet",
            "-o",
            model,
        )[0]
        == 0
    )
    _, meta = cr.load(model, with_metadata=True)
    fs, ts = meta["scaling"]["features"], meta["scaling"]["targets"]
    # the statistics of the 80 rows trained on, not of the held-out ones; a constant column
    # keeps scale 1, as scikit-learn's StandardScaler does
    np.testing.assert_allclose(fs["mean"], [X[:80, 0].mean(), X[:80, 1].mean(), 7.5], rtol=1e-15)
    np.testing.assert_allclose(fs["scale"], [X[:80, 0].std(), X[:80, 1].std(), 1.0], rtol=1e-15)
    np.testing.assert_allclose(
        [ts["mean"][0], ts["scale"][0]], [y[:80].mean(), y[:80].std()], rtol=1e-15
    )
    summary = in_process(capsys, "summary", model)[1]
    assert "feature same: mean 7.5, scale 1" in summary and "target y: mean" in summary


def test_columns_near_the_float_limits_standardise_without_overflow(tmp_path, capsys):
    # np.mean and np.std of +-1e308 overflowed (NumPy warnings; the column became zeros, its
    # scale inf and the model could not be saved): each column is divided by its largest
    # magnitude first, so +-1e308 standardises to +-1 and a target of ~1e300 keeps its values
    rng = np.random.default_rng(3)
    n = 40
    a = np.where(np.arange(n) % 2, 1e308, -1e308)
    b = rng.normal(size=n)
    y = 1e300 * (b + rng.normal(scale=0.1, size=n))
    path, model, out = tmp_path / "h.csv", tmp_path / "h.npz", tmp_path / "p.csv"
    write_csv(path, ["a", "b", "y"], zip(a, b, y))
    args = ("train", path, "--target", "y", "--epochs", "5", "--quiet", "-o", model)
    status, _, err = in_process(capsys, *args)  # (here a NumPy warning is an error)
    assert status == 0 and err == ""
    net, meta = cr.load(model, with_metadata=True)
    fs, ts = meta["scaling"]["features"], meta["scaling"]["targets"]
    assert fs["mean"][0] == 0.0 and fs["scale"][0] == 1e308
    u = y / 1e300
    np.testing.assert_allclose(ts["mean"], [1e300 * u.mean()], rtol=1e-14)
    np.testing.assert_allclose(ts["scale"], [1e300 * u.std()], rtol=1e-14)
    # predict applies the recorded scaling to the features and inverts it on the predictions
    assert in_process(capsys, "predict", model, path, "-o", out)[0] == 0
    Z = np.column_stack([a / 1e308, (b - fs["mean"][1]) / fs["scale"][1]])
    np.testing.assert_array_equal(
        np.genfromtxt(out, delimiter=",", names=True)["y"],
        net.predict(Z)[:, 0] * ts["scale"][0] + ts["mean"][0],
    )


def test_differences_beyond_the_float_range_are_taken_at_half_size():
    from chainrule.cli_scaling import fit_scaling, standardise, unstandardise

    c = np.array([[-1e308]] * 39 + [[1e308]])  # 1e308 - mean is beyond the float range
    entry = fit_scaling(c, ["c"])
    mean, scale = np.array(entry["mean"]), np.array(entry["scale"])
    np.testing.assert_allclose([mean[0], scale[0]], [-0.95e308, 0.0975**0.5 * 1e308], rtol=1e-15)
    Z = standardise(c, mean, scale)
    expected = np.r_[[-0.05] * 39, [1.95]] / 0.0975**0.5
    np.testing.assert_allclose(Z[:, 0], expected, rtol=1e-14)
    np.testing.assert_allclose(unstandardise(Z, mean, scale), c, rtol=1e-14)


def test_tiny_spreads_are_near_constant_columns_of_scale_1(tmp_path, capsys):
    # np.std of 0 / 5e-324 underflowed to 0 while the values differ, and 0 / 0 reached fit as
    # nan ("non-finite value at row 0" for a 0 in the file): a deviation that is 0 or not a
    # normal double, or within the rounding error of computing it, is a near-constant column
    rng = np.random.default_rng(4)
    n = 40
    odd = np.arange(n) % 2 == 1
    sub = np.where(odd, 5e-324, 0.0)
    ulp = np.where(odd, np.nextafter(1e3, 2e3), 1e3)
    small = np.where(odd, 1e-300, 0.0)  # tiny, but its deviation 5e-301 is a normal double
    x = rng.normal(size=n)
    path, model, out = tmp_path / "t.csv", tmp_path / "t.npz", tmp_path / "p.csv"
    write_csv(path, ["sub", "ulp", "small", "x", "y"], zip(sub, ulp, small, x, 2 * x))
    args = ("train", path, "--target", "y", "--epochs", "5", "--quiet", "-o", model)
    status, _, err = in_process(capsys, *args)
    assert status == 0 and err == ""
    net, meta = cr.load(model, with_metadata=True)
    fs = meta["scaling"]["features"]
    assert fs["scale"][:2] == [1.0, 1.0] and fs["scale"][2] == pytest.approx(5e-301, rel=1e-15)
    assert abs(fs["mean"][0]) <= 5e-324 and fs["mean"][1:3] == pytest.approx(
        [1e3, 5e-301], rel=1e-15
    )
    assert in_process(capsys, "predict", model, path, "-o", out)[0] == 0
    mean, scale = np.array(fs["mean"]), np.array(fs["scale"])
    Z = (np.column_stack([sub, ulp, small, x]) - mean) / scale
    ts = meta["scaling"]["targets"]
    np.testing.assert_array_equal(
        np.genfromtxt(out, delimiter=",", names=True)["y"],
        net.predict(Z)[:, 0] * ts["scale"][0] + ts["mean"][0],
    )


def test_scaling_follows_standard_scaler():
    # the same means, and scale 1 for the same (near-)constant columns, where StandardScaler's
    # own arithmetic does not overflow or underflow
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    from chainrule.cli_scaling import fit_scaling

    rng = np.random.default_rng(5)
    n = 50
    odd = np.arange(n) % 2 == 1
    A = np.column_stack(
        [
            rng.normal(3.0, 2.0, n),
            np.full(n, -7.25),  # constant
            np.where(odd, np.nextafter(1e3, 2e3), 1e3),  # a rounding error apart: near-constant
            np.where(odd, 1 + 1e-12, 1.0),  # a real spread, if small
            np.where(odd, 5e-324, 0.0),  # StandardScaler's variance is 0
            rng.normal(0.0, 1e150, n),
        ]
    )
    ours = fit_scaling(A, [str(j) for j in range(A.shape[1])])
    theirs = preprocessing.StandardScaler().fit(A)
    np.testing.assert_allclose(ours["mean"], theirs.mean_, rtol=1e-14, atol=5e-324)
    np.testing.assert_allclose(ours["scale"], theirs.scale_, rtol=1e-9)
    assert ours["scale"][1:3] == [1.0, 1.0] and ours["scale"][4] == 1.0


def test_a_value_too_far_out_to_standardise_is_an_error_naming_it(tmp_path, capsys):
    # rows the statistics were not taken from (held out, or predicted) can be too far from
    # them: an error naming the value's place, not infinities passed on to fit or predict
    rng = np.random.default_rng(6)
    rows = [[1e-300 * (i % 2), v, v] for i, v in enumerate(rng.normal(size=40))]
    path = tmp_path / "v.csv"
    write_csv(path, ["a", "b", "y"], rows + [[1e300, 0.0, 0.0]])
    model = tmp_path / "v.npz"
    args = ("train", path, "--target", "y", "--epochs", "2", "--quiet", "-o", model)
    status, _, err = in_process(capsys, *args, "--validation-split", "0.1")
    assert status == 1 and len(err.strip().splitlines()) == 1 and not model.exists()
    assert "v.csv: row 42, column 'a': 1e+300 is too far from the mean 5e-301" in err
    assert "rescale the column or pass --no-scale" in err
    write_csv(path, ["a", "b", "y"], rows)
    assert in_process(capsys, *args)[0] == 0
    write_csv(tmp_path / "new.csv", ["a", "b"], [[0.0, 0.5], [1e300, 0.5]])
    status, _, err = in_process(capsys, "predict", model, tmp_path / "new.csv", "-o", "-")
    assert status == 1 and "new.csv: row 3, column 'a': 1e+300 is too far from the mean" in err
    # and a prediction that the target's scaling carries beyond the float range
    write_csv(path, ["b", "y"], [[v, 1e308 * (-1) ** i] for i, (_, v, _) in enumerate(rows)])
    assert in_process(capsys, *args)[0] in (0, 3)
    write_csv(tmp_path / "new.csv", ["b"], [[0.5], [1e12], [-1e12]])
    status, _, err = in_process(capsys, "predict", model, tmp_path / "new.csv", "-o", "-")
    assert status == 1 and "the prediction of 'y' is beyond the float range" in err


def test_numeric_class_labels_are_one_class_per_value_in_a_fixed_order(tmp_path, capsys):
    # "1" and "1.0" are the same class (spelled as first seen), and the order never depends
    # on Python's hash seed: classes sort by value, then by text
    rng = np.random.default_rng(0)
    labels = ["2", "1", "1.0", "10", "-0", "0.0", "2.0"] * 6
    rows = [[f"{v:.3f}", label] for v, label in zip(rng.normal(size=len(labels)), labels)]
    write_csv(tmp_path / "n.csv", ["x", "k"], rows)
    model = tmp_path / "n.npz"
    args = ("train", tmp_path / "n.csv", "--target", "k", "--loss", "cross_entropy")
    status, _, err = in_process(capsys, *args, "--epochs", "2", "--quiet", "-o", model)
    assert status in (0, 3), err
    _, meta = cr.load(model, with_metadata=True)
    assert meta["classes"] == ["-0", "1", "2", "10"]
    for seed in ("1", "3"):  # in fresh interpreters of other hash seeds: the same classes
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = tmp_path / f"m{seed}.npz"
        r = subprocess.run(
            [sys.executable, "-m", "chainrule", *map(str, args), "--epochs", "2", "--quiet"]
            + ["-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert r.returncode in (0, 3), r.stderr
        assert cr.load(out, with_metadata=True)[1]["classes"] == meta["classes"]


def test_numbers_beside_text_labels_are_one_class_per_value(tmp_path, capsys):
    # "1" and "1.0" were two classes (and two probability columns) once the column also held
    # text: numbers are one class per value whatever else the column holds
    rng = np.random.default_rng(7)
    labels = ["1", "1.0", "2", "x", "-0", "0.0"] * 8
    path, model = tmp_path / "k.csv", tmp_path / "k.npz"
    write_csv(path, ["a", "k"], [[f"{v:.3f}", k] for v, k in zip(rng.normal(size=48), labels)])
    args = ("train", path, "--target", "k", "--loss", "cross_entropy", "--epochs", "2")
    status, _, err = in_process(capsys, *args, "--quiet", "-o", model)
    assert status in (0, 3), err
    assert cr.load(model, with_metadata=True)[1]["classes"] == ["-0", "1", "2", "x"]
    assert "classes: -0, 1, 2, x" in in_process(capsys, "summary", model)[1]
    status, out, _ = in_process(capsys, "predict", model, path, "-o", "-")
    assert status == 0 and out.splitlines()[0] == "k,p_-0,p_1,p_2,p_x"


def test_an_empty_cell_is_not_a_class_label(tmp_path, capsys):
    # an empty cell became a class named '' without a word: it is an error naming its row,
    # as an empty cell of a feature column or a regression target is
    path, model = tmp_path / "k.csv", tmp_path / "k.npz"
    write_csv(path, ["a", "k"], [[i, ["1", "2", " "][i % 3]] for i in range(12)])
    args = ("train", path, "--target", "k", "--loss", "cross_entropy", "--epochs", "2")
    status, _, err = in_process(capsys, *args, "--quiet", "-o", model)
    assert status == 1 and len(err.strip().splitlines()) == 1 and not model.exists()
    assert "k.csv: row 4, column 'k': an empty cell is not a class label" in err
    # a regression target of mostly empty cells is not "labels such as ''" either
    path.write_text("a,y\n1,\n2,\n3,4\n")
    status, _, err = in_process(capsys, "train", path, "--target", "y", "--quiet", "-o", model)
    assert status == 1 and "k.csv: row 2, column 'y': '' is not a number" in err
    assert "cross_entropy" not in err


def test_cross_entropy_scales_the_features_only(tmp_path, capsys, classes_csv):
    path, _ = classes_csv
    model = tmp_path / "c.npz"
    assert (
        in_process(
            capsys,
            "train",
            path,
            "--target",
            "kind",
            "--loss",
            "cross_entropy",
            "--epochs",
            "2",
            "--quiet",
            "-o",
            model,
        )[0]
        == 0
    )
    _, meta = cr.load(model, with_metadata=True)
    assert set(meta["scaling"]) == {"method", "features"}
    assert "standardised features (" in in_process(capsys, "summary", model)[1]


def test_model_saved_by_network_save_predicts_as_before(tmp_path, capsys):
    net = cr.Network([2, 3, 1], ["tanh", "linear"], seed=1)
    net.save(tmp_path / "plain.npz")
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    write_csv(tmp_path / "x.csv", ["u", "v"], X.tolist())
    status, out, err = in_process(
        capsys, "predict", tmp_path / "plain.npz", tmp_path / "x.csv", "-o", "-"
    )
    assert status == 0
    np.testing.assert_array_equal(
        np.genfromtxt(out.splitlines(), delimiter=",", names=True)["y0"], net.predict(X)[:, 0]
    )


class _Frame:
    """The table protocol fit takes (pandas' ``columns`` and ``to_numpy``), without pandas."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values, dtype=float), list(columns)

    def to_numpy(self, dtype=None):
        return self.values


def test_a_model_fitted_on_a_frame_finds_its_columns_by_name(tmp_path, capsys):
    # Network.fit on a DataFrame records feature_names_in_, which the file keeps: predict
    # selects those columns by name, in the model's order, as Network.predict on a frame does
    X = np.array([[1.0, 2.0], [-3.0, 0.5], [0.25, -1.0]])
    net = cr.Network([2, 3, 1], ["tanh", "linear"], seed=1)
    net.fit(_Frame(X, ["b", "a"]), X[:, :1] - X[:, 1:], epochs=5, lr=0.1)
    net.save(tmp_path / "framed.npz")
    write_csv(tmp_path / "x.csv", ["a", "extra", "b"], np.c_[X[:, 1], X[:, 0] * 7, X[:, 0]])
    status, out, _ = in_process(
        capsys, "predict", tmp_path / "framed.npz", tmp_path / "x.csv", "-o", "-"
    )
    assert status == 0
    np.testing.assert_array_equal(
        np.genfromtxt(out.splitlines(), delimiter=",", names=True)["y0"], net.predict(X)[:, 0]
    )
    write_csv(tmp_path / "other.csv", ["p", "q"], X[:, :2].tolist())
    status, _, err = in_process(
        capsys, "predict", tmp_path / "framed.npz", tmp_path / "other.csv", "-o", "-"
    )
    assert status == 1 and "the model needs column(s) 'b', 'a'" in err


def test_diverged_training_is_an_error_and_saves_nothing(tmp_path, capsys):
    path = tmp_path / "d.csv"
    write_csv(path, ["x", "y"], [[1.0, 0.0], [-1.0, 0.0]] * 20)
    model = tmp_path / "m.npz"
    status, _, err = in_process(
        capsys,
        "train",
        path,
        "--target",
        "y",
        "--layers",
        "",
        "--optimizer",
        "sgd",
        "--lr",
        "1000",
        "--batch-size",
        "40",
        "--epochs",
        "500",
        "--quiet",
        "-o",
        model,
    )
    assert status == 1 and not model.exists()
    assert err.startswith("chainrule: error: training diverged: the loss became inf in epoch ")
    assert "not saved" in err and "lower --lr" in err and len(err.splitlines()) == 1


def test_loss_that_rose_warns_and_exits_3(tmp_path, capsys):
    # x = +-1, y = 0, full batch: SGD with lr 2.5 multiplies the error by -1.5 every epoch
    path = tmp_path / "d.csv"
    write_csv(path, ["x", "y"], [[1.0, 0.0], [-1.0, 0.0]] * 20)
    model = tmp_path / "m.npz"
    status, out, err = in_process(
        capsys,
        "train",
        path,
        "--target",
        "y",
        "--layers",
        "",
        "--optimizer",
        "sgd",
        "--lr",
        "2.5",
        "--batch-size",
        "40",
        "--epochs",
        "5",
        "--quiet",
        "-o",
        model,
    )
    assert status == 3
    assert err.startswith("chainrule: warning: the training loss rose from ")
    assert "saved" in out and model.exists()  # saved all the same


def test_a_model_no_better_than_the_mean_warns_and_exits_3(tmp_path, capsys):
    """The first-hour report: unscaled columns (~1e3) and target (~1e5), a model that barely
    moved; its loss fell, but stays far above that of predicting the mean of y."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3000, size=(200, 2))
    y = 1e5 + 10 * x[:, :1] + rng.normal(size=(200, 1))
    path = tmp_path / "d.csv"
    write_csv(path, ["a", "b", "y"], np.hstack([x, y]).tolist())
    model = tmp_path / "m.npz"
    status, out, err = in_process(
        capsys,
        "train",
        path,
        "--target",
        "y",
        "--no-scale",
        "--epochs",
        "2",
        "--quiet",
        "-o",
        model,
    )
    assert status == 3 and model.exists()
    assert err.startswith("chainrule: warning: the final training loss ")
    assert "the loss of predicting the mean of the target" in err and "drop --no-scale" in err
    # the same data with the default scaling learns: exit 0, no warning
    status, _, err = in_process(
        capsys, "train", path, "--target", "y", "--epochs", "20", "--quiet", "-o", model
    )
    assert status == 0 and err == ""


# ---- rough edges -----------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["-o", "--plot", "predict -o"])
def test_unwritable_output_fails_before_training(tmp_path, regression_csv, option):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    bad = os.path.join("no_such_dir", "out.file")  # relative, as a user would type it
    if option == "predict -o":
        model = tmp_path / "m.npz"
        cr.Network([3, 1], ["linear"]).save(model, metadata={"features": ["a", "b", "c"]})
        args = ["predict", model, regression_csv, "-o", bad]
    else:
        out = {"-o": bad, "--plot": tmp_path / "m.npz"}
        args = ["train", regression_csv, "--target", "y", "-o", out["-o"]] + (
            ["--plot", bad] if option == "--plot" else []
        )
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stdout == "" and "epoch" not in r.stderr  # nothing was trained or predicted
    assert r.stderr.startswith("chainrule: error: cannot write ") and bad in r.stderr
    assert ".tmp" not in r.stderr and "no such directory 'no_such_dir'" in r.stderr
    assert not (tmp_path / "m.npz").exists() or option == "predict -o"


def test_output_that_is_a_directory_or_an_unknown_image_type(tmp_path, capsys, regression_csv):
    status, _, err = in_process(capsys, "train", regression_csv, "--target", "y", "-o", tmp_path)
    assert status == 1 and f"cannot write -o {tmp_path}: it is a directory" in err
    pytest.importorskip("matplotlib")
    status, out, err = in_process(
        capsys,
        "train",
        regression_csv,
        "--target",
        "y",
        "-o",
        tmp_path / "m.npz",
        "--plot",
        tmp_path / "loss.xyz",
    )
    assert status == 1 and out == "" and "cannot write .xyz images" in err
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "loss.xyz").exists()


def test_predict_to_standard_output(tmp_path, regression_csv):
    model = tmp_path / "m.npz"
    assert (
        run(
            "train", regression_csv, "--target", "y", "--epochs", "2", "--quiet", "-o", model
        ).returncode
        == 0
    )
    r = run("predict", model, regression_csv, "-o", "-")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(r.stdout.splitlines()))  # nothing but the CSV
    assert rows[0] == ["y"] and len(rows) == 201 and all(np.isfinite(float(v[0])) for v in rows[1:])
    assert "wrote 200 predictions to standard output" in r.stderr
    assert not (tmp_path / "-").exists()


def test_train_refuses_standard_output(tmp_path, capsys, regression_csv):
    status, _, err = in_process(capsys, "train", regression_csv, "--target", "y", "-o", "-")
    assert status == 1 and "-o -: train writes a model file" in err


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"chainrule {cr.__version__}"


def test_train_help_shows_defaults():
    r = run("train", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())  # argparse wraps lines
    for default in (
        "(default: 64,64)",
        "(default: adam)",
        "(default: 100)",
        "(default: 32)",
        "(default: mse)",
        "(default: relu for every hidden layer)",
        "--no-scale",
        "3 when the last epoch's loss is higher than the first",
    ):
        assert default in text, default


def test_string_labels_need_cross_entropy(tmp_path, capsys):
    path = tmp_path / "iris.csv"
    write_csv(
        path,
        ["length", "width", "species"],
        [[5.1, 3.5, "setosa"], [7.0, 3.2, "versicolor"], [6.3, 3.3, "virginica"]],
    )
    status, _, err = in_process(
        capsys, "train", path, "--target", "species", "-o", tmp_path / "m.npz"
    )
    assert status == 1
    assert (
        "column 'species' holds labels such as 'setosa' and 'versicolor': use --loss "
        "cross_entropy for classification" in err
    )


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_recognised(tmp_path, capsys, delimiter):
    path = tmp_path / "d.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["a", "b", "y"])
        w.writerows([[i, i % 3, 2 * i] for i in range(20)])
    model = tmp_path / "m.npz"
    status, _, err = in_process(
        capsys, "train", path, "--target", "y", "--epochs", "2", "--quiet", "-o", model
    )
    assert status == 0, err
    assert cr.load(model, with_metadata=True)[1]["features"] == ["a", "b"]
    assert in_process(capsys, "predict", model, path, "-o", tmp_path / "p.csv")[0] == 0


def test_header_that_does_not_split_lists_what_it_found(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("a b y\n1 2 3\n4 5 6\n")
    status, _, err = in_process(capsys, "train", path, "--target", "y", "-o", tmp_path / "m.npz")
    assert status == 1
    assert "unknown column 'y'; the header has 1 column: 'a b y'" in err
    assert "delimiter was not recognised" in err
    model = tmp_path / "m.npz"
    cr.Network([2, 1], ["linear"]).save(model, metadata={"features": ["a", "b"]})
    status, _, err = in_process(capsys, "predict", model, path, "-o", tmp_path / "p.csv")
    assert status == 1 and "needs column(s) 'a', 'b'; the header has 1 column: 'a b y'" in err


def test_class_weight_balanced_reaches_fit(tmp_path, capsys, classes_csv, monkeypatch):
    path, label = classes_csv
    seen = {}
    fit = cr.Network.fit

    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(cr.Network, "fit", spy)
    model = tmp_path / "c.npz"
    assert (
        in_process(
            capsys,
            "train",
            path,
            "--target",
            "kind",
            "--loss",
            "cross_entropy",
            "--class-weight",
            "balanced",
            "--epochs",
            "2",
            "--quiet",
            "-o",
            model,
        )[0]
        == 0
    )
    assert seen["class_weight"] == "balanced"
    status, _, err = in_process(
        capsys,
        "train",
        path,
        "--target",
        "x1",
        "--class-weight",
        "balanced",
        "-o",
        tmp_path / "m.npz",
    )
    assert status == 1 and err.strip() == (
        "chainrule: error: --class-weight weights the classes "
        "of --loss cross_entropy; --loss mse has none"
    )
    assert not (tmp_path / "m.npz").exists()


def test_train_with_batch_norm_and_dropout(tmp_path, regression_csv):
    model = tmp_path / "bn.npz"
    r = run(
        "train",
        regression_csv,
        "--target",
        "y",
        "--layers",
        "16,8",
        "--batch-norm",
        "--dropout",
        "0.1",
        "--epochs",
        "30",
        "--batch-size",
        "20",
        "--seed",
        "1",
        "--quiet",
        "-o",
        model,
    )
    assert r.returncode == 0, r.stderr
    assert "trained 4-16-8-1 for 30 epochs" in r.stdout  # features a, b, c and y2
    net = cr.load(model)
    assert [c.kind for c in net.layer_configs] == [
        "dense",
        "batch_norm",
        "dropout",
        "dense",
        "batch_norm",
        "dropout",
        "dense",
    ]
    assert net.layer_configs[2].p == 0.1
    r = run("summary", model)
    assert r.returncode == 0 and "BatchNorm(momentum=0.1, eps=1e-05)" in r.stdout, r.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dropout", "1.5"], "Dropout: p must be a finite number in [0, 1), got 1.5"),
        (["--batch-norm", "--batch-size", "199"], "at least 2 rows per training batch"),
    ],
)
def test_train_layer_options_errors(tmp_path, regression_csv, extra, message):
    model = tmp_path / "bad.npz"
    r = run(
        "train", regression_csv, "--target", "y", "--epochs", "2", "--quiet", "-o", model, *extra
    )
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert not model.exists()
