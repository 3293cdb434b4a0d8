"""`mocap triangulate --mode online|offline`: the causal live path over a recording vs the whole-clip path."""

from __future__ import annotations

import numpy as np

from mocap.cli.main import main
from mocap.keypoints import load_npz
from tests.cli.test_triangulate import case  # noqa: F401  (fixture)


def test_online_mode_matches_stepping_the_live_triangulator(case, capsys):  # noqa: F811
    from mocap.reconstruct.online import OnlineTriangulator

    d, rig, kp, X, calib, npz = case
    out = d / "online.trc"
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(npz), "--out", str(out), "--mode", "online"])
    text = capsys.readouterr().out
    assert rc == 0, text
    k3 = load_npz(out.with_suffix(".npz"))
    assert k3.meta["mode"] == "online" and k3.data.shape == (40, 1, 17, 4)
    tri = OnlineTriangulator(rig, "coco17")
    ref = np.stack([tri.step(kp.data[t, :, 0, :, :2], kp.data[t, :, 0, :, 2], kp.timestamps[t])
                    for t in range(kp.n_frames)])
    np.testing.assert_allclose(k3.xyz[:, 0], ref[..., :3], atol=1e-9)
    assert np.nanmean(np.linalg.norm(k3.xyz[:, 0] - X, axis=-1)) < 0.005
    # joint 4 seen by one camera in frame 6: not triangulated (reason 1) but output from the motion model
    assert k3.quality["reason"][6, 0, 4] == 1 and k3.quality["predicted"][6, 0, 4]
    assert np.isfinite(k3.xyz[6, 0, 4]).all() and 0 < k3.confidence[6, 0, 4] < 0.9
    off = d / "offline.trc"
    assert main(["triangulate", "--calib", str(calib), "--keypoints", str(npz), "--out", str(off)]) == 0
    assert load_npz(off.with_suffix(".npz")).meta["mode"] == "offline"


def test_online_mode_refuses_unassociated_people(case, capsys):  # noqa: F811
    from mocap.keypoints import Keypoints2D, save_npz

    d, rig, kp, X, calib, _ = case
    two = Keypoints2D(np.concatenate([kp.data, kp.data[:, ::-1]], axis=2), "coco17", rig.names, fps=30.0)
    npz2 = save_npz(two, d / "two.npz")
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(npz2), "--out", str(d / "x.trc"),
               "--people", "multi", "--mode", "online"])
    assert rc == 2 and "single-person" in capsys.readouterr().err
