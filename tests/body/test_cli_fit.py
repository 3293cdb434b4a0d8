"""`mocap fit` end to end on a small synthetic keypoints file (stand-in SMPL-X): motion, meshes, check image."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.body.motion import BodyMotion
from mocap.body.synthetic import synthetic_keypoints
from mocap.cli.main import main


@pytest.fixture(scope="module")
def keypoints_file(smplx_model, tmp_path_factory):
    from mocap.keypoints.containers import Keypoints3D
    from mocap.keypoints.npz_io import save_npz
    from mocap.skeletons import get_joint_set

    data, names, *_ = synthetic_keypoints(smplx_model, 5, np.random.default_rng(2), noise=0.005)
    js = get_joint_set("body25")  # a detector joint set: the synthetic points it has, NaN elsewhere
    out = np.full((len(data), 1, len(js.joints), 4), np.nan)
    for j, n in enumerate(js.joints):
        if n in names:
            out[:, 0, j] = data[:, names.index(n)]
    d = tmp_path_factory.mktemp("kp")
    return save_npz(Keypoints3D(out, "body25", fps=30.0), d / "kp3d.npz")


def test_fit_cli_end_to_end(keypoints_file, smplx_dir, tmp_path, capsys):
    out = tmp_path / "motion.npz"
    rc = main(["fit", str(keypoints_file), "--model", "smplx", "--model-path", str(smplx_dir), "--out", str(out),
               "--mesh", str(tmp_path / "meshes"), "--render", str(tmp_path / "check.png"), "--iters", "6"])
    assert rc == 0
    mot = BodyMotion.load(out)
    assert mot.n_frames == 5 and mot.model == "smplx"
    assert np.nanmean(mot.quality["residual_m"]) < 0.05
    assert len(list((tmp_path / "meshes").glob("frame_*.ply"))) == 5
    png = (tmp_path / "check.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert "keypoint residual mean" in capsys.readouterr().out


def test_fit_cli_bad_input(keypoints_file, smplx_dir, tmp_path, capsys):
    base = ["--model-path", str(smplx_dir), "--out", str(tmp_path / "m.npz")]
    assert main(["fit", str(tmp_path / "nope.npz"), "--model", "smplx", *base]) != 0
    assert "does not exist" in capsys.readouterr().err
    assert main(["fit", str(keypoints_file), "--model", "smplx", "--scale", "1000", *base]) != 0
    assert "millimetres" in capsys.readouterr().err
    assert main(["fit", str(keypoints_file), "--model", "smplx", "--model-path", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "m.npz")]) != 0
    assert "smpl-x.is.tue.mpg.de" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()
