from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from mocap.errors import DataError, KeypointsError, MocapWarning
from mocap.keypoints import Keypoints3D, read_trc, write_trc, write_trc_per_person
from mocap.keypoints.trc import ZUP_TO_YUP
from tests.keypoints.helpers import make_kp3d


def _present(kp: Keypoints3D, p: int) -> np.ndarray:
    """Positions of person slot ``p`` with confidence 1 where present (what TRC keeps)."""
    xyz = kp.data[:, p, :, :3]
    return np.concatenate([xyz, np.where(np.isfinite(xyz).all(-1), 1.0, np.nan)[..., None]], -1)


@pytest.mark.parametrize("units", ["m", "mm", "cm"])
@pytest.mark.parametrize("missing", ["", "nan"])
def test_trc_round_trip(tmp_path, rng, units, missing):
    kp = make_kp3d(rng)
    kp.data[:, :, -1] = np.nan  # last marker missing: its cells must survive the trailing tab
    path = write_trc(kp, tmp_path / "walk.trc", units=units, person=int(kp.person_ids[1]), missing=missing)
    back = read_trc(path, person_id=int(kp.person_ids[1]))
    assert back.data.shape == (kp.n_frames, 1, kp.n_joints, 4)
    np.testing.assert_allclose(back.data[:, 0], _present(kp, 1), atol=1e-9, rtol=0)
    np.testing.assert_allclose(back.timestamps, kp.timestamps, atol=1e-12)
    assert back.fps == kp.fps
    assert back.person_ids.tolist() == [int(kp.person_ids[1])]
    assert back.meta["units"] == units
    assert back.meta["frame_indices"] == list(range(1, kp.n_frames + 1))


def test_trc_layout_is_what_opensim_reads(tmp_path, rng):
    kp = make_kp3d(rng, T=3, P=1, J=2, hole_frac=0.0)
    kp.data[1, 0, 0] = np.nan
    path = write_trc(kp, tmp_path / "a.trc", units="mm", marker_names=["LHip", "RHip"])
    lines = path.read_text().split("\n")
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\ta.trc"
    assert lines[1].split("\t") == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                                    "OrigDataStartFrame", "OrigNumFrames"]
    assert lines[2].split("\t") == ["30", "30", "3", "2", "mm", "30", "1", "3"]
    assert lines[3] == "Frame#\tTime\tLHip\t\t\tRHip\t\t\t"
    assert lines[4] == "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\t"
    assert lines[5] == ""
    # OpenSim 4 splits on every tab, drops one trailing empty cell, and wants 2 + 3 * NumMarkers cells
    row = lines[7].split("\t")
    assert row[-1] == "" and len(row[:-1]) == 2 + 3 * 2
    assert row[2:5] == ["", "", ""]
    assert float(row[5]) == pytest.approx(kp.data[1, 0, 1, 0] * 1000)
    back = read_trc(path)
    assert back.joint_set == "custom" and back.meta["joint_names"] == ["LHip", "RHip"]


def test_trc_y_up(tmp_path, rng):
    kp = make_kp3d(rng, T=4, P=1, hole_frac=0.0)
    path = write_trc(kp, tmp_path / "yup.trc", y_up=True)
    raw = read_trc(path)  # read without rotating back: Y-up coordinates
    np.testing.assert_allclose(raw.xyz[:, 0], kp.xyz[:, 0] @ ZUP_TO_YUP.T, atol=1e-12)
    # up (world +Z) is +Y in the file; the height of the person is in column Y
    np.testing.assert_allclose(raw.xyz[..., 1], kp.xyz[..., 2], atol=1e-12)
    back = read_trc(path, y_up=True)
    np.testing.assert_allclose(back.xyz, kp.xyz, atol=1e-12)


def test_trc_per_person(tmp_path, rng):
    kp = make_kp3d(rng, P=3)
    paths = write_trc_per_person(kp, tmp_path / "multi.trc", units="mm")
    assert [p.name for p in paths] == [f"multi_p{i}.trc" for i in kp.person_ids]
    for p, path in enumerate(paths):
        np.testing.assert_allclose(read_trc(path).data[:, 0], _present(kp, p), atol=1e-9)


