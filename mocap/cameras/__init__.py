"""Camera models, rigs, and calibration file formats."""

from mocap.cameras.camera import FISHEYE, PINHOLE, Camera
from mocap.cameras.rig import CameraRig

__all__ = ["Camera", "CameraRig", "PINHOLE", "FISHEYE"]
