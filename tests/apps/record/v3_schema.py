"""A check of a LeRobot v3.0 dataset against the layout LeRobot's reader expects (learned from lerobot 0.4.4's
``lerobot.datasets.utils`` / ``lerobot_dataset``), for when the reader itself is not installed; also run beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REQUIRED_INFO = ("codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
                 "fps", "splits", "data_path", "video_path", "features")
EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                   "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index")


def check_v3(root: Path, decode_videos: bool = True) -> dict:
    """Assert the dataset at ``root`` is a consistent v3.0 dataset; returns ``info.json``."""
    import av
    import pyarrow.parquet as pq

    info = json.loads((root / "meta" / "info.json").read_text())
    assert all(k in info for k in REQUIRED_INFO), set(REQUIRED_INFO) - set(info)
    assert info["codebase_version"] == "v3.0"
    feats, fps = info["features"], info["fps"]
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert k in feats, k
    rows = []
    for f in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    assert [r["episode_index"] for r in rows] == list(range(info["total_episodes"]))
    for r in rows:
        assert all(c in r for c in EPISODE_COLUMNS), set(EPISODE_COLUMNS) - set(r)
    tasks = pq.read_table(root / "meta" / "tasks.parquet")
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    task_list = tasks["task"].to_pylist()
    assert len(task_list) == info["total_tasks"]
    video_keys = [k for k, v in feats.items() if v["dtype"] == "video"]
    data_files = sorted((root / "data").glob("*/*.parquet"))
    tables = [pq.read_table(f) for f in data_files]
    n = sum(t.num_rows for t in tables)
    assert n == info["total_frames"] == (rows[-1]["dataset_to_index"] if rows else 0)
    index = np.concatenate([t["index"].to_numpy() for t in tables]) if tables else np.zeros(0)
    np.testing.assert_array_equal(index, np.arange(n))
    for r in rows:
        f = root / info["data_path"].format(chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
        t = pq.read_table(f)
        ep = t.filter(np.asarray(t["episode_index"].to_numpy() == r["episode_index"]))
        assert ep.num_rows == r["length"] == r["dataset_to_index"] - r["dataset_from_index"]
        frame = ep["frame_index"].to_numpy()
        np.testing.assert_array_equal(frame, np.arange(r["length"]))
        np.testing.assert_allclose(ep["timestamp"].to_numpy(), frame / fps, atol=1e-4)
        assert [task_list[i] for i in set(ep["task_index"].to_pylist())] == r["tasks"]
        for k, ft in feats.items():
            if ft["dtype"] in ("video", "image") or ft["shape"] == [1]:
                continue
            col = np.asarray(ep[k].to_pylist(), np.float32)
            assert col.shape == (r["length"], ft["shape"][0]), (k, col.shape)
            assert len(ft["names"]) == ft["shape"][0]
        for key in video_keys:
            vf = root / info["video_path"].format(video_key=key, chunk_index=r[f"videos/{key}/chunk_index"],
                                                  file_index=r[f"videos/{key}/file_index"])
            assert r[f"videos/{key}/to_timestamp"] - r[f"videos/{key}/from_timestamp"] == \
                np.float64(r["length"]) / fps
            if decode_videos:
                with av.open(str(vf)) as c:
                    s = c.streams.video[0]
                    frames = list(c.decode(s))
                    h, w = feats[key]["shape"][:2]
                    assert len(frames) == r["length"] and (frames[0].height, frames[0].width) == (h, w)
                    ts = np.array([float(fr.pts * s.time_base) for fr in frames])
                    np.testing.assert_allclose(ts, np.arange(r["length"]) / fps + r[f"videos/{key}/from_timestamp"],
                                               atol=1e-4)
    stats = json.loads((root / "meta" / "stats.json").read_text())
    for k in feats:
        assert k in stats and stats[k]["count"] == [n], k
    return info
