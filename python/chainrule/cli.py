"""The ``chainrule`` command line: demo, train, predict and summary.

``chainrule`` (the console script) and ``python -m chainrule`` run :func:`main`. Expected
failures (a missing file, an unknown column, a non-numeric value, a shape that does not fit the
model) print one line, ``chainrule: error: ...``, and exit with status 1; wrong arguments exit
with argparse's status 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

PROG = "chainrule"


class CliError(Exception):
    """An expected failure, reported as one line."""


# ---- CSV -------------------------------------------------------------------------------------

def read_csv(path: str) -> Tuple[List[str], List[List[str]]]:
    """(header, rows) of a CSV file with a header row; every row has the header's width."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CliError(f"{path}: cannot read CSV: {exc}") from None
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        raise CliError(f"{path}: the file is empty (a header row is needed)")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise CliError(f"{path}: column {dup!r} appears twice in the header")
    body = rows[1:]
    if not body:
        raise CliError(f"{path}: no data rows after the header")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise CliError(f"{path}: row {i + 2} has {len(r)} fields, the header has "
                           f"{len(header)}")
    return header, body


def column_index(path: str, header: List[str], name: str) -> int:
    if name not in header:
        raise CliError(f"{path}: unknown column {name!r}; columns: {', '.join(header)}")
    return header.index(name)


def numeric(path: str, header: List[str], rows: List[List[str]], columns: Sequence[int]) -> np.ndarray:
    """The given columns as a float64 matrix; a non-numeric cell is an error naming its place."""
    out = np.empty((len(rows), len(columns)))
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            cell = r[c].strip()
            try:
                value = float(cell)
            except ValueError:
                raise CliError(f"{path}: row {i + 2}, column {header[c]!r}: {cell!r} is not a "
                               "number") from None
            if not np.isfinite(value):
                raise CliError(f"{path}: row {i + 2}, column {header[c]!r}: {cell!r} is not a "
                               "finite number")
            out[i, j] = value
    return out


def write_csv(path: str, header: List[str], columns: List[Sequence[Any]]) -> None:
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in zip(*columns):
                w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                            for v in row])
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc}") from None


# ---- commands --------------------------------------------------------------------------------

def _split_list(text: str, what: str) -> List[str]:
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise CliError(f"{what} must be a comma-separated list, got {text!r}")
    return items


def cmd_train(args: argparse.Namespace) -> None:
    import chainrule as cr

    header, rows = read_csv(args.data)
    targets = args.target
    t_cols = [column_index(args.data, header, t) for t in targets]
    f_cols = [i for i in range(len(header)) if i not in t_cols]
    if not f_cols:
        raise CliError(f"{args.data}: no feature columns left besides the targets")
    X = numeric(args.data, header, rows, f_cols)
    metadata: Dict[str, Any] = {"features": [header[i] for i in f_cols], "targets": targets}
    if args.loss == "cross_entropy":
        if len(targets) != 1:
            raise CliError("cross_entropy takes one --target column of class labels")
        labels = [r[t_cols[0]].strip() for r in rows]
        classes = sorted(set(labels), key=_label_key)
        if len(classes) < 2:
            raise CliError(f"{args.data}: column {targets[0]!r} has a single class "
                           f"({classes[0]!r}); cross_entropy needs at least 2")
        index = {c: i for i, c in enumerate(classes)}
        Y = np.eye(len(classes))[[index[v] for v in labels]]
        metadata["classes"] = classes
    else:
        Y = numeric(args.data, header, rows, t_cols)
    hidden = [_positive_int(v, "--layers") for v in _split_list(args.layers, "--layers")] \
        if args.layers else []
    out_act = {"mse": "linear", "cross_entropy": "softmax"}[args.loss]
    acts = _split_list(args.activations, "--activations") if args.activations else \
        ["relu"] * len(hidden)
    if len(acts) == len(hidden):
        acts = acts + [out_act]
    elif len(acts) != len(hidden) + 1:
        raise CliError(f"--activations has {len(acts)} names for {len(hidden)} hidden layers "
                       f"(give one per hidden layer, or one more for the output)")
    sizes = [X.shape[1]] + hidden + [Y.shape[1]]
    try:
        net = cr.Network(sizes, acts, args.loss, dtype=args.dtype, seed=args.seed)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None
    fit_kwargs: Dict[str, Any] = dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                      shuffle=True)
    if args.plot:  # fail before training, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CliError("--plot needs matplotlib: pip install matplotlib") from None
    fit_kwargs.update(_training_options(args))
    history = net.fit(X, Y, **fit_kwargs)
    if history.loss:
        val = f", validation loss {history.val_loss[-1]:.6g}" if "val_loss" in history.keys() else ""
        print(f"trained {'-'.join(map(str, sizes))} for {len(history.loss)} epochs: loss "
              f"{history.loss[0]:.6g} -> {history.loss[-1]:.6g}{val}")
    net.save(args.output, metadata=metadata)
    print(f"saved {args.output}")
    if args.plot:
        _plot(history, args.plot)
        print(f"plotted {args.plot}")


