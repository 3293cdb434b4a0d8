"""Keypoint containers (2D ``(T, C, P, J, 3)``, 3D ``(T, P, J, 4)``) and their file formats."""

from mocap.keypoints.containers import Keypoints2D, Keypoints3D

__all__ = ["Keypoints2D", "Keypoints3D"]
