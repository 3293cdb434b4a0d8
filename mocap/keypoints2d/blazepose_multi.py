"""Multi-person BlazePose: MediaPipe's pose detector and landmark model run per person, each person tracked.

Per person this is MediaPipe Pose's own pipeline (:mod:`mocap.keypoints2d.blazepose`): a region of interest (ROI)
from the detector's alignment keypoints, the landmark model on the rotated crop, landmarks and visibilities
smoothed, and the next frame's ROI from the smoothed auxiliary landmarks. Around it, a tracker for several people:

* every tracked person's ROI follows their landmarks; a person whose pose-presence score drops below 0.5 is lost;
* the detector runs when nobody is tracked, when someone was just lost, and every ``redetect_every`` frames (to find
  people who walk in); a detection whose hip centre and size match a tracked person is skipped, any other one
  starts a new track (up to ``max_people``);
* two tracks that end up on the same person (same landmarks) are merged: the older one stays.

Output: ``(max_people, 33, 3)`` MediaPipe-33 ``(u, v, visibility)`` per frame, a person's row (slot) fixed while they
are tracked; :attr:`BlazePoseMulti.track_ids` gives each slot's per-camera track id. The whole tracker state is
plain numbers (:meth:`BlazePoseMulti.state_dict`), so an interrupted detection resumes exactly.
"""

from __future__ import annotations

import base64
import os

import numpy as np

from mocap.keypoints2d import blazepose as bp
from mocap.keypoints2d.base import Detector, check_image

# One-Euro settings of MediaPipe 0.10.21's PoseLandmarkFiltering (landmarks / auxiliary ROI points).
LANDMARK_FILTER = (0.05, 80.0)
AUX_FILTER = (0.01, 10.0)
VISIBILITY_ALPHA = 0.1
MATCH_DISTANCE = 0.15  # detection vs track: hip-centre distance, as a fraction of the ROI size
MATCH_SIZE_RATIO = 1.5
DUPLICATE_DISTANCE = 0.08  # two tracks on one person: median landmark distance, as a fraction of the ROI size
MIN_ROI_PX = 16.0
MASK_FILL = 0  # value of the blanked pixels of other people (the detector's letterbox colour)


class _Track:
    """One tracked person: id, output slot, ROI for the next frame and the smoothing filters."""

    def __init__(self, tid: int, slot: int, roi: np.ndarray, frequency: float) -> None:
        self.id, self.slot, self.roi, self.age = tid, slot, np.asarray(roi, float), 0
        self.lm_filter = bp.OneEuro(*LANDMARK_FILTER, frequency=frequency)
        self.aux_filter = bp.OneEuro(*AUX_FILTER, frequency=frequency)
        self.vis_filter = bp.LowPass(VISIBILITY_ALPHA)
        self.out = np.full((bp.N_LANDMARKS, 3), np.nan)  # this frame's output
        self.mask: np.ndarray | None = None  # this frame's segmentation (256x256 bool over the crop of mask_roi)
        self.mask_roi = self.roi.copy()
        self.size = float(roi[2])  # this frame's ROI size (pixels)

    def state(self) -> dict:
        mask = None if self.mask is None else base64.b64encode(np.packbits(self.mask).tobytes()).decode("ascii")
        return {"id": self.id, "slot": self.slot, "roi": self.roi.tolist(), "age": self.age,
                "lm": self.lm_filter.state(), "aux": self.aux_filter.state(),
                "vis": None if self.vis_filter.value is None else self.vis_filter.value.tolist(),
                "out": self.out.tolist(), "size": self.size, "mask": mask, "mask_roi": self.mask_roi.tolist()}

    @classmethod
    def from_state(cls, s: dict, frequency: float) -> _Track:
        t = cls(int(s["id"]), int(s["slot"]), np.array(s["roi"], float), frequency)
        t.age = int(s["age"])
        t.lm_filter.load(s["lm"])
        t.aux_filter.load(s["aux"])
        t.vis_filter.value = None if s["vis"] is None else np.array(s["vis"], float)
        t.out, t.size, t.mask_roi = np.array(s["out"], float), float(s["size"]), np.array(s["mask_roi"], float)
        if s["mask"] is not None:
            bits = np.frombuffer(base64.b64decode(s["mask"]), np.uint8)
            t.mask = np.unpackbits(bits)[: bp.LMK_SIZE * bp.LMK_SIZE].reshape(bp.LMK_SIZE, bp.LMK_SIZE).astype(bool)
        return t


