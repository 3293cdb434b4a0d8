"""MediaPipe's BlazePose pipeline as plain functions: detector decoding, ROIs, crops, landmark decoding, smoothing.

These reproduce the calculators of MediaPipe 0.10.21's ``PoseLandmarkCpu`` graph (options read from the graph the
installed wheel expands), so :class:`mocap.keypoints2d.blazepose_multi.BlazePoseMulti` can run the same two models per
person. All image coordinates are pixels of the full frame; a region of interest (ROI) is a square
``(cx, cy, size, rotation)`` in pixels and radians, rotation clockwise in image coordinates (y down), as MediaPipe's
``NormalizedRect``.

Detector (``pose_detection.tflite``): input ``(1, 224, 224, 3)`` RGB in [-1, 1], the frame letterboxed with zeros;
outputs ``(1, 2254, 12)`` boxes (``cx, cy, w, h`` + 4 keypoints ``x, y``: hip centre, full-body size/rotation point,
shoulder centre, upper-body point) relative to 2254 SSD anchors, and ``(1, 2254, 1)`` logits.
Landmark model (``pose_landmark_full.tflite``): input ``(1, 256, 256, 3)`` RGB in [0, 1] cropped to the ROI; outputs
``(1, 195)`` = 39 x ``(x, y, z, visibility, presence)`` logits in crop pixels (33 landmarks + 2 auxiliary ROI points +
4 unused), ``(1, 1)`` pose presence, a segmentation mask, ``(1, 64, 64, 39)`` heatmap logits and world landmarks.
"""

from __future__ import annotations

import math

import numpy as np

DET_SIZE = 224
LMK_SIZE = 256
N_LANDMARKS = 33
DET_SCORE_THRESHOLD = 0.5  # TensorsToDetectionsCalculator min_score_thresh
NMS_IOU = 0.3  # NonMaxSuppressionCalculator min_suppression_threshold (weighted)
ROI_SCALE = 1.25  # RectTransformationCalculator scale_x / scale_y
PRESENCE_THRESHOLD = 0.5  # ThresholdingCalculator on the pose flag
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5


