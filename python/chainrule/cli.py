"""The ``chainrule`` command line: demo, train, predict, summary and dashboard.

``chainrule`` (the console script) and ``python -m chainrule`` run :func:`main`.

Exit status: 0 on success; 1 for an expected failure (a missing file, an unknown column, a
non-numeric value, an output path that cannot be written, training that diverged), reported as
one line ``chainrule: error: ...``; 2 for wrong arguments (argparse); 3 when ``train`` finished
without a useful model: its last epoch's loss is higher than its first, or (mse) its final loss
is not below that of predicting the target's mean for every row (a warning on stderr; the model
is saved).

By default ``train`` standardises every feature column, and a regression target, to mean 0 and
standard deviation 1 (a (near-)constant column keeps scale 1, as scikit-learn's StandardScaler
does; values near the float limits neither overflow nor underflow the statistics); the means and
scales go into the model file's metadata under ``"scaling"``, and ``predict`` applies them to the
features and inverts them on the predictions. A value too far from the mean to standardise
within the float range (a held-out or predicted row), or a prediction inverted beyond it, is an
error naming its row and column.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._core import DivergenceError
from ._version import __version__
from .cli_csv import (
    STDOUT,
    CliError,
    check_not_labels,
    check_writable,
    class_labels,
    column_index,
    found_columns,
    numeric,
    read_csv,
    write_csv,
)
from .cli_network import build_network, hidden_sizes, training_options
from .cli_scaling import (
    first_non_finite,
    fit_scaling,
    scaling_arrays,
    standardised,
    unstandardise,
)
from .demo import baseline_loss
from .demo import run as run_demo
from .fit_args import training_rows
from .serialization import load

__all__ = ["main", "build_parser", "PROG", "EXIT_ERROR", "EXIT_LOSS_ROSE"]

PROG = "chainrule"
EXIT_ERROR = 1
EXIT_LOSS_ROSE = 3
# ---- commands --------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    if args.output == STDOUT:
        raise CliError(
            "-o -: train writes a model file (.npz), not standard output; give a file name"
        )
    check_writable(args.output, "-o")
    if args.plot:  # fail before training, not after
        _check_plot_path(args.plot)
    if args.class_weight and args.loss != "cross_entropy":  # before reading the data
        raise CliError(
            "--class-weight weights the classes of --loss cross_entropy; "
            f"--loss {args.loss} has none"
        )
    header, rows = read_csv(args.data)
    targets = args.target
    twice = [t for t in dict.fromkeys(targets) if targets.count(t) > 1]
    if twice:
        raise CliError(f"--target {twice[0]!r} is given twice")
    t_cols = [column_index(args.data, header, t) for t in targets]
    f_cols = [i for i in range(len(header)) if i not in t_cols]
    if not f_cols:
        raise CliError(f"{args.data}: no feature columns left besides the targets")
    X = numeric(args.data, header, rows, f_cols)
    features = [header[i] for i in f_cols]
    metadata: Dict[str, Any] = {"features": features, "targets": targets}
    if args.loss == "cross_entropy":
        if len(targets) != 1:
            raise CliError("cross_entropy takes one --target column of class labels")
        labels = _same_numbers_alike(class_labels(args.data, header, rows, t_cols[0]))
        classes = sorted(set(labels), key=_label_key)
        if len(classes) < 2:
            raise CliError(
                f"{args.data}: column {targets[0]!r} has a single class "
                f"({classes[0]!r}); cross_entropy needs at least 2"
            )
        index = {c: i for i, c in enumerate(classes)}
        Y = np.eye(len(classes))[[index[v] for v in labels]]
        metadata["classes"] = classes
    else:
        for c in t_cols:
            check_not_labels(args.data, header, rows, c)
        Y = numeric(args.data, header, rows, t_cols)
    net = build_network(args, X.shape[1], Y.shape[1])
    fit_kwargs: Dict[str, Any] = dict(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, shuffle=True
    )
    fit_kwargs.update(training_options(args))
    # the rows trained on: fit's validation_split holds out the last rows
    n_fit = max(1, training_rows(len(rows), args.validation_split))
    if not args.no_scale:
        fs = fit_scaling(X[:n_fit], features)
        X = standardised(args.data, rows, features, X, fs, _RESCALE)
        scaling: Dict[str, Any] = {"method": "standard", "features": fs}
        if args.loss == "mse":  # class labels stay one-hot
            ts = fit_scaling(Y[:n_fit], targets)
            Y = standardised(args.data, rows, targets, Y, ts, _RESCALE)
            scaling["targets"] = ts
        metadata["scaling"] = scaling
    try:
        history = net.fit(X, Y, **fit_kwargs)
    except DivergenceError as exc:
        what = str(exc).split(";")[0]  # "training diverged: the loss became inf in epoch 3"
        hint = "try a lower --lr" + (" or drop --no-scale" if args.no_scale else "")
        raise CliError(f"{what}; the model was not saved: {hint}") from None
    status = 0
    if history.loss:
        scaled = "" if args.no_scale else " (standardised)"
        val = (
            f", validation loss {history.val_loss[-1]:.6g}" if "val_loss" in history.keys() else ""
        )
        widths = [X.shape[1]] + hidden_sizes(args) + [Y.shape[1]]
        print(
            f"trained {'-'.join(map(str, widths))} for {len(history.loss)} epochs: loss"
            f"{scaled} {history.loss[0]:.6g} -> {history.loss[-1]:.6g}{val}"
        )
        if history.loss[-1] > history.loss[0]:
            print(
                f"{PROG}: warning: the training loss rose from {history.loss[0]:.6g} to "
                f"{history.loss[-1]:.6g}; the model is saved but is likely poor: try a lower "
                f"--lr" + (" or drop --no-scale" if args.no_scale else ""),
                file=sys.stderr,
            )
            status = EXIT_LOSS_ROSE
        elif args.loss == "mse":
            # a model worse than predicting the mean of the target has learned nothing useful
            final, base = net.loss(X[:n_fit], Y[:n_fit]), baseline_loss(X[:n_fit], Y[:n_fit])
            if not final < base:
                print(
                    f"{PROG}: warning: the final training loss {final:.6g} is not below "
                    f"{base:.6g}, the loss of predicting the mean of the target for every "
                    "row; the model is saved but has learned nothing useful: try more "
                    "--epochs, another --lr" + (" or drop --no-scale" if args.no_scale else ""),
                    file=sys.stderr,
                )
                status = EXIT_LOSS_ROSE
    try:
        net.save(args.output, metadata=metadata)
    except OSError as exc:
        raise CliError(f"cannot write -o {args.output}: {exc.strerror or exc}") from None
    print(f"saved {args.output}")
    if args.plot:
        _plot(history, args.plot)
        print(f"plotted {args.plot}")
    return status


def _check_plot_path(path: str) -> None:
    """matplotlib is installed, it can write this kind of image, and the path is writable."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install matplotlib") from None
    ext = os.path.splitext(path)[1][1:].lower()
    kinds = FigureCanvasBase.get_supported_filetypes()
    if ext and ext not in kinds:
        raise CliError(
            f"--plot {path}: matplotlib cannot write .{ext} images; use one of "
            f"{', '.join('.' + k for k in sorted(kinds))}"
        )
    check_writable(path, "--plot")


