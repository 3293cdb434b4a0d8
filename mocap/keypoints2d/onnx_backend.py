"""User-supplied ONNX pose networks through ONNX Runtime (CPU).

Which exported models work:

* **Top-down pose** (:class:`OnnxTopDown`), e.g. RTMPose (MMPose/mmdeploy or rtmlib ``.onnx``) and heatmap models
  (SimpleBaseline/HRNet/ViTPose exports):
    - one input ``(1 or N, 3, H, W)`` float32 with static ``H, W`` (or pass ``input_size=(W, H)``);
    - outputs either **SimCC**: two tensors ``(N, J, W*k)`` and ``(N, J, H*k)`` (x then y; ``k`` = split ratio,
      2.0 for RTMPose), or a **heatmap** ``(N, J, h, w)``;
    - input normalisation ``(pixel - mean) / std`` on RGB (default ImageNet ``mean=(123.675, 116.28, 103.53)``,
      ``std=(58.395, 57.12, 57.375)``, as MMPose trains; pass ``rgb=False`` for models exported to take BGR);
    - each person box is enlarged by 1.25, brought to the input's aspect ratio and affinely cropped.
* **Person detector** (optional ``det_model``; without one the whole image is one person box):
    - mmdeploy/rtmlib YOLOX or RTMDet: input ``(1, 3, H, W)``; outputs ``dets (1, N, 5)`` ``x1, y1, x2, y2, score``
      (+ ``labels (1, N)``, class 0 = person), top-left letterbox padded with 114, raw 0..255 BGR pixels;
    - Ultralytics YOLOv8/11 detect (``yolo export format=onnx``): output ``(1, 4 + classes, N)`` ``cx, cy, w, h``
      then class scores (class 0 = person), centred letterbox, RGB / 255; NMS applied here.
* **One-stage YOLO-pose** (:class:`OnnxYoloPose`): Ultralytics ``yolov8n-pose.onnx`` / ``yolo11n-pose.onnx``
  exported with ``yolo export model=yolo11n-pose.pt format=onnx`` (no ``nms=True``): input ``images (1, 3, 640, 640)``
  RGB / 255 with centred letterbox (pad 114); output ``(1, 56, 8400)`` = ``cx, cy, w, h, score`` + 17 ``(x, y, conf)``
  COCO keypoints; score threshold and NMS applied here.

A model whose inputs/outputs do not fit raises :class:`~mocap.errors.DataError` naming the model file, the tensor,
and expected vs actual shapes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.keypoints2d.base import Detector, check_image
from mocap.keypoints2d.onnx_decode import (
    box_to_center_scale,
    crop_matrix,
    decode_heatmap,
    decode_simcc,
    decode_yolo_pose,
    letterbox,
    nms,
    uncrop,
)

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


class OnnxModel:
    """An ONNX Runtime session with its single image input checked.

    Args:
        path: the ``.onnx`` file.
        role: what the model is for (used in messages), e.g. ``"pose model"``.
        input_size: ``(W, H)`` when the model's input has dynamic spatial dimensions.
    """

    def __init__(self, path: str | Path, role: str, input_size: tuple[int, int] | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.role = role
        if not self.path.is_file():
            raise DataError(f"{role} {self.path} does not exist")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise DataError(f"{role} {self.path} cannot be loaded by ONNX Runtime: {e}") from e
        ins = self.session.get_inputs()
        if len(ins) != 1:
            raise DataError(f"{role} {self.path} has {len(ins)} inputs ({[i.name for i in ins]}); expected one image "
                            "input (N, 3, H, W)")
        inp = ins[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise DataError(f"{role} {self.path}: input {inp.name!r} has shape {shape}; expected (N, 3, H, W)")
        h, w = shape[2], shape[3]
        if isinstance(h, int) and isinstance(w, int):
            self.input_wh = (w, h)
            if input_size is not None and tuple(input_size) != self.input_wh:
                raise DataError(f"{role} {self.path}: input {inp.name!r} is fixed at {w}x{h}; input_size="
                                f"{tuple(input_size)} does not match")
        elif input_size is not None:
            self.input_wh = (int(input_size[0]), int(input_size[1]))
        else:
            raise DataError(f"{role} {self.path}: input {inp.name!r} has dynamic size {shape}",
                            hint="pass input_size=(W, H) (e.g. 192x256 for RTMPose-m)")
        self.batch_fixed = shape[0] if isinstance(shape[0], int) else None
        self.outputs = [(o.name, list(o.shape)) for o in self.session.get_outputs()]

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """Run on a ``(N, 3, H, W)`` float32 blob; returns the outputs in model order."""
        return self.session.run(None, {self.input_name: blob.astype(np.float32, copy=False)})

    def describe_outputs(self) -> str:
        return ", ".join(f"{n} {s}" for n, s in self.outputs)


def _to_blob(images: list[np.ndarray], rgb: bool, mean, std) -> np.ndarray:  # noqa: ANN001
    arr = np.stack(images).astype(np.float32)
    if rgb:
        arr = arr[..., ::-1]
    if mean is not None:
        arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


class OnnxTopDown(Detector):
    """Top-down pose: optional person detector ONNX, then a pose ONNX per person crop (SimCC or heatmap output).

    Args:
        pose_model: pose ``.onnx`` file.
        det_model: person detector ``.onnx`` (``None``: the whole image is one person box).
        joint_set: joint-set name of the pose model's output (``"coco17"`` for RTMPose body, ``"halpe26"``, ...).
        input_size: ``(W, H)`` if the pose model's input size is dynamic.
        mean, std, rgb: pose input normalisation (see the module doc).
        det_score_threshold: keep person boxes with at least this score.
        max_people: most people returned (highest detector scores first).
        box_padding: crop enlargement around each box.
    """

    def __init__(self, pose_model: str | Path, det_model: str | Path | None = None, joint_set: str = "coco17",
                 input_size: tuple[int, int] | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD,  # noqa: ANN001
                 rgb: bool = True, det_score_threshold: float = 0.3, max_people: int = 1,
                 box_padding: float = 1.25, det_input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.pose = OnnxModel(pose_model, "pose model", input_size)
        self.det = OnnxModel(det_model, "person detector", det_input_size) if det_model is not None else None
        self.joint_set, self.max_people = joint_set, int(max_people)
        self.mean, self.std, self.rgb = mean, std, rgb
        self.det_score_threshold, self.box_padding = float(det_score_threshold), float(box_padding)
        self.kind = self._check_pose_outputs()
        if self.det is not None:
            self.det_kind = self._check_det_outputs()
        self.settings = dict(backend="onnx", pose_model=str(pose_model), det_model=str(det_model), joint_set=joint_set,
                             mean=list(mean) if mean is not None else None, std=list(std) if std is not None else None,
                             rgb=rgb, det_score_threshold=det_score_threshold, max_people=max_people,
                             box_padding=box_padding)

    def _check_pose_outputs(self) -> str:
        outs = self.pose.outputs
        w, h = self.pose.input_wh
        if len(outs) == 2 and all(len(s) == 3 for _, s in outs):
            (nx, sx), (ny, sy) = outs
            if isinstance(sx[2], int) and isinstance(sy[2], int):
                rx, ry = sx[2] / w, sy[2] / h
                if abs(rx - ry) > 1e-6:
                    raise DataError(f"pose model {self.pose.path}: SimCC outputs {nx!r} {sx} and {ny!r} {sy} do not "
                                    f"match the input {w}x{h} with one split ratio (x: {rx:g}, y: {ry:g}); expected "
                                    f"(N, J, {w}*k) and (N, J, {h}*k)")
                self.split_ratio = rx
            else:
                self.split_ratio = 2.0
            return "simcc"
        if len(outs) >= 1 and len(outs[0][1]) == 4:
            return "heatmap"
        raise DataError(f"pose model {self.pose.path}: outputs {self.pose.describe_outputs()} are neither SimCC "
                        f"(two tensors (N, J, {w}*k), (N, J, {h}*k)) nor a heatmap (N, J, h, w)")

    def _check_det_outputs(self) -> str:
        outs = self.det.outputs
        s0 = outs[0][1]
        if len(s0) == 3 and s0[-1] == 5:
            return "dets"
        if len(outs) == 1 and len(s0) == 3 and isinstance(s0[1], int) and s0[1] >= 5:
            return "ultralytics"
        raise DataError(f"person detector {self.det.path}: outputs {self.det.describe_outputs()} fit no supported "
                        "layout; expected dets (1, N, 5) [+ labels (1, N)] (mmdeploy YOLOX/RTMDet) or (1, 4 + classes, "
                        "N) (Ultralytics detect)")

    def person_boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(M, 4)`` ``x1, y1, x2, y2`` image pixels and scores ``(M,)``, best first."""
        h, w = image.shape[:2]
        if self.det is None:
            return np.array([[0.0, 0.0, w, h]]), np.ones(1)
        if self.det_kind == "dets":
            inp, r, px, py = letterbox(image, self.det.input_wh, center=False)
            outs = self.det.run(_to_blob([inp], rgb=False, mean=None, std=None))
            dets = np.asarray(outs[0], float).reshape(-1, 5)
            keep = dets[:, 4] >= self.det_score_threshold
            if len(outs) > 1 and np.asarray(outs[1]).size == dets.shape[0]:
                keep &= np.asarray(outs[1]).ravel() == 0
            boxes, scores = dets[keep, :4], dets[keep, 4]
            idx = nms(boxes, scores, 0.45) if len(boxes) else np.zeros(0, int)
        else:
            inp, r, px, py = letterbox(image, self.det.input_wh, center=True)
            blob = _to_blob([inp], rgb=True, mean=(0, 0, 0), std=(255, 255, 255))
            out = np.asarray(self.det.run(blob)[0], float)[0].T  # (N, 4 + classes)
            scores = out[:, 4]
            keep = scores >= self.det_score_threshold
            cx, cy, bw, bh = out[keep, :4].T
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
            scores = scores[keep]
            idx = nms(boxes, scores, 0.45) if len(boxes) else np.zeros(0, int)
        boxes = (boxes[idx] - np.array([px, py, px, py])) / r
        boxes = np.clip(boxes, 0, [w, h, w, h])
        return boxes, scores[idx]

    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(max_people, J, 3)`` pixels + score; rows beyond the people found are NaN."""
        import cv2

        check_image(image, f"ONNX pose input ({self.pose.path.name})")
        boxes, _ = self.person_boxes(image)
        boxes = boxes[: self.max_people]
        crops, cs = [], []
        for b in boxes:
            c, s = box_to_center_scale(b, self.pose.input_wh, self.box_padding)
            M = crop_matrix(c, s, self.pose.input_wh)
            crops.append(cv2.warpAffine(image, M, self.pose.input_wh, flags=cv2.INTER_LINEAR))
            cs.append((c, s))
        result = None
        for i, crop in enumerate(crops):
            outs = self.pose.run(_to_blob([crop], self.rgb, self.mean, self.std))
            locs, scores = self._decode(outs)
            c, s = cs[i]
            pts = uncrop(locs[0], c, s, self.pose.input_wh)
            if result is None:
                result = np.full((self.max_people, pts.shape[0], 3), np.nan)
            result[i, :, :2], result[i, :, 2] = pts, scores[0]
        if result is None:
            J = self._n_joints()
            result = np.full((self.max_people, J, 3), np.nan)
        return result

    def _n_joints(self) -> int:
        s = self.pose.outputs[0][1]
        return s[1] if isinstance(s[1], int) else 0

    def _decode(self, outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        w, h = self.pose.input_wh
        if self.kind == "simcc":
            x, y = outs[0], outs[1]
            ex, ey = round(w * self.split_ratio), round(h * self.split_ratio)
            if x.ndim != 3 or y.ndim != 3 or x.shape[2] != ex or y.shape[2] != ey:
                raise DataError(f"pose model {self.pose.path}: SimCC outputs have shapes {x.shape}, {y.shape}; "
                                f"expected (N, J, {ex}), (N, J, {ey})")
            return decode_simcc(x, y, self.split_ratio)
        hm = outs[0]
        if hm.ndim != 4:
            raise DataError(f"pose model {self.pose.path}: heatmap output {self.pose.outputs[0][0]!r} has shape "
                            f"{hm.shape}; expected (N, J, h, w)")
        locs, scores = decode_heatmap(hm)
        # heatmap pixel centres -> input pixel centres
        sx, sy = w / hm.shape[3], h / hm.shape[2]
        locs = (locs + 0.5) * np.array([sx, sy]) - 0.5
        return locs, scores


class OnnxYoloPose(Detector):
    """One-stage Ultralytics YOLO-pose ONNX (see the module doc), multi-person.

    Args:
        model: the ``.onnx`` file.
        joint_set: joint-set name of the keypoints (``"coco17"`` for the official models).
        score_threshold: person score threshold.
        iou_threshold: NMS IoU threshold.
        max_people: ``P`` of the output (best scores first).
        input_size: ``(W, H)`` if the model's input is dynamic.
    """

    def __init__(self, model: str | Path, joint_set: str = "coco17", score_threshold: float = 0.25,
                 iou_threshold: float = 0.45, max_people: int = 10, input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.model = OnnxModel(model, "YOLO-pose model", input_size)
        name, shape = self.model.outputs[0]
        ok = len(shape) == 3 and isinstance(shape[1], int) and shape[1] > 5 and (shape[1] - 5) % 3 == 0
        if not ok:
            raise DataError(f"YOLO-pose model {self.model.path}: output {name!r} has shape {shape}; expected "
                            "(1, 5 + 3*K, N) as Ultralytics exports it (e.g. (1, 56, 8400) for 17 keypoints)",
                            hint="export without nms=True / end2end")
        self.n_kpts = (shape[1] - 5) // 3
        self.joint_set, self.max_people = joint_set, int(max_people)
        self.score_threshold, self.iou_threshold = float(score_threshold), float(iou_threshold)
        self.settings = dict(backend="yolo-pose", model=str(model), joint_set=joint_set,
                             score_threshold=score_threshold, iou_threshold=iou_threshold, max_people=max_people)

    def detect_with_boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes ``(P, 4)``, scores ``(P,)`` and keypoints ``(P, K, 3)`` in image pixels, best first."""
        check_image(image, f"YOLO-pose input ({self.model.path.name})")
        inp, r, px, py = letterbox(image, self.model.input_wh, center=True)
        out = self.model.run(_to_blob([inp], rgb=True, mean=(0, 0, 0), std=(255, 255, 255)))[0]
        boxes, scores, kpts = decode_yolo_pose(out, self.score_threshold, self.iou_threshold, self.max_people)
        boxes = (boxes - np.array([px, py, px, py])) / r
        kpts = kpts.copy()
        kpts[..., 0] = (kpts[..., 0] - px) / r
        kpts[..., 1] = (kpts[..., 1] - py) / r
        return boxes, scores, kpts

    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(max_people, K, 3)`` pixels + keypoint confidence; NaN rows where fewer people were found."""
        _, _, kpts = self.detect_with_boxes(image)
        out = np.full((self.max_people, self.n_kpts, 3), np.nan)
        out[: len(kpts)] = kpts
        return out
