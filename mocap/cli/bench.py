"""`mocap bench NAME [ARGS...]`: run a benchmark script from the repository's ``benchmarks/`` folder.

Benchmarks print speed and accuracy next to peers measured in the same run (ratios, not absolute times).
They live as plain scripts so they can also be run directly: ``python benchmarks/bench_NAME.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from mocap.errors import MocapError

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def available() -> dict[str, Path]:
    """Benchmark name -> script path (``benchmarks/bench_<name>.py``)."""
    if not BENCH_DIR.is_dir():
        return {}
    return {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap bench`."""
    names = ", ".join(available()) or "(none found: run from a source checkout)"
    p = sub.add_parser(name, help=help, parents=parents,
                       description=f"Run a benchmark from {BENCH_DIR}. Available: {names}. "
                                   "Arguments after the name go to the benchmark (try `mocap bench NAME --help`).")
    p.add_argument("name", nargs="?", help="benchmark name; omit to list them")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark script")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the named benchmark in a fresh interpreter (so its process pools and thread settings are its own)."""
    benches = available()
    if not args.name:
        for n, p in benches.items():
            print(f"{n:16s} {p}")
        return 0
    if args.name not in benches:
        raise MocapError(f"no benchmark named {args.name!r}", hint=f"choose one of: {', '.join(benches) or 'none'}")
    repo = BENCH_DIR.parent
    return subprocess.call([sys.executable, str(benches[args.name]), *args.args], cwd=repo)
