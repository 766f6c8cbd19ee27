"""Command-line error handling shared by `python -m mqt_lite.train` and `python -m mqt_lite.evaluate`.

The errors a user can fix (a missing folder, a corrupt or unsafe checkpoint, a bad value, a dataset laid out
differently, a loss that diverged) already carry a message that names the problem and the fix; a traceback
around it only hides it. So they end as `PROG: error: MESSAGE` and exit status 1; `--debug` or `MQT_DEBUG=1`
shows the traceback for bug reports.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

DEBUG_ENV = "MQT_DEBUG"
USER_ERRORS = (OSError, ValueError, FloatingPointError)  # CheckpointError and DatasetLayoutError are ValueErrors


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (or set {DEBUG_ENV}=1)")


def debugging(flag: bool = False) -> bool:
    """True with --debug or MQT_DEBUG set to anything but "", "0" or "false"."""
    return flag or os.environ.get(DEBUG_ENV, "").lower() not in ("", "0", "false")


@contextmanager
def user_errors(prog: str, debug: bool = False) -> Iterator[None]:
    """Turn a known error into one message on stderr and exit status 1 (re-raised when debugging)."""
    try:
        yield
    except USER_ERRORS as e:
        if debugging(debug):
            raise
        print(f"{prog}: error: {e} (--debug or {DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(1) from None
