"""2D keypoint detectors behind one interface (``Detector.detect(image BGR) -> (P, J, 3)``), importers of
precomputed 2D files, and the resumable multi-camera detection run behind ``mocap detect``.

Backends load lazily: ``make_detector("blazepose" | "mediapipe" | "holistic" | "onnx" | "yolo-pose", **kwargs)``;
``blazepose`` (the default) finds several people with MediaPipe's BlazePose models (:mod:`.blazepose_multi`).
"""

from mocap.keypoints2d.base import BACKENDS, DEFAULT_BACKEND, Detector, make_detector
from mocap.keypoints2d.importers import read_deeplabcut_csv, read_mmpose_json, read_openpose, stack_cameras
from mocap.keypoints2d.overlay import draw_keypoints
from mocap.keypoints2d.run import CameraResult, combine_caches, detect_camera, detect_videos

__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "Detector", "make_detector", "read_deeplabcut_csv", "read_mmpose_json",
    "read_openpose", "stack_cameras", "draw_keypoints", "CameraResult", "combine_caches", "detect_camera",
    "detect_videos",
]
