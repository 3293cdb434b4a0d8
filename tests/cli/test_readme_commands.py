"""Every call form of ``mocap`` that README.md documents runs as written, with small inputs.

The README is parsed: each ``mocap <command> [<subcommand>]`` it shows (in the command table and the code blocks) must
map to a test here, or to the test elsewhere that already runs that form (``ELSEWHERE``); a newly documented command
without a test fails :func:`test_every_documented_form_has_a_test`.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mocap.cli.main import SUBCOMMANDS, main

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CALIBRATE_SUBCOMMANDS = ("board", "wizard", "run", "intrinsics", "extrinsics", "convert", "refine", "selfcal")

#: forms run by a test in another module (module path, test function)
ELSEWHERE = {
    "calibrate board": ("tests.cli.test_calibrate", "test_board_png_and_pdf"),
    "calibrate wizard": ("tests.cli.test_calibrate", "test_wizard_real_charuco"),
    "calibrate extrinsics": ("tests.cli.test_calibrate", "test_extrinsics_with_caliscope_intrinsics"),
    "calibrate convert": ("tests.cli.test_calibrate_convert", "test_convert_qualisys_demo_to_toml"),
    "detect": ("tests.keypoints2d.test_run", "test_detect_cli_acceptance"),
    "fit": ("tests.body.test_cli_fit", "test_fit_cli_end_to_end"),
    "export": ("tests.export.test_cli_export", "test_keypoints_to_bvh_mixamo_reproduces_positions"),
    "view": ("tests.keypoints.test_view_cli", "test_view_3d_npz_summary_and_plot"),
    "calibrate refine": ("tests.cli.test_calibrate_refine", "test_refine_cli"),
    "calibrate selfcal": ("tests.cli.test_calibrate_refine", "test_selfcal_cli"),
    "live": ("tests.apps.test_live", "test_live_demo_streams_vmc_with_statistics"),
    "events": ("tests.apps.test_gestures", "test_cli_events"),
}
#: forms run here (the test functions below)
HERE = {
    "demo": "test_demo",
    "calibrate run": "test_calibrate_run",
    "calibrate intrinsics": "test_calibrate_intrinsics",
    "triangulate": "test_triangulate_openpose_folders",
    "run": "test_run_videos_folder",
    "bench": "test_bench_list_and_run",
}


def documented_forms(text: str) -> set[str]:
    """``"command"`` or ``"calibrate subcommand"`` for every ``mocap ...`` call the README shows."""
    forms: set[str] = set()
    for m in re.finditer(r"(?:^|[`\s/])(?:\.venv/bin/)?mocap ([a-z][a-z_ /|]*)", text, flags=re.M):
        words = m.group(1).replace("/", " ").split()
        if not words or words[0] not in SUBCOMMANDS:
            continue
        if words[0] == "calibrate":
            subs = [w for w in words[1:] if w in CALIBRATE_SUBCOMMANDS]
            forms.update(f"calibrate {s}" for s in subs)
        else:
            forms.add(words[0])
    return forms


def test_every_documented_form_has_a_test():
    forms = documented_forms(README.read_text())
    assert {"demo", "run", "triangulate", "calibrate wizard"} <= forms  # the parser finds the README's commands
    missing = forms - set(ELSEWHERE) - set(HERE)
    assert not missing, f"README documents {sorted(missing)} without a test: add one to {__name__}"
    for module, name in ELSEWHERE.values():
        assert callable(getattr(importlib.import_module(module), name, None)), f"{module}.{name} is gone"
    for name in HERE.values():
        assert callable(globals().get(name)), name


@pytest.mark.slow
def test_demo(tmp_path, monkeypatch, capsys):
    """``mocap demo`` (README quick start), on 30 frames, fitting Anny and writing BVH and TRC."""
    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    out = tmp_path / "demo"
    assert main(["demo", "--frames", "30", "--export", "bvh,trc", "--out", str(out)]) == 0
    for f in ("keypoints3d.npz", "keypoints3d.trc", "motion.npz", "export/anny.bvh", "export/keypoints.trc",
              "report/report.html", "report/overlay_cam01.png"):
        assert (out / f).is_file(), f
    assert "person 0: present in" in capsys.readouterr().err


def test_calibrate_intrinsics(pose2sim_single, tmp_path, monkeypatch):
    """``mocap calibrate intrinsics`` on the Pose2Sim checkerboard images of one camera."""
    from mocap.cameras.formats import read_calibration

    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    out = tmp_path / "intrinsics.toml"
    rc = main(["calibrate", "intrinsics", "--board", "checkerboard_4x7_60mm", "--videos",
               str(pose2sim_single / "calibration" / "intrinsics" / "int_cam01_img"), "--out", str(out)])
    assert rc == 0
    cam = read_calibration(out).cameras[0]
    assert abs(cam.K[0, 0] / 1681.2 - 1) < 0.03  # Qualisys: focalLengthU / 64


@pytest.mark.slow
def test_calibrate_run(shared_data, tmp_path, monkeypatch, capsys):
    """``mocap calibrate run`` (intrinsics + extrinsics, non-interactive) on the 4 real ChArUco videos."""
    from mocap.cameras.formats import read_calibration

    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    out = tmp_path / "calib.toml"
    rc = main(["calibrate", "run", "--board", "charuco_4x5_dict4x4_1000_inverted", "--videos",
               str(shared_data / "charuco_4cam" / "calibration" / "extrinsic"), "--out", str(out), "--step", "3"])
    assert rc == 0
    assert len(read_calibration(out)) == 4
    rms = float(capsys.readouterr().out.split("final RMS reprojection error ")[1].split()[0])
    assert rms < 1.0


@pytest.fixture(scope="module")
def openpose_demo():
    from mocap.data.pose2sim_demo import pose2sim_demo

    return pose2sim_demo("openpose", quiet=True)


def test_triangulate_openpose_folders(openpose_demo, tmp_path, capsys):
    """``mocap triangulate --calib C --keypoints DIR --out out.trc`` on raw OpenPose BODY_25B JSON of every person
    (a bystander in two cameras): joint set from the data, people associated and tracked, sync reported."""
    from mocap.keypoints import load_npz

    out = tmp_path / "trial.trc"
    rc = main(["triangulate", "--calib", str(openpose_demo / "calibration" / "Calib.qca.txt"), "--keypoints",
               str(openpose_demo / "pose"), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "joint set: 25 joints per person: body25b" in text  # 25 values: BODY_25B told from BODY_25
    assert "sync cam3:" in text and "sync cam1:" in text
    kp3d = load_npz(out.with_suffix(".npz"))
    assert kp3d.joint_set == "body25b" and kp3d.n_people == 2
    assert sorted(p.name for p in tmp_path.glob("*.trc")) == ["trial_p0.trc", "trial_p1.trc"]
    main_track = int(np.argmax(np.isfinite(kp3d.xyz[..., 0]).sum(axis=(0, 2))))
    assert np.isfinite(kp3d.xyz[:, main_track, :, 0]).mean() > 0.98  # all 25 joints, eyes and ears included
    # no joint of the main person is missing for the whole clip
    assert np.isfinite(kp3d.xyz[:, main_track, :, 0]).any(0).all()


@pytest.mark.slow
def test_run_videos_folder(pose2sim_single, tmp_path, monkeypatch, capsys):
    """``mocap run --videos DIR --calib C --out DIR`` with a FOLDER of videos (it failed with "'PosixPath' object is
    not iterable"), and the README's session form ``--fit anny --export bvh,glb``; then ``--keypoints`` reusing the
    2D of that run."""
    monkeypatch.setenv("MOCAP_NO_PROGRESS", "1")
    videos = tmp_path / "session"
    shutil.copytree(pose2sim_single / "videos", videos)
    calib = pose2sim_single / "calibration" / "Calib.qca.txt"
    out = tmp_path / "out"
    rc = main(["run", "--videos", str(videos), "--calib", str(calib), "--out", str(out), "--frames", "24",
               "--fit", "anny", "--export", "bvh,glb"])
    err = capsys.readouterr().err
    assert rc == 0, err
    for f in ("keypoints3d.npz", "keypoints3d.trc", "motion.npz", "export/anny.bvh", "export/anny.glb",
              "report/report.html"):
        assert (out / f).is_file(), f
    out2 = tmp_path / "out2"
    rc = main(["run", "--keypoints", str(out / "2d" / "keypoints2d.npz"), "--calib", str(calib), "--out", str(out2),
               "--no-report"])
    assert rc == 0
    from mocap.keypoints import load_npz

    a, b = load_npz(out / "keypoints3d.npz"), load_npz(out2 / "keypoints3d.npz")
    np.testing.assert_allclose(a.xyz, b.xyz, atol=1e-9, equal_nan=True)  # same 2D in, same 3D out


def test_run_rejects_no_input(tmp_path, capsys):
    assert main(["run", "--calib", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "--videos" in capsys.readouterr().err


def test_bench_list_and_run(tmp_path, capsys):
    """``mocap bench`` lists the benchmarks; ``mocap bench NAME`` runs one (the BODY_25B completeness benchmark,
    ours only: no peers' venv given)."""
    assert main(["bench"]) == 0
    listed = capsys.readouterr().out
    assert "pose2sim_body25b" in listed and "triangulation" in listed
    out = tmp_path / "b.json"
    rc = main(["bench", "pose2sim_body25b", "--peers-python", str(tmp_path / "none"), "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    # Pose2Sim 0.10.49 reconstructs 99.71 % of these entries (measured by this benchmark with its venv)
    assert res["mocap"]["coverage"] >= 0.997 and not res["mocap"]["never_reconstructed"]