class BlazePoseMulti(Detector):
    """Several people per image with MediaPipe's BlazePose models (joint set ``mediapipe33``).

    Args:
        max_people: most people tracked at once (``P`` of the output).
        redetect_every: run the person detector at least every this many frames (1: every frame, as in
            ``static`` use; 0: only when nobody is tracked or someone was lost).
        min_detection_score: detector score threshold (MediaPipe's 0.5).
        min_presence: pose-presence score below which a tracked person is lost (MediaPipe's 0.5).
        smooth_landmarks: MediaPipe's landmark smoothing (One-Euro on positions, low-pass on visibility).
        frequency: the smoothing filters' frame rate in Hz; MediaPipe's legacy API assumes 30 whatever the video.
        detector_tiles: also run the detector on tiles of the frame's shorter side (finds people too small in the
            letterboxed whole frame; see :func:`mocap.keypoints2d.blazepose.detector_rois`).
        mask_others: blank the other tracked people's pixels (their segmentation masks) in each person's crop.
        num_threads: TFLite inference threads (default 2: ``mocap detect`` runs one camera process per two cores).
        model_dir: folder of the model files (default :func:`mocap.keypoints2d.models.models_dir`).
    """

    joint_set = "mediapipe33"

    def __init__(self, max_people: int = 6, redetect_every: int = 10, min_detection_score: float = 0.5,
                 min_presence: float = 0.5, smooth_landmarks: bool = True, frequency: float = 30.0,
                 detector_tiles: bool = True, mask_others: bool = True, num_threads: int | None = None,
                 model_dir: str | None = None) -> None:
        super().__init__()
        from mocap.errors import DataError
        from mocap.keypoints2d.models import BLAZEPOSE, model_path

        if int(max_people) < 1:
            raise DataError(f"blazepose: max_people must be >= 1, got {max_people}")
        self.max_people = int(max_people)
        self.redetect_every = max(0, int(redetect_every))
        self.min_detection_score, self.min_presence = float(min_detection_score), float(min_presence)
        self.smooth, self.frequency = bool(smooth_landmarks), float(frequency)
        self.detector_tiles, self.mask_others = bool(detector_tiles), bool(mask_others)
        self.num_threads = int(num_threads or min(2, os.cpu_count() or 1))
        self._paths = {k: model_path(k, model_dir) for k in BLAZEPOSE}
        self.settings = dict(backend="blazepose", models={k: v.sha256[:16] for k, v in BLAZEPOSE.items()},
                             max_people=self.max_people, redetect_every=self.redetect_every,
                             min_detection_score=self.min_detection_score, min_presence=self.min_presence,
                             smooth_landmarks=self.smooth, frequency=self.frequency,
                             detector_tiles=self.detector_tiles, mask_others=self.mask_others)
        self._det = self._lmk = None
        self.track_ids = np.full(self.max_people, -1)
        self.n_detector_runs = 0
        self.reset()

    # -- models ------------------------------------------------------------------------------------------------
    def _interpreters(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._det = Interpreter(model_path=str(self._paths["detector"]), num_threads=self.num_threads)
        self._lmk = Interpreter(model_path=str(self._paths["landmark"]), num_threads=self.num_threads)
        for it in (self._det, self._lmk):
            it.allocate_tensors()
        self._det_io = (self._det.get_input_details()[0]["index"], [d["index"] for d in self._det.get_output_details()])
        self._lmk_io = (self._lmk.get_input_details()[0]["index"], [d["index"] for d in self._lmk.get_output_details()])

    def _run_detector(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detections of this frame over the whole frame and its tiles, merged by weighted NMS in frame pixels:
        ``scores (N,)`` and ROIs ``(N, 4)`` in pixels, best first."""
        h, w = image_bgr.shape[:2]
        inp, outs = self._det_io
        all_s, all_b, all_k = [], [], []
        for crop_roi in bp.detector_rois(w, h, self.detector_tiles):
            crop = bp.crop_image(image_bgr, crop_roi, bp.DET_SIZE, zero_border=True)
            self._det.set_tensor(inp, crop[None, :, :, ::-1].astype(np.float32) / 127.5 - 1.0)
            self._det.invoke()
            boxes, logits = (self._det.get_tensor(i) for i in outs)
            scores, box, kps = bp.decode_detections(boxes[0], logits[0], self.min_detection_score)
            box, kps = bp.detections_to_frame(box, kps, crop_roi)
            all_s.append(scores), all_b.append(box), all_k.append(kps)
        self.n_detector_runs += 1
        scores, _, kps = bp.weighted_nms(np.concatenate(all_s), np.concatenate(all_b), np.concatenate(all_k))
        return scores, bp.detections_to_rois(kps)

    def _run_landmarks(self, image_bgr: np.ndarray, roi: np.ndarray, others: list[_Track] = ()
                       ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Pose presence, the ``(35, 3)`` landmarks ``(u, v, visibility)`` in frame pixels and the person's
        segmentation mask (``(256, 256)`` bool over the crop) for one ROI; no landmarks when presence < threshold.

        With ``mask_others``, the pixels of the other tracked people (their last segmentation masks, warped into this
        crop) are blanked first, so the model sees the person this ROI is about and not the one in front of them;
        when that leaves too little of the person (presence below the threshold), the unmasked crop is tried.
        """
        crop = bp.crop_image(image_bgr, roi, bp.LMK_SIZE, zero_border=False)
        occ = self._others_mask(roi, others) if self.mask_others and others else None
        if occ is not None and occ.any():
            masked = crop.copy()
            masked[occ] = MASK_FILL
            result = self._infer_landmarks(masked, roi)
            if result[1].shape[0]:
                return result
        return self._infer_landmarks(crop, roi)

    def _infer_landmarks(self, crop: np.ndarray, roi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        inp, outs = self._lmk_io
        self._lmk.set_tensor(inp, crop[None, :, :, ::-1].astype(np.float32) / 255.0)
        self._lmk.invoke()
        raw, flag, seg, heat, _world = (self._lmk.get_tensor(i) for i in outs)
        presence = float(np.asarray(flag).reshape(-1)[0])
        if presence < self.min_presence:
            return presence, np.empty((0, 3)), None
        lm = bp.decode_landmarks(raw[0], heat[0])
        uv = bp.crop_to_frame(lm[:, :2], roi)
        return presence, np.concatenate([uv, lm[:, 3:4]], axis=1), np.asarray(seg).reshape(bp.LMK_SIZE, -1) > 0.0

    def _others_mask(self, roi: np.ndarray, others: list[_Track]) -> np.ndarray | None:
        """Union of the other people's masks in this ROI's crop (``(256, 256)`` bool), or ``None``."""
        import cv2

        to_crop = np.vstack([bp.crop_affine(roi, bp.LMK_SIZE), [0, 0, 1]])
        occ = None
        for t in others:
            if t.mask is None:
                continue
            from_other = np.linalg.inv(np.vstack([bp.crop_affine(t.mask_roi, bp.LMK_SIZE), [0, 0, 1]]))
            m = cv2.warpAffine(t.mask.astype(np.uint8), (to_crop @ from_other)[:2], (bp.LMK_SIZE, bp.LMK_SIZE),
                               flags=cv2.INTER_NEAREST, borderValue=0) > 0
            occ = m if occ is None else occ | m
        return occ

    # -- tracking ------------------------------------------------------------------------------------------------
    def _update(self, track: _Track, lm: np.ndarray, mask: np.ndarray | None) -> None:
        """Smooth one track's new landmarks and set its output, mask and next ROI (PoseLandmarkFiltering)."""
        track.mask, track.mask_roi = mask, track.roi.copy()
        aux = lm[33:35, :2]
        scale = 2.0 * float(np.hypot(*(aux[1] - aux[0])))  # object scale: the unscaled aux ROI's side
        uv, vis = lm[:33, :2], lm[:33, 2]
        if self.smooth:
            vis = track.vis_filter(vis)
            if scale > 1e-6:
                uv = track.lm_filter(uv, 1.0 / scale)
        if scale > 1e-6:
            aux = track.aux_filter(aux, 1.0 / scale)
        track.out = np.concatenate([uv, vis[:, None]], axis=1)
        track.size = float(track.roi[2])
        track.roi = bp.alignment_roi(aux[0], aux[1])
        track.age += 1

    def _matches(self, roi: np.ndarray) -> bool:
        """Whether a detection's ROI belongs to a person already tracked in this frame."""
        for t in self._tracks:
            ratio = roi[2] / max(t.roi[2], 1e-9)
            close = np.hypot(*(roi[:2] - t.roi[:2])) < MATCH_DISTANCE * max(roi[2], t.roi[2])
            if close and 1 / MATCH_SIZE_RATIO < ratio < MATCH_SIZE_RATIO:
                return True
        return False

    def _duplicate_of(self, a: _Track, b: _Track) -> bool:
        d = np.nanmedian(np.hypot(*(a.out[:, :2] - b.out[:, :2]).T))
        return bool(d < DUPLICATE_DISTANCE * max(a.size, b.size))

    def _free_slot(self) -> int | None:
        used = {t.slot for t in self._tracks}
        return next((s for s in range(self.max_people) if s not in used), None)

    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(max_people, 33, 3)`` pixels + visibility of everybody tracked in this frame; empty slots are NaN."""
        check_image(image, "blazepose input")
        if self._det is None:
            self._interpreters()
        h, w = image.shape[:2]
        if self._frame_size is not None and self._frame_size != (w, h):
            self.reset()
        self._frame_size = (w, h)
        lost = False
        alive = []
        previous = list(self._tracks)
        for t in previous:
            _, lm, mask = self._run_landmarks(image, t.roi, [k for k in previous if k is not t])
            if lm.shape[0] == 0:
                lost = True
                continue
            self._update(t, lm, mask)
            if t.roi[2] >= MIN_ROI_PX:
                alive.append(t)
        # Two tracks on one person: keep the older one.
        alive.sort(key=lambda t: t.id)
        self._tracks = []
        for t in alive:
            if not any(self._duplicate_of(t, k) for k in self._tracks):
                self._tracks.append(t)
        due = self.redetect_every and self._frame - self._last_detect >= self.redetect_every
        if (not self._tracks or lost or due) and len(self._tracks) < self.max_people:
            self._last_detect = self._frame
            _, rois = self._run_detector(image)
            for roi in rois:
                if len(self._tracks) >= self.max_people:
                    break
                if roi[2] < MIN_ROI_PX or self._matches(roi):
                    continue
                _, lm, mask = self._run_landmarks(image, roi, self._tracks)
                if lm.shape[0] == 0:
                    continue
                t = _Track(self._next_id, self._free_slot(), roi, self.frequency)
                self._update(t, lm, mask)
                if any(self._duplicate_of(t, k) for k in self._tracks):
                    continue
                self._next_id += 1
                self._tracks.append(t)
        self._frame += 1
        out = np.full((self.max_people, bp.N_LANDMARKS, 3), np.nan)
        self.track_ids = np.full(self.max_people, -1)
        for t in self._tracks:
            out[t.slot] = t.out
            self.track_ids[t.slot] = t.id
        return out

    # -- state -------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everybody (next frame starts with a detection)."""
        self._tracks: list[_Track] = []
        self._frame = 0
        self._last_detect = -(10**9)
        self._next_id = 0
        self._frame_size: tuple[int, int] | None = None

    def state_dict(self) -> dict:
        """The tracker's complete state as JSON-compatible numbers (frame counter, tracks, filters)."""
        return {"frame": self._frame, "last_detect": self._last_detect, "next_id": self._next_id,
                "frame_size": self._frame_size, "tracks": [t.state() for t in self._tracks]}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict` exactly (same outputs as if the frames before had just been run)."""
        self._frame, self._last_detect = int(state["frame"]), int(state["last_detect"])
        self._next_id = int(state["next_id"])
        self._frame_size = None if state["frame_size"] is None else tuple(state["frame_size"])
        self._tracks = [_Track.from_state(s, self.frequency) for s in state["tracks"]]

    def close(self) -> None:
        self._det = self._lmk = None
