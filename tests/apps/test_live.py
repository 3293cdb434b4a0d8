"""`mocap live` on the Pose2Sim demo's 4 videos played as live cameras in real time: VMC avatar stream, Rerun
recording, crash-safe record (kill -9), agreement with the offline triangulation of the same frames; replays.

The online core is :mod:`mocap.live.core` (shared with the ROS fusion node); the camera tests need it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

DEMO = ("videos", "calibration/Calib.qca.txt")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, pose2sim_single):
    """One real-time run of the demo: VMC to a test receiver, a Rerun file, a recording, statistics."""
    pytest.importorskip("mocap.live.core")
    pytest.importorskip("rerun")
    from mocap.cli.main import main
    from tests.apps.vmc_receiver import VmcReceiver

    out = tmp_path_factory.mktemp("live")
    rx = VmcReceiver()
    try:
        rc = main(["live", "--videos", str(pose2sim_single / DEMO[0]), "--calib", str(pose2sim_single / DEMO[1]),
                   "--filter", "none", "--sink", f"vmc://127.0.0.1:{rx.port}?calib=5",
                   "--sink", f"rerun:{out / 'demo.rrd'}", "--record", str(out / "rec"),
                   "--stats-json", str(out / "stats.json"), "--quiet"])
        time.sleep(0.3)
        frames, violations = list(rx.frames), list(rx.violations)
    finally:
        rx.close()
    assert rc == 0
    return {"out": out, "stats": json.loads((out / "stats.json").read_text()), "vmc": frames,
            "violations": violations}


@pytest.mark.slow
def test_live_demo_streams_vmc_with_statistics(demo_run):
    st = demo_run["stats"]
    assert st["frames"] >= 5 and st["fps"] > 0 and st["latency_ms_p50"] > 0
    assert st["latency_ms_p95"] >= st["latency_ms_p50"] and st["people_max"] == 1
    assert set(st["camera_fps"]) == {"cam01", "cam02", "cam03", "cam04"}
    vmc = demo_run["vmc"]
    assert demo_run["violations"] == []
    assert len(vmc) == st["frames"]  # one bundle per output frame
    moving = [f for f in vmc if f.bones]
    assert moving and all(f.ok[1] == 3 for f in moving) and len(moving[0].bones) >= 20


@pytest.mark.slow
def test_live_matches_offline_triangulation_of_the_same_frames(demo_run, pose2sim_single):
    """The live skeletons (online core, no filter) against two replays of the very 2D frames live used:

    - the online mode (``mocap triangulate --mode online``: :func:`~mocap.reconstruct.online.triangulate_online`
      with the core's options) must give the same skeletons: the live path adds cameras, threads and sinks around
      the same math, never different numbers;
    - the offline triangulation with the same options and none of its whole-clip passes (no temporal re-check, no
      bone-length pass) must give the same point for most joints (median over all joints < 2 mm, >= 75 % within
      20 mm). The rest differ by design: the online core selects views with its previous output as prior, keeps
      running bone lengths and resolves the "auto" threshold from the frames so far (offline: from the whole
      clip); live drops frames to keep up in real time, so those come from frames further apart than in the clip.
    """
    from mocap.apps.live_record import read_live_recording
    from mocap.cameras.formats import read_calibration
    from mocap.live.core import FusionCore
    from mocap.reconstruct.online import triangulate_online
    from mocap.reconstruct.sequence import triangulate_keypoints

    rec = read_live_recording(demo_run["out"] / "rec")
    kp2, kp3 = rec["keypoints2d"], rec["keypoints3d"]
    assert rec["frames2d"] == rec["frames3d"] and kp2.n_frames == demo_run["stats"]["frames"]
    rig = read_calibration(demo_run["out"] / "rec" / "calibration.toml")
    core = FusionCore.from_params(rig, {"joint_set": kp2.joint_set, "filter": "none"})
    opts = core.topts  # the triangulation options `mocap live` ran with (CORE_PARAMS defaults)
    online = triangulate_online(rig, kp2, filter=None, use_prior=core.use_prior, **opts)
    a, o = kp3.data[:, 0, :, :3], online.data[:, 0, :, :3]
    np.testing.assert_array_equal(np.isfinite(a).all(-1), np.isfinite(o).all(-1))
    np.testing.assert_allclose(a, o, atol=2e-4)  # the record keeps 0.1 mm, 1e-4 px
    tri_opts = {k: v for k, v in opts.items() if k != "bones"}  # the running bone constraint is online-only
    off = triangulate_keypoints(rig, kp2, temporal_check=False, bone_check=False, **tri_opts)
    b = off.data[:, 0, :, :3]
    both = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    assert both.sum() > 0.5 * np.isfinite(b).all(-1).sum()
    d = np.where(both, np.linalg.norm(a - b, axis=-1), np.nan)
    print(f"live vs offline: {kp2.n_frames} frames, {both.sum()} joints; all-joint median "
          f"{np.nanmedian(d) * 1e3:.2f} mm, p95 {np.nanpercentile(d, 95) * 1e3:.1f} mm; per-frame median max "
          f"{np.nanmax(np.nanmedian(d, axis=1)) * 1e3:.1f} mm; joints within 20 mm {np.mean(d[both] < 0.020):.1%}")
    assert np.nanmedian(d) < 0.002 and np.mean(d[both] < 0.020) >= 0.75


@pytest.mark.slow
def test_live_demo_rrd_reads_back(demo_run):
    from tests.apps.test_viewer import read_rrd

    rec, cols, static, table = read_rrd(demo_run["out"] / "demo.rrd")
    assert table.num_rows == demo_run["stats"]["frames"]
    ctx = static["/world:AnnotationContext"][0]
    mp = [c for c in ctx if c["class_description"]["info"]["label"] == "mediapipe33"][0]["class_description"]
    assert len(mp["keypoint_annotations"]) == 33 and len(mp["keypoint_connections"]) >= 30
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        assert f"/world/cameras/{cam}:PinholeProjection" in static
        assert any(c.startswith(f"/world/cameras/{cam}/keypoints/0:") for c in cols)


@pytest.mark.slow
def test_record_survives_kill_9(tmp_path, pose2sim_single):
    pytest.importorskip("mocap.live.core")
    from mocap.apps.live_record import read_live_recording

    rec = tmp_path / "rec"
    cmd = [sys.executable, "-m", "mocap.cli.main", "live", "--videos", str(pose2sim_single / DEMO[0]),
           "--calib", str(pose2sim_single / DEMO[1]), "--record", str(rec), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            f = rec / "frames3d.jsonl"
            if f.exists() and f.read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "mocap live ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    lines2 = (rec / "frames2d.jsonl").read_text().splitlines()
    got = read_live_recording(rec)
    assert not (rec / "keypoints3d.npz").exists()  # the clean-close export never ran
    assert len(got["frames2d"]) >= 4 and got["frames2d"] == list(range(got["frames2d"][0], got["frames2d"][-1] + 1))
    assert len(got["frames2d"]) >= len(lines2) - 1  # every complete line (a torn last one is skipped)
    assert got["keypoints2d"].n_frames == len(got["frames2d"]) and got["keypoints3d"].n_frames >= 4
    assert np.isfinite(got["keypoints3d"].data[..., :3]).any()


def test_replay_to_vmc(tmp_path):
    from mocap.cli.main import main
    from mocap.keypoints.files import save_keypoints
    from tests.apps.helpers import synthetic_gestures
    from tests.apps.vmc_receiver import VmcReceiver

    src = save_keypoints(synthetic_gestures(duration=1.0, fps=30.0), tmp_path / "kp3d.npz")
    rx = VmcReceiver()
    try:
        assert main(["live", "--replay", str(src), "--sink", f"vmc://127.0.0.1:{rx.port}?calib=5"]) == 0
        frames = rx.wait(30)
    finally:
        rx.close()
    assert len(frames) == 30 and rx.violations == [] and frames[-1].bones


def test_cli_errors():
    from mocap.cli.main import main

    assert main(["live", "--videos", "nowhere"]) == 2  # no --calib
    assert main(["live", "--replay", "missing.npz", "--sink", "vmc://127.0.0.1:1"]) == 2
    assert main(["live", "--replay", "missing.npz", "--sink", "ftp://x"]) == 2
