"""The live pipeline without ROS: cameras -> 2D -> online core (triangulate, filter, track, optional body fit) -> sinks.

One thread per camera decodes frames into a short buffer (a video file is played as a live camera: frames are
released at their media time from the start). The main thread takes a synchronised set (the frames closest to the
newest time every camera has reached), runs the detectors in parallel, the online core shared with the ROS fusion
node (:class:`mocap.live.core.FusionCore`) and hands descriptions and frames to the sinks (VMC, gestures, Rerun, the
recorder). Latency is measured per output frame from the earliest camera read of its set to the moment every sink
has sent it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.errors import MocapError


@dataclass
class LiveStats:
    """Counters of a run: per camera ``read``/``detected``/``dropped`` frames, output ``frames``, ``latency_s`` per
    output frame, ``people`` per output frame, wall time."""

    cameras: list[str]
    read: dict[str, int] = field(default_factory=dict)
    detected: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    latency_s: list[float] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    started_s: float = field(default_factory=time.perf_counter)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for c in self.cameras:
            self.read.setdefault(c, 0)
            self.detected.setdefault(c, 0)
            self.dropped.setdefault(c, 0)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started_s

    def summary(self) -> dict:
        lat = np.array(self.latency_s) * 1e3
        el = max(self.elapsed_s, 1e-9)
        return {"seconds": round(el, 2), "frames": self.frames, "fps": round(self.frames / el, 2),
                "camera_fps": {c: round(self.detected[c] / el, 2) for c in self.cameras},
                "dropped": dict(self.dropped),
                "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
                "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
                "people_max": max(self.people or [0])}

    def status_line(self, window_s: float = 1.0) -> str:
        s = self.summary()
        lat = np.array(self.latency_s[-120:]) * 1e3
        cams = " ".join(f"{c}:{v:.0f}" for c, v in s["camera_fps"].items())
        l50 = f"{np.percentile(lat, 50):.0f}" if lat.size else "-"
        l95 = f"{np.percentile(lat, 95):.0f}" if lat.size else "-"
        return (f"{s['seconds']:6.1f}s  out {s['fps']:5.1f} fps  cams {cams}  latency p50 {l50} ms p95 {l95} ms  "
                f"people {self.people[-1] if self.people else 0}")


class _Reader(threading.Thread):
    """A reader thread: :meth:`_loop` reads; an exception is kept for the runner; ``ended`` is set at the end."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True, name=name)
        self.ended = False
        self.error: Exception | None = None
        self.stop_event = threading.Event()
        self.cond = threading.Condition()

    def _loop(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # reported by the runner
            self.error = e
        finally:
            with self.cond:
                self.ended = True
                self.cond.notify_all()


class CameraReader(_Reader):
    """Decode one source into a short buffer of recent frames (a video file is released at its media time from
    ``t0``, as a camera would deliver it); frames that fall out of the buffer unused are counted as dropped."""

    def __init__(self, source, t0: float, stats: LiveStats, max_frames: int | None = None,  # noqa: ANN001
                 keep: int = 8) -> None:
        super().__init__(f"read-{source.name}")
        self.source, self.t0, self.stats, self.max_frames = source, t0, stats, max_frames
        self.buffer: list[tuple[float, object, float]] = []  # (stamp, frame, read_s)
        self.keep = int(keep)

    def _loop(self) -> None:
        name = self.source.name
        paced = not getattr(self.source, "is_live", False)
        for k, fr in enumerate(self.source):
            if self.stop_event.is_set() or (self.max_frames is not None and k >= self.max_frames):
                break
            if paced:
                while (wait := self.t0 + fr.timestamp_s - time.perf_counter()) > 0:
                    time.sleep(wait)
            with self.cond:
                self.stats.read[name] += 1
                self.buffer.append((fr.timestamp_s, fr, time.perf_counter()))
                if len(self.buffer) > self.keep:
                    del self.buffer[0]
                    self.stats.dropped[name] += 1
                self.cond.notify_all()

    def take(self, stamp: float, tol: float) -> tuple[float, object, float] | None:
        """Remove and return the buffered frame closest to ``stamp`` (within ``tol``); older frames are dropped."""
        with self.cond:
            if not self.buffer:
                return None
            k = int(np.argmin([abs(b[0] - stamp) for b in self.buffer]))
            if abs(self.buffer[k][0] - stamp) > tol:
                older = [i for i, b in enumerate(self.buffer) if b[0] < stamp - tol]
                self.stats.dropped[self.source.name] += len(older)
                self.buffer = [b for i, b in enumerate(self.buffer) if i not in older]
                return None
            item = self.buffer[k]
            self.stats.dropped[self.source.name] += k
            self.buffer = self.buffer[k + 1:]
            return item

    def newest(self) -> float | None:
        with self.cond:
            return self.buffer[-1][0] if self.buffer else None


class VideoSetReader(_Reader):
    """Synchronised video files played as live cameras: frame ``k`` of every video is decoded as one set and
    released at its media time from ``t0``; a set the runner has not taken when the next one is ready is dropped
    (for every camera), as a synchronised camera rig would drop it."""

    def __init__(self, sources: list, t0: float, stats: LiveStats, max_frames: int | None = None) -> None:
        super().__init__("read-videos")
        self.sources, self.t0, self.stats, self.max_frames = sources, t0, stats, max_frames
        self.slot: tuple[float, dict] | None = None

    def _loop(self) -> None:
        for k, frames in enumerate(zip(*self.sources)):
            if self.stop_event.is_set() or (self.max_frames is not None and k >= self.max_frames):
                break
            stamp = frames[0].timestamp_s
            while (wait := self.t0 + stamp - time.perf_counter()) > 0:
                time.sleep(wait)
            now = time.perf_counter()
            with self.cond:
                for s in self.sources:
                    self.stats.read[s.name] += 1
                    if self.slot is not None:
                        self.stats.dropped[s.name] += 1
                self.slot = (stamp, {s.name: (f, now) for s, f in zip(self.sources, frames, strict=True)})
                self.cond.notify_all()

    def take(self, timeout: float = 0.05) -> tuple[float, dict] | None:
        with self.cond:
            if self.slot is None and not self.ended:
                self.cond.wait(timeout)
            item, self.slot = self.slot, None
            return item


class LiveRunner:
    """Run cameras -> detectors -> :class:`mocap.live.core.FusionCore` -> sinks, one synchronised frame at a time.

    Each step takes, for every camera, the buffered frame closest to the newest time all cameras have reached
    (within ``sync_tolerance_s``), runs the cameras' detectors in parallel threads, and passes the group to the
    core; frames that arrive while a step runs wait in the buffers and only the newest are used next (a slow
    detector costs frame rate, not latency).

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig` (its cameras must match ``sources``' names).
        sources: one :class:`~mocap.sources.FrameSource` per camera.
        detectors: one detector per source (``make_detector``); all of one joint set.
        core: the online core (``FusionCore.from_params(rig, ...)``).
        sinks: skeleton sinks (``describe``/``send``/``close``).
        recorder: optional :class:`~mocap.apps.live_record.LiveRecorder` (gets the 2D too).
        viewer: optional :class:`~mocap.apps.viewer.RerunViewer` (gets 2D keypoints and every ``image_every``-th
            image too).
        sync_tolerance_s: stamps of one frame across cameras (default: half a frame period).
        min_cameras: frames seen by fewer cameras are skipped.
    """

    def __init__(self, rig, sources: list, detectors: list, core, sinks: list, recorder=None, viewer=None,  # noqa: ANN001
                 sync_tolerance_s: float | None = None, min_cameras: int = 2, max_frames: int | None = None,
                 status=None, status_every_s: float = 1.0, image_every: int = 0) -> None:  # noqa: ANN001
        names = [s.name for s in sources]
        if sorted(names) != sorted(rig.names):
            raise MocapError(f"the cameras {names} do not match the calibration's {list(rig.names)}",
                             hint="name the videos after the calibration's cameras (cam01.mp4, ...)")
        fps = max(s.fps for s in sources) or 30.0
        self.rig, self.sources, self.detectors, self.core = rig, sources, detectors, core
        self.sinks = list(sinks)
        self.recorder, self.viewer = recorder, viewer
        self.stats = LiveStats(names)
        self.tol = float(sync_tolerance_s or 0.5 / fps)
        self.min_cameras = int(min_cameras)
        self.max_frames = max_frames
        self.status, self.status_every_s = status, float(status_every_s)
        self.image_every = int(image_every)
        self._last_stamp = -np.inf

    def _step(self, readers: list[CameraReader], pool) -> bool:  # noqa: ANN001
        """One synchronised frame; False when nothing could be taken."""
        heads = [r.newest() for r in readers]
        live = [h for h, r in zip(heads, readers, strict=True) if h is not None or not r.ended]
        if any(h is None for h in live) or not live:  # wait until every running camera has a frame
            return False
        target = min(h for h in heads if h is not None)
        if target <= self._last_stamp:
            return False
        taken = {r.source.name: r.take(target, self.tol) for r in readers}
        taken = {c: (v[1], v[2]) for c, v in taken.items() if v is not None}
        self._process(target, taken, pool)
        return True

    def _process(self, target: float, taken: dict, pool) -> None:  # noqa: ANN001
        """Detect, fuse and send one set ``camera -> (Frame, read_s)``."""
        if len(taken) < self.min_cameras:
            return
        jobs = {c: pool.submit(self.detectors[self._index[c]].detect, v[0].image) for c, v in taken.items()}
        frames = {c: np.asarray(j.result(), float) for c, j in jobs.items()}
        for c in frames:
            self.stats.detected[c] += 1
        read = min(v[1] for v in taken.values())
        self._last_stamp = target
        res = self.core.process(target, {c: frames.get(c) for c in self.rig.names})
        self.stats.warnings += res.warnings
        for d in res.descriptions:
            for s in self.sinks:
                s.describe(d)
        if self.recorder is not None:
            self.recorder.add_2d(res.frame.frame_index, target, {c: frames.get(c) for c in self.rig.names})
            if res.fitted:
                self.recorder.add_keypoints3d(res.frame.frame_index, target, self.core.joint_set.name, res.people)
        for s in self.sinks:
            s.send(res.frame)
        done = time.perf_counter()
        if self.viewer is not None:
            for c, kp in frames.items():
                self.viewer.log_keypoints2d(c, kp)
                if self.image_every and self.stats.frames % self.image_every == 0:
                    self.viewer.log_image(c, taken[c][0].image)
        self.stats.frames += 1
        self.stats.latency_s.append(done - read)
        self.stats.people.append(sum(p.state.value in ("new", "tracked") for p in res.frame.people))

    def run(self, duration_s: float | None = None) -> LiveStats:
        """Run until every source ends (or ``duration_s``); returns the statistics. Sinks are closed at the end."""
        from concurrent.futures import ThreadPoolExecutor

        self._index = {s.name: i for i, s in enumerate(self.sources)}
        for src, det in zip(self.sources, self.detectors, strict=True):  # load the models before the clock starts
            w, h = src.size or (640, 480)
            det.detect(np.zeros((h, w, 3), np.uint8))
            det.reset()
        t0 = time.perf_counter() + 0.2
        self.stats.started_s = t0
        videos = not any(getattr(s, "is_live", False) for s in self.sources)
        readers = [VideoSetReader(self.sources, t0, self.stats, self.max_frames)] if videos else \
            [CameraReader(s, t0, self.stats, self.max_frames) for s in self.sources]
        for r in readers:
            r.start()
        next_status = t0 + self.status_every_s
        try:
            with ThreadPoolExecutor(len(self.sources)) as pool:
                while True:
                    if duration_s is not None and time.perf_counter() - t0 > duration_s:
                        break
                    if videos:
                        item = readers[0].take()
                        if item is not None:
                            self._process(item[0], item[1], pool)
                        elif readers[0].ended:
                            break
                    elif all(r.ended for r in readers) and all(r.newest() is None for r in readers):
                        break
                    elif not self._step(readers, pool):
                        if all(r.ended for r in readers):
                            break
                        with readers[0].cond:
                            readers[0].cond.wait(0.002)
                    now = time.perf_counter()
                    if self.status is not None and now >= next_status:
                        self.status(self.stats.status_line())
                        next_status = now + self.status_every_s
        finally:
            for r in readers:
                r.stop_event.set()
            for r in readers:
                r.join(2.0)
            for s in self.sinks:
                s.close()
            for d in self.detectors:
                d.close()
        err = next((r.error for r in readers if r.error is not None), None)
        if err is not None:
            raise MocapError(f"camera {err}") from err
        return self.stats


def open_live_sources(videos: str | Path | None = None, cameras: str | None = None,
                      realsense: str | None = None) -> list:
    """Sources for ``mocap live``: a folder of synchronised videos (played as live), OpenCV cameras
    (``"0,1,rtsp://host/stream"``; names ``cam0``... or ``NAME=DEVICE``), or RealSense serials (``"SERIAL,..."``)."""
    from mocap.sources import OpenCVCameraSource, VideoFileSource, find_videos

    if sum(x is not None for x in (videos, cameras, realsense)) != 1:
        raise MocapError("give exactly one of --videos DIR, --cameras LIST, --realsense SERIALS")
    if videos is not None:
        return [VideoFileSource(v) for v in find_videos([videos])]
    if cameras is not None:
        out = []
        for spec in [c for c in cameras.split(",") if c]:
            name, _, dev = spec.rpartition("=") if "=" in spec and "://" not in spec.split("=")[0] else ("", "", spec)
            device: int | str = int(dev) if dev.isdigit() else dev
            out.append(OpenCVCameraSource(device, name=name or None).start())
        return out
    from mocap.sources.realsense import RealSenseSource

    return [RealSenseSource(serial=s) for s in realsense.split(",") if s]
