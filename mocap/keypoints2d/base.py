"""The detector interface: ``Detector.detect(image BGR) -> (P, J, 3)`` pixels + confidence, NaN where missing."""

from __future__ import annotations

import numpy as np

from mocap.errors import DataError

BACKENDS = ("blazepose", "mediapipe", "holistic", "onnx", "yolo-pose")
DEFAULT_BACKEND = "blazepose"


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
        #: per-camera track id of each output row after the last :meth:`detect` (``(P,)``, -1 = none), when the
        #: backend tracks people; ``None`` otherwise.
        self.track_ids: np.ndarray | None = None

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Keypoints of the people in one BGR ``uint8`` ``(H, W, 3)`` image.

        Returns:
            ``(P, J, 3)`` ``(u, v, confidence)`` in pixels of ``image``; rows of people not found are NaN.
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tracking state (call between unrelated videos)."""

    def state_dict(self) -> dict | None:
        """The tracking state as JSON-compatible data, to checkpoint and resume exactly; ``None`` when the backend
        keeps no state or cannot export it (then :meth:`replay_from` says how to rebuild it)."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict`."""
        raise NotImplementedError(f"{type(self).__name__} has no exportable state")

    def replay_from(self, rows: list[np.ndarray]) -> int:
        """First frame to run again (outputs discarded) so that, after ``rows`` (this detector's outputs of frames
        ``0 .. len(rows) - 1``), its hidden state equals an uninterrupted run's. Stateless detectors: ``len(rows)``."""
        return len(rows)

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


def make_detector(backend: str = DEFAULT_BACKEND, **kwargs) -> Detector:
    """Create a detector by backend name.

    Args:
        backend: ``"blazepose"`` (default: several people, MediaPipe's BlazePose models run per person, MediaPipe 33),
            ``"mediapipe"`` (MediaPipe Pose itself, one person), ``"holistic"`` (one person, pose + hands + face),
            ``"onnx"`` (top-down ONNX pose model, ``pose_model=...``, optional ``det_model=...``) or ``"yolo-pose"``
            (Ultralytics YOLO-pose ONNX, ``model=...``).
        **kwargs: passed to the backend's constructor.
    """
    if backend == "blazepose":
        from mocap.keypoints2d.blazepose_multi import BlazePoseMulti

        return BlazePoseMulti(**kwargs)
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
