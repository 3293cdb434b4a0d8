"""`mocap export IN --format bvh|fbx|glb|gltf|c3d|trc --out OUT`: rigged animation or marker files.

IN is a body-motion ``.npz`` (from ``mocap fit``), 3D keypoints (``.npz``/``.trc``/``.csv`` from
``mocap triangulate``: fitted onto a standard skeleton for BVH/FBX/glTF) or a ``.bvh``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mocap.errors import DataError

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap export`."""
    from mocap.export.io import FORMATS
    from mocap.export.profiles import PROFILES

    p = sub.add_parser(name, help=help, description=__doc__, parents=parents,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="body-motion .npz, 3D keypoints .npz/.trc/.csv, or .bvh")
    p.add_argument("--format", "-f", choices=FORMATS, default=None, help="output format (default: OUT's suffix)")
    p.add_argument("--out", "-o", required=True, help="output file")
    p.add_argument("--profile", default="native", choices=PROFILES,
                   help="joint names: the skeleton's own, Mixamo (mixamorig:Hips ...) or Unity HumanBodyBones")
    p.add_argument("--fps", type=float, default=None, help="resample the animation to this frame rate")
    p.add_argument("--up", choices=("y", "z"), default=None,
                   help="up axis of the file (default: y for BVH/FBX/glTF, z for TRC/C3D)")
    p.add_argument("--units", choices=("m", "cm", "mm"), default=None,
                   help="length units (default: BVH m, FBX cm, C3D mm, TRC m; glTF is always m)")
    p.add_argument("--person", type=int, default=None, help="person id to export from keypoints (default: first)")
    p.add_argument("--mesh", choices=("body", "bones", "none"), default=None,
                   help="glTF/FBX mesh: the fitted body model's skinned mesh (default for body motions), a simple "
                        "bone mesh (default otherwise) or none")
    p.add_argument("--gltf-influences", type=int, choices=(4, 8), default=4,
                   help="glTF skinning weights per vertex: 4 (read by every viewer) or 8 (exact body mesh)")
    p.add_argument("--bvh-scale", type=float, default=1.0,
                   help="input BVH: metres per file unit (CMU files: 0.056444; centimetre files: 0.01)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load IN, export it, print what was written."""
    from mocap.export.io import export_motion, load_motion

    fmt = args.format or Path(args.out).suffix.lstrip(".").lower()
    if not fmt:
        raise DataError(f"cannot tell the format of {args.out}", hint="give --format or an output suffix")
    source = load_motion(args.input, bvh_scale=args.bvh_scale)
    path = export_motion(source, args.out, fmt=fmt, profile=args.profile, fps=args.fps, up=args.up,
                         units=args.units, person=args.person, mesh=args.mesh,
                         max_influences=args.gltf_influences)
    kind = type(source).__name__
    frames = getattr(source, "n_frames", "?")
    print(f"wrote {path} ({fmt}, {frames} frames from {kind} {args.input})")
    return 0
