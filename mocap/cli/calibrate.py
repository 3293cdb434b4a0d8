"""`mocap calibrate`: board sheets, intrinsics + extrinsics from videos, wizard, convert."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap calibrate` and its subcommands."""
    p = sub.add_parser(name, help=help, description=help, parents=parents)
    subsub = p.add_subparsers(dest="calib_command", metavar="SUBCOMMAND")
    b = subsub.add_parser("board", help="write a printable board (PNG or PDF at exact size)", parents=parents)
    b.add_argument("board", help="board file or shipped name (e.g. charuco_a4)")
    b.add_argument("--out", required=True, help="output .png or .pdf")
    b.add_argument("--dpi", type=int, default=300)
    b.set_defaults(func=run_board)
    for cmd, hlp in (("run", "calibrate intrinsics and extrinsics from videos or image folders"),
                     ("extrinsics", "calibrate extrinsics only, with the intrinsics of a calibration file "
                                    "(requires --intrinsics)"),
                     ("intrinsics", "calibrate intrinsics only (one source per camera)"),
                     ("wizard", "guided calibration: intrinsics, extrinsics, advice and a report")):
        r = subsub.add_parser(cmd, help=hlp, description=hlp, parents=parents)
        r.add_argument("--board", required=True, help="board file or shipped name")
        r.add_argument("--videos", nargs="+", required=True, help="video files / image folders, or one folder")
        r.add_argument("--out", required=True, help="calibration file to write (.toml, or another format)")
        r.add_argument("--report", help="folder for report.png and report.html")
        r.add_argument("--model", default="pinhole", choices=["pinhole", "rational", "fisheye"])
        r.add_argument("--step", type=int, default=1, help="use every N-th frame")
        r.add_argument("--max-views", type=int, default=40)
        r.add_argument("--reference", help="camera defining the world frame (default: the first)")
        r.add_argument("--world", choices=["camera", "board"], default="camera")
        if cmd != "intrinsics":
            r.add_argument("--intrinsics", metavar="CALIB_FILE",
                           help="take K, distortion and model per camera from this calibration file (any format "
                                "`mocap calibrate convert` reads, e.g. caliscope config.toml) instead of estimating "
                                "them; cameras matched by name, else by order" + (" (required)" if cmd == "extrinsics"
                                                                                   else ""))
            r.add_argument("--refine-intrinsics", action="store_true",
                           help="also refine supplied (--intrinsics / RealSense factory) intrinsics in the bundle "
                                "adjustment (default: keep them fixed)")
        r.add_argument("--no-refine-intrinsics", action="store_true",
                       help="keep estimated intrinsics fixed in the bundle adjustment too")
        r.add_argument("--max-rms", type=float, default=1.0, help="wizard: quality target, pixels")
        r.add_argument("--min-coverage", type=float, default=0.5,
                       help="wizard: fraction of each image the board must have covered to stop early (0..1)")
        r.add_argument("--min-views", type=int, default=12, help="wizard: board views per camera to stop early")
        r.add_argument("--max-focal-std", type=float, default=2.0, metavar="PERCENT",
                       help="wizard: stop early only when every focal length is known to this (one sigma, %%)")
        r.add_argument("--yes", action="store_true",
                       help="wizard: non-interactive (no window, no questions; write the result)")
        r.set_defaults(func=run_calibrate, calib_mode=cmd)
    from mocap.cli.calibrate_convert import add_convert_parser

    add_convert_parser(subsub, parents)
    from mocap.cli.calibrate_refine import add_people_parsers

    add_people_parsers(subsub, parents)

    def _help(_args: argparse.Namespace) -> int:
        p.print_help()
        print("hint: choose a subcommand, e.g. `mocap calibrate wizard --board B --videos DIR --out calib.toml`")
        return 0

    p.set_defaults(func=_help)


