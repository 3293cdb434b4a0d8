"""Demonstration recording (no ROS): rosbag2 MCAP via ``rosbags`` and LeRobot v3.0 datasets via ``pyarrow``.

- :class:`BagRecorder` writes already-serialized (CDR) messages of any type into a rosbag2 MCAP bag; the custom
  ``mocap_msgs`` types are registered from their ``.msg`` text (:func:`make_typestore`), so the bag carries their
  definitions and reads back anywhere (``rosbags``, ``ros2 bag``, Foxglove).
- :class:`Demonstrations` collects episodes of (time, human skeleton, robot joint targets) and
  :meth:`Demonstrations.export_lerobot` writes a LeRobot v3.0 dataset::

      meta/info.json  meta/stats.json  meta/tasks.parquet  meta/episodes/chunk-000/file-000.parquet
      data/chunk-000/file-000.parquet

  Frames are resampled to ``fps`` (zero-order hold of the latest skeleton and joint target at each
  ``start + k / fps``), as LeRobot expects ``timestamp = frame_index / fps``.
  Features: ``observation.state`` (J*3 joint positions, m, world frame; missing = 0), ``observation.confidence``
  (J,), ``action`` (robot joint targets, rad; only when targets are recorded) and LeRobot's index columns.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CODEBASE_VERSION = "v3.0"
CHUNK_FILE = "chunk-{chunk:03d}/file-{file:03d}"
MOCAP_MSGS = ("Person2D", "Keypoints2D", "Skeleton", "SkeletonArray")
TF_MESSAGE = "geometry_msgs/TransformStamped[] transforms\n"


def mocap_msg_dir() -> Path:
    """Folder with ``mocap_msgs``' ``.msg`` files: the installed share (this prefix, AMENT_PREFIX_PATH) or the
    source tree."""
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    cands = [Path(p) / "share" / "mocap_msgs" / "msg" for p in prefixes if p]
    cands.append(Path(__file__).resolve().parents[2] / "mocap_msgs" / "msg")
    for c in cands:
        if (c / "SkeletonArray.msg").is_file():
            return c
    raise FileNotFoundError(f"mocap_msgs .msg files not found in {[str(c) for c in cands]}")


def make_typestore(msg_dir: str | Path | None = None):
    """A ``rosbags`` typestore (ROS 2 Kilted) with ``mocap_msgs`` (and ``tf2_msgs/TFMessage``) registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    d = Path(msg_dir) if msg_dir else mocap_msg_dir()
    types = {}
    for name in MOCAP_MSGS:
        types.update(get_types_from_msg((d / f"{name}.msg").read_text(), f"mocap_msgs/msg/{name}"))
    if "tf2_msgs/msg/TFMessage" not in ts.types:
        types.update(get_types_from_msg(TF_MESSAGE, "tf2_msgs/msg/TFMessage"))
    ts.register(types)
    return ts


