"""Synthetic multi-view captures: BVH motion -> COCO-17 markers -> a ring of distorted cameras -> noisy 2D.

The ground truth is exact (forward kinematics), so triangulation and filtering can be measured in millimetres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap.cameras import Camera, CameraRig
from mocap.errors import DataError
from mocap.export.animation import YUP_TO_ZUP as EXPORT_YUP_TO_ZUP
from mocap.export.bvh import read_bvh
from mocap.keypoints import Keypoints2D
from mocap.synthetic.bvh import CMU_UNIT_M, EXPORT_TO_WORLD

#: COCO-17 joint order (as mocap.skeletons' "coco17").
COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")

# CMU skeleton joint per body marker (two naming schemes exist: the 3dsMax-friendly release, e.g. 131_01, and
# the Motionbuilder-friendly one, e.g. 01_01, where "LeftShoulder" is the clavicle).
_CMU_BODY_MAX = {
    "left_shoulder": "LeftShoulder", "right_shoulder": "RightShoulder", "left_elbow": "LeftElbow",
    "right_elbow": "RightElbow", "left_wrist": "LeftWrist", "right_wrist": "RightWrist", "left_hip": "LeftHip",
    "right_hip": "RightHip", "left_knee": "LeftKnee", "right_knee": "RightKnee", "left_ankle": "LeftAnkle",
    "right_ankle": "RightAnkle",
}
_CMU_BODY_MB = {
    "left_shoulder": "LeftArm", "right_shoulder": "RightArm", "left_elbow": "LeftForeArm",
    "right_elbow": "RightForeArm", "left_wrist": "LeftHand", "right_wrist": "RightHand", "left_hip": "LeftUpLeg",
    "right_hip": "RightUpLeg", "left_knee": "LeftLeg", "right_knee": "RightLeg", "left_ankle": "LeftFoot",
    "right_ankle": "RightFoot",
}
# Face markers as fixed offsets in the CMU "Head" joint frame (file units; x left, y up, z forward).
_CMU_FACE = {
    "nose": (0.0, 1.4, 1.8), "left_eye": (0.55, 1.9, 1.5), "right_eye": (-0.55, 1.9, 1.5),
    "left_ear": (1.3, 1.6, 0.0), "right_ear": (-1.3, 1.6, 0.0),
}


def bvh_markers(bvh_path: str | Path, frame_step: int = 1, max_frames: int | None = None,
                unit_m: float = CMU_UNIT_M) -> tuple[np.ndarray, float]:
    """COCO-17 marker trajectories of a CMU BVH clip.

    Args:
        bvh_path: a CMU BVH file (31 joints; Y up; 1 unit = ``unit_m`` metres).
        frame_step: keep every ``frame_step``-th frame.
        max_frames: keep at most this many frames (after subsampling).

    Returns:
        ``(T, 17, 3)`` world positions in metres (Z up) and the frame rate in Hz.
    """
    anim = read_bvh(bvh_path, scale=unit_m, up="y")  # metres, mocap.export's Z-up axes
    names = anim.joint_names
    body = _CMU_BODY_MB if "LeftUpLeg" in names else _CMU_BODY_MAX
    need = set(body.values()) | {"Head"}
    missing = sorted(need - set(names))
    if missing:
        raise DataError(f"{bvh_path}: joints {missing} are missing; expected a CMU skeleton (31 joints)")
    sl = slice(0, None if max_frames is None else max_frames * frame_step, frame_step)
    anim = anim.copy(root_translation=anim.root_translation[sl], local_rotations=anim.local_rotations[sl],
                     valid=anim.valid[sl])
    pos, rot = anim.world_transforms()
    out = np.zeros((pos.shape[0], len(COCO17), 3))
    head = names.index("Head")
    for k, name in enumerate(COCO17):
        if name in body:
            out[:, k] = pos[:, names.index(body[name])]
        else:
            face = EXPORT_YUP_TO_ZUP @ np.asarray(_CMU_FACE[name]) * unit_m
            out[:, k] = pos[:, head] + rot[:, head] @ face
    return out @ EXPORT_TO_WORLD.T, anim.fps / frame_step


def ring_rig(points: np.ndarray, n_cameras: int, size: tuple[int, int] = (1280, 720), seed: int = 0,
             distortion: bool = True, span_deg: float = 360.0) -> CameraRig:
    """Cameras on a ring around the motion volume, each looking at its centre and framing every point.

    Args:
        points: ``(..., 3)`` the world points to frame, metres.
        n_cameras: number of cameras (evenly spaced, with a little jitter).
        size: image ``(width, height)``.
        seed: jitter and distortion seed.
        distortion: give every camera mild radial/tangential distortion.
        span_deg: 360 for a full ring; less puts the cameras on an arc of that many degrees, all on one side
            (first and last camera at its ends).
    """
    rng = np.random.default_rng(seed)
    P = np.asarray(points, float).reshape(-1, 3)
    P = P[np.isfinite(P).all(1)]
    lo, hi = P.min(0), P.max(0)
    centre = 0.5 * (lo + hi)
    centre[2] = max(centre[2], 0.9)
    radius = 0.5 * float(np.linalg.norm(hi[:2] - lo[:2])) + 3.5
    w, h = size
    cams = []
    for i in range(n_cameras):
        if span_deg >= 360.0:
            a = 2 * np.pi * i / n_cameras + rng.uniform(-0.15, 0.15)
        else:
            a = np.deg2rad(span_deg * (i / max(n_cameras - 1, 1) - 0.5)) + rng.uniform(-0.05, 0.05)
        c = centre + np.array([radius * np.cos(a), radius * np.sin(a), 0.0])
        c[2] = rng.uniform(1.2, 2.6)
        z = centre - c
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        xc = (P - c) @ R.T
        xn = np.abs(xc[:, :2] / xc[:, 2:3])
        f = 0.85 * min(0.5 * w / xn[:, 0].max(), 0.5 * h / xn[:, 1].max())
        K = np.array([[f, 0, w / 2 + rng.uniform(-8, 8)], [0, f, h / 2 + rng.uniform(-8, 8)], [0, 0, 1]])
        dist = (np.array([rng.uniform(-0.15, -0.05), rng.uniform(0.0, 0.05), rng.uniform(-1e-3, 1e-3),
                          rng.uniform(-1e-3, 1e-3), 0.0]) if distortion else np.zeros(5))
        cams.append(Camera.from_center(f"cam{i + 1:02d}", size, K, R, c, dist=dist))
    return CameraRig(cams)


def corrupt_2d(uv: np.ndarray, size: tuple[int, int] | np.ndarray, noise_px: float, outlier_rate: float,
               dropout_rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add detector-like errors to exact projections.

    Args:
        uv: ``(T, C, J, 2)`` exact raw pixels (NaN = not visible).
        size: ``(W, H)`` image size, or ``(C, 2)`` per camera.
        noise_px: Gaussian noise sigma per coordinate, pixels.
        outlier_rate: fraction of detections replaced by a wrong position: half uniformly random in the image,
            half another joint's position in the same image (a confusion), plus noise.
        dropout_rate: fraction of detections removed (NaN).

    Returns:
        ``uv`` ``(T, C, J, 2)`` and confidence ``(T, C, J)`` (U(0.5, 1) for inliers and outliers alike, so
        confidence alone cannot reject outliers; NaN where missing), plus a boolean outlier mask as ``meta``
        is not returned: compare with the exact input to find them.
    """
    T, C, J, _ = uv.shape
    wh = np.broadcast_to(np.asarray(size, float), (C, 2))[None, :, None, :]
    out = uv + rng.normal(0.0, noise_px, uv.shape)
    is_out = rng.random((T, C, J)) < outlier_rate
    confuse = is_out & (rng.random((T, C, J)) < 0.5)
    rand = is_out & ~confuse
    other = (np.arange(J)[None, None, :] + rng.integers(1, J, (T, C, J))) % J
    swapped = np.take_along_axis(uv, other[..., None], axis=2) + rng.normal(0.0, noise_px, uv.shape)
    out = np.where(confuse[..., None], swapped, out)
    out = np.where(rand[..., None], rng.random(uv.shape) * wh, out)
    inside = np.isfinite(out).all(-1) & (out >= 0).all(-1) & (out < wh).all(-1)
    drop = rng.random((T, C, J)) < dropout_rate
    keep = inside & ~drop & np.isfinite(uv).all(-1)
    conf = np.where(keep, rng.uniform(0.5, 1.0, (T, C, J)), np.nan)
    out[~keep] = np.nan
    return out, conf


