"""`mocap fit`."""

from __future__ import annotations

import argparse

from mocap.errors import MocapError


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap fit`."""
    p = sub.add_parser(name, help=help, description=help, parents=parents)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    raise MocapError("`mocap fit` is not available in this version yet (tracked in issue #5)")
