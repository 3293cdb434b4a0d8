"""Pure-numpy pieces of the ONNX backends: crops, letterbox, SimCC/heatmap decoding, YOLO-pose rows, NMS."""

from __future__ import annotations

import numpy as np


def box_to_center_scale(box: np.ndarray, input_wh: tuple[int, int], padding: float = 1.25) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """Centre ``(2,)`` and crop size ``(2,)`` (pixels) of a person box ``(x1, y1, x2, y2)``, enlarged by ``padding``
    and widened or heightened to the model input's aspect ratio ``input_wh = (w, h)``."""
    x1, y1, x2, y2 = [float(v) for v in box[:4]]
    c = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    w, h = (x2 - x1) * padding, (y2 - y1) * padding
    aspect = input_wh[0] / input_wh[1]
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    return c, np.array([w, h])


def crop_matrix(center: np.ndarray, size: np.ndarray, input_wh: tuple[int, int]) -> np.ndarray:
    """``(2, 3)`` affine image -> model input: ``p_in = (p_img - center) * input_wh / size + input_wh / 2``."""
    s = np.asarray(input_wh, float) / np.asarray(size, float)
    return np.array([[s[0], 0, -center[0] * s[0] + input_wh[0] / 2], [0, s[1], -center[1] * s[1] + input_wh[1] / 2]])


def uncrop(points_in: np.ndarray, center: np.ndarray, size: np.ndarray, input_wh: tuple[int, int]) -> np.ndarray:
    """Model-input pixels ``(..., 2)`` back to image pixels (inverse of :func:`crop_matrix`)."""
    wh = np.asarray(input_wh, float)
    return (np.asarray(points_in, float) - wh / 2) * (np.asarray(size, float) / wh) + np.asarray(center, float)


def letterbox_params(image_wh: tuple[int, int], input_wh: tuple[int, int], center: bool) -> tuple[float, float,
                                                                                                   float]:
    """Scale ``r`` and padding ``(pad_x, pad_y)`` so ``p_in = p_img * r + pad`` fits the image into the input while
    keeping its aspect ratio (``center``: pad both sides, Ultralytics; else right/bottom only, YOLOX)."""
    r = min(input_wh[0] / image_wh[0], input_wh[1] / image_wh[1])
    nw, nh = round(image_wh[0] * r), round(image_wh[1] * r)
    if center:
        return r, (input_wh[0] - nw) / 2, (input_wh[1] - nh) / 2
    return r, 0.0, 0.0


