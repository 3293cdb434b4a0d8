"""The demonstration recorder: synchronised state (robot + skeleton), action (commanded joints), images; episode
start/stop/discard; what LeRobot's reader sees."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="pyarrow not installed (the ros extra)")
pytest.importorskip("av", reason="av (PyAV) not installed (the ros extra)")

from tests.apps.record.lerobot_reader import have_reader, read_with_lerobot  # noqa: E402
from tests.apps.record.streams import DESC, ROBOT, feed, image, make_recorder, robot_q, skeleton  # noqa: E402
from tests.apps.record.v3_schema import check_v3  # noqa: E402


def test_frames_are_synchronised_and_episodes_controlled(tmp_path):
    import pyarrow.parquet as pq

    rec = make_recorder(tmp_path / "ds")
    ok, msg = rec.start_episode("x")
    assert not ok and "robot joint state" in msg and "camera cam01" in msg
    t, k = 10.0, 0
    feed(rec, t, k)
    assert rec.start_episode("wave")[0]
    ticks = []
    for i in range(30):
        t += 1 / 30
        k += 1
        if i % 3 != 2:  # the camera and the skeleton run slower than the sampling: held values
            feed(rec, t, k)
        else:
            rec.on_robot_state(t, ROBOT[::-1], robot_q(t)[::-1])  # another joint order: mapped back
        assert rec.tick(t)
        ticks.append((t, k if i % 3 != 2 else k - 1))
    saved = rec.stop_episode()
    assert saved == 0
    assert rec.start_episode("discard me")[0]
    for _ in range(5):
        t += 1 / 30
        rec.tick(t)
    assert rec.discard_episode() and rec.stop_episode() is None and not rec.tick(t)
    info = check_v3(tmp_path / "ds")
    assert info["total_episodes"] == 1 and info["total_frames"] == 30
    assert info["features"]["observation.state"]["names"][:6] == ROBOT
    assert info["features"]["observation.state"]["names"][6:9] == ["right_shoulder.x", "right_shoulder.y",
                                                                   "right_shoulder.z"]
    data = pq.read_table(tmp_path / "ds" / "data" / "chunk-000" / "file-000.parquet")
    state = np.asarray(data["observation.state"].to_pylist())
    action = np.asarray(data["action"].to_pylist())
    for row, (tt, kk) in enumerate(ticks):
        np.testing.assert_allclose(state[row, :6], robot_q(tt), atol=1e-6)
        t_skel = tt if kk == ticks[row][1] and row % 3 != 2 else ticks[row - 1][0]
        np.testing.assert_allclose(state[row, 6:], skeleton(t_skel).people[0].positions.reshape(-1), atol=1e-6)
    # the action is the commanded trajectory at the frame's time: q(t_feed + 0.05 .. 0.1) between its points
    t_feed = ticks[0][0]
    np.testing.assert_allclose(action[0], robot_q(t_feed + 0.05), atol=1e-6)  # at its start: the first point
    assert DESC.n_joints * 3 + 6 == state.shape[1]


@pytest.mark.slow
def test_lerobot_reads_the_recording(tmp_path):
    if not have_reader():
        pytest.skip("LeRobot's reader not set up (bash scripts/lerobot_check/setup.sh)")
    rec = make_recorder(tmp_path / "ds")
    t, k = 0.0, 0
    for e, n in enumerate((12, 20)):
        feed(rec, t, k)
        rec.start_episode(f"task {e}")
        for _ in range(n):
            t += 1 / 30
            k += 1
            feed(rec, t, k)
            rec.tick(t)
        rec.stop_episode()
    seen = read_with_lerobot(tmp_path / "ds", [0, 11, 12, 31], tmp_path)
    assert seen["num_episodes"] == 2 and seen["num_frames"] == 32 and seen["fps"] == 30
    assert seen["video_backend"] == "torchcodec"
    assert seen["features"]["observation.state"]["shape"] == [6 + 9]
    assert seen["features"]["observation.images.cam01"]["dtype"] == "video"
    for idx, kk in ((0, 1), (11, 12), (12, 13), (31, 32)):
        f = seen["frames"][str(idx)]
        np.testing.assert_allclose(f["observation.images.cam01"]["mean"], image(kk).reshape(-1, 3).mean(0) / 255,
                                   atol=0.02)
    assert seen["frames"]["12"]["episode_index"] == 1 and seen["frames"]["12"]["frame_index"] == 0
