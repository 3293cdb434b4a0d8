"""The detector interface: ``Detector.detect(image BGR) -> (P, J, 3)`` pixels + confidence, NaN where missing."""

from __future__ import annotations

import numpy as np

from mocap.errors import DataError

BACKENDS = ("mediapipe", "holistic", "onnx", "yolo-pose")


class Detector:
    """Base class of 2D keypoint detectors.

    Attributes:
        joint_set: name of the joint set the output follows (see :mod:`mocap.skeletons`).
        max_people: most people one call returns (``P`` of the output).
        settings: the parameters that change the output (hashed by the detection cache).
    """

    joint_set: str = ""
    max_people: int = 1

    def __init__(self) -> None:
        self.settings: dict = {}

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Keypoints of the people in one BGR ``uint8`` ``(H, W, 3)`` image.

        Returns:
            ``(P, J, 3)`` ``(u, v, confidence)`` in pixels of ``image``; rows of people not found are NaN.
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tracking state (call between unrelated videos)."""

    def close(self) -> None:
        """Release models."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_image(image: np.ndarray, who: str) -> np.ndarray:
    """Check a BGR ``(H, W, 3)`` ``uint8`` image; raise :class:`DataError` naming ``who`` otherwise."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise DataError(f"{who}: expected a BGR uint8 image of shape (H, W, 3); got shape {shape}, dtype {dtype}")
    return image


def make_detector(backend: str = "mediapipe", **kwargs) -> Detector:
    """Create a detector by backend name.

    Args:
        backend: ``"mediapipe"`` (BlazePose 33, default), ``"holistic"`` (pose + hands + face), ``"onnx"`` (top-down
            ONNX pose model, ``pose_model=...``, optional ``det_model=...``) or ``"yolo-pose"`` (Ultralytics
            YOLO-pose ONNX, ``model=...``).
        **kwargs: passed to the backend's constructor.
    """
    if backend == "mediapipe":
        from mocap.keypoints2d.mediapipe_backend import MediaPipePose

        return MediaPipePose(**kwargs)
    if backend == "holistic":
        from mocap.keypoints2d.mediapipe_backend import MediaPipeHolistic

        return MediaPipeHolistic(**kwargs)
    if backend == "onnx":
        from mocap.keypoints2d.onnx_backend import OnnxTopDown

        return OnnxTopDown(**kwargs)
    if backend == "yolo-pose":
        from mocap.keypoints2d.onnx_backend import OnnxYoloPose

        return OnnxYoloPose(**kwargs)
    raise DataError(f"unknown detector backend {backend!r}; choose one of {BACKENDS}")
