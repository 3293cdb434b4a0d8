"""resolve_session: what a `mocap run` output folder offers a live replay (keypoints, cameras, calibration, offsets,
videos)."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import MocapError
from mocap.live.session import resolve_session


def test_session_with_calibration_beside_the_videos_and_sync_offsets(shared_data, tmp_path):
    """The Pose2Sim layout the demo uses: videos/ and calibration/ side by side, the session elsewhere."""
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import Keypoints2D, Keypoints3D, save_npz
    from mocap.synthetic import make_capture

    rig, kp2d, _ = make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=3, frame_step=4, max_frames=5)
    data = tmp_path / "Demo"
    (data / "videos").mkdir(parents=True)
    (data / "calibration").mkdir()
    write_calibration(rig, data / "calibration" / "Calib.toml")
    (data / "calibration" / "notes.txt").write_text("not a calibration")
    videos = [data / "videos" / f"{c}.mp4" for c in rig.names]
    for v in videos:
        v.write_bytes(b"")
    out = tmp_path / "session"
    (out / "2d").mkdir(parents=True)
    save_npz(Keypoints2D(kp2d.data, kp2d.joint_set, rig.names, kp2d.timestamps, kp2d.fps,
                         {"videos": [str(v) for v in videos]}), out / "2d" / "keypoints2d.npz")
    save_npz(Keypoints3D(np.zeros((5, 1, 17, 4)), "coco17", kp2d.timestamps, kp2d.fps,
                         meta={"sync_offsets_frames": [0.0, 0.0, 3.0], "camera_names": rig.names}),
             out / "keypoints3d.npz")
    info = resolve_session(out)
    assert info.cameras == list(rig.names) and info.joint_set == "coco17" and info.fps == kp2d.fps
    assert info.calibration == str(data / "calibration" / "Calib.toml")
    assert info.videos == {c: str(v) for c, v in zip(rig.names, videos, strict=True)}
    assert info.time_offsets_s[rig.names[2]] == pytest.approx(3.0 / kp2d.fps)
    assert info.time_offset_entries() == [f"{rig.names[2]}:{3.0 / kp2d.fps:.6f}"]


def test_missing_session_says_what_to_do(tmp_path):
    with pytest.raises(MocapError, match="mocap demo"):
        resolve_session(tmp_path / "nope")
    with pytest.raises(MocapError, match="keypoints2d.npz"):
        resolve_session(tmp_path)
