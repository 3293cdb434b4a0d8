"""`mocap calibrate convert IN OUT`: convert a calibration file between formats.

Registered under `mocap calibrate` by :mod:`mocap.cli.calibrate` through :func:`add_convert_parser`.
"""

from __future__ import annotations

import argparse
import sys

from mocap.cameras.formats import DESCRIPTIONS, detect_format, list_formats, read_calibration, write_calibration
from mocap.errors import CalibrationError


def add_convert_parser(calibrate_subparsers: argparse._SubParsersAction, parents: list) -> argparse.ArgumentParser:
    """Register the ``convert`` sub-subcommand under ``mocap calibrate``.

    Args:
        calibrate_subparsers: the sub-parsers action of the ``calibrate`` parser.
        parents: the common parents (``-v``, ``--debug``).

    Returns:
        The ``convert`` parser.
    """
    fmts = "\n".join(f"  {k:10s} {v}" for k, v in DESCRIPTIONS.items())
    p = calibrate_subparsers.add_parser(
        "convert", parents=parents, help="convert a calibration file between formats",
        description="Convert a calibration file between formats. The input format is detected from the content; "
                    "the output format from the extension (.toml -> mocap, .qca.txt -> qualisys, "
                    ".yml/.yaml/.xml -> opencv, .json -> shelf) unless --to is given.",
        epilog="formats:\n" + fmts, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="calibration file to read")
    p.add_argument("output", metavar="OUT", help="calibration file to write")
    p.add_argument("--from", dest="from_fmt", choices=list_formats(), metavar="FMT",
                   help="input format (default: detected from the content)")
    p.add_argument("--to", dest="to_fmt", choices=list_formats(), metavar="FMT",
                   help="output format (default: from OUT's extension; pose2sim, ros and caliscope need --to)")
    p.add_argument("--scale", type=float, default=1.0, metavar="S",
                   help="multiply the world (camera positions) by S, e.g. 0.001 for millimetres -> metres")
    p.set_defaults(func=run_convert)
    return p


def camera_summary(cam) -> str:
    """One line describing a camera: name, size, focal lengths, model, centre (m)."""
    c = cam.center
    return (f"{cam.name}: {cam.size[0]}x{cam.size[1]} px, f=({cam.K[0, 0]:.1f}, {cam.K[1, 1]:.1f}) px, "
            f"c=({cam.K[0, 2]:.1f}, {cam.K[1, 2]:.1f}), {cam.model} {cam.dist.size} dist, "
            f"centre=({c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}) m")


def run_convert(args: argparse.Namespace) -> int:
    """Read ``args.input``, optionally scale, write ``args.output``; print one line per camera."""
    from pathlib import Path

    src, dst = Path(args.input), Path(args.output)
    if not args.scale > 0:
        raise CalibrationError(f"--scale must be positive, got {args.scale}")
    if src.resolve() == dst.resolve():
        raise CalibrationError(f"{dst}: the output is the input file", hint="write to another file")
    fmt_in = args.from_fmt or detect_format(src)
    rig = read_calibration(src, fmt=fmt_in)
    if args.scale != 1.0:
        rig = rig.scaled(args.scale)
        rig.validate(source=f"{src} scaled by {args.scale:g}")
    out = write_calibration(rig, dst, fmt=args.to_fmt)
    fmt_out = args.to_fmt or detect_format(out)
    print(f"{src} ({fmt_in}) -> {out} ({fmt_out}): {len(rig)} cameras"
          + (f", world scaled by {args.scale:g}" if args.scale != 1.0 else ""), file=sys.stdout)
    for cam in rig:
        print("  " + camera_summary(cam), file=sys.stdout)
    return 0


__all__ = ["add_convert_parser", "run_convert", "camera_summary"]
