import subprocess
import sys

import numpy as np
import pytest

from mocap.calibration.boards import load_board
from mocap.calibration.given_intrinsics import check_size, is_realsense_source, resolve_intrinsics
from mocap.calibration.pipeline import solve_rig
from mocap.calibration.synthetic import arc_rig, random_board_poses
from mocap.cameras.formats import write_calibration
from mocap.errors import CalibrationError
from tests.calibration.test_extrinsics import _observe


def _rig_file(tmp_path, names=("cam0", "cam1", "cam2")):
    rig = arc_rig(len(names), radius=1.5, size=(640, 480), f=560)
    for c, n in zip(rig.cameras, names):
        c.name = n
    write_calibration(rig, tmp_path / "intr.toml")
    return rig, tmp_path / "intr.toml"


def test_match_by_name_order_and_partial(tmp_path):
    rig, path = _rig_file(tmp_path)
    fixed = resolve_intrinsics({"cam2": "a.mp4", "cam0": "b.mp4"}, path)
    assert set(fixed) == {"cam2", "cam0"} and np.allclose(fixed["cam2"].K, rig["cam2"].K)
    notes: list[str] = []
    fixed = resolve_intrinsics({"x": "a", "y": "b", "z": "c"}, path, say=notes.append)
    assert np.allclose(fixed["z"].K, rig["cam2"].K) and fixed["z"].name == "z"
    assert "matched by order" in notes[0] and "x <- cam0" in notes[0] and "z <- cam2" in notes[0]
    notes.clear()
    fixed = resolve_intrinsics({"cam1": "a", "new": "b"}, path, say=notes.append)
    assert list(fixed) == ["cam1"] and "new" in notes[0] and "estimating" in notes[0]
    with pytest.raises(CalibrationError, match=r"3 camera\(s\).*2 camera\(s\)"):
        resolve_intrinsics({"x": "a", "y": "b"}, path)


def test_size_mismatch_names_camera_file_and_sizes(tmp_path):
    _, path = _rig_file(tmp_path)
    cam = resolve_intrinsics({"cam0": "v.mp4"}, path)["cam0"]
    with pytest.raises(CalibrationError, match=r"camera 'cam0'.*intr\.toml.*640x480.*'v\.mp4' are 1280x720"):
        check_size("cam0", cam, (1280, 720), "v.mp4")


def test_given_intrinsics_fixed_unless_refined(rng):
    board = load_board("charuco_a3")
    rig = arc_rig(3, radius=1.5, size=(640, 480), f=560)
    dets = _observe(rig, random_board_poses(board, 12, seed=6, spread=0.35, max_tilt_deg=50), board, rng)
    given = rig.copy()
    given["cam1"].K[0, 0] *= 1.01  # slightly wrong supplied focal length
    sizes = {c.name: c.size for c in rig}
    srcs = {c.name: c.name for c in rig}
    cal = solve_rig(dets, sizes, board, srcs, intrinsics=given)
    for c in rig:
        assert np.array_equal(cal.rig[c.name].K, given[c.name].K) and np.array_equal(cal.rig[c.name].dist, c.dist)
    assert cal.intrinsics["cam0"].given and "estimated" not in cal.intrinsics_from["cam0"]
    assert cal.rms < 1.0
    refined = solve_rig(dets, sizes, board, srcs, intrinsics=given, refine_intrinsics=True)
    assert abs(refined.rig["cam1"].K[0, 0] / rig["cam1"].K[0, 0] - 1) < 0.003 < abs(
        given["cam1"].K[0, 0] / rig["cam1"].K[0, 0] - 1)
    assert refined.rms < cal.rms


def test_realsense_factory_intrinsics_from_db3(tmp_path):
    """A .db3 recording with known colour intrinsics (the recorder of tests/sources/test_realsense.py), then the
    intrinsics selection: the RealSense source gets its factory intrinsics, an ordinary video gets none."""
    from tests.sources.test_realsense import SCRIPT

    record = SCRIPT.split("\nsrc = RealSenseSource")[0]
    check = (
        "\nfrom mocap.calibration.given_intrinsics import resolve_intrinsics"
        "\nfixed = resolve_intrinsics({'rs': path, 'other': 'other.mp4'})"
        "\nassert list(fixed) == ['rs'], fixed"
        "\nassert np.array_equal(fixed['rs'].K, [[50.0, 0, 31.5], [0, 51.0, 24.25], [0, 0, 1]]), fixed['rs'].K"
        "\nassert fixed['rs'].size == (W, H) and 'RealSense factory' in fixed['rs'].meta['intrinsics_from']"
        "\nprint('OK')\n")
    res = subprocess.run([sys.executable, "-c", record + check, str(tmp_path / "rs.db3")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr[-3000:]
    assert is_realsense_source(tmp_path / "rs.db3") and is_realsense_source("x.BAG")
    assert not is_realsense_source("a.mp4")
