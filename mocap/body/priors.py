"""Priors for fitting: joint-angle limits (soft penalty + final clamp), robust loss, shape and smoothness terms.

Joint limits are boxes on the local rotation vector expressed in an anatomical frame: the canonical body frame
(x = body's left, y = up, z = forward, the SMPL T-pose frame) turned so that the joint's rest bone direction matches
its T-pose direction (Anny rests in an A-pose). Limits are given for the left side and mirrored for the right
(a mirror across the sagittal plane keeps x and negates the y and z components of a rotation vector).
Degrees here; radians in the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mocap.body.model import BodyModel

# canonical (left / centre) joint -> ((lo, hi) about x, about y, about z), degrees, T-pose frame
LIMITS_DEG: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "spine1": ((-30, 45), (-30, 30), (-25, 25)),
    "spine2": ((-30, 45), (-30, 30), (-25, 25)),
    "spine3": ((-30, 45), (-30, 30), (-25, 25)),
    "neck": ((-40, 50), (-50, 50), (-35, 35)),
    "head": ((-40, 45), (-50, 50), (-35, 35)),
    "left_collar": ((-15, 15), (-20, 20), (-15, 30)),
    "left_shoulder": ((-90, 90), (-120, 100), (-95, 110)),
    "left_elbow": ((-90, 90), (-150, 5), (-10, 10)),
    "left_wrist": ((-45, 45), (-30, 30), (-80, 70)),
    "left_hip": ((-130, 30), (-45, 45), (-30, 70)),
    "left_knee": ((-5, 150), (-15, 15), (-10, 10)),
    "left_ankle": ((-30, 50), (-25, 25), (-25, 25)),
    "left_foot": ((-50, 30), (-10, 10), (-10, 10)),
}
for _f in ("index", "middle", "ring", "pinky"):
    LIMITS_DEG[f"left_{_f}_mcp"] = ((-10, 10), (-25, 25), (-90, 20))
    LIMITS_DEG[f"left_{_f}_pip"] = ((-5, 5), (-5, 5), (-100, 10))
    LIMITS_DEG[f"left_{_f}_dip"] = ((-5, 5), (-5, 5), (-90, 10))
for _k in ("cmc", "mcp", "ip"):
    LIMITS_DEG[f"left_thumb_{_k}"] = ((-45, 45), (-45, 45), (-45, 45))

# joint -> (child joint, T-pose direction of the bone to it, left side); used to align the limit frame
_TPOSE_BONES = {
    "left_hip": ("left_knee", (0, -1, 0)), "left_knee": ("left_ankle", (0, -1, 0)),
    "left_ankle": ("left_foot", (0, -0.5, 1)), "left_collar": ("left_shoulder", (1, 0, 0)),
    "left_shoulder": ("left_elbow", (1, 0, 0)), "left_elbow": ("left_wrist", (1, 0, 0)),
    "left_wrist": ("left_middle_mcp", (1, 0, 0)),
}
for _f in ("index", "middle", "ring", "pinky"):
    _TPOSE_BONES[f"left_{_f}_mcp"] = (f"left_{_f}_pip", (1, 0, 0))
    _TPOSE_BONES[f"left_{_f}_pip"] = (f"left_{_f}_dip", (1, 0, 0))

FINGERS = ("thumb", "index", "middle", "ring", "pinky")


def is_finger(name: str) -> bool:
    return any(f in name for f in FINGERS)


def _limits_for(name: str) -> np.ndarray | None:
    """``(3, 2)`` radians for a canonical joint (right side mirrored), or None."""
    if name in LIMITS_DEG:
        return np.radians(np.array(LIMITS_DEG[name], float))
    if name.startswith("right_"):
        left = LIMITS_DEG.get("left_" + name[6:])
        if left is None:
            return None
        (xl, xh), (yl, yh), (zl, zh) = left
        return np.radians(np.array([(xl, xh), (-yh, -yl), (-zh, -zl)], float))
    return None


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(3, 3)`` taking unit vector a to unit vector b."""
    from mocap.geometry.rotations import rotvec_to_matrix

    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    ang = np.arctan2(s, float(a @ b))
    if s < 1e-9:
        return np.eye(3)
    return rotvec_to_matrix(axis / s * ang)


