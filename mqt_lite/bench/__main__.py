"""Dispatch `python -m mqt_lite.bench NAME ...` to mqt_lite.bench.NAME (imported only when chosen)."""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import COMMANDS


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m mqt_lite.bench",
                                     description="Benchmarks of speed, memory and compute.")
    parser.add_argument("command", choices=list(COMMANDS), help="; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
    known, rest = parser.parse_known_args(argv[:1])
    module = importlib.import_module(f"mqt_lite.bench.{known.command}")
    sub = argparse.ArgumentParser(prog=f"python -m mqt_lite.bench {known.command}",
                                  description=COMMANDS[known.command])
    sub.add_argument("--json", action="store_true", help="also print machine-readable JSON at the end")
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    result = module.run(args)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    return result


if __name__ == "__main__":
    main()
