"""`mocap view` over keypoint files and calibrations, through the real CLI entry point."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.cli.main import main
from mocap.keypoints import save_npz, write_csv, write_openpose_folders, write_trc
from tests.keypoints.helpers import make_kp2d, make_kp3d


def _png_ok(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_view_3d_npz_summary_and_plot(tmp_path, rng, capsys):
    kp = make_kp3d(rng, T=12, P=2, J=25)
    kp.data[:, :, 3] = np.nan  # joint 3 always missing
    kp.data[:, :, 5] = np.where(np.arange(12)[:, None, None] < 6, np.nan, kp.data[:, :, 5])  # joint 5 half
    path = save_npz(kp, tmp_path / "kp.npz")
    out = tmp_path / "kp.png"
    assert main(["view", str(path), "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3D keypoints, shape (12, 2, 25, 4)" in text
    assert "joint set: body25 (25 joints)" in text
    assert "12 at 30 fps" in text
    assert "quality reproj_error_px" in text
    rows = [line for line in text.splitlines() if line.startswith("  ") and "%" in line]
    assert len(rows) == 25
    assert "100.0%" in rows[3]
    pct5 = float(rows[5].split("%")[0].split()[-1])
    assert pct5 >= 50.0
    assert _png_ok(out)


def test_view_2d_openpose_folder(tmp_path, rng, capsys):
    kp = make_kp2d(rng, T=4, C=2, P=1)
    write_openpose_folders(kp, tmp_path / "pose")
    out = tmp_path / "v.png"
    assert main(["view", str(tmp_path / "pose"), "--fps", "60", "--plot", str(out), "--frame", "2"]) == 0
    text = capsys.readouterr().out
    assert "2D keypoints, shape (4, 2, 1, 25, 3)" in text
    assert "cameras (2): cam01, cam02" in text
    assert "at 60 fps" in text
    assert _png_ok(out)


@pytest.mark.parametrize("suffix", [".csv", ".trc"])
def test_view_csv_and_trc(tmp_path, rng, capsys, suffix):
    kp = make_kp3d(rng, T=5, P=1)
    path = tmp_path / f"kp{suffix}"
    (write_csv if suffix == ".csv" else write_trc)(kp, path)
    assert main(["view", str(path)]) == 0
    assert "3D keypoints, shape (5, 1, 25, 4)" in capsys.readouterr().out


def test_view_errors_are_one_line(tmp_path, rng, capsys):
    assert main(["view", str(tmp_path / "absent.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    path = save_npz(make_kp3d(rng, T=3), tmp_path / "k.npz")
    assert main(["view", str(path), "--plot", str(tmp_path / "x.png"), "--frame", "7"]) == 2
    assert "--frame 7 is out of range" in capsys.readouterr().err
    assert main(["view", str(path), "--plot", str(tmp_path / "x.png"), "--person", "42"]) == 2
    assert "no such person id" in capsys.readouterr().err


def test_view_calibration(tmp_path, capsys):
    formats = pytest.importorskip("mocap.cameras.formats")
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(4, radius=4.0)
    path = formats.write_calibration(rig, tmp_path / "rig.toml")
    out = tmp_path / "rig.png"
    assert main(["view", str(path), "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibration with 4 cameras" in text
    assert "1280x720" in text and "900.0" in text
    # neighbours on a 4 m circle are 4*sqrt(2) apart, opposite ones 8 m
    assert f"min {4 * np.sqrt(2):.3f} m, max 8.000 m" in text
    assert _png_ok(out)


@pytest.mark.slow
def test_view_pose2sim_calibration(pose2sim_single, tmp_path, capsys):
    pytest.importorskip("mocap.cameras.formats")
    calib = pose2sim_single / "calibration" / "Calib.qca.txt"
    assert main(["view", str(calib), "--plot", str(tmp_path / "p.png")]) == 0
    text = capsys.readouterr().out
    assert "calibration with 4 cameras" in text
    assert "1088x1920" in text or "1080x1920" in text
    assert _png_ok(tmp_path / "p.png")