@dataclass
class JointLimits:
    """Limits of the ``A`` active joints of a model.

    Attributes:
        joints: ``(A,)`` model joint indices.
        names: canonical names.
        frames: ``(A, 3, 3)``: ``r_limit = frames[a] @ r_model`` (rotation vector in the limit frame).
        lo, hi: ``(A, 3)`` radians.
    """

    joints: np.ndarray
    names: list[str]
    frames: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor

    def subset(self, keep: np.ndarray) -> JointLimits:
        """The limits of the joints where the boolean mask ``keep (A,)`` is True."""
        keep = np.asarray(keep, bool)
        sel = torch.as_tensor(np.flatnonzero(keep), dtype=torch.long, device=self.frames.device)
        return JointLimits(self.joints[keep], [n for n, k in zip(self.names, keep) if k], self.frames[sel],
                           self.lo[sel], self.hi[sel])

    def penalty(self, rotvec: torch.Tensor) -> torch.Tensor:
        """Mean squared excess (radians^2) of local rotation vectors ``(B, A, 3)`` beyond the limits, per frame
        summed over joints: ``(B,)``."""
        r = (self.frames @ rotvec[..., None])[..., 0]
        ex = torch.relu(r - self.hi) + torch.relu(self.lo - r)
        return (ex**2).sum((-1, -2))

    def clamp(self, rotvec: torch.Tensor) -> torch.Tensor:
        """Rotation vectors ``(B, A, 3)`` projected into the box (in the limit frame)."""
        r = (self.frames @ rotvec[..., None])[..., 0]
        r = torch.maximum(torch.minimum(r, self.hi), self.lo)
        return (self.frames.transpose(-1, -2) @ r[..., None])[..., 0]

    def violation_deg(self, rotvec: torch.Tensor) -> torch.Tensor:
        """Largest excess beyond the limits in degrees, per frame ``(B,)``."""
        r = (self.frames @ rotvec[..., None])[..., 0]
        ex = torch.relu(r - self.hi) + torch.relu(self.lo - r)
        return torch.rad2deg(ex.amax((-1, -2)))

    def sample(self, n: int, rng: np.random.Generator, fraction: float = 0.6) -> torch.Tensor:
        """``(n, A, 3)`` random rotation vectors uniformly inside the central ``fraction`` of each range."""
        lo = self.lo.cpu().numpy()
        hi = self.hi.cpu().numpy()
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * fraction
        r = rng.uniform(mid - half, mid + half, size=(n,) + lo.shape)
        r = torch.as_tensor(r, dtype=self.frames.dtype, device=self.frames.device)
        return (self.frames.transpose(-1, -2) @ r[..., None])[..., 0]


def joint_limits(model: BodyModel, hands: bool = False) -> JointLimits:
    """The active joints of ``model`` (body; fingers too when ``hands``) and their limits."""
    canon = model.canonical_index()
    C = np.asarray(model.canonical_rot, float)
    with torch.no_grad():
        q = model.rest_state(model.default_shape()[None]).joints[0].cpu().numpy().astype(float)
    idx, names, frames, lo, hi = [], [], [], [], []
    for j, name in sorted(model.canonical_names.items()):
        lim = _limits_for(name)
        if lim is None or (is_finger(name) and not hands):
            continue
        left = name.replace("right_", "left_")
        delta = np.eye(3)
        if left in _TPOSE_BONES and _TPOSE_BONES[left][0].replace("left_", name[: name.index("_") + 1]) in canon:
            child_name, tdir = _TPOSE_BONES[left]
            child = canon[child_name.replace("left_", name[: name.index("_") + 1])]
            tdir = np.array(tdir, float)
            if name.startswith("right_"):
                tdir[0] = -tdir[0]
            actual = C @ (q[child] - q[j])
            if np.linalg.norm(actual) > 1e-6:
                delta = _rotation_between(tdir, actual)
        idx.append(j)
        names.append(name)
        frames.append(delta.T @ C)
        lo.append(lim[:, 0])
        hi.append(lim[:, 1])
    t = dict(dtype=model.dtype, device=model.device)
    return JointLimits(np.array(idx), names, torch.as_tensor(np.array(frames), **t),
                       torch.as_tensor(np.array(lo), **t), torch.as_tensor(np.array(hi), **t))


def geman_mcclure(sq_dist: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust cost of squared distances (m^2), scaled to ~ ``sq_dist`` near 0 and -> ``sigma^2``."""
    s2 = sigma * sigma
    return s2 * sq_dist / (sq_dist + s2)
