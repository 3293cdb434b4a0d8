"""A crash-safe LeRobot v3.0 dataset writer: one episode at a time, each flushed atomically when it is saved.

Layout (LeRobot ``codebase_version`` v3.0; episode ``e`` is file ``e % 1000`` of chunk ``e // 1000``)::

    meta/info.json  meta/stats.json  meta/tasks.parquet
    meta/episodes/chunk-000/file-000.parquet ...     one row per episode (commit record, stats/...)
    data/chunk-000/file-000.parquet ...               frames of that episode
    videos/<key>/chunk-000/file-000.mp4 ...           one video per camera and episode (PyAV)

Crash safety: frames of the episode in progress stay in memory, its videos are encoded into ``.partial/``.
:meth:`LeRobotWriter.save_episode` writes the episode's data and videos under temporary names, fsyncs and renames
them into place, then writes its ``meta/episodes`` row the same way (the commit), then rewrites ``info.json``,
``stats.json`` and ``tasks.parquet`` atomically. A process killed at any instant leaves every saved episode
readable; :meth:`LeRobotWriter.open` (resume) removes what an interrupted save left and rebuilds the metadata
from the committed episodes. The reader never sees ``.partial/`` or ``*.tmp`` files.

Frames are at exactly ``fps``: ``timestamp = frame_index / fps``; video frame ``k`` has pts ``k`` in a ``1/fps``
time base.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.errors import DataError, MocapError

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def _fsync_replace(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dfd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=4))
    _fsync_replace(tmp, path)


def _stats(a: np.ndarray) -> dict[str, list]:
    """LeRobot per-feature statistics over frames: min, max, mean, std (per dimension) and count."""
    a = np.asarray(a, float).reshape(len(a), -1)
    return {"min": a.min(0).tolist(), "max": a.max(0).tolist(), "mean": a.mean(0).tolist(),
            "std": a.std(0).tolist(), "count": [int(len(a))]}


def _image_stats(frames: list[np.ndarray], count: int) -> dict[str, list]:
    """Per-channel statistics of images scaled to [0, 1], shaped ``(3, 1, 1)`` as LeRobot stores them, from a
    sample of the ``count`` frames of an episode."""
    step = max(1, len(frames) // 50)
    px = np.stack(frames[::step]).reshape(-1, 3).astype(np.float64) / 255.0
    f = lambda v: [[[float(x)]] for x in v]  # noqa: E731
    return {"min": f(px.min(0)), "max": f(px.max(0)), "mean": f(px.mean(0)), "std": f(px.std(0)),
            "count": [int(count)]}


def _aggregate(per_episode: list[dict]) -> dict:
    """Dataset statistics from per-episode ones (exact mean and std over all frames)."""
    out = {}
    for key in per_episode[0]:
        n = np.array([s[key]["count"][0] for s in per_episode], float)
        mean = np.array([np.asarray(s[key]["mean"], float) for s in per_episode])
        std = np.array([np.asarray(s[key]["std"], float) for s in per_episode])
        w = (n / n.sum()).reshape((-1,) + (1,) * (mean.ndim - 1))
        m = (w * mean).sum(0)
        var = (w * (std**2 + (mean - m) ** 2)).sum(0)
        out[key] = {"min": np.min([s[key]["min"] for s in per_episode], axis=0).tolist(),
                    "max": np.max([s[key]["max"] for s in per_episode], axis=0).tolist(),
                    "mean": m.tolist(), "std": np.sqrt(var).tolist(), "count": [int(n.sum())]}
    return out


def write_tasks(path: Path, tasks: list[str]) -> None:
    """``meta/tasks.parquet``: column ``task_index``, pandas index named ``task`` (as LeRobot reads it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {"index_columns": ["task"],
            "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                                "metadata": {"encoding": "UTF-8"}}],
            "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                         "numpy_type": "int64", "metadata": None},
                        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                         "metadata": None}],
            "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    table = table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    _fsync_replace(tmp, path)


class _VideoStream:
    """One camera's video of the episode in progress, encoded as frames arrive (PyAV)."""

    def __init__(self, path: Path, width: int, height: int, fps: int, codec: str) -> None:
        from fractions import Fraction

        import av

        self.path = path
        self.container = av.open(str(path), mode="w", format="mp4")
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = Fraction(1, fps)
        if codec in ("libx264", "h264"):
            self.stream.options = {"g": "2", "crf": "23", "preset": "veryfast"}
        self.n = 0
        self.stats_frames: list[np.ndarray] = []
        self.av = av

    def add(self, image: np.ndarray) -> None:
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.n
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        if self.n % 5 == 0:
            self.stats_frames.append(image[::8, ::8].copy())
        self.n += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


@dataclass
class _Episode:
    task: str
    columns: dict = field(default_factory=dict)   # feature -> list of (shape,) arrays
    videos: dict = field(default_factory=dict)    # key -> _VideoStream


