"""`mocap events IN --out events.jsonl`: gesture events (and axes) of a recording, one JSON object per line.

IN is a 3D keypoints file (``.npz``/``.trc``/``.csv``) or a fitted body motion (``.npz``). Each line holds ``t``
(seconds), ``person`` (id), ``name`` and either ``phase`` (``start``/``end``) for events or ``value`` for axes
(``--axes``). Gestures: the built-ins (jump, crouch, lean_left/right, turn_left/right/around, punch_left/right,
arm_raise_left/right, hands_together) plus those of ``--config FILE.toml`` (see ``mocap.apps.gestures``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap events`."""
    p = sub.add_parser(name, help=help, description=__doc__.split("\n\n", 1)[0].strip(), parents=parents)
    p.add_argument("input", metavar="IN", type=Path, help="3D keypoints (.npz/.trc/.csv) or body motion (.npz)")
    p.add_argument("--out", type=Path, required=True, help="output JSON-lines file")
    p.add_argument("--config", type=Path, default=None, help="gesture TOML file ([settings], [gesture.NAME])")
    p.add_argument("--person", type=int, default=None, help="only this person id (default: everybody)")
    p.add_argument("--axes", action="store_true", help="also write every frame's axis values")
    p.add_argument("--calib-s", type=float, default=None, help="per-person calibration window, s (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mocap.apps.gestures import GestureMapper, JsonLinesOutput, run_events
    from mocap.apps.offline import load_stream

    stream = load_stream(args.input)
    kw = {"person": args.person, "axes": args.axes}
    if args.calib_s is not None:
        kw["calib_s"] = args.calib_s
    mapper = GestureMapper.from_file(args.config, **kw)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        out = JsonLinesOutput(fh)
        if not args.axes:
            out = _EventsOnly(out)
        events = run_events(stream, mapper, [out])
    starts = Counter(e.name for e in events if e.phase == "start")
    people = sorted({e.person for e in events})
    print(f"{args.input}: {len(stream.frames)} frames, {stream.duration_s:.1f} s; "
          f"{sum(starts.values())} events for {len(people)} people -> {args.out}")
    for name, n in sorted(starts.items()):
        print(f"  {name}: {n}")
    return 0


class _EventsOnly:
    """A JSON-lines output without the axes."""

    def __init__(self, out) -> None:  # noqa: ANN001
        self.out = out

    def __call__(self, e) -> None:  # noqa: ANN001
        self.out(e)
