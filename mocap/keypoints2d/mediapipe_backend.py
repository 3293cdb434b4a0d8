"""MediaPipe BlazePose (33 landmarks) and Holistic (pose + 2 hands + face), single person, offline.

Uses the legacy ``mp.solutions`` graphs with the models bundled in the mediapipe 0.10.21 wheel. Only
``model_complexity=1`` is bundled (0 and 2 try to download), so it is fixed here. Output is in pixels
(``landmark.x * width``); confidence is the landmark's ``visibility`` (pose) or 1 for hand/face landmarks, which
carry no per-landmark score (their presence is the detection itself).
"""

from __future__ import annotations

import os

import numpy as np

from mocap.keypoints2d.base import Detector, check_image

# MediaPipe's C++ side logs feedback-tensor and projection notices at every start: keep only errors.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

N_POSE, N_HAND, N_FACE = 33, 21, 468


def _landmarks_to_array(lms, n: int, w: int, h: int, use_visibility: bool) -> np.ndarray:  # noqa: ANN001
    out = np.full((n, 3), np.nan)
    if lms is None:
        return out
    pts = lms.landmark
    for j in range(min(n, len(pts))):
        p = pts[j]
        out[j] = (p.x * w, p.y * h, p.visibility if use_visibility else 1.0)
    return out


class MediaPipePose(Detector):
    """BlazePose full (``model_complexity=1``): joint set ``mediapipe33``, one person.

    Args:
        static_image_mode: detect afresh on every image (slower; for unrelated images) instead of tracking.
        min_detection_confidence: person detector threshold.
        min_tracking_confidence: below this the tracker re-detects.
        smooth_landmarks: MediaPipe's temporal filter (video mode only).
    """

    joint_set = "mediapipe33"

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True) -> None:
        super().__init__()
        self.settings = dict(backend="mediapipe", model_complexity=1, static_image_mode=static_image_mode,
                             min_detection_confidence=min_detection_confidence,
                             min_tracking_confidence=min_tracking_confidence, smooth_landmarks=smooth_landmarks)
        self._model = None

    def _make(self):
        import mediapipe as mp

        s = self.settings
        return mp.solutions.pose.Pose(static_image_mode=s["static_image_mode"], model_complexity=1,
                                      smooth_landmarks=s["smooth_landmarks"],
                                      min_detection_confidence=s["min_detection_confidence"],
                                      min_tracking_confidence=s["min_tracking_confidence"])

    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(1, 33, 3)`` pixels + visibility; NaN when no person is found."""
        import cv2

        check_image(image, "MediaPipe pose input")
        if self._model is None:
            self._model = self._make()
        h, w = image.shape[:2]
        res = self._model.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return _landmarks_to_array(res.pose_landmarks, N_POSE, w, h, True)[None]

    def reset(self) -> None:
        self.close()

    def replay_from(self, rows: list[np.ndarray]) -> int:
        """MediaPipe's graph state cannot be exported, so a resume runs the graph again over earlier frames.

        Its landmark smoothing and ROI restart after a frame in which nobody was found, but its visibility low-pass
        filter does not (measured: visibilities still differ by up to 0.06 after such a frame, decaying by 10 % per
        frame). So with ``smooth_landmarks`` (the default) the exact state needs every frame from 0; without it, from
        the frame after the last frame without a person. ``static_image_mode`` keeps no state.
        """
        if self.settings["static_image_mode"]:
            return len(rows)
        if self.settings["smooth_landmarks"]:
            return 0
        for i in range(len(rows) - 1, -1, -1):
            if not np.isfinite(rows[i][..., 0]).any():
                return i + 1
        return 0

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


class MediaPipeHolistic(MediaPipePose):
    """Holistic: joint set ``mediapipe_holistic`` = 33 pose + 21 left hand + 21 right hand + 468 face (543).

    Hands/face that are not found are NaN while the body is still returned.
    """

    joint_set = "mediapipe_holistic"

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True) -> None:
        super().__init__(static_image_mode, min_detection_confidence, min_tracking_confidence, smooth_landmarks)
        self.settings["backend"] = "holistic"

    def _make(self):
        import mediapipe as mp

        s = self.settings
        return mp.solutions.holistic.Holistic(static_image_mode=s["static_image_mode"], model_complexity=1,
                                              smooth_landmarks=s["smooth_landmarks"], refine_face_landmarks=False,
                                              min_detection_confidence=s["min_detection_confidence"],
                                              min_tracking_confidence=s["min_tracking_confidence"])

    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(1, 543, 3)``: pose (visibility), left hand, right hand, face (confidence 1 where found)."""
        import cv2

        check_image(image, "MediaPipe holistic input")
        if self._model is None:
            self._model = self._make()
        h, w = image.shape[:2]
        res = self._model.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        parts = [_landmarks_to_array(res.pose_landmarks, N_POSE, w, h, True),
                 _landmarks_to_array(res.left_hand_landmarks, N_HAND, w, h, False),
                 _landmarks_to_array(res.right_hand_landmarks, N_HAND, w, h, False),
                 _landmarks_to_array(res.face_landmarks, N_FACE, w, h, False)]
        return np.concatenate(parts)[None]