class LeRobotWriter:
    """Write a LeRobot v3.0 dataset episode by episode (see the module docstring).

    Args:
        root: dataset folder (created; an existing dataset with the same features is resumed).
        fps: frames per second (an integer, as LeRobot's video timestamps need).
        features: ``{name: {"dtype": "float32", "shape": [n], "names": [...]}}`` of the non-video features
            (``observation.state``, ``action`` ...).
        videos: ``{key: (height, width)}`` of the cameras, keys like ``observation.images.cam01``.
        robot_type: ``info.json``'s ``robot_type``.
        codec: video codec for PyAV (``libx264`` default; ``libsvtav1`` is LeRobot's own default).
    """

    def __init__(self, root: str | Path, fps: int, features: dict, videos: dict | None = None,
                 robot_type: str = "", codec: str = "libx264") -> None:
        if int(fps) != fps or fps <= 0:
            raise MocapError(f"LeRobot datasets need an integer fps > 0, got {fps}")
        self.root = Path(root)
        self.fps = int(fps)
        self.features = {k: {"dtype": v["dtype"], "shape": list(v["shape"]), "names": v.get("names")}
                         for k, v in features.items()}
        for k, v in self.features.items():
            if v["dtype"] != "float32" or len(v["shape"]) != 1:
                raise MocapError(f"feature {k}: only float32 vectors are supported, got {v['dtype']} {v['shape']}")
        self.videos = {k: (int(h), int(w)) for k, (h, w) in (videos or {}).items()}
        self.robot_type = robot_type
        self.codec = codec
        self.current: _Episode | None = None
        self.episodes: list[dict] = []
        self.tasks: list[str] = []
        self.open()

    # ------------------------------------------------------------------ dataset state
    def open(self) -> None:
        """Create the folder, or resume one: drop leftovers of an interrupted save, rebuild the metadata."""
        import pyarrow.parquet as pq

        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.root / ".partial", ignore_errors=True)
        for tmp in self.root.rglob("*.tmp"):
            tmp.unlink()
        info_path = self.root / "meta" / "info.json"
        if info_path.is_file():
            info = json.loads(info_path.read_text())
            theirs = {k: v for k, v in info["features"].items() if k not in INDEX_FEATURES and v["dtype"] != "video"}
            if theirs != self.features or info["fps"] != self.fps:
                raise DataError(f"{self.root} holds a dataset with other features or fps ({info['fps']}); "
                                "record into a new folder")
        rows = []
        for f in sorted((self.root / "meta" / "episodes").glob("*/*.parquet")):
            rows.extend(pq.read_table(f).to_pylist())
        rows.sort(key=lambda r: r["episode_index"])
        self.episodes = [r for i, r in enumerate(rows) if r["episode_index"] == i]  # committed, contiguous
        keep = {DATA_PATH.format(chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
                for r in self.episodes}
        keep |= {VIDEO_PATH.format(video_key=k, chunk_index=r[f"videos/{k}/chunk_index"],
                                   file_index=r[f"videos/{k}/file_index"]) for r in self.episodes for k in self.videos}
        for sub, pattern in (("data", "*/*.parquet"), ("videos", "*/*/*.mp4")):
            for f in (self.root / sub).glob(pattern):
                if str(f.relative_to(self.root)) not in keep:
                    f.unlink()  # written by a save that never committed
        self.tasks = []
        for r in self.episodes:
            for t in r["tasks"]:
                if t not in self.tasks:
                    self.tasks.append(t)
        if self.episodes:
            self._write_meta()

    @property
    def n_episodes(self) -> int:
        return len(self.episodes)

    @property
    def n_frames(self) -> int:
        return int(self.episodes[-1]["dataset_to_index"]) if self.episodes else 0

    # ------------------------------------------------------------------ episodes
    def start_episode(self, task: str) -> None:
        """Begin an episode (discards one in progress)."""
        self.discard_episode()
        ep = _Episode(task or "")
        partial = self.root / ".partial"
        partial.mkdir(exist_ok=True)
        for key, (h, w) in self.videos.items():
            ep.videos[key] = _VideoStream(partial / f"{key}.mp4", w, h, self.fps, self.codec)
        ep.columns = {k: [] for k in self.features}
        self.current = ep

    @property
    def recording(self) -> bool:
        return self.current is not None

    @property
    def frames_in_episode(self) -> int:
        return len(next(iter(self.current.columns.values()))) if self.current and self.current.columns else 0

    def add_frame(self, values: dict[str, np.ndarray], images: dict[str, np.ndarray] | None = None) -> None:
        """One frame: every feature ``(n,)`` and every camera's ``(H, W, 3)`` uint8 RGB image."""
        if self.current is None:
            raise MocapError("add_frame outside an episode: call start_episode first")
        images = images or {}
        for k, ft in self.features.items():
            v = np.asarray(values[k], np.float32).reshape(-1)
            if v.shape != (ft["shape"][0],):
                raise MocapError(f"feature {k}: expected {ft['shape'][0]} values, got {v.size}")
            self.current.columns[k].append(v)
        for key, (h, w) in self.videos.items():
            img = images.get(key)
            if img is None or img.shape != (h, w, 3) or img.dtype != np.uint8:
                raise MocapError(f"camera {key}: expected a ({h}, {w}, 3) uint8 image, got "
                                 f"{None if img is None else (img.shape, img.dtype)}")
            self.current.videos[key].add(img)

    def discard_episode(self) -> None:
        """Drop the episode in progress (nothing of it reaches the dataset)."""
        if self.current is None:
            return
        for v in self.current.videos.values():
            try:
                v.close()
            except Exception:  # noqa: BLE001 - an empty or broken partial video is thrown away anyway
                pass
        shutil.rmtree(self.root / ".partial", ignore_errors=True)
        self.current = None

    def save_episode(self) -> int | None:
        """Flush the episode in progress atomically; its index, or None when it had no frame."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        ep = self.current
        if ep is None:
            return None
        L = self.frames_in_episode
        if L == 0:
            self.discard_episode()
            return None
        e = len(self.episodes)
        chunk, file = divmod(e, CHUNKS_SIZE)
        start = self.n_frames
        if ep.task not in self.tasks:
            self.tasks.append(ep.task)
        cols = {k: np.stack(v) for k, v in ep.columns.items()}
        cols.update({"timestamp": (np.arange(L) / self.fps).astype(np.float32),
                     "frame_index": np.arange(L, dtype=np.int64), "episode_index": np.full(L, e, np.int64),
                     "index": np.arange(start, start + L, dtype=np.int64),
                     "task_index": np.full(L, self.tasks.index(ep.task), np.int64)})
        arrays = []
        names = [*self.features, *INDEX_FEATURES]
        for k in names:
            a = cols[k]
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), a.shape[1]) if a.ndim == 2
                          else pa.array(a))
        data_path = self.root / DATA_PATH.format(chunk_index=chunk, file_index=file)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = data_path.with_name(data_path.name + ".tmp")
        pq.write_table(pa.Table.from_arrays(arrays, names=names), tmp)
        _fsync_replace(tmp, data_path)
        row = {"episode_index": e, "tasks": [ep.task], "length": L, "data/chunk_index": chunk,
               "data/file_index": file, "dataset_from_index": start, "dataset_to_index": start + L}
        for key, v in ep.videos.items():
            v.close()
            if v.n != L:
                raise MocapError(f"camera {key}: {v.n} video frames for {L} data frames")
            dst = self.root / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmpv = dst.with_name(dst.name + ".tmp")
            shutil.move(str(v.path), tmpv)
            _fsync_replace(tmpv, dst)
            row.update({f"videos/{key}/chunk_index": chunk, f"videos/{key}/file_index": file,
                        f"videos/{key}/from_timestamp": 0.0, f"videos/{key}/to_timestamp": L / self.fps})
        row.update({"meta/episodes/chunk_index": chunk, "meta/episodes/file_index": file})
        for k in self.features:
            for s, val in _stats(cols[k]).items():
                row[f"stats/{k}/{s}"] = val
        for k in INDEX_FEATURES:
            for s, val in _stats(cols[k]).items():
                row[f"stats/{k}/{s}"] = val
        for key, v in ep.videos.items():
            for s, val in _image_stats(v.stats_frames, v.n).items():
                row[f"stats/{key}/{s}"] = val
        ep_path = self.root / EPISODES_PATH.format(chunk_index=chunk, file_index=file)
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ep_path.with_name(ep_path.name + ".tmp")
        pq.write_table(pa.Table.from_pylist([row]), tmp)
        _fsync_replace(tmp, ep_path)  # the commit
        self.episodes.append(row)
        self.current = None
        shutil.rmtree(self.root / ".partial", ignore_errors=True)
        self._write_meta()
        return e

    def close(self) -> None:
        """Discard an unsaved episode (call :meth:`save_episode` first to keep it)."""
        self.discard_episode()

    # ------------------------------------------------------------------ metadata
    def _info(self) -> dict:
        feats = dict(self.features)
        for key, (h, w) in self.videos.items():
            feats[key] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                          "info": {"video.height": h, "video.width": w,
                                   "video.codec": {"libx264": "h264", "libsvtav1": "av1"}.get(self.codec, self.codec),
                                   "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": self.fps,
                                   "video.channels": 3, "has_audio": False}}
        feats.update(INDEX_FEATURES)
        n = len(self.episodes)
        return {"codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type or None,
                "total_episodes": n, "total_frames": self.n_frames, "total_tasks": len(self.tasks),
                "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
                "fps": self.fps, "splits": {"train": f"0:{n}"}, "data_path": DATA_PATH,
                "video_path": VIDEO_PATH if self.videos else None, "features": feats}

    def _write_meta(self) -> None:
        meta = self.root / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        write_tasks(meta / "tasks.parquet", self.tasks)
        keys = [*self.features, *INDEX_FEATURES, *self.videos]
        per_ep = [{k: {s: r[f"stats/{k}/{s}"] for s in ("min", "max", "mean", "std", "count")} for k in keys}
                  for r in self.episodes]
        _write_json(meta / "stats.json", _aggregate(per_ep))
        _write_json(meta / "info.json", self._info())  # last: totals match the committed episodes