def ssd_anchors() -> np.ndarray:
    """Centres ``(2254, 2)`` (x, y in [0, 1]) of the detector's SSD anchors.

    SsdAnchorsCalculator with 5 layers, strides 8, 16, 32, 32, 32, aspect ratio 1 plus the interpolated one, fixed
    anchor size (every anchor is 1 x 1, so only centres matter): 28x28x2 + 14x14x2 + 7x7x6 anchors.
    """
    out = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = math.ceil(DET_SIZE / stride)
        c = (np.arange(n) + 0.5) / n
        xx, yy = np.meshgrid(c, c)
        out.append(np.repeat(np.stack([xx.ravel(), yy.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(out)


ANCHORS = ssd_anchors()


def crop_affine(roi: np.ndarray, out_size: int) -> np.ndarray:
    """``(2, 3)`` affine matrix taking frame pixels to ``out_size`` x ``out_size`` crop pixels of a square ROI.

    The crop's corners are the ROI's corners (as MediaPipe's ImageToTensorCalculator, which maps the rotated rectangle's
    corners to the tensor's corners).
    """
    cx, cy, size, rot = (float(v) for v in roi)
    c, s = math.cos(rot), math.sin(rot)
    rmat = np.array([[c, -s], [s, c]])
    local = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5]])
    src = (local * size) @ rmat.T + (cx, cy)
    dst = np.array([[0.0, 0.0], [out_size, 0.0], [0.0, out_size]])
    # Solve dst = A @ [src, 1] exactly for the three corners.
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def crop_to_frame(points01: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points normalised to the crop ([0, 1] over the ROI) to frame pixels (LandmarkProjection)."""
    cx, cy, size, rot = (float(v) for v in roi)
    c, s = math.cos(rot), math.sin(rot)
    x = points01[..., 0] - 0.5
    y = points01[..., 1] - 0.5
    return np.stack([(c * x - s * y) * size + cx, (s * x + c * y) * size + cy], axis=-1)


def crop_image(image_rgb: np.ndarray, roi: np.ndarray, out_size: int, zero_border: bool) -> np.ndarray:
    """``(out_size, out_size, 3)`` uint8 crop of the ROI, bilinear; border zero (detector) or replicate (landmarks)."""
    import cv2

    border = cv2.BORDER_CONSTANT if zero_border else cv2.BORDER_REPLICATE
    return cv2.warpAffine(image_rgb, crop_affine(roi, out_size), (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=(0, 0, 0))


def detector_rois(width: int, height: int, tiles: bool = True) -> list[np.ndarray]:
    """Square crops the detector looks at: the whole frame letterboxed (MediaPipe's own input) and, with ``tiles``,
    squares of the frame's shorter side along its longer side (overlapping, ends aligned with the frame's edges).

    People far from the camera are small in the letterboxed frame (a 1080x1920 portrait frame shrinks 8.6 times)
    and the detector misses them; a tile shows them 1.8 times larger.
    """
    rois = [np.array([width / 2.0, height / 2.0, float(max(width, height)), 0.0])]
    short, long_ = min(width, height), max(width, height)
    if tiles and long_ > 1.2 * short:
        n = math.ceil(long_ / short)
        for c in np.linspace(short / 2.0, long_ - short / 2.0, n):
            cx, cy = (c, height / 2.0) if width > height else (width / 2.0, c)
            rois.append(np.array([cx, cy, float(short), 0.0]))
    return rois


def decode_detections(boxes: np.ndarray, logits: np.ndarray,
                      score_threshold: float = DET_SCORE_THRESHOLD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode raw detector outputs (TensorsToDetectionsCalculator, ``reverse_output_order``).

    Args:
        boxes: ``(2254, 12)`` raw box regressions; logits: ``(2254,)`` or ``(2254, 1)``.

    Returns:
        ``scores (N,)``, ``boxes (N, 4)`` ``xmin, ymin, xmax, ymax`` and ``keypoints (N, 4, 2)``, all in [0, 1] of the
        detector input, for anchors scoring at least ``score_threshold`` (sigmoid of the clipped logit).
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, float).reshape(-1), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= score_threshold)
    raw = np.asarray(boxes, float).reshape(-1, 12)[keep] / DET_SIZE
    anc = ANCHORS[keep]
    ctr = raw[:, 0:2] + anc
    half = raw[:, 2:4] / 2.0
    box = np.concatenate([ctr - half, ctr + half], axis=1)
    kps = raw[:, 4:12].reshape(-1, 4, 2) + anc[:, None, :]
    return scores[keep], box, kps


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression: each cluster (IoU > threshold with its best box) becomes the
    score-weighted mean of its boxes and keypoints, with the best box's score. Returns clusters best first."""
    from mocap.keypoints2d.onnx_decode import box_iou

    order = np.argsort(-scores, kind="stable")
    out_s, out_b, out_k = [], [], []
    while order.size:
        best = order[0]
        sim = box_iou(boxes[best], boxes[order])
        members = order[sim > iou_threshold]
        if members.size == 0:
            members = order[:1]
        w = scores[members][:, None]
        out_s.append(scores[best])
        out_b.append((boxes[members] * w).sum(0) / w.sum())
        out_k.append((keypoints[members] * w[:, :, None]).sum(0) / w.sum())
        rest = order[sim <= iou_threshold]
        if rest.size == order.size:
            break
        order = rest
    if not out_s:
        return np.zeros(0), np.zeros((0, 4)), np.zeros((0, 4, 2))
    return np.array(out_s), np.array(out_b), np.array(out_k)


def alignment_roi(center: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """ROI from two alignment points in pixels (AlignmentPointsRectsCalculator + RectTransformationCalculator).

    The size is twice the centre-to-scale-point distance times ``scale``; the rotation turns the centre->scale-point
    vector upright (target angle 90 degrees).
    """
    dx, dy = float(scale_point[0] - center[0]), float(scale_point[1] - center[1])
    size = 2.0 * math.hypot(dx, dy)
    rot = math.pi / 2 - math.atan2(-dy, dx)
    rot = rot - 2 * math.pi * math.floor((rot + math.pi) / (2 * math.pi))
    return np.array([float(center[0]), float(center[1]), size * scale, rot])


def detections_to_frame(boxes01: np.ndarray, keypoints01: np.ndarray, crop: np.ndarray) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """Decoded detector boxes ``(N, 4)`` and keypoints ``(N, 4, 2)`` of one (unrotated) detector crop, in frame
    pixels (DetectionLetterboxRemovalCalculator + the crop's placement)."""
    corners = crop_to_frame(boxes01.reshape(-1, 2, 2), crop).reshape(-1, 4)
    return corners, crop_to_frame(keypoints01, crop)


def detections_to_rois(keypoints_px: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ROIs from detector keypoints ``(N, 4, 2)`` in frame pixels (hip centre + full-body scale point)."""
    return np.array([alignment_roi(k[0], k[1]) for k in keypoints_px]).reshape(-1, 4)


def decode_landmarks(raw: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """Landmarks ``(35, 5)`` = 33 + 2 auxiliary, ``(x, y, z, visibility, presence)``; x, y in [0, 1] of the crop.

    TensorsToLandmarksCalculator (sigmoid on visibility and presence) then RefineLandmarksFromHeatmapCalculator:
    each x, y becomes the heatmap-weighted mean in a 7x7 window around it when the window's sigmoid maximum is
    at least 0.5.

    Args:
        raw: ``(195,)`` landmark tensor; heatmap: ``(64, 64, 39)`` heatmap logits.
    """
    lm = np.asarray(raw, float).reshape(39, 5)[:35].copy()
    lm[:, 0:3] /= LMK_SIZE
    lm[:, 3:5] = 1.0 / (1.0 + np.exp(-lm[:, 3:5]))
    hm = np.asarray(heatmap, float).reshape(heatmap.shape[-3:])
    hh, hw, _ = hm.shape
    off = (HEATMAP_KERNEL - 1) // 2
    for i in range(35):
        col, row = int(lm[i, 0] * hw), int(lm[i, 1] * hh)
        if col < 0 or row < 0 or col >= hw or row >= hh:  # int() truncates toward zero, as the C++ cast
            continue
        r0, r1 = max(0, row - off), min(hh, row + off + 1)
        c0, c1 = max(0, col - off), min(hw, col + off + 1)
        conf = 1.0 / (1.0 + np.exp(-hm[r0:r1, c0:c1, i]))
        total = conf.sum()
        if conf.max() >= HEATMAP_MIN_CONFIDENCE and total > 0:
            rr, cc = np.mgrid[r0:r1, c0:c1]
            lm[i, 0] = (cc * conf).sum() / hw / total
            lm[i, 1] = (rr * conf).sum() / hh / total
    return lm


class OneEuro:
    """MediaPipe's One-Euro filter (``one_euro_filter.cc``) over an array of values sharing one clock.

    ``value_scale`` divides speeds by the object's size (pixels), so the cutoff adapts to relative motion.
    State is plain numbers (:meth:`state` / :meth:`from_state`) so a tracker can be checkpointed exactly.
    """

    def __init__(self, min_cutoff: float, beta: float, derivate_cutoff: float = 1.0, frequency: float = 30.0) -> None:
        self.min_cutoff, self.beta, self.dcutoff, self.frequency = min_cutoff, beta, derivate_cutoff, frequency
        self.raw: np.ndarray | None = None  # last raw value (LowPassFilter x)
        self.x: np.ndarray | None = None  # last filtered value
        self.dx: np.ndarray | None = None  # last filtered derivative

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        te = 1.0 / self.frequency
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    def __call__(self, value: np.ndarray, value_scale: float) -> np.ndarray:
        value = np.asarray(value, float)
        dvalue = np.zeros_like(value) if self.raw is None else (value - self.raw) * value_scale * self.frequency
        a_d = self._alpha(self.dcutoff)
        self.dx = dvalue if self.dx is None else a_d * dvalue + (1 - a_d) * self.dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self.dx))
        self.x = value.copy() if self.x is None else a * value + (1 - a) * self.x
        self.raw = value.copy()
        return self.x.copy()

    def state(self) -> dict | None:
        """The filter's memory (``None`` when fresh)."""
        if self.raw is None:
            return None
        return {"raw": self.raw.tolist(), "x": self.x.tolist(), "dx": self.dx.tolist()}

    def load(self, state: dict | None) -> None:
        """Restore :meth:`state`."""
        if state is None:
            self.raw = self.x = self.dx = None
        else:
            self.raw, self.x, self.dx = (np.array(state[k], float) for k in ("raw", "x", "dx"))


class LowPass:
    """MediaPipe's visibility low-pass filter (``alpha`` = weight of the new value; the first value passes)."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.value: np.ndarray | None = None

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, float)
        self.value = value.copy() if self.value is None else self.alpha * value + (1 - self.alpha) * self.value
        return self.value.copy()
