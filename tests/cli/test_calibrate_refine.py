"""`mocap calibrate refine` / `selfcal` and `mocap run --refine-calib` as users call them."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.cli.main import main
from tests.calibration.test_refine import BVH, _bumped, _capture, perturb


@pytest.mark.slow
def test_refine_cli(shared_data, tmp_path, capsys):
    from mocap.cameras.formats import read_calibration, write_calibration
    from mocap.keypoints import save_npz

    rig, kp, _ = _capture(str(shared_data / BVH))
    save_npz(kp, tmp_path / "kp.npz")
    write_calibration(perturb(rig), tmp_path / "calib.toml")
    rc = main(["calibrate", "refine", "--keypoints", str(tmp_path / "kp.npz"), "--calib", str(tmp_path / "calib.toml"),
               "--out", str(tmp_path / "refined.toml"), "--trend", str(tmp_path / "trend.csv"), "--sync", "none"])
    out = capsys.readouterr().out
    assert rc == 0, out
    first = next(ln for ln in out.splitlines() if ln.startswith("reprojection error"))
    before, after = (float(v.split()[0]) for v in first.split(": ")[1].split(" -> "))
    assert after < before
    assert all(f"  {n}: " in out for n in rig.names) and "wrote" in out
    back = read_calibration(tmp_path / "refined.toml")
    assert back.names == rig.names and "rotation_deg" in back["cam02"].meta["uncertainty"]
    rows = (tmp_path / "trend.csv").read_text().splitlines()
    assert rows[0] == "time_s," + ",".join(f"{n}_px" for n in rig.names) and len(rows) == kp.n_frames + 1


def test_refine_cli_refuses_static_person_and_names_bumped_camera(shared_data, tmp_path, capsys):
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import Keypoints2D, save_npz

    rig, kp, _ = _capture(str(shared_data / BVH), 4)
    still = kp.data.copy()
    still[:] = kp.data[40]
    save_npz(Keypoints2D(still, "coco17", kp.camera_names, fps=kp.fps), tmp_path / "still.npz")
    write_calibration(rig, tmp_path / "calib.toml")
    rc = main(["calibrate", "refine", "--keypoints", str(tmp_path / "still.npz"), "--calib",
               str(tmp_path / "calib.toml"), "--out", str(tmp_path / "r.toml"), "--sync", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: the people barely move") and not (tmp_path / "r.toml").exists()
    rig2, kp2, t_bump = _bumped(shared_data)
    save_npz(kp2, tmp_path / "bumped.npz")
    write_calibration(rig2, tmp_path / "calib2.toml")
    main(["calibrate", "refine", "--keypoints", str(tmp_path / "bumped.npz"), "--calib", str(tmp_path / "calib2.toml"),
          "--out", str(tmp_path / "r2.toml"), "--sync", "none"])
    out = capsys.readouterr().out
    assert "warning: cam03 moved at" in out


@pytest.mark.slow
def test_selfcal_cli(shared_data, tmp_path, capsys):
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints import save_npz

    rig, kp, _ = _capture(str(shared_data / BVH))
    save_npz(kp, tmp_path / "kp.npz")
    rc = main(["calibrate", "selfcal", "--keypoints", str(tmp_path / "kp.npz"), "--out", str(tmp_path / "self.toml"),
               "--height", "1.55", "--size", "1280", "720", "--hfov", "50", "--refine-focal"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "LOWER ACCURACY" in out and "horizontal field of view 50 deg" in out
    back = read_calibration(tmp_path / "self.toml")
    assert back.names == rig.names and "board-free" in back.meta["calibration"]


@pytest.mark.slow
def test_run_refine_calib_on_pose2sim_demo(pose2sim_single, tmp_path):
    """MediaPipe 2D of the Pose2Sim demo: the people-based refinement lowers the mean reprojection error on frames
    it did not fit, and says how much every camera moved."""
    from mocap.pipeline import run_pipeline

    videos = sorted((pose2sim_single / "videos").glob("*.mp4"))
    res = run_pipeline(videos, pose2sim_single / "calibration/Calib.qca.txt", tmp_path / "out", report=False,
                       refine_calib=True, workers=2)
    info = res.extras["refine_calib"]
    assert "kept_original" not in info, info
    before, after = np.mean(list(info["before_px"].values())), np.mean(list(info["after_px"].values()))
    assert after < before
    assert set(info["center_change_m"]) == {v.stem for v in videos}
    assert (tmp_path / "out/calib_refined.toml").is_file()


def test_run_has_refine_calib_flag(monkeypatch, tmp_path, capsys):
    """`mocap run --refine-calib` reaches run_pipeline(refine_calib=True) and reports what became of the rig (the
    pipeline itself with refinement runs for real in test_run_refine_calib_on_pose2sim_demo)."""

    seen = {}

    class _Res:
        extras = {"refine_calib": {"kept_original": "the people barely move"}}

    def fake(videos, calib, out, **kw):  # noqa: ANN001, ANN202
        seen.update(kw)
        return _Res()

    monkeypatch.setattr("mocap.pipeline.run_pipeline", fake)
    monkeypatch.setattr("mocap.cli.demo.print_summary", lambda *a, **k: None)
    for n in ("cam1", "cam2"):
        (tmp_path / f"{n}.mp4").write_bytes(b"")
    rc = main(["run", "--videos", str(tmp_path / "cam1.mp4"), str(tmp_path / "cam2.mp4"), "--calib",
               str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--refine-calib"])
    assert rc == 0 and seen["refine_calib"] is True
    assert "calibration kept: the people barely move" in capsys.readouterr().out
