"""Load any motion input (BodyMotion ``.npz``, Keypoints3D ``.npz``/``.trc``/``.csv``, ``.bvh``) and export it in
any format: the library function behind ``mocap export``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.export.animation import Animation, from_body_motion, resample

FORMATS = ("bvh", "fbx", "glb", "gltf", "c3d", "trc")


def load_motion(path: str | Path, bvh_scale: float = 1.0, bvh_up: str = "y"):  # noqa: ANN201
    """Read a motion file: returns an :class:`Animation` (BodyMotion ``.npz``, ``.bvh``) or a
    :class:`mocap.keypoints.Keypoints3D` (keypoint ``.npz``, ``.trc``, ``.csv``).

    Args:
        path: the input file.
        bvh_scale: metres per BVH file unit (CMU: 0.056444).
        bvh_up: the BVH file's up axis.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".bvh":
        from mocap.export.bvh import read_bvh

        return read_bvh(p, scale=bvh_scale, up=bvh_up)
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                files = set(z.files)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read {p}: {e}") from None
        if "local_rotations" in files:
            from mocap.body.motion import BodyMotion

            return from_body_motion(BodyMotion.load(p))
    if suffix in (".npz", ".trc", ".csv"):
        from mocap.keypoints import Keypoints3D
        from mocap.keypoints.files import load_keypoints

        kp = load_keypoints(p)
        if not isinstance(kp, Keypoints3D):
            raise DataError(f"{p} holds 2D keypoints; export needs 3D keypoints, a body motion or a BVH",
                            hint="run `mocap triangulate` first")
        return kp
    raise DataError(f"{p}: unknown input format {suffix!r}",
                    hint="use a body-motion .npz (mocap fit), a 3D keypoints .npz/.trc/.csv, or a .bvh")


MESHES = ("body", "bones", "none")


def export_motion(source, out: str | Path, fmt: str | None = None, profile: str = "native",  # noqa: ANN001
                  fps: float | None = None, up: str | None = None, units: str | None = None, person: int | None = None,
                  mesh: str | None = None, body_model=None, max_influences: int = 4) -> Path:  # noqa: ANN001
    """Export an :class:`Animation`, a :class:`mocap.body.motion.BodyMotion` or 3D keypoints.

    Keypoints go to C3D/TRC as they are; for BVH/FBX/glTF they are first fitted onto the standard skeleton
    (:func:`mocap.export.ik.keypoints_to_animation`). Animations go to C3D/TRC as forward-kinematics joint
    positions.

    Args:
        source: :class:`Animation`, :class:`mocap.body.motion.BodyMotion` or :class:`mocap.keypoints.Keypoints3D`.
        out: output path.
        fmt: one of :data:`FORMATS` (default: from ``out``'s suffix).
        profile: joint naming profile for BVH/FBX/glTF (``native``, ``mixamo``, ``unity``).
        fps: resample animations to this rate (keypoints keep theirs).
        up: ``"y"`` or ``"z"`` (default: Y for BVH/FBX/glTF, Z for TRC (as mocap's TRC reader expects); FBX is
            always Y-up, C3D always Z-up).
        units: ``"m"``, ``"cm"`` or ``"mm"`` (default per format: BVH m, FBX cm, C3D mm, TRC m).
        person: stable person id for keypoints (default: the first).
        mesh: glTF/FBX mesh: ``"body"`` (the body model's skinned mesh; the skeleton is re-bound to the mesh's
            rest pose, see :mod:`mocap.export.body_mesh`), ``"bones"`` (a simple bone mesh) or ``"none"``.
            Default: ``"body"`` when the motion comes from a body model fit, else ``"bones"``.
        body_model: the :class:`~mocap.body.model.BodyModel` of a body motion (default: loaded by its name).
        max_influences: glTF skinning weights per vertex, 4 (every viewer) or 8 (exact for Anny).
    """
    from mocap.export.profiles import apply_profile

    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r} (output {out}); use one of {list(FORMATS)}")
    if up is None:
        up = "z" if fmt in ("c3d", "trc") else "y"
    if up not in ("y", "z"):
        raise DataError(f"up must be 'y' or 'z', got {up!r}")
    from mocap.export.profiles import PROFILES

    if profile not in PROFILES:
        raise DataError(f"unknown skeleton profile {profile!r}; use one of {list(PROFILES)}")
    from mocap.body.motion import BodyMotion

    if isinstance(source, BodyMotion):
        source = from_body_motion(source)
    is_anim = isinstance(source, Animation)
    if mesh is not None and mesh not in MESHES:
        raise DataError(f"unknown mesh option {mesh!r}; use one of {list(MESHES)}")
    if fmt in ("c3d", "trc"):
        return _export_points(source, out, fmt, up, units, person, fps)
    anim = source if is_anim else _ik(source, person)
    if fps is not None:
        anim = resample(anim, fps)
    skin = None
    if fmt in ("fbx", "glb", "gltf"):
        from mocap.export.body_mesh import body_info, body_skinned_animation

        if mesh is None:
            mesh = "body" if body_info(anim) is not None else "bones"
        if mesh == "body":
            anim, skin = body_skinned_animation(anim, body_model)
    anim = apply_profile(anim, profile)
    if fmt == "bvh":
        from mocap.export.bvh import write_bvh

        return write_bvh(anim, out, up=up, units=units or "m")
    if fmt == "fbx":
        from mocap.export.fbx import write_fbx

        if up != "y":
            raise DataError("FBX export writes Y-up files (the FBX convention, read by every importer)",
                            hint="drop --up z for FBX")
        return write_fbx(anim, out, units=units or "cm", mesh=skin if skin is not None else mesh)
    from mocap.export.gltf import write_gltf

    if units not in (None, "m"):
        raise DataError("glTF is always in metres", hint="drop --units for glTF/GLB")
    if out.suffix.lower() not in (".glb", ".gltf"):
        out = out.with_suffix(".glb" if fmt == "glb" else ".gltf")
    return write_gltf(anim, out, mesh=skin if skin is not None else mesh, up=up, max_influences=max_influences)


def _ik(kp3d, person: int | None) -> Animation:  # noqa: ANN001
    from mocap.export.ik import keypoints_to_animation

    return keypoints_to_animation(kp3d, person=person)


def _export_points(source, out: Path, fmt: str, up: str, units: str | None, person: int | None,  # noqa: ANN001
                   fps: float | None) -> Path:
    from mocap.export.c3d import write_c3d
    from mocap.keypoints import Keypoints3D

    if isinstance(source, Animation):
        if fps is not None:
            source = resample(source, fps)
        pts = source.world_positions()
        pts[~source.valid] = np.nan
        kp = Keypoints3D(pts[:, None], "custom", fps=source.fps, meta={"joint_names": list(source.joint_names)})
        names = list(source.joint_names)
    else:
        kp = source
        names = None
    if fmt == "c3d":
        if up != "z":
            raise DataError("C3D export is always Z-up (the C3D convention)", hint="drop --up for C3D")
        return write_c3d(kp, out, units=units or "mm", person=person)
    from mocap.export.c3d import write_trc

    return write_trc(kp, out, units=units or "m", person=person, y_up=(up == "y"), marker_names=names)
