"""Dispatch `python -m mqt_lite.bench NAME ...` to mqt_lite.bench.NAME."""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import COMMANDS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m mqt_lite.bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
        try:
            modules[name] = importlib.import_module(f"mqt_lite.bench.{name}")
        except ModuleNotFoundError as e:  # a benchmark whose optional dependency is missing
            if e.name and e.name.startswith("mqt_lite.bench"):
                raise
            p.set_defaults(missing=str(e))
            continue
        modules[name].add_arguments(p)
    args = parser.parse_args(argv)
    if getattr(args, "missing", None):
        parser.error(f"'{args.command}' needs an optional dependency: {args.missing}")
    result = modules[args.command].run(args)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    return result


if __name__ == "__main__":
    main()
