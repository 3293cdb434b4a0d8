"""`mocap triangulate` end to end on a tiny synthetic capture, and its input errors."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.cli.main import main
from mocap.keypoints import Keypoints2D, load_npz, read_trc, save_npz
from tests.conftest import make_ring_rig


@pytest.fixture
def case(tmp_path, rng):
    from mocap.cameras.formats import write_calibration

    rig = make_ring_rig(4, dist=[-0.1, 0.02, 0.0, 0.0, 0.0])
    T = 40
    base = rng.uniform([-0.4, -0.4, 0.3], [0.4, 0.4, 1.7], (17, 3))
    X = base[None] + 0.1 * np.sin(np.arange(T) / 5.0)[:, None, None]
    uv = np.moveaxis(rig.project(X), 0, 1) + rng.normal(0, 0.5, (T, 4, 17, 2))
    data = np.concatenate([uv, np.full(uv.shape[:-1] + (1,), 0.9)], -1)[:, :, None]
    data[5, :, 0, 3, 2] = 0.01  # joint 3 low confidence in frame 5
    data[6, 1:, 0, 4] = np.nan  # joint 4 seen by one camera in frame 6
    kp = Keypoints2D(data, "coco17", rig.names, fps=30.0)
    calib = write_calibration(rig, tmp_path / "calib.toml")
    npz = save_npz(kp, tmp_path / "kp2d.npz")
    return tmp_path, rig, kp, X, calib, npz


def test_cli_end_to_end(case, capsys):
    d, rig, kp, X, calib, npz = case
    out = d / "out" / "trial.trc"
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(npz), "--out", str(out),
               "--filter", "butterworth", "--cutoff", "6"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "persons: 1" in text and "frames: 40" in text
    for name in rig.names:
        assert name in text
    assert "fewer than min_views detections above min_conf: 1 (left_ear 1)" in text
    assert "seen by fewer than min_views cameras: 1 (right_ear 1)" in text
    k3 = load_npz(out.with_suffix(".npz"))
    assert k3.data.shape == (40, 1, 17, 4)
    assert k3.quality["reason"][5, 0, 3] == 2 and k3.quality["reason"][6, 0, 4] == 1
    assert np.isfinite(k3.quality["reproj_error_px"]).sum() == 40 * 17 - 2
    err = np.linalg.norm(k3.xyz[:, 0] - X, axis=-1)
    assert np.nanmean(err) < 0.005
    trc = read_trc(out)
    np.testing.assert_allclose(trc.xyz, k3.xyz, atol=1e-4, equal_nan=True)


def test_cli_per_camera_npz_inputs(case, capsys):
    d, rig, kp, X, calib, _ = case
    files = [str(save_npz(kp.select_cameras([n]), d / f"{n}.npz")) for n in rig.names[:3]]
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", *files, "--out", str(d / "three.trc")])
    assert rc == 0
    k3 = load_npz(d / "three.npz")
    assert np.nanmean(np.linalg.norm(k3.xyz[:, 0] - X, axis=-1)) < 0.005


@pytest.mark.parametrize("problem, message", [
    ("one_camera", "triangulation needs at least 2"),
    ("joint_sets", "every camera must use the same joint set"),
    ("frames", "cameras must be synchronised"),
    ("camera_count", "not in the calibration"),
    ("bad_out", "must end in .trc"),
])
def test_cli_bad_inputs(case, capsys, problem, message):
    d, rig, kp, X, calib, npz = case
    out = str(d / "x.trc")
    if problem == "one_camera":
        args = [str(save_npz(kp.select_cameras(["cam0"]), d / "c0.npz"))]
    elif problem == "joint_sets":
        other = Keypoints2D(kp.select_cameras(["cam1"]).data[..., :13, :], "coco17_13", ["cam1"], fps=30.0)
        args = [str(save_npz(kp.select_cameras(["cam0"]), d / "c0.npz")), str(save_npz(other, d / "c1.npz"))]
    elif problem == "frames":
        args = [str(save_npz(kp.select_cameras(["cam0"]), d / "c0.npz")),
                str(save_npz(kp.select_cameras(["cam1"]).frames(slice(0, 30)), d / "c1.npz"))]
    elif problem == "camera_count":
        extra = Keypoints2D(np.concatenate([kp.data, kp.data[:, :1]], axis=1), "coco17", rig.names + ["cam9"],
                            fps=30.0)
        args = [str(save_npz(extra, d / "five.npz"))]
    else:
        args, out = [str(npz)], str(d / "x.csv")
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", *args, "--out", out])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_cli_all_nan_frames_do_not_crash(case, capsys):
    d, rig, kp, X, calib, _ = case
    kp.data[10:12] = np.nan
    npz = save_npz(kp, d / "gappy.npz")
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(npz), "--out", str(d / "g.trc"),
               "--filter", "butterworth"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "2 frame(s) have no triangulated joint at all" in text
    k3 = load_npz(d / "g.npz")
    assert np.isnan(k3.xyz[10:12]).all() and np.isfinite(k3.xyz[20]).all()


@pytest.mark.parametrize("extra", [["--filter", "kalman", "--fill-gaps", "3"], ["--filter", "one_euro", "--bones"],
                                   ["--no-refine", "--no-temporal-check", "--units", "mm", "--y-up"]])
def test_cli_options(case, capsys, extra):
    d, rig, kp, X, calib, npz = case
    out = d / "opt.trc"
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(npz), "--out", str(out), *extra])
    assert rc == 0, capsys.readouterr().err
    k3 = load_npz(d / "opt.npz")
    assert np.nanmean(np.linalg.norm(k3.xyz[:, 0] - X, axis=-1)) < 0.02  # filters lag a little
    if "--fill-gaps" in extra:  # the single-frame gaps of joints 3 and 4 are filled
        assert np.isfinite(k3.xyz[5, 0, 3]).all() and np.isfinite(k3.xyz[6, 0, 4]).all()
    assert out.exists()


def test_cli_openpose_folders(case, capsys):
    from mocap.keypoints import write_openpose_folders

    d, rig, kp, X, calib, _ = case
    folders = write_openpose_folders(kp, d / "pose")
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(d / "pose"), "--joint-set", "coco17",
               "--fps", "30", "--out", str(d / "op.trc")])
    assert rc == 0, capsys.readouterr().err
    k3 = load_npz(d / "op.npz")
    assert k3.data.shape == (40, 1, 17, 4)
    assert np.nanmean(np.linalg.norm(k3.xyz[:, 0] - X, axis=-1)) < 0.005
    # one folder per camera, passed explicitly, with a different joint count in one of them -> clear error
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", *map(str, folders), "--joint-set", "body25",
               "--out", str(d / "op2.trc")])
    assert rc == 2 and "Traceback" not in capsys.readouterr().err


def test_cli_multiperson_openpose_auto(shared_data, tmp_path, capsys):
    """Three people in shuffled order per camera and frame, as OpenPose JSON without person ids: auto -> multi."""
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import write_openpose_folders
    from tests.reconstruct.test_multiperson import multiperson_capture, track_of_person

    rig, kp, gt = multiperson_capture(shared_data / "bvh" / "131_01.bvh", T=45)
    calib = write_calibration(rig, tmp_path / "calib.toml")
    write_openpose_folders(kp, tmp_path / "pose", person_ids=False)
    out = tmp_path / "out" / "multi.trc"
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(tmp_path / "pose"), "--joint-set", "coco17",
               "--fps", "30", "--out", str(out), "-v"])
    cap = capsys.readouterr()
    text = cap.out
    assert rc == 0, cap.err
    assert "persons: 3" in text and "multi-person: 3 track(s) over 45 frames" in text
    for pid in range(3):
        assert f"track {pid}: frames 0-44" in text
    for name in rig.names:
        assert name in text
    k3 = load_npz(out.with_suffix(".npz"))
    assert k3.data.shape == (45, 3, 17, 4) and sorted(k3.person_ids.tolist()) == [0, 1, 2]
    assert k3.meta["people_mode"] == "multi" and len(k3.meta["association"]["people_3d"]) == 45
    best, err = track_of_person(k3, gt)
    for g in range(3):
        assert np.bincount(best[:, g][best[:, g] >= 0], minlength=1).max() >= 0.95 * 45
    assert np.nanmean(err) < 0.015
    trcs = sorted(out.parent.glob("multi_p*.trc"))
    assert [p.name for p in trcs] == ["multi_p0.trc", "multi_p1.trc", "multi_p2.trc"]
    np.testing.assert_allclose(read_trc(trcs[1]).xyz[:, 0], k3.person(1)[..., :3], atol=1e-4, equal_nan=True)
    # forcing the single-person path triangulates slot by slot: no stable identities
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(tmp_path / "pose"), "--joint-set", "coco17",
               "--people", "single", "--out", str(tmp_path / "single.trc")])
    assert rc == 0 and "multi-person" not in capsys.readouterr().out
    ks = load_npz(tmp_path / "single.npz")
    best_s, _ = track_of_person(ks, gt)
    assert max(np.bincount(best_s[:, g][best_s[:, g] >= 0], minlength=1).max() for g in range(3)) < 0.8 * 45


def test_cli_multi_nobody_triangulated(case, capsys):
    d, rig, kp, X, calib, _ = case
    data = kp.data.copy()
    data[:, 1:] = np.nan  # one camera only: nobody can be associated
    npz = save_npz(Keypoints2D(data, "coco17", rig.names, fps=30.0), d / "one.npz")
    rc = main(["triangulate", "--calib", str(calib), "--keypoints", str(npz), "--people", "multi",
               "--out", str(d / "none.trc")])
    cap = capsys.readouterr()
    assert rc == 2 and "no person was triangulated" in cap.err and "Traceback" not in cap.err
    assert "seen by one camera only (dropped): 40" in cap.out
    assert (d / "none.npz").exists() and not (d / "none.trc").exists()
