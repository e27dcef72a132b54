"""``python -m chainrule demo``: train the derivation's example networks."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chainrule",
                                     description="chainrule: N-layer networks with exact backprop")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the two example networks on synthetic data")
    demo.add_argument("--epochs", type=int, default=1000, help="epochs per network (default 1000)")
    demo.add_argument("--seed", type=int, default=42, help="weight initialisation seed")
    demo.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    demo.add_argument("--every", type=int, default=100, help="print the loss every N epochs")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run
        if args.epochs < 0 or args.every < 1:
            parser.error("--epochs must be >= 0 and --every >= 1")
        run(epochs=args.epochs, seed=args.seed, dtype=args.dtype, every=args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
