"""The demo (``python -m chainrule demo``): the derivation's settings, and the baseline it
prints, the loss of predicting the mean of y, which shows how much each network learned."""

from __future__ import annotations

import re
from typing import Any, Dict, List

import numpy as np
import pytest

from chainrule import cli, demo


def _networks(out: str) -> List[Dict[str, float]]:
    """Per network: the baseline, the final loss and its printed multiple of the baseline."""
    found = []
    for chunk in out.strip().split("\n\n"):
        baseline = re.search(
            r"^baseline loss (\S+) \(predicting the mean of y, (\S+), for every "
            r"sample\)$",
            chunk,
            re.M,
        )
        final = re.search(r"^final loss (\S+) .*= (\S+) x baseline$", chunk, re.M)
        assert baseline and final, f"a network's report lacks its baseline or final line:\n{chunk}"
        found.append(
            {
                "baseline": float(baseline.group(1)),
                "mean": float(baseline.group(2)),
                "final": float(final.group(1)),
                "multiple": float(final.group(2)),
            }
        )
    return found


def test_demo_keeps_the_derivations_settings() -> None:
    assert demo.DEMO_NETWORKS == [
        ([2, 10, 8, 5, 1], ["relu", "tanh", "relu", "linear"], 0.01),
        ([2, 15, 1], ["sigmoid", "linear"], 0.1),
    ]
    X, Y = demo.make_data()
    X0 = np.random.default_rng(0).uniform(-1.0, 1.0, size=(100, 2))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, (X0[:, 0] ** 2 + X0[:, 1] ** 2)[:, None])
    args = cli.build_parser().parse_args(["demo"])
    assert (args.epochs, args.seed, args.dtype, args.every) == (1000, 42, "float64", 100)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_baseline_is_the_mse_of_predicting_the_mean(dtype: str) -> None:
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(37, 3)), rng.normal(2.0, 3.0, size=(37, 2))
    expected = np.sum((Y.mean(axis=0) - Y) ** 2) / (2 * len(Y))  # ||mean - Y||^2 / (2m)
    got = demo.baseline_loss(X, Y, dtype)
    assert got == pytest.approx(expected, rel=1e-12 if dtype == "float64" else 1e-5)
    # no constant does better: the mean is the minimiser of the MSE over constants
    for shift in (-0.1, 0.1):
        assert np.sum((Y.mean(axis=0) + shift - Y) ** 2) / (2 * len(Y)) > expected


def test_demo_prints_the_baseline_and_the_networks_beat_it(capsys: Any) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    nets = _networks(out)
    assert len(nets) == 2
    X, Y = demo.make_data()
    baseline = np.sum((Y.mean() - Y) ** 2) / (2 * len(Y))
    for net in nets:
        assert net["baseline"] == pytest.approx(baseline, rel=1e-5)  # 6 digits printed
        assert net["mean"] == pytest.approx(Y.mean(), rel=1e-5)
        assert net["multiple"] == pytest.approx(net["final"] / net["baseline"], rel=2e-3)
    # After the derivation's 1000 epochs both are below the baseline, the first clearly (it
    # explains about a fifth of the variance), the second, on its plateau, only just.
    first, second = nets
    assert first["final"] < 0.85 * baseline
    assert second["final"] < baseline
    assert out.count("epoch 1000/1000") == 2


def test_with_more_epochs_the_networks_go_far_below_the_baseline(capsys: Any) -> None:
    demo.run(epochs=20000, every=20000)
    nets = _networks(capsys.readouterr().out)
    assert [n["multiple"] < 0.05 for n in nets] == [True, True]


def test_demo_float32_and_zero_epochs(capsys: Any) -> None:
    demo.run(epochs=0, dtype="float32")
    out = capsys.readouterr().out
    nets = _networks(out)
    assert "float32" in out and "epoch" not in out.replace("0 epochs", "")
    # untrained networks are worse than the mean
    assert all(n["final"] > n["baseline"] for n in nets)
