"""``python -m chainrule ...``: the same command line as the ``chainrule`` script."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m chainrule"))