def letterbox(image: np.ndarray, input_wh: tuple[int, int], center: bool, pad_value: int = 114) -> tuple[np.ndarray,
                                                                                                         float, float,
                                                                                                         float]:
    """Resize ``image`` ``(H, W, 3)`` into ``input_wh`` keeping its aspect ratio; returns the padded image,
    ``r``, ``pad_x``, ``pad_y`` (see :func:`letterbox_params`)."""
    import cv2

    h, w = image.shape[:2]
    r, px, py = letterbox_params((w, h), input_wh, center)
    nw, nh = round(w * r), round(h * r)
    out = np.full((input_wh[1], input_wh[0], 3), pad_value, np.uint8)
    left, top = int(round(px - 0.1)), int(round(py - 0.1))
    out[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r, float(left), float(top)


def decode_simcc(x_logits: np.ndarray, y_logits: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC (RTMPose) decoding.

    Args:
        x_logits: ``(N, J, Wx)`` horizontal classification logits, ``Wx = input_w * split_ratio``.
        y_logits: ``(N, J, Hy)`` vertical logits.
        split_ratio: bins per input pixel.

    Returns:
        ``(N, J, 2)`` locations in model-input pixels and ``(N, J)`` scores (the smaller of the two peak values, as
        MMPose does).
    """
    x_logits, y_logits = np.asarray(x_logits, float), np.asarray(y_logits, float)
    ix, iy = x_logits.argmax(-1), y_logits.argmax(-1)
    vx = np.take_along_axis(x_logits, ix[..., None], -1)[..., 0]
    vy = np.take_along_axis(y_logits, iy[..., None], -1)[..., 0]
    locs = np.stack([ix, iy], -1).astype(float) / float(split_ratio)
    return locs, np.minimum(vx, vy)


def _log_parabola_offset(left: np.ndarray, mid: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-bin offset of a peak from three samples, fitted as a parabola in the log domain (exact for Gaussians)."""
    eps = 1e-10
    a, b, c = (np.log(np.maximum(v, eps)) for v in (left, mid, right))
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    return np.clip(off, -0.5, 0.5)


def decode_heatmap(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap decoding: argmax plus sub-pixel refinement (log-domain parabola along x and y).

    Args:
        heatmaps: ``(N, J, h, w)``.

    Returns:
        ``(N, J, 2)`` peak locations in heatmap pixels (pixel centres at integers) and ``(N, J)`` peak values.
    """
    hm = np.asarray(heatmaps, float)
    N, J, h, w = hm.shape
    flat = hm.reshape(N, J, -1)
    idx = flat.argmax(-1)
    score = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    y, x = np.divmod(idx, w)
    n_i, j_i = np.meshgrid(np.arange(N), np.arange(J), indexing="ij")
    xl, xr = np.clip(x - 1, 0, w - 1), np.clip(x + 1, 0, w - 1)
    yu, yd = np.clip(y - 1, 0, h - 1), np.clip(y + 1, 0, h - 1)
    dx = _log_parabola_offset(hm[n_i, j_i, y, xl], score, hm[n_i, j_i, y, xr])
    dy = _log_parabola_offset(hm[n_i, j_i, yu, x], score, hm[n_i, j_i, yd, x])
    inside_x, inside_y = (x > 0) & (x < w - 1), (y > 0) & (y < h - 1)
    locs = np.stack([x + np.where(inside_x & (score > 0), dx, 0.0), y + np.where(inside_y & (score > 0), dy, 0.0)],
                    -1)
    return locs, score


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with ``(M, 4)`` boxes (``x1, y1, x2, y2``)."""
    ix1, iy1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    ix2, iy2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.45) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[i], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, int)


def decode_yolo_pose(output: np.ndarray, score_threshold: float = 0.25, iou_threshold: float = 0.45,
                     max_people: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of an Ultralytics YOLO-pose export.

    Args:
        output: ``(1, 5 + 3K, N)`` (``cx, cy, w, h, score`` then ``K x (x, y, conf)``), model-input pixels. A
            ``(1, N, 5 + 3K)`` layout is accepted too.

    Returns:
        boxes ``(P, 4)`` ``x1, y1, x2, y2``, scores ``(P,)``, keypoints ``(P, K, 3)``, in model-input pixels,
        after the score threshold and NMS, best first.
    """
    out = np.asarray(output, float)
    if out.ndim == 3:
        out = out[0]
    channels_first = out.shape[0] > 5 and (out.shape[0] - 5) % 3 == 0
    if channels_first and out.shape[1] > 5 and (out.shape[1] - 5) % 3 == 0:
        channels_first = out.shape[0] < out.shape[1]  # both fit: Ultralytics has far more anchors than channels
    rows = out.T if channels_first else out
    K = (rows.shape[1] - 5) // 3
    keep = rows[:, 4] >= score_threshold
    rows = rows[keep]
    boxes = np.stack([rows[:, 0] - rows[:, 2] / 2, rows[:, 1] - rows[:, 3] / 2, rows[:, 0] + rows[:, 2] / 2,
                      rows[:, 1] + rows[:, 3] / 2], -1)
    idx = nms(boxes, rows[:, 4], iou_threshold)[:max_people] if len(rows) else np.zeros(0, int)
    return boxes[idx], rows[idx, 4], rows[idx, 5:5 + 3 * K].reshape(-1, K, 3)