def test_trc_keeps_frame_numbers(tmp_path, rng):
    kp = make_kp3d(rng, T=5, P=1)
    kp.meta["frame_indices"] = [20, 21, 22, 23, 24]
    back = read_trc(write_trc(kp, tmp_path / "f.trc"))
    assert back.meta["frame_indices"] == [20, 21, 22, 23, 24]
    assert "\t20\t" in (tmp_path / "f.trc").read_text().split("\n")[2]


def test_trc_bad_row_names_the_line(tmp_path, rng):
    path = write_trc(make_kp3d(rng, T=4, P=1, J=3), tmp_path / "bad.trc")
    lines = path.read_text().split("\n")
    lines[8] = "\t".join(lines[8].split("\t")[:5])  # line 9: a truncated row
    path.write_text("\n".join(lines))
    with pytest.raises(KeypointsError, match=r"bad\.trc: line 9 has 5 columns, expected 11"):
        read_trc(path)


def test_trc_bad_header_and_args(tmp_path, rng):
    p = tmp_path / "x.trc"
    p.write_text("hello\n")
    with pytest.raises(KeypointsError, match="PathFileType"):
        read_trc(p)
    with pytest.raises(DataError):
        read_trc(tmp_path / "missing.trc")
    kp = make_kp3d(rng)
    with pytest.raises(KeypointsError, match="units"):
        write_trc(kp, tmp_path / "u.trc", units="inch")
    with pytest.raises(KeypointsError, match="no person with id 99"):
        write_trc(kp, tmp_path / "u.trc", person=99)


def test_trc_row_count_mismatch_warns(tmp_path, rng):
    path = write_trc(make_kp3d(rng, T=4, P=1, J=3), tmp_path / "short.trc")
    path.write_text("\n".join(path.read_text().split("\n")[:-2]) + "\n")  # drop the last row
    with pytest.warns(MocapWarning, match="NumFrames 4 but the file has 3 data rows"):
        assert read_trc(path).n_frames == 3


OPENSIM_PYTHON = os.environ.get("MOCAP_OPENSIM_PYTHON")


@pytest.mark.skipif(not OPENSIM_PYTHON, reason="set MOCAP_OPENSIM_PYTHON to a Python with `opensim` (e.g. a venv "
                    "with opensim==4.6, which needs numpy 2) to check our TRC against OpenSim's own reader")
@pytest.mark.parametrize("missing", ["", "nan"])
def test_trc_opensim_reads_our_files(tmp_path, rng, missing):
    kp = make_kp3d(rng, T=6, P=1, J=4, hole_frac=0.3)
    kp.data[:, :, -1] = np.nan
    path = write_trc(kp, tmp_path / "o.trc", units="mm", missing=missing, marker_names=list("ABCD"))
    script = (
        "import sys, json, opensim as osim\n"
        "t = osim.TimeSeriesTableVec3(sys.argv[1])\n"
        "rows = [[[t.getRowAtIndex(i)[j][k] for k in range(3)] for j in range(t.getNumColumns())]"
        " for i in range(t.getNumRows())]\n"
        "print(json.dumps({'rows': [[[None if v != v else v for v in p] for p in r] for r in rows],"
        " 'labels': list(t.getColumnLabels()), 'times': list(t.getIndependentColumn())}))\n"
    )
    res = subprocess.run([OPENSIM_PYTHON, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    arr = np.array(got["rows"], dtype=float) / 1000.0
    assert got["labels"] == list("ABCD")
    np.testing.assert_allclose(got["times"], kp.timestamps, atol=1e-12)
    np.testing.assert_allclose(arr, kp.data[:, 0, :, :3], atol=1e-9)  # NaN in the same places


def test_trc_marker_names_find_the_joint_set(tmp_path, rng):
    pytest.importorskip("mocap.skeletons.registry")
    from mocap.skeletons import get_joint_set

    kp = make_kp3d(rng, T=3, P=1, J=17, joint_set="coco17")
    path = write_trc(kp, tmp_path / "c.trc")
    assert get_joint_set("coco17").joints[0] in path.read_text().split("\n")[3]
    assert read_trc(path).joint_set == "coco17"