class BagRecorder:
    """rosbag2 bag (MCAP storage) of serialized messages. ``path`` must not exist yet."""

    def __init__(self, path: str | Path, typestore=None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        self.typestore = typestore or make_typestore()
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.connections: dict[str, object] = {}
        self.count = 0

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic; ``msgtype`` like ``mocap_msgs/msg/SkeletonArray`` (must be known to the typestore)."""
        if topic not in self.connections:
            if msgtype not in self.typestore.types:
                raise KeyError(f"message type {msgtype} of {topic} is unknown to the bag's typestore")
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """One CDR-serialized message (``stamp_ns``: receive or header time, nanoseconds).

        The payload is trimmed to the message's CDR length: rmw buffers may carry trailing bytes that strict
        readers (``rosbags``) reject.
        """
        conn = self.connections[topic]
        self.writer.write(conn, int(stamp_ns), cdr_trim(bytes(data), conn.msgtype, self.typestore))
        self.count += 1

    def close(self) -> None:
        self.writer.close()


def cdr_trim(data: bytes, msgtype: str, typestore) -> bytes:
    """``data`` cut after the CDR message it starts with (4-byte header + payload, padded to 4 bytes)."""
    if len(data) < 4 or data[:2] not in (b"\x00\x00", b"\x00\x01"):
        return data
    msgdef = typestore.get_msgdef(msgtype)
    func = msgdef.deserialize_cdr_le if data[1] else msgdef.deserialize_cdr_be
    try:
        _, pos = func(data[4:], 0, msgdef.cls, typestore)
    except Exception:  # noqa: BLE001 - keep the message as received if it does not parse
        return data
    end = 4 + pos
    end += (-end) % 4
    return data[:end] if end < len(data) else data


@dataclass
class Episode:
    task: str
    times: list = field(default_factory=list)       # s, one per skeleton sample
    states: list = field(default_factory=list)      # (J, 3)
    confs: list = field(default_factory=list)       # (J,)
    action_times: list = field(default_factory=list)
    actions: list = field(default_factory=list)     # (n,)


class Demonstrations:
    """Episodes of human skeleton + robot joint targets, exported as a LeRobot v3.0 dataset.

    Args:
        joint_names: skeleton joint names (J).
        action_names: robot joint names (n); empty = no ``action`` feature.
    """

    def __init__(self, joint_names: list[str], action_names: list[str] | None = None) -> None:
        self.joint_names = list(joint_names)
        self.action_names = list(action_names or [])
        self.episodes: list[Episode] = []
        self.current: Episode | None = None

    def start_episode(self, task: str) -> None:
        self.end_episode()
        self.current = Episode(task)

    def end_episode(self) -> None:
        if self.current is not None and self.current.times:
            self.episodes.append(self.current)
        self.current = None

    def add_skeleton(self, t: float, X: np.ndarray, conf: np.ndarray) -> None:
        """Skeleton sample at ``t`` (s): positions ``(J, 3)`` m (NaN = missing), confidences ``(J,)``."""
        if self.current is None:
            return
        X = np.asarray(X, float).reshape(len(self.joint_names), 3)
        self.current.times.append(float(t))
        self.current.states.append(X)
        self.current.confs.append(np.asarray(conf, float).reshape(-1))

    def add_action(self, t: float, q: np.ndarray) -> None:
        """Robot joint target at ``t`` (s), ``(n,)`` radians."""
        if self.current is None:
            return
        self.current.action_times.append(float(t))
        self.current.actions.append(np.asarray(q, float).reshape(-1))

    # ------------------------------------------------------------------ export
    def _resample(self, ep: Episode, fps: float) -> dict[str, np.ndarray] | None:
        t = np.asarray(ep.times)
        order = np.argsort(t, kind="stable")
        t = t[order]
        n = int(np.floor((t[-1] - t[0]) * fps + 1e-6)) + 1
        grid = t[0] + np.arange(n) / fps
        i = np.clip(np.searchsorted(t, grid + 1e-9, side="right") - 1, 0, len(t) - 1)
        states = np.stack(ep.states)[order][i]
        out = {"observation.state": np.nan_to_num(states.reshape(n, -1), nan=0.0).astype(np.float32),
               "observation.confidence": np.nan_to_num(np.stack(ep.confs)[order][i], nan=0.0).astype(np.float32)}
        if self.action_names:
            if not ep.actions:
                return None
            ta = np.asarray(ep.action_times)
            oa = np.argsort(ta, kind="stable")
            j = np.searchsorted(ta[oa], grid + 1e-9, side="right") - 1
            keep = j >= 0  # frames before the first robot target are dropped
            if not keep.any():
                return None
            out = {k: v[keep] for k, v in out.items()}
            out["action"] = np.stack(ep.actions)[oa][j[keep]].astype(np.float32)
        return out

    def export_lerobot(self, root: str | Path, fps: float, robot_type: str = "", task_default: str = "") -> dict:
        """Write the dataset into ``root`` (created); returns ``meta/info.json``'s content.

        Raises:
            ValueError: no episode has any frame.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.end_episode()
        root = Path(root)
        eps = [(ep, self._resample(ep, fps)) for ep in self.episodes]
        eps = [(ep, d) for ep, d in eps if d is not None and len(d["observation.state"])]
        if not eps:
            raise ValueError("no frames recorded: nothing to export (were skeletons and joint targets received?)")
        tasks: list[str] = []
        for ep, _ in eps:
            if (ep.task or task_default) not in tasks:
                tasks.append(ep.task or task_default)
        J, n = len(self.joint_names), len(self.action_names)
        features = {
            "observation.state": {"dtype": "float32", "shape": [3 * J],
                                  "names": [f"{j}.{a}" for j in self.joint_names for a in "xyz"]},
            "observation.confidence": {"dtype": "float32", "shape": [J], "names": list(self.joint_names)},
        }
        if n:
            features["action"] = {"dtype": "float32", "shape": [n], "names": list(self.action_names)}
        for k, dt in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                      ("index", "int64"), ("task_index", "int64")):
            features[k] = {"dtype": dt, "shape": [1], "names": None}

        cols: dict[str, list[np.ndarray]] = {k: [] for k in features}
        ep_rows = []
        start = 0
        for e, (ep, d) in enumerate(eps):
            L = len(d["observation.state"])
            block = {**d, "timestamp": (np.arange(L) / fps).astype(np.float32),
                     "frame_index": np.arange(L, dtype=np.int64), "episode_index": np.full(L, e, np.int64),
                     "index": np.arange(start, start + L, dtype=np.int64),
                     "task_index": np.full(L, tasks.index(ep.task or task_default), np.int64)}
            for k in features:
                cols[k].append(block[k])
            row = {"episode_index": e, "tasks": [ep.task or task_default], "length": L,
                   "data/chunk_index": 0, "data/file_index": 0,
                   "dataset_from_index": start, "dataset_to_index": start + L,
                   "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
            for k in features:
                for s, v in _stats(block[k]).items():
                    row[f"stats/{k}/{s}"] = v
            ep_rows.append(row)
            start += L

        full = {k: np.concatenate(v) for k, v in cols.items()}
        arrays, fields = [], []
        for k, ft in features.items():
            a = full[k]
            if ft["shape"] == [1]:
                arrays.append(pa.array(a))
            else:
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), ft["shape"][0]))
            fields.append(k)
        data_path = root / "data" / (CHUNK_FILE.format(chunk=0, file=0) + ".parquet")
        data_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(arrays, names=fields), data_path)

        ep_path = root / "meta" / "episodes" / (CHUNK_FILE.format(chunk=0, file=0) + ".parquet")
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(ep_rows), ep_path)
        _write_tasks(root / "meta" / "tasks.parquet", tasks)
        stats = {k: _stats(full[k]) for k in features}
        (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))
        total = int(start)
        info = {
            "codebase_version": CODEBASE_VERSION, "robot_type": robot_type or None,
            "total_episodes": len(eps), "total_frames": total, "total_tasks": len(tasks),
            "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500, "fps": float(fps),
            "splits": {"train": f"0:{len(eps)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": None, "features": features,
        }
        (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
        return info


def _stats(a: np.ndarray) -> dict[str, list]:
    """LeRobot per-feature statistics over frames: min, max, mean, std (per dimension) and count."""
    a = np.asarray(a, float)
    a = a.reshape(len(a), -1)
    return {"min": a.min(0).tolist(), "max": a.max(0).tolist(), "mean": a.mean(0).tolist(),
            "std": a.std(0).tolist(), "count": [int(len(a))]}


def _write_tasks(path: Path, tasks: list[str]) -> None:
    """``meta/tasks.parquet``: column ``task_index``, pandas index named ``task`` (as LeRobot reads it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        pd.DataFrame({"task_index": range(len(tasks))}, index=pd.Index(tasks, name="task")).to_parquet(path)
        return
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
    pq.write_table(table, path)
