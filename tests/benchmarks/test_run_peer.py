"""benchmarks/peers/run_peer.py: the process that produces every number of the triangulation benchmarks (mocap's
and the peers'), and the scoring in bench_triangulation."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_triangulation import plain_dlt, run_method, score, write_input
from benchmarks.peers import run_peer
from mocap.keypoints import Keypoints2D
from tests.conftest import make_ring_rig

REPO = Path(__file__).resolve().parents[2]
PEERS_PY = REPO / ".venv-peers" / "bin" / "python"
needs_peers = pytest.mark.skipif(not PEERS_PY.exists(),
                                 reason="peers venv missing: bash benchmarks/peers/setup_peers.sh")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """4 cameras, 12 frames of 17 COCO points moving rigidly at 0.6 m/s, 0.5 px noise; frame 5's point 3 is a
    gross outlier in camera 0. Returns (rig, kp, truth (T, J, 3), input path)."""
    rng = np.random.default_rng(4)
    rig = make_ring_rig(4, dist=[-0.05, 0.01, 0.0, 0.0, 0.0])
    T, J = 12, 17
    base = rng.uniform([-0.4, -0.4, 0.3], [0.4, 0.4, 1.7], (J, 3))
    X = base[None] + (np.arange(T) / 30.0)[:, None, None] * np.array([0.6, 0.0, 0.0])
    uv = np.moveaxis(rig.project(X), 0, 1) + rng.normal(0, 0.5, (T, 4, J, 2))
    uv[5, 0, 3] += [150.0, -90.0]
    data = np.concatenate([uv, np.full((T, 4, J, 1), 0.9)], -1)[:, :, None]
    kp = Keypoints2D(data, "coco17", rig.names, fps=30.0)
    path = tmp_path_factory.mktemp("peer") / "in.npz"
    write_input(path, rig, kp)
    return rig, kp, X, path


def test_mocap_methods_in_process(capture):
    _, kp, X, path = capture
    d = dict(np.load(path))
    outs = {m: run_peer.run(m, dict(d)) for m in run_peer.MOCAP_METHODS}
    for m, out in outs.items():
        Xm = out["X"].reshape(12, 17, 3)
        e = np.linalg.norm(Xm - X, axis=-1)
        assert out["X"].shape == (12 * 17, 3)
        assert np.nanmean(e) < (0.02 if m == "mocap_run_offline" else 0.005), m  # 12-frame filter edges
        assert out["kept"].shape == (4, 12 * 17) and out["kept"].dtype == bool
        assert 0 < out["call_cpu_s"] and 0 < out["call_wall_s"] < 60
        # the outlier view is never used for frame 5's point 3
        assert not out["kept"][0, 5 * 17 + 3], m
    assert outs["mocap_online"]["step_wall_ms"].shape == (12,)
    assert (outs["mocap_online"]["step_cpu_ms"] > 0).all()
    # mocap run's offline default = triangulation + its Butterworth; the constant is the pipeline's default
    from mocap.pipeline import run_pipeline
    from mocap.reconstruct.filters import butterworth_filter

    assert inspect.signature(run_pipeline).parameters["cutoff_hz"].default == run_peer.MOCAP_RUN_CUTOFF_HZ
    np.testing.assert_allclose(outs["mocap_run_offline"]["X"].reshape(12, 17, 3),
                               butterworth_filter(outs["mocap_offline"]["X"].reshape(12, 17, 3), 30.0, 6.0))
    # the first-frames option
    sub = run_peer.run("mocap_single_frame", {**d, "frames": np.array(5)})
    np.testing.assert_array_equal(sub["X"], outs["mocap_single_frame"]["X"][: 5 * 17])
    with pytest.raises(SystemExit, match="unknown method"):
        run_peer.run("nope", d)


def test_process_contract_and_timers(capture, tmp_path):
    """As the benchmark runs it: a fresh process writes OUT.npz, then OUT.json with the moment the result was on
    disk and the process's CPU time (imports included), which bound the call's own timers."""
    _, _, X, path = capture
    t0 = time.time()
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "peers" / "run_peer.py"), "mocap_online", str(path),
                        str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
    t1 = time.time()
    assert r.returncode == 0, r.stderr
    info = json.loads((tmp_path / "out.json").read_text())
    with np.load(tmp_path / "out.npz") as z:
        call_wall, call_cpu = float(z["call_wall_s"]), float(z["call_cpu_s"])
        assert np.nanmean(np.linalg.norm(z["X"].reshape(12, 17, 3) - X, axis=-1)) < 0.005
    assert t0 < info["written_at"] < t1
    assert info["written_at"] - t0 > call_wall  # the process timer includes the call (and the imports)
    assert info["process_cpu_s"] > call_cpu
    out = run_method(Path(sys.executable), "mocap_single_frame", path, timeout=300)
    assert out["process_wall_s"] > out["call_wall_s"] > 0 and out["process_cpu_s"] > out["call_cpu_s"]
    # the call timer excludes the imports (hundreds of ms of CPU; the call on 12 frames takes milliseconds)
    assert out["call_cpu_s"] < 0.25 * out["process_cpu_s"]
    bad = subprocess.run([sys.executable, str(REPO / "benchmarks" / "peers" / "run_peer.py"), "mocap_online"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "METHOD" in bad.stderr


@needs_peers
def test_peers_run_and_report_kept_views(capture):
    _, _, X, path = capture
    res = {m: run_method(PEERS_PY, m, path, timeout=600) for m in ("pose2sim", "pose2sim_offline", "aniposelib_dlt")}
    for m, out in res.items():
        assert "error" not in out, (m, out)
        assert out["process_wall_s"] > out["call_wall_s"] > 0
    assert res["pose2sim"]["call_cpu_s"] < 0.25 * res["pose2sim"]["process_cpu_s"]  # its imports are not timed
    e = {m: np.linalg.norm(out["X"].reshape(12, 17, 3) - X, axis=-1) for m, out in res.items()}
    assert np.nanmean(e["pose2sim"]) < 0.005 and np.isfinite(e["pose2sim"]).all()
    # Pose2Sim drops the outlier view of frame 5's point 3 and says so
    assert e["pose2sim"][5, 3] < 0.01 and not res["pose2sim"]["kept"][0, 5 * 17 + 3]
    assert res["pose2sim"]["kept"][:, 4 * 17 + 3].all()
    # its offline post-processing fills and smooths but stays on the points
    assert np.isfinite(e["pose2sim_offline"]).all() and np.mean(e["pose2sim_offline"]) < 0.02
    # plain DLT takes the outlier in
    assert e["aniposelib_dlt"][5, 3] > 0.05


def test_score_common_own_and_fallback():
    gt = np.zeros((2, 2, 3))
    X = np.array([[[0.001, 0, 0], [np.nan] * 3], [[0.003, 0, 0], [0.010, 0, 0]]])
    common = np.array([[True, False], [True, False]])
    fallback = np.array([[0.5, 0.2], [0.5, 0.5]])
    s = score(X, gt, common, fallback)
    assert s["common_mm"] == pytest.approx(2.0)
    assert s["own_mm"] == pytest.approx((1 + 3 + 10) / 3)
    assert s["coverage"] == pytest.approx(0.75)
    assert s["fallback_mm"] == pytest.approx((1 + 200 + 3 + 10) / 4)


def test_plain_dlt_is_the_unprotected_fallback(capture):
    rig, kp, X, _ = capture
    D = plain_dlt(rig, kp)
    e = np.linalg.norm(D - X, axis=-1)
    assert np.median(e) < 0.005  # exact up to noise where every view is right
    assert e[5, 3] > 0.05  # no outlier rejection