def make_capture(bvh_path: str | Path, n_cameras: int = 4, noise_px: float = 2.0, outlier_rate: float = 0.1,
                 dropout_rate: float = 0.05, seed: int = 0, *, frame_step: int = 1, max_frames: int | None = None,
                 size: tuple[int, int] = (1280, 720), distortion: bool = True
                 ) -> tuple[CameraRig, Keypoints2D, np.ndarray]:
    """A synthetic multi-view capture of one person from a CMU BVH clip.

    Args:
        bvh_path: CMU BVH clip (e.g. ``shared/data/bvh/131_01.bvh``).
        n_cameras: cameras on a ring around the motion (4-8 typical).
        noise_px: 2D Gaussian noise sigma, pixels.
        outlier_rate: fraction of detections replaced by wrong positions (random or another joint's).
        dropout_rate: fraction of detections removed.
        seed: random seed (cameras and corruption).
        frame_step, max_frames: subsample the clip (e.g. ``frame_step=4`` turns 120 Hz into 30 Hz).
        size: image size ``(width, height)``.
        distortion: use distorted cameras (pinhole + OpenCV k1, k2, p1, p2).

    Returns:
        ``rig``; ``kp2d`` :class:`~mocap.keypoints.Keypoints2D` ``(T, C, 1, 17, 3)`` joint set ``"coco17"``;
        ``gt_xyz`` ``(T, 1, 17, 3)`` ground-truth world positions in metres (same layout as
        ``Keypoints3D.xyz``).
    """
    gt, fps = bvh_markers(bvh_path, frame_step=frame_step, max_frames=max_frames)
    rng = np.random.default_rng(seed)
    rig = ring_rig(gt, n_cameras, size=size, seed=seed, distortion=distortion)
    exact = np.moveaxis(rig.project(gt), 0, 1)  # (T, C, J, 2)
    uv, conf = corrupt_2d(exact, size, noise_px, outlier_rate, dropout_rate, rng)
    data = np.concatenate([uv, conf[..., None]], axis=-1)[:, :, None]  # (T, C, 1, J, 3)
    kp2d = Keypoints2D(data, "coco17", rig.names, fps=fps,
                       meta={"source": f"synthetic from {Path(bvh_path).name}", "noise_px": noise_px,
                             "outlier_rate": outlier_rate, "dropout_rate": dropout_rate, "seed": seed})
    return rig, kp2d, gt[:, None]
