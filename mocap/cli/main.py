"""The ``mocap`` command: one thin subcommand module per stage, over the library's functions."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from mocap import __version__
from mocap.errors import MocapError, MocapWarning

# subcommand -> (module, one-line help). Each module defines ``add_parser(subparsers)``
# which registers its parser and sets ``func`` (called with the parsed args, returns an exit code).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "calibrate": ("mocap.cli.calibrate", "calibrate cameras, make boards, convert calibration files"),
    "detect": ("mocap.cli.detect", "run a 2D keypoint detector over videos or cameras"),
    "triangulate": ("mocap.cli.triangulate", "triangulate 2D keypoints from calibrated cameras into 3D"),
    "fit": ("mocap.cli.fit", "fit a body model (SMPL-X or Anny) to 3D keypoints"),
    "export": ("mocap.cli.export", "export motion as BVH, FBX, glTF/GLB, C3D or TRC"),
    "run": ("mocap.cli.run", "run the whole pipeline on a session folder"),
    "demo": ("mocap.cli.demo", "download the Pose2Sim demo data and run the pipeline on it"),
    "view": ("mocap.cli.view", "inspect calibrations and keypoint files"),
    "live": ("mocap.cli.live", "live capture from cameras or videos to avatars (VMC), events (OSC) and Rerun"),
    "events": ("mocap.cli.events", "gesture events and axes of a recording (JSON lines)"),
    "bench": ("mocap.cli.bench", "run benchmarks against peers"),
}

log = logging.getLogger("mocap")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="mocap",
        description="Markerless multi-view 3D motion capture: calibrate, detect, triangulate, fit, export.",
        epilog="Run `mocap COMMAND --help` for a command's options. Units: metres, seconds, radians; world Z up.",
    )
    parser.add_argument("--version", action="version", version=f"mocap {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more output (-vv for debug logs)")
    common.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.set_defaults(verbose=0, debug=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (modname, help_) in SUBCOMMANDS.items():
        mod = importlib.import_module(modname)
        mod.add_parser(sub, name=name, help=help_, parents=[common])
    return parser


def _setup_logging(verbose: int) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(show_path=False, markup=False)])


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mocap`` console script. Returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    _setup_logging(args.verbose)

    def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, MocapWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            log.debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)

    warnings.showwarning = _show_warning
    try:
        return int(args.func(args) or 0)
    except MocapError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
        sys.stderr.close()
        return 0
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
        if args.debug:
            raise
        print(f"error: {e.strerror or e}: {e.filename}", file=sys.stderr)
        return 2
    except Exception as e:  # an internal error: still one line, with a pointer to --debug
        if args.debug:
            raise
        print(f"error: internal error {type(e).__name__}: {e} (run again with --debug for the traceback "
              "and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
