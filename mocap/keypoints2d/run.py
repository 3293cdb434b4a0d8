"""Run a detector over videos: per-camera cache with checkpoints, parallel processes, overlays, one combined file.

Cache layout in ``out_dir``: ``<camera>.npz`` per camera (keys ``data (T, P, J, 3)``, ``done``, ``complete``,
``key``, ``joint_set``, ``fps``, ``timestamps``, ``stopped_at``, ``track_ids (T, P)`` (-1: none) and
``tracker_state`` (JSON, empty when the backend exports none)), written atomically (temporary file + rename) every
``checkpoint_every`` frames and when a camera finishes or fails. ``key`` hashes the video (size, first and last MiB)
and the detector settings: a rerun with the same key skips finished cameras and resumes unfinished ones from
``done``; another key recomputes. ``keypoints2d.npz`` holds the combined :class:`~mocap.keypoints.Keypoints2D`.

A resumed camera gives exactly the arrays of an uninterrupted run: the detector's tracking state is restored from
``tracker_state`` (``blazepose``), or rebuilt by running the detector again, outputs discarded, over the frames
before ``done`` from the point :meth:`~mocap.keypoints2d.base.Detector.replay_from` names (``mediapipe``: the frame
after the last frame without a person, because MediaPipe's graph state cannot be saved).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.errors import DataError, MocapError, MocapWarning
from mocap.keypoints2d.base import DEFAULT_BACKEND

log = logging.getLogger(__name__)
CACHE_VERSION = 2


def video_fingerprint(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-1 of a file's size and its first and last ``chunk`` bytes (fast for large videos)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with p.open("rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            h.update(fh.read(chunk))
    return h.hexdigest()


def cache_key(video: str | Path, settings: dict) -> str:
    """Hash of the video fingerprint, the detector settings and the cache version."""
    blob = json.dumps({"video": video_fingerprint(video), "settings": settings, "v": CACHE_VERSION}, sort_keys=True,
                      default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def load_camera_cache(path: str | Path) -> dict | None:
    """The fields of a per-camera cache file, or ``None`` if it is missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # a damaged cache is recomputed, never fatal
        log.warning("cache %s is unreadable (%s); recomputing", p, e)
        return None


