"""What the train command builds from its options: the network (hidden layers with their
activations, batch normalisation and dropout) and fit's options."""

from __future__ import annotations

import argparse
from typing import Any, Dict, List

from .cli_csv import CliError
from .layers import layer_class
from .losses import resolve_loss
from .network import Network

__all__ = ["build_network", "hidden_sizes", "training_options"]


def _split_list(text: str, what: str) -> List[str]:
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise CliError(f"{what} must be a comma-separated list, got {text!r}")
    return items


def _positive_int(text: str, what: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise CliError(f"{what}: {text!r} is not an integer") from None
    if v < 1:
        raise CliError(f"{what}: sizes must be >= 1, got {v}")
    return v


def hidden_sizes(args: argparse.Namespace) -> List[int]:
    """--layers as sizes ([] for "")."""
    return (
        [_positive_int(v, "--layers") for v in _split_list(args.layers, "--layers")]
        if args.layers.strip()
        else []
    )


def build_network(args: argparse.Namespace, n_features: int, n_outputs: int) -> Network:
    """The network of --layers, --activations, --batch-norm, --dropout, --loss, --dtype and
    --seed for data of these widths."""
    hidden = hidden_sizes(args)
    out_act = resolve_loss(args.loss).required_activation or "linear"
    acts = (
        _split_list(args.activations, "--activations")
        if args.activations
        else ["relu"] * len(hidden)
    )
    if len(acts) == len(hidden):
        acts = acts + [out_act]
    elif len(acts) != len(hidden) + 1:
        raise CliError(
            f"--activations has {len(acts)} names for {len(hidden)} hidden layers "
            f"(give one per hidden layer, or one more for the output)"
        )
    layers: List[Any] = [n_features]
    for n in hidden:  # each hidden layer, then its normalisation and dropout when asked
        layers += (
            [n]
            + ([layer_class("batch_norm")()] if args.batch_norm else [])
            + ([layer_class("dropout")(args.dropout)] if args.dropout else [])
        )
    try:
        return Network(layers + [n_outputs], acts, args.loss, dtype=args.dtype, seed=args.seed)
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None


def training_options(args: argparse.Namespace) -> Dict[str, Any]:
    """fit() arguments for the optimizer, class weight, validation and progress options."""
    opts: Dict[str, Any] = {"optimizer": args.optimizer, "verbose": 0 if args.quiet else 1}
    if args.class_weight:
        opts["class_weight"] = args.class_weight
    if args.validation_split:
        if not 0 < args.validation_split < 1:
            raise CliError(
                f"--validation-split must be between 0 and 1, got {args.validation_split}"
            )
        opts["validation_split"] = args.validation_split
    return opts
