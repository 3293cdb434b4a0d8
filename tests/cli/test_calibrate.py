import numpy as np
import pytest

from mocap.cli.main import main


def test_board_png_and_pdf(tmp_path):
    assert main(["calibrate", "board", "charuco_a4", "--out", str(tmp_path / "b.png")]) == 0
    assert main(["calibrate", "board", "charuco_a4", "--out", str(tmp_path / "b.pdf")]) == 0
    assert (tmp_path / "b.png").stat().st_size > 1000 and (tmp_path / "b.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.slow
def test_wizard_real_charuco(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    out = tmp_path / "calib.toml"
    rc = main(["calibrate", "wizard", "--board", "charuco_4x5_dict4x4_1000_inverted", "--videos",
               str(shared_data / "charuco_4cam/calibration/extrinsic"), "--out", str(out), "--step", "2",
               "--report", str(tmp_path / "rep"), "--yes", "--min-coverage", "0.05"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert out.is_file() and (tmp_path / "rep/report.png").is_file() and (tmp_path / "rep/report.html").is_file()
    rms = float(text.split("final RMS reprojection error ")[1].split()[0])
    assert rms < 1.0
    assert "advice:" in text and "distortion model" in text and "quality: RMS is enough" in text
    from mocap.cameras.formats import read_calibration

    assert len(read_calibration(out)) == 4


@pytest.mark.slow
def test_pose2sim_intrinsics(pose2sim_single):
    import re

    from mocap.calibration.boards import load_board
    from mocap.calibration.detection import detect_in_source
    from mocap.calibration.intrinsics import calibrate_intrinsics

    txt = (pose2sim_single / "calibration/Calib.qca.txt").read_text()
    fu = [float(x) / 64 for x in re.findall(r'focalLengthU="([^"]*)"', txt)]
    board = load_board("checkerboard_4x7_60mm")
    for i in (0, 3):
        dets, size, _ = detect_in_source(pose2sim_single / f"calibration/intrinsics/int_cam0{i + 1}_img", board)
        r = calibrate_intrinsics(dets, size, camera=f"cam0{i + 1}")
        assert abs(r.K[0, 0] / fu[i] - 1) < 0.03
        assert np.isfinite(r.rms) and r.rms < 1.0


def test_no_subcommand_prints_help(capsys):
    assert main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "wizard" in out and "convert" in out and "hint:" in out


@pytest.mark.slow
def test_wizard_interactive_scripted_answer(shared_data, tmp_path, monkeypatch, capsys):
    import io

    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    out = tmp_path / "calib.toml"
    rc = main(["calibrate", "wizard", "--board", "charuco_4x5_dict4x4_1000_inverted", "--videos",
               str(shared_data / "charuco_4cam/calibration/extrinsic"), "--out", str(out), "--step", "2",
               "--min-coverage", "0.05", "--min-views", "6"])
    text = capsys.readouterr().out
    assert rc == 1 and "not written" in text and not out.exists()


def test_extrinsics_requires_intrinsics(tmp_path, capsys):
    rc = main(["calibrate", "extrinsics", "--board", "charuco_a4", "--videos", str(tmp_path), "--out",
               str(tmp_path / "c.toml")])
    assert rc == 2 and "needs --intrinsics" in capsys.readouterr().err


def _relative_poses(rig):
    """cam_i -> cam_0 rotation and translation for every camera after the first."""
    c0 = rig.cameras[0]
    return [(c0.R @ c.R.T, c0.t - c0.R @ c.R.T @ c.t) for c in rig.cameras[1:]]


@pytest.mark.slow
def test_extrinsics_with_caliscope_intrinsics(shared_data, tmp_path, monkeypatch, capsys):
    """Intrinsics held at caliscope's (config.toml, from its own intrinsic recordings): the extrinsics of the 48
    frames must match caliscope's rig closely."""
    from mocap.cameras.formats import read_calibration

    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    config = shared_data / "charuco_4cam/config.toml"
    out = tmp_path / "calib.toml"
    rc = main(["calibrate", "extrinsics", "--board", "charuco_4x5_dict4x4_1000_inverted", "--videos",
               str(shared_data / "charuco_4cam/calibration/extrinsic"), "--intrinsics", str(config), "--out", str(out),
               "--yes"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "matched by order: port_0 <- cam_0" in text and "fixed in the bundle adjustment" in text
    rms = float(text.split("final RMS reprojection error ")[1].split()[0])
    assert rms < 1.0
    est, ref = read_calibration(out), read_calibration(config)
    for c, r in zip(est, ref):
        assert np.allclose(c.K, r.K) and np.allclose(c.dist, r.dist)
    for (Re, te), (Rr, tr) in zip(_relative_poses(est), _relative_poses(ref)):
        ang = np.degrees(np.arccos(np.clip((np.trace(Re.T @ Rr) - 1) / 2, -1, 1)))
        assert ang < 1.0 and np.linalg.norm(te - tr) < 0.02