@dataclass
class CameraResult:
    """Outcome of :func:`detect_camera`."""

    camera: str
    cache: Path
    n_frames: int
    n_detected: int
    skipped: bool = False
    resumed_from: int = 0
    replayed_from: int | None = None
    max_people: int = 0
    stopped_at: int | None = None
    expected_frames: int | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for reports: people found, in how many frames, cached/resumed, or that nobody was found."""
        how = ("cached" if self.skipped else f"resumed at frame {self.resumed_from}" if self.resumed_from
               else "detected")
        extra = f"; video stopped at frame {self.stopped_at}" if self.stopped_at is not None else ""
        if self.n_frames and not self.n_detected:
            return f"{self.camera}: nobody found in any of its {self.n_frames} frames ({how}{extra}): check the video"
        pct = 100.0 * self.n_detected / max(self.n_frames, 1)
        people = f"up to {self.max_people} people" if self.max_people > 1 else "a person"
        return f"{self.camera}: {people} found in {self.n_detected}/{self.n_frames} frames ({pct:.1f}%), {how}{extra}"


def detect_camera(video: str | Path, out_dir: str | Path, backend: str = DEFAULT_BACKEND,
                  detector_kwargs: dict | None = None, checkpoint_every: int = 25, overlay_every: int = 0,
                  max_frames: int | None = None, progress_queue=None) -> CameraResult:  # noqa: ANN001
    """Detect 2D keypoints in every frame of one video, with a resumable cache.

    Args:
        video: the video file (camera name = file stem).
        out_dir: output folder (cache ``<camera>.npz``; overlays in ``overlays/<camera>/``).
        backend, detector_kwargs: see :func:`mocap.keypoints2d.make_detector`.
        checkpoint_every: write the cache every this many frames.
        overlay_every: write an overlay PNG every this many frames (0: none).
        max_frames: only the first ``max_frames`` frames.
        progress_queue: optional queue receiving ``(camera, frames_done, total)``.

    Returns:
        :class:`CameraResult`. Frames with nobody found are NaN in the cache; a video in which nobody is ever found
        is not an error (``n_detected == 0``).
    """
    import cv2

    from mocap.keypoints2d.base import make_detector
    from mocap.keypoints2d.overlay import draw_keypoints
    from mocap.sources.video import VideoFileSource

    video, out_dir = Path(video), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = VideoFileSource(video, stop=max_frames)
    cam = src.name
    cache = out_dir / f"{cam}.npz"
    detector = make_detector(backend, **(detector_kwargs or {}))
    settings = dict(detector.settings, max_frames=max_frames)
    key = cache_key(video, settings)
    old = load_camera_cache(cache)
    total = src.n_frames if max_frames is None else min(max_frames, src.n_frames or max_frames)
    start = 0
    rows: list[np.ndarray] = []
    id_rows: list[np.ndarray] = []
    state: dict | None = None
    if old is not None and str(old.get("key")) == key:
        if bool(old["complete"]):
            n_det = _n_detected(old["data"])
            detector.close()
            if progress_queue is not None:
                progress_queue.put((cam, int(old["done"]), int(old["done"])))
            return CameraResult(cam, cache, int(old["done"]), n_det, skipped=True, max_people=_max_people(old["data"]),
                                stopped_at=int(old["stopped_at"]) if int(old["stopped_at"]) >= 0 else None,
                                expected_frames=total)
        start = int(old["done"])
        rows = list(old["data"][:start])
        id_rows = list(old["track_ids"][:start])
        state = json.loads(str(old["tracker_state"])) if str(old["tracker_state"]) else None
        log.info("camera %s: resuming at frame %d", cam, start)
    replay = start
    if start and state is not None:
        detector.load_state_dict(state)
    elif start:
        replay = detector.replay_from(rows)
        log.info("camera %s: rebuilding the tracker state from frame %d", cam, replay)
    src.start = replay
    overlay_dir = out_dir / "overlays" / cam
    if overlay_every:
        overlay_dir.mkdir(parents=True, exist_ok=True)
    result = CameraResult(cam, cache, 0, 0, resumed_from=start, expected_frames=total,
                          replayed_from=replay if replay < start else None)
    snapshot = [json.dumps(detector.state_dict()) if detector.state_dict() is not None else ""]
    mismatched: list[int] = []

    def save(complete: bool) -> None:
        data = np.stack(rows) if rows else np.zeros((0, detector.max_people, 0, 3))
        ids = np.stack(id_rows) if id_rows else np.full((len(rows), data.shape[1]), -1)
        ts = np.arange(len(rows)) / src.fps
        _atomic_savez(cache, data=data, done=np.int64(len(rows)), complete=np.bool_(complete), key=np.str_(key),
                      track_ids=ids.astype(np.int64), tracker_state=np.str_(snapshot[0]),
                      joint_set=np.str_(detector.joint_set), fps=np.float64(src.fps), timestamps=ts,
                      camera=np.str_(cam), video=np.str_(str(video)),
                      stopped_at=np.int64(-1 if result.stopped_at is None else result.stopped_at),
                      expected=np.int64(total or -1))

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MocapWarning)
            for frame in src:
                if frame.index < start:  # rebuilding the tracker state: the output is already in the cache
                    k = detector.detect(frame.image)
                    if not np.array_equal(k, rows[frame.index], equal_nan=True):
                        mismatched.append(frame.index)
                    continue
                if frame.index != len(rows):  # never expected: keep alignment explicit
                    raise DataError(f"video {video}: frame {frame.index} arrived when {len(rows)} were expected")
                k = detector.detect(frame.image)
                rows.append(k)
                id_rows.append(np.full(k.shape[0], -1) if detector.track_ids is None else detector.track_ids.copy())
                st = detector.state_dict()
                snapshot[0] = "" if st is None else json.dumps(st)
                if overlay_every and frame.index % overlay_every == 0:
                    img = draw_keypoints(frame.image, k, detector.joint_set)
                    cv2.imwrite(str(overlay_dir / f"{cam}_{frame.index:06d}.png"), img)
                if checkpoint_every and len(rows) % checkpoint_every == 0:
                    save(False)
                if progress_queue is not None:
                    progress_queue.put((cam, len(rows), total))
        for w in caught:
            result.warnings.append(str(w.message))
        if mismatched:
            result.warnings.append(f"resuming: the detector gave different output when run again on {len(mismatched)} "
                                   f"cached frame(s) (first {mismatched[0]}); the results may differ slightly from an "
                                   "uninterrupted run")
        if src.stopped_at is not None and total is not None and src.stopped_at < total:
            result.stopped_at = src.stopped_at
        save(True)
    except BaseException:
        save(False)  # keep every frame already detected
        raise
    finally:
        detector.close()
    result.n_frames = len(rows)
    data = np.stack(rows) if rows else np.zeros((0, 1, 1, 3))
    result.n_detected = _n_detected(data)
    result.max_people = _max_people(data)
    return result


def _n_detected(data: np.ndarray) -> int:
    """Frames of ``(T, P, J, 3)`` in which at least one person was found."""
    return int(np.isfinite(data[..., 0]).any(axis=(1, 2)).sum()) if data.size else 0


def _max_people(data: np.ndarray) -> int:
    """Most people found in one frame of ``(T, P, J, 3)``."""
    return int(np.isfinite(data[..., 0]).any(axis=2).sum(axis=1).max()) if data.size else 0


def default_workers() -> int:
    """Detection processes by default: one per two CPU cores.

    MediaPipe (XNNPACK) already runs its inference on several threads, so a process per core only adds
    start-up cost and contention: measured on 2 cores, one process ran the 4 x 100 demo frames at 34.9 frames/s
    and two processes at 22.7 frames/s (benchmarks/bench_detect.py).
    """
    import os

    return max(1, (os.cpu_count() or 1) // 2)


def _worker(args: tuple) -> CameraResult:
    video, out_dir, backend, kwargs, checkpoint_every, overlay_every, max_frames, queue = args
    # Native libraries (MediaPipe, TFLite) print notices straight to file descriptor 2 at every start; in a
    # worker process send them to a per-camera log file instead of the user's terminal.
    import os

    log_path = Path(out_dir) / f"{Path(video).stem}.log"
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    return detect_camera(video, out_dir, backend, kwargs, checkpoint_every, overlay_every, max_frames, queue)


def detect_videos(videos: list[str | Path], out_dir: str | Path, backend: str = DEFAULT_BACKEND,
                  detector_kwargs: dict | None = None, workers: int | None = None, checkpoint_every: int = 25,
                  overlay_every: int = 0, max_frames: int | None = None, show_progress: bool = True
                  ) -> tuple[object, list[CameraResult]]:
    """Detect 2D keypoints in several videos (one camera per process) and combine them.

    Args:
        videos: video files; camera names are their file stems (must be unique).
        out_dir: output folder; ``keypoints2d.npz`` is written there.
        workers: parallel processes (``1``: run in this process; default :func:`default_workers`).
        Other args: see :func:`detect_camera`.

    Returns:
        the combined :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)`` and one :class:`CameraResult` per
        camera. Cameras with different frame counts or rates are reported as :class:`MocapWarning` (shorter ones are
        NaN-padded).

    Raises:
        MocapError: a camera failed; the others finish and every cache is kept (rerun resumes).
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    from mocap.progress import make_progress

    videos = [Path(v) for v in videos]
    names = [v.stem for v in videos]
    if len(set(names)) != len(names):
        raise DataError(f"camera names (video file stems) must be unique: {names}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from mocap.keypoints2d.base import make_detector

    # An unknown backend, bad options or a missing model file: one error now, not one per camera process.
    make_detector(backend, **(detector_kwargs or {})).close()
    results: dict[str, CameraResult] = {}
    errors: dict[str, BaseException] = {}
    with make_progress() as prog:
        if not show_progress:
            prog.disable = True
        tasks = {n: prog.add_task(n, total=None) for n in names}
        n_workers = max(1, min(int(workers or default_workers()), len(videos)))
        if n_workers == 1:
            class _Q:
                def put(self, item: tuple) -> None:
                    cam, done, total = item
                    prog.update(tasks[cam], completed=done, total=total)

            for v in videos:
                try:
                    results[v.stem] = detect_camera(v, out_dir, backend, detector_kwargs, checkpoint_every,
                                                    overlay_every, max_frames, _Q())
                except MocapError as e:
                    errors[v.stem] = e
        else:
            ctx = mp.get_context("spawn")
            with ctx.Manager() as manager, cf.ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                queue = manager.Queue()
                futs = {pool.submit(_worker, (v, out_dir, backend, detector_kwargs, checkpoint_every, overlay_every,
                                              max_frames, queue)): v.stem for v in videos}
                pending = set(futs)
                while pending:
                    done, pending = cf.wait(pending, timeout=0.2)
                    while not queue.empty():
                        cam, n, total = queue.get()
                        prog.update(tasks[cam], completed=n, total=total)
                    for f in done:
                        try:
                            results[futs[f]] = f.result()
                        except Exception as e:
                            errors[futs[f]] = e
    for r in results.values():
        for w in r.warnings:
            warnings.warn(f"camera {r.camera}: {w}", MocapWarning, stacklevel=2)
    if errors:
        desc = "; ".join(f"{k}: {e}" for k, e in errors.items())
        raise MocapError(f"detection failed for camera(s) {sorted(errors)} ({desc}); the frames already detected are "
                         f"kept in {out_dir}", hint="fix the input and run again: finished cameras are skipped")
    kp = combine_caches([results[n].cache for n in names])
    from mocap.keypoints import save_npz

    kp.meta.update(detector=backend, videos=[str(v) for v in videos])
    save_npz(kp, out_dir / "keypoints2d.npz")
    return kp, [results[n] for n in names]


def combine_caches(caches: list[Path]) -> object:
    """One :class:`~mocap.keypoints.Keypoints2D` from per-camera cache files, NaN-padded to the longest camera and
    to the most people any camera saw (``P`` = max people seen); ``meta["track_ids_2d"]`` holds each row's per-camera
    track id ``(T, C, P)`` (-1: none or not tracked). Warns (naming cameras and counts) when frame counts or rates
    differ."""
    from mocap.keypoints.containers import Keypoints2D

    parts = []
    for c in caches:
        z = load_camera_cache(c)
        if z is None:
            raise DataError(f"detection cache {c} is missing or unreadable", hint="run `mocap detect` again")
        parts.append(z)
    names = [str(z["camera"]) for z in parts]
    counts = {n: int(z["done"]) for n, z in zip(names, parts, strict=True)}
    fps = {n: float(z["fps"]) for n, z in zip(names, parts, strict=True)}
    if len(set(counts.values())) > 1:
        warnings.warn("cameras have different frame counts (" + ", ".join(f"{k}: {v}" for k, v in counts.items())
                      + "); shorter cameras are padded with missing frames", MocapWarning, stacklevel=2)
    if len(set(round(v, 3) for v in fps.values())) > 1:
        warnings.warn("cameras have different frame rates (" + ", ".join(f"{k}: {v:g} fps" for k, v in fps.items())
                      + "); frames are paired by index: resample or synchronise by timestamp before triangulating",
                      MocapWarning, stacklevel=2)
    js = {str(z["joint_set"]) for z in parts}
    if len(js) > 1:
        raise DataError(f"detection caches use different joint sets {sorted(js)}; rerun with one backend")
    T = max(counts.values())
    # People: as many rows as the most used slot of any camera (a backend pads its output to its max_people).
    P = max(1, max(_people_rows(z["data"]) for z in parts))
    J = max(z["data"].shape[2] for z in parts)
    data = np.full((T, len(parts), P, J, 3), np.nan)
    ids = np.full((T, len(parts), P), -1, dtype=np.int64)
    for c, z in enumerate(parts):
        d = z["data"][:, :P]
        data[: d.shape[0], c, : d.shape[1], : d.shape[2]] = d
        if "track_ids" in z and z["track_ids"].size:
            ids[: d.shape[0], c, : d.shape[1]] = z["track_ids"][:, :P]
    fps0 = fps[names[0]]
    meta = {"frame_counts": counts, "track_ids_2d": ids.tolist()}
    return Keypoints2D(data, js.pop(), names, np.arange(T) / fps0, fps0, meta)


def _people_rows(data: np.ndarray) -> int:
    """1 + the last person row of ``(T, P, J, 3)`` that holds any keypoint (0 when empty)."""
    used = np.flatnonzero(np.isfinite(data[..., 0]).any(axis=(0, 2))) if data.size else []
    return int(used[-1]) + 1 if len(used) else 0