def _plot(history: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = history.plot()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise CliError(f"cannot write --plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


_RESCALE = "; rescale the column or pass --no-scale"


def _label_key(label: str) -> Tuple[int, Any, str]:
    """Numeric labels in numeric order, then the others in text order; the text breaks ties
    (nan, inf spelled two ways), so that the order never depends on a set's."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _same_numbers_alike(labels: List[str]) -> List[str]:
    """One class per numeric value, spelled as first in the file ("1" and "1.0" are one class,
    as in a numeric column read by pandas), also beside text labels; the text labels as they
    are (text classes, as scikit-learn takes strings)."""
    first: Dict[str, str] = {}
    out = []
    for label in labels:
        try:
            key = repr(float(label) + 0.0)  # (-0.0 is 0.0; every nan one key)
        except ValueError:
            out.append(label)
            continue
        out.append(first.setdefault(key, label))
    return out


def _load_model(path: str) -> Tuple[Any, Dict[str, Any]]:
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    try:
        return load(path, with_metadata=True)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_predict(args: argparse.Namespace) -> int:
    if args.output != STDOUT:
        check_writable(args.output, "-o")
    net, meta = _load_model(args.model)
    header, rows = read_csv(args.data)
    features = meta.get("features")
    if features is None and net.feature_names_in_ is not None:
        features = [str(f) for f in net.feature_names_in_]  # fitted on a DataFrame in Python
    if features is None:
        if len(header) != net.layer_sizes[0]:
            raise CliError(
                f"{args.data}: the model takes {net.layer_sizes[0]} features, the "
                f"file has {len(header)} columns"
            )
        f_cols = list(range(len(header)))
    else:
        missing = [f for f in features if f not in header]
        if missing:
            raise CliError(
                f"{args.data}: the model needs column(s) "
                f"{', '.join(map(repr, missing))}; {found_columns(header)}"
            )
        f_cols = [header.index(f) for f in features]
    X = numeric(args.data, header, rows, f_cols)
    if X.shape[1] != net.layer_sizes[0]:
        raise CliError(
            f"{args.data}: the model takes {net.layer_sizes[0]} features, got {X.shape[1]}"
        )
    scaling = meta.get("scaling") or {}
    if "features" in scaling:
        mean, scale = scaling_arrays(scaling["features"], X.shape[1], "feature")
        names = [header[c] for c in f_cols]
        entry = {"mean": mean, "scale": scale}
        hint = "; the model was trained on values much nearer the mean"
        X = standardised(args.data, rows, names, X, entry, hint)
    Yhat = net.predict(X)
    targets = meta.get("targets") or [f"y{j}" for j in range(Yhat.shape[1])]
    if "targets" in scaling:
        mean, scale = scaling_arrays(scaling["targets"], Yhat.shape[1], "target")
        Yhat = unstandardise(Yhat, mean, scale)
        bad = first_non_finite(Yhat)
        if bad is not None:
            i, j = bad
            raise CliError(
                f"{args.data}: row {rows.line(i)}: the prediction of {targets[j]!r} is beyond the "
                "float range (the model extrapolates far past the targets it was trained on)"
            )
    classes = meta.get("classes")
    if classes is not None and len(classes) == Yhat.shape[1]:
        labels = [classes[i] for i in np.argmax(Yhat, axis=1)]
        out_header = [targets[0]] + [f"p_{c}" for c in classes]
        columns: List[Sequence[Any]] = [labels] + [Yhat[:, j] for j in range(Yhat.shape[1])]
    else:
        out_header = list(targets)
        columns = [Yhat[:, j] for j in range(Yhat.shape[1])]
    write_csv(args.output, out_header, columns)
    if args.output == STDOUT:  # standard output holds the CSV alone
        print(f"wrote {len(rows)} predictions to standard output", file=sys.stderr)
    else:
        print(f"wrote {len(rows)} predictions to {args.output}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    net, meta = _load_model(args.model)
    print(net.summary())
    for key in ("features", "targets", "classes"):
        if key in meta:
            print(f"{key}: {', '.join(map(str, meta[key]))}")
    scaling = meta.get("scaling") or {}
    parts = [what for what in ("features", "targets") if what in scaling]
    if parts:
        print(
            f"scaling: standardised {' and '.join(parts)} (predict applies it and inverts it "
            "on the predictions)"
        )
        for what in parts:
            entry = scaling[what]
            for name, m, s in zip(
                entry.get("columns", []), entry.get("mean", []), entry.get("scale", [])
            ):
                print(f"  {what[:-1]} {name}: mean {m:.6g}, scale {s:.6g}")
    else:
        print("scaling: none (the model takes the columns as they are)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.epochs < 0 or args.every < 1:
        raise CliError("--epochs must be >= 0 and --every >= 1")
    run_demo(epochs=args.epochs, seed=args.seed, dtype=args.dtype, every=args.every)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from .run_log import RunLog, open_dashboard  # tornado and plotly only for this command

    if args.report:
        check_writable(args.report, "--report")
        RunLog(args.log_dir).report(args.report)
        print(f"wrote {args.report}")
        return 0
    server = open_dashboard(args.log_dir, port=args.port)
    print(f"chainrule dashboard of {args.log_dir}: {server.url}", flush=True)
    print("press Ctrl-C to stop", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        import threading

        threading.Event().wait()
    finally:
        server.close()
    return 0


# ---- parser ----------------------------------------------------------------------------------


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" for options that have a default worth showing (not None, False
    or an empty string)."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        if action.default is None or isinstance(action.default, bool) or action.default == "":
            return action.help
        return super()._get_help_string(action)


TRAIN_EPILOG = """\
By default the features, and a regression target, are standardised (mean 0, standard deviation
1); the means and scales are saved in the model file and predict applies and inverts them.
Exit status: 0 on success, 1 on an error (including a diverged loss; nothing is saved), 2 on
wrong arguments, 3 when the last epoch's loss is higher than the first or (mse) not below that
of predicting the target's mean (a warning; the model is saved)."""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="chainrule: N-layer networks with exact backprop"
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="train the two example networks on built-in data",
        formatter_class=_HelpFormatter,
    )
    demo.add_argument("--epochs", type=int, default=1000, help="epochs per network")
    demo.add_argument("--seed", type=int, default=42, help="weight initialisation seed")
    demo.add_argument(
        "--dtype", choices=["float64", "float32"], default="float64", help="floating-point type"
    )
    demo.add_argument("--every", type=int, default=100, help="print the loss every N epochs")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser(
        "train",
        help="train a network on a CSV file and save it",
        formatter_class=_HelpFormatter,
        epilog=TRAIN_EPILOG,
    )
    train.add_argument("data", help="CSV file with a header row (',' or ';', tab, '|')")
    train.add_argument(
        "--target",
        action="append",
        required=True,
        help="target column (repeat for several); class labels for cross_entropy",
    )
    train.add_argument(
        "--layers", default="64,64", help='hidden layer sizes; "" for none (a linear model)'
    )
    train.add_argument(
        "--activations",
        default="",
        help="one per hidden layer (and optionally the output), e.g. relu,tanh "
        "(default: relu for every hidden layer)",
    )
    train.add_argument(
        "--loss",
        choices=["mse", "cross_entropy"],
        default="mse",
        help="mse for regression, cross_entropy for class labels",
    )
    train.add_argument(
        "--class-weight",
        choices=["balanced"],
        default=None,
        help="cross_entropy: weight each class by n / (k * count), scikit-learn's "
        "'balanced' (over the training rows)",
    )
    train.add_argument(
        "--dropout",
        type=float,
        default=0.0,
        metavar="P",
        help="a dropout layer of rate P after each hidden layer (0: none)",
    )
    train.add_argument(
        "--batch-norm",
        action="store_true",
        help="batch normalisation after each hidden layer (before its dropout)",
    )
    train.add_argument("--optimizer", default="adam", help="sgd, adam, adamw or rmsprop")
    train.add_argument("--epochs", type=int, default=100, help="passes over the data")
    train.add_argument("--batch-size", type=int, default=32, help="rows per step")
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: the optimizer's, 1e-3 for adam, 1e-2 for sgd)",
    )
    train.add_argument(
        "--no-scale",
        action="store_true",
        help="do not standardise the features and target; train on the columns as they are",
    )
    train.add_argument(
        "--validation-split",
        type=float,
        default=0.0,
        help="hold out this fraction of the rows (the last ones) to report a validation loss",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--seed", type=int, default=0, help="weight initialisation and shuffling")
    train.add_argument(
        "--dtype", choices=["float64", "float32"], default="float64", help="floating-point type"
    )
    train.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    train.add_argument("--plot", help="also draw the loss curves to this image (matplotlib)")
    train.set_defaults(func=cmd_train)

    predict = sub.add_parser("predict", help="predict the rows of a CSV file with a saved model")
    predict.add_argument("model", help="model file written by 'chainrule train' or Network.save")
    predict.add_argument("data", help="CSV file with the model's feature columns")
    predict.add_argument(
        "-o", "--output", required=True, help="CSV file to write; - for standard output"
    )
    predict.set_defaults(func=cmd_predict)

    summary = sub.add_parser("summary", help="print a saved model's dimension table and scaling")
    summary.add_argument("model")
    summary.set_defaults(func=cmd_summary)

    dash = sub.add_parser(
        "dashboard",
        help="open a run recorded with fit(..., log_dir=...) in the dashboard",
        formatter_class=_HelpFormatter,
    )
    dash.add_argument("log_dir", help="the directory fit(..., log_dir=...) recorded")
    dash.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    dash.add_argument("--open", action="store_true", help="also open it in the web browser")
    dash.add_argument(
        "--report",
        metavar="HTML",
        help="instead of serving, write the run as one self-contained HTML file",
    )
    dash.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: Optional[List[str]] = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # e.g. predict -o - | head: the reader has gone, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except (ValueError, TypeError, OSError, ImportError) as exc:  # from the library: clear
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
