"""The live recorder on its own: 2D, keypoint 3D and a fitted body written line by line; a torn last line (a kill in
the middle of a write) is skipped; a clean close writes the session layout that `mocap view` reads."""

from __future__ import annotations

import numpy as np

from mocap.apps.live_record import LiveRecorder, read_live_recording
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, identity_quats
from tests.conftest import make_ring_rig


def test_fitted_body_keypoints_and_torn_line(tmp_path, rng):
    rig = make_ring_rig(3)
    rec = LiveRecorder(tmp_path / "rec", rig, "coco17", 30.0)
    J = 5
    body = SkeletonDescription("anny", [f"b{j}" for j in range(J)], np.array([-1, 0, 1, 2, 3]),
                               rng.normal(size=(J, 3)), body_model="anny", person_id=-1)
    rec.describe(body)
    q = identity_quats(J)
    for i in range(6):
        rec.add_2d(i, i / 30, {c: rng.normal(size=(1, 17, 3)) for c in rig.names[:2]} | {rig.names[2]: None})
        rec.add_keypoints3d(i, i / 30, "coco17", {3: np.c_[rng.normal(size=(17, 3)), np.ones(17)]})
        X = rng.normal(size=(J, 3))
        rec.send(SkeletonFrame(i / 30, i, [PersonSkeleton(3, X, np.ones(J), q, q, root_translation=X[0])], "anny"))
    rec.close()  # a clean close writes the session layout that `mocap view` reads
    for f in ("2d/keypoints2d.npz", "keypoints3d.npz", "motion.npz", "calibration.toml"):
        assert (tmp_path / "rec" / f).exists()
    # then as if killed while writing: half a line at the end of each file
    for f in ("frames2d.jsonl", "frames3d.jsonl", "keypoints3d.jsonl"):
        with open(tmp_path / "rec" / f, "a") as fh:
            fh.write('{"i": 6, "t": 0.2, "cams": {"cam0": [[[1.0, ')
    got = read_live_recording(tmp_path / "rec")
    assert got["frames2d"] == list(range(6)) and got["frames3d"] == list(range(6))
    kp2 = got["keypoints2d"]
    assert kp2.data.shape == (6, 3, 1, 17, 3) and np.isnan(kp2.data[:, 2]).all()
    assert got["keypoints3d"].joint_set == "coco17" and got["keypoints3d"].person_ids.tolist() == [3]
    m = got["motion"]
    assert m.model == "anny" and m.local_rotations.shape == (6, J, 4) and m.meta["person_id"] == 3
