"""The LeRobot v3.0 writer: layout, exact values, video frames, stats, discard, and resume after a crash that
interrupted a save."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="pyarrow not installed (the ros extra)")
av = pytest.importorskip("av", reason="av (PyAV) not installed (the ros extra)")

from mocap.apps.record.lerobot import LeRobotWriter  # noqa: E402
from mocap.errors import DataError, MocapError  # noqa: E402
from tests.apps.record.streams import H, W, image  # noqa: E402
from tests.apps.record.v3_schema import check_v3  # noqa: E402

FEATS = {"observation.state": {"dtype": "float32", "shape": [4], "names": ["a", "b", "c", "d"]},
         "action": {"dtype": "float32", "shape": [2], "names": ["x", "y"]}}
VIDEOS = {"observation.images.cam01": (H, W)}


def _episode(w: LeRobotWriter, task: str, n: int, e: int) -> None:
    w.start_episode(task)
    for k in range(n):
        w.add_frame({"observation.state": [e, k, 0.5, -1], "action": [k, e]},
                    {"observation.images.cam01": image(k)})


def test_episodes_values_videos_and_schema(tmp_path):
    import pyarrow.parquet as pq

    w = LeRobotWriter(tmp_path / "ds", 30, FEATS, VIDEOS, robot_type="sim")
    lengths = [20, 7, 12]
    for e, n in enumerate(lengths):
        _episode(w, ["pick", "place"][e % 2], n, e)
        assert w.save_episode() == e
    _episode(w, "discarded", 5, 9)
    w.discard_episode()
    info = check_v3(tmp_path / "ds")
    assert info["total_episodes"] == 3 and info["total_frames"] == sum(lengths) and info["total_tasks"] == 2
    assert info["features"]["observation.images.cam01"]["shape"] == [H, W, 3]
    t = pq.read_table(tmp_path / "ds" / "data" / "chunk-000" / "file-001.parquet")
    np.testing.assert_array_equal(np.asarray(t["observation.state"].to_pylist())[:, :2], [[1, k] for k in range(7)])
    with av.open(str(tmp_path / "ds" / "videos" / "observation.images.cam01" / "chunk-000" / "file-002.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    grey = [float(f[H // 2:, W // 2:].mean()) for f in frames]
    np.testing.assert_allclose(grey, [image(k)[H - 1, W - 1, 0] for k in range(12)], atol=3)
    assert not (tmp_path / "ds" / ".partial").exists()


def test_resume_drops_an_interrupted_save(tmp_path):
    root = tmp_path / "ds"
    w = LeRobotWriter(root, 30, FEATS, VIDEOS)
    _episode(w, "a", 10, 0)
    w.save_episode()
    # a save killed after writing the data file but before the commit, plus temporaries and a partial video
    (root / "data" / "chunk-000" / "file-001.parquet").write_bytes(
        (root / "data" / "chunk-000" / "file-000.parquet").read_bytes())
    (root / "meta" / "info.json.tmp").write_text("{")
    _episode(w, "b", 5, 1)  # in progress: its video is in .partial
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1
    w2 = LeRobotWriter(root, 30, FEATS, VIDEOS)
    assert w2.n_episodes == 1 and not (root / "data" / "chunk-000" / "file-001.parquet").exists()
    assert not list(root.rglob("*.tmp")) and not (root / ".partial").exists()
    _episode(w2, "b", 5, 1)
    assert w2.save_episode() == 1
    assert check_v3(root)["total_episodes"] == 2
    with pytest.raises(DataError, match="other features"):
        LeRobotWriter(root, 15, FEATS, VIDEOS)


def test_bad_frames_are_refused(tmp_path):
    w = LeRobotWriter(tmp_path / "ds", 30, FEATS, VIDEOS)
    with pytest.raises(MocapError, match="outside an episode"):
        w.add_frame({}, {})
    w.start_episode("x")
    with pytest.raises(MocapError, match="expected 4 values"):
        w.add_frame({"observation.state": [1, 2], "action": [0, 0]}, {"observation.images.cam01": image(0)})
    with pytest.raises(MocapError, match="camera observation.images.cam01"):
        w.add_frame({"observation.state": [1, 2, 3, 4], "action": [0, 0]}, {})
    with pytest.raises(MocapError, match="integer fps"):
        LeRobotWriter(tmp_path / "ds2", 29.97, FEATS)
