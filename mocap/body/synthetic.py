"""Synthetic keypoints from a body model's own random poses (tests and benchmarks)."""

from __future__ import annotations

import numpy as np
import torch

from mocap.body.priors import joint_limits
from mocap.geometry.rotations import rotvec_to_matrix


def synthetic_keypoints(model, T: int, rng: np.random.Generator, fraction: float = 0.6, noise: float = 0.01,
                        smooth: bool = False):
    """Keypoints of random model poses inside the joint limits, for tests and benchmarks.

    SMPL-X: its 22 body joints + smplx's 21 vertex landmarks; Anny: its COCO(+feet) regressor (23 points) on the full
    LBS mesh. Random shape (SMPL-X betas ~ N(0, 1); Anny phenotypes in [0.3, 0.7]), random heading, root at
    (0.3, -0.2, 1.0), Gaussian noise ``noise`` metres per axis, confidence 1.

    Args:
        model: the body model; T: frames; rng: random generator.
        fraction: poses uniform in the central ``fraction`` of each joint-limit range.
        noise: keypoint noise, metres (standard deviation per axis).
        smooth: one motion (local rotation vectors and heading interpolated between two random poses) instead of
            independent random poses.

    Returns:
        ``(data (T, K, 4), names, true joints (T, J, 3), true pose (T, J, 3) axis-angle, true shape (S,),
        limited joint indices (A,))``.
    """
    from mocap.body.correspondence import SMPLX_VERTEX_LANDMARKS, build_correspondence

    lim = joint_limits(model)
    pose = torch.zeros(T, model.n_joints, 3)
    if smooth:
        ends = lim.sample(2, rng, fraction)
        s = torch.linspace(0, 1, T)[:, None, None]
        pose[:, torch.as_tensor(lim.joints)] = ends[0] * (1 - s) + ends[1] * s
    else:
        pose[:, torch.as_tensor(lim.joints)] = lim.sample(T, rng, fraction)
    if model.name == "smplx":
        pose[:, 0] = torch.tensor([np.pi / 2, 0, 0])  # y-up model -> z-up world
        shape = torch.as_tensor(rng.normal(size=model.n_shape), dtype=torch.float32)
        names = [model.canonical_names[i] for i in range(22)] + list(SMPLX_VERTEX_LANDMARKS)
    else:
        shape = torch.as_tensor(rng.uniform(0.3, 0.7, size=model.n_shape), dtype=torch.float32)
        names, _, _ = model.coco_regressor()
    yaw = np.linspace(*rng.uniform(-np.pi, np.pi, 2), T) if smooth else rng.uniform(-np.pi, np.pi, T)
    root_rot = torch.as_tensor(rotvec_to_matrix(np.stack([0 * yaw, 0 * yaw, yaw], -1)), dtype=torch.float32)
    r0 = torch.as_tensor(rotvec_to_matrix(pose[:, 0].numpy().astype(float)), dtype=torch.float32)
    root = torch.tensor([[0.3, -0.2, 1.0]]).repeat(T, 1)
    corr = build_correspondence(model, names)
    with torch.no_grad():
        out = model.forward(shape[None], pose, root, vertex_ids=corr.vertex_ids if corr.vertex_ids.numel() else None,
                            root_rot=root_rot @ r0)
        pts = corr.predict(out.joints, out.vertices)
    from mocap.geometry.rotations import matrix_to_rotvec

    pose[:, 0] = torch.as_tensor(matrix_to_rotvec((root_rot @ r0).numpy().astype(float)), dtype=torch.float32)
    pts = pts.numpy().astype(float) + rng.normal(scale=noise, size=pts.shape)
    data = np.concatenate([pts, np.ones(pts.shape[:2] + (1,))], -1)
    return data, names, out.joints.numpy().astype(float), pose.numpy().astype(float), shape.numpy(), lim.joints
