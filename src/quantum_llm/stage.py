"""Shared entry-point plumbing for the thin scripts in stages/."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from .config import ParamsError


class InputError(ValueError):
    """A stage input is missing or malformed; the message names it and the fix."""


def run_stage(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
              argv: list[str] | None = None) -> None:
    """Parse args, run ``main``; a params or input error becomes one line on stderr and exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    args = parser.parse_args(argv)
    try:
        main(args)
    except (ParamsError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