def run_board(args: argparse.Namespace) -> int:
    """`mocap calibrate board`."""
    from mocap.calibration.board_sheet import write_board_sheet
    from mocap.calibration.boards import load_board

    board = load_board(args.board)
    path = write_board_sheet(board, args.out, dpi=args.dpi)
    print(f"wrote {path}: {board.describe()}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """`mocap calibrate run|extrinsics|intrinsics|wizard`."""
    from mocap.calibration.pipeline import calibrate_rig, resolve_sources, write_rig

    if args.calib_mode == "extrinsics" and not getattr(args, "intrinsics", None):
        print("error: `mocap calibrate extrinsics` needs --intrinsics CALIB_FILE (the cameras' intrinsics, e.g. a "
              "caliscope config.toml or a previous `mocap calibrate intrinsics` result); use `mocap calibrate run` "
              "to estimate intrinsics from the same videos", file=sys.stderr)
        return 2
    sources = resolve_sources(args.videos)
    wizard = args.calib_mode == "wizard"
    if args.calib_mode != "intrinsics":
        if args.refine_intrinsics and args.no_refine_intrinsics:
            print("error: --refine-intrinsics and --no-refine-intrinsics contradict each other", file=sys.stderr)
            return 2
        refine = True if args.refine_intrinsics else (False if args.no_refine_intrinsics else None)
        from mocap.calibration.given_intrinsics import resolve_intrinsics

        fixed = resolve_intrinsics(sources, args.intrinsics, say=lambda m: print(m))
        for n, cam in fixed.items():
            print(f"{n}: intrinsics from {cam.meta['intrinsics_from']}, "
                  f"{'refined' if refine is True else 'fixed'} in the bundle adjustment")
    if wizard:
        print(f"step 1/3: reading {len(sources)} camera(s): {', '.join(sources)}")
    if args.calib_mode == "intrinsics":
        from mocap.calibration.pipeline import RigCalibration  # noqa: F401

        cal = None
        rigs = []
        for name, src in sources.items():
            c = calibrate_rig({name: src}, args.board, model=args.model, step=args.step, max_views=args.max_views)
            rigs.append(c)
            print(f"{name}: RMS {c.rms:.3f} px, f=({c.rig[0].K[0, 0]:.1f}, {c.rig[0].K[1, 1]:.1f})")
            print_uncertainty(c)
        from mocap.cameras.rig import CameraRig

        rig = CameraRig([c.rig[0] for c in rigs])
        write_rig(rig, args.out)
        print(f"wrote {args.out}")
        if args.report:
            from mocap.calibration.report import write_report

            for c in rigs:
                write_report(c, f"{args.report}/{c.rig[0].name}")
        return 0
    if wizard:
        from mocap.calibration.wizard import QualityTargets, display_available, run_wizard

        targets = QualityTargets(args.max_rms, args.min_coverage, args.min_views,
                                 max_focal_rel=args.max_focal_std / 100)
        print(f"step 2/3: calibrating; stops early at RMS <= {args.max_rms} px with >= {args.min_views} views and "
              f">= {100 * args.min_coverage:.0f}% coverage per camera")
        wres = run_wizard(sources, args.board, targets, model=args.model, step=args.step, max_views=args.max_views,
                          reference=args.reference, world=args.world, refine_intrinsics=refine,
                          show=not args.yes and display_available(), intrinsics=fixed, say=print)
        cal = wres.calibration
    else:
        cal = calibrate_rig(sources, args.board, model=args.model, step=args.step, max_views=args.max_views,
                            reference=args.reference, world=args.world, refine_intrinsics=refine, progress=True,
                            intrinsics=fixed)
    for n, it in cal.intrinsics.items():
        ba = cal.extrinsics.bundle.camera_rms[n] if cal.extrinsics else float("nan")
        kind = "given intrinsics: PnP RMS" if it.given else "intrinsic RMS"
        print(f"{n}: {len(cal.detections[n])} views, {kind} {it.rms:.3f} px, bundle RMS {ba:.3f} px, "
              f"f=({cal.rig[n].K[0, 0]:.1f}, {cal.rig[n].K[1, 1]:.1f})")
    for n, it in cal.intrinsics.items():
        if it.dist_reason:
            print(f"{n}: {it.dist_reason}")
    print(f"final RMS reprojection error {cal.rms:.3f} px ({cal.seconds:.1f} s)")
    print_uncertainty(cal)
    ok = cal.rms <= args.max_rms
    if wizard:
        print("quality: RMS " + ("is enough" if ok else f"is NOT enough (target {args.max_rms} px)")
              + ("" if wres.quality_ok else "; coverage is under target")
              + (f"; uncertain: {'; '.join(wres.uncertain)}" if wres.uncertain else ""))
        for a in cal.advice:
            print(f"  advice: {a}")
        if not args.yes:
            print("write this calibration? [y/N] ", end="", flush=True)
            ans = sys.stdin.readline().strip().lower()
            if ans not in ("y", "yes"):
                print("not written")
                return 1
    write_rig(cal.rig, args.out)
    print(f"wrote {args.out}")
    report = args.report or (str(args.out) + "_report" if wizard else None)
    if report:
        from mocap.calibration.report import write_report

        png = write_report(cal, report)
        print(f"report: {png} and {png.with_suffix('.html')}")
    if wizard:
        print("step 3/3: done" + ("" if ok else "; record again following the advice above"))
    return 0 if ok or not wizard else 3


def print_uncertainty(cal) -> None:  # noqa: ANN001
    """Print each camera's one-sigma uncertainties and the warnings for weakly determined values."""
    if not cal.uncertainty:
        return
    print("uncertainty (one standard deviation):")
    for u in cal.uncertainty.values():
        print(f"  {u.describe()}")
    for w in cal.uncertainty_warnings:
        print(f"warning: {w}")


def run(args: argparse.Namespace) -> int:  # kept for the lead's registry
    """Dispatch (subcommands set their own func); without one, point at the help."""
    print("usage: mocap calibrate {board,run,extrinsics,intrinsics,wizard,convert,refine,selfcal} ... "
          "(see `mocap calibrate --help`)",
          file=sys.stderr)
    return 2