def _training_options(args: argparse.Namespace) -> Dict[str, Any]:
    """fit() arguments for the optimizer, validation and progress options."""
    opts: Dict[str, Any] = {"optimizer": args.optimizer, "verbose": 0 if args.quiet else 1}
    if args.validation_split:
        if not 0 < args.validation_split < 1:
            raise CliError(f"--validation-split must be between 0 and 1, got "
                           f"{args.validation_split}")
        opts["validation_split"] = args.validation_split
    return opts


def _plot(history: Any, path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = history.plot()
    fig.savefig(path)
    plt.close(fig)


def _label_key(label: str) -> Tuple[int, Any]:
    """Numeric labels in numeric order, then the others in text order."""
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def _positive_int(text: str, what: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise CliError(f"{what}: {text!r} is not an integer") from None
    if v < 1:
        raise CliError(f"{what}: sizes must be >= 1, got {v}")
    return v


def _load_model(path: str) -> Tuple[Any, Dict[str, Any]]:
    import chainrule as cr
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    try:
        return cr.load(path, with_metadata=True)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_predict(args: argparse.Namespace) -> None:
    net, meta = _load_model(args.model)
    header, rows = read_csv(args.data)
    features = meta.get("features")
    if features is None:
        if len(header) != net.layer_sizes[0]:
            raise CliError(f"{args.data}: the model takes {net.layer_sizes[0]} features, the "
                           f"file has {len(header)} columns")
        f_cols = list(range(len(header)))
    else:
        missing = [f for f in features if f not in header]
        if missing:
            raise CliError(f"{args.data}: the model needs column(s) {', '.join(map(repr, missing))}")
        f_cols = [header.index(f) for f in features]
    X = numeric(args.data, header, rows, f_cols)
    if X.shape[1] != net.layer_sizes[0]:
        raise CliError(f"{args.data}: the model takes {net.layer_sizes[0]} features, got "
                       f"{X.shape[1]}")
    Yhat = net.predict(X)
    classes = meta.get("classes")
    targets = meta.get("targets") or [f"y{j}" for j in range(Yhat.shape[1])]
    if classes is not None and len(classes) == Yhat.shape[1]:
        labels = [classes[i] for i in np.argmax(Yhat, axis=1)]
        out_header = [targets[0]] + [f"p_{c}" for c in classes]
        columns: List[Sequence[Any]] = [labels] + [Yhat[:, j] for j in range(Yhat.shape[1])]
    else:
        out_header = list(targets)
        columns = [Yhat[:, j] for j in range(Yhat.shape[1])]
    write_csv(args.output, out_header, columns)
    print(f"wrote {len(rows)} predictions to {args.output}")


def cmd_summary(args: argparse.Namespace) -> None:
    net, meta = _load_model(args.model)
    print(net.summary())
    for key in ("features", "targets", "classes"):
        if key in meta:
            print(f"{key}: {', '.join(map(str, meta[key]))}")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run
    if args.epochs < 0 or args.every < 1:
        raise CliError("--epochs must be >= 0 and --every >= 1")
    run(epochs=args.epochs, seed=args.seed, dtype=args.dtype, every=args.every)


# ---- parser ----------------------------------------------------------------------------------

def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="chainrule: N-layer networks with exact backprop")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train the two example networks on built-in data")
    demo.add_argument("--epochs", type=int, default=1000, help="epochs per network (default 1000)")
    demo.add_argument("--seed", type=int, default=42, help="weight initialisation seed")
    demo.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    demo.add_argument("--every", type=int, default=100, help="print the loss every N epochs")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train a network on a CSV file and save it")
    train.add_argument("data", help="CSV file with a header row")
    train.add_argument("--target", action="append", required=True,
                       help="target column (repeat for several); class labels for cross_entropy")
    train.add_argument("--layers", default="", help="hidden layer sizes, e.g. 64,32")
    train.add_argument("--activations", default="",
                       help="one per hidden layer (and optionally the output), e.g. relu,relu")
    train.add_argument("--loss", choices=["mse", "cross_entropy"], default="mse")
    train.add_argument("--optimizer", default="adam",
                       help="sgd, adam, adamw or rmsprop (default adam)")
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate (default: the optimizer's, e.g. 1e-3 for adam)")
    train.add_argument("--validation-split", type=float, default=0.0,
                       help="hold out this fraction of the rows to report a validation loss")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    train.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    train.add_argument("--plot", help="also draw the loss curves to this image (matplotlib)")
    train.set_defaults(func=cmd_train)

    predict = sub.add_parser("predict", help="predict the rows of a CSV file with a saved model")
    predict.add_argument("model", help="model file written by 'chainrule train' or Network.save")
    predict.add_argument("data", help="CSV file with the model's feature columns")
    predict.add_argument("-o", "--output", required=True, help="CSV file to write")
    predict.set_defaults(func=cmd_predict)

    summary = sub.add_parser("summary", help="print a saved model's dimension table")
    summary.add_argument("model")
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: Optional[List[str]] = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        args.func(args)
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as exc:  # from the library: already clear
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0
