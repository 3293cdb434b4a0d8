"""Rerun logging: the .rrd read back with Rerun's own dataframe API has the frames, the skeleton edges (a real
annotation context, not an empty one: rerun-io/rerun#9862 under numpy 1.26), cameras and 2D keypoints; the live
viewer listens on 127.0.0.1 only; `mocap view SESSION --rrd`."""

from __future__ import annotations

import numpy as np
import pytest

rr = pytest.importorskip("rerun")


@pytest.fixture(autouse=True)
def _no_analytics(tmp_path, monkeypatch):
    """The Rerun viewer keeps its analytics settings in the user's config folder: point it at a temporary one and
    switch analytics off there."""
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    exe = Path(sys.executable).parent / "rerun"
    subprocess.run([str(exe), "analytics", "disable"], capture_output=True, timeout=30, check=False)


def read_rrd(path):
    """Frame count, annotation-context classes, entity paths and the static table of a .rrd (rerun.dataframe)."""
    import rerun.dataframe as df

    rec = df.load_recording(str(path))
    cols = [str(c)[len("Component("):-1] for c in rec.schema().component_columns()]
    static = rec.view(index="frame", contents="/**").select_static().read_all().to_pylist()[0]
    table = rec.view(index="frame", contents="/world/person/**").select().read_all()
    return rec, cols, static, table


def make_session(tmp_path, frames: int = 40):
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import save_npz
    from mocap.keypoints.containers import Keypoints3D
    from mocap.synthetic.capture import make_capture
    from tests.apps.helpers import SHARED

    rig, kp2d, gt = make_capture(SHARED / "data" / "bvh" / "131_01.bvh", n_cameras=3, max_frames=frames,
                                 frame_step=4)
    s = tmp_path / "session"
    (s / "2d").mkdir(parents=True)
    save_npz(kp2d, s / "2d" / "keypoints2d.npz")
    data = np.concatenate([gt, np.ones(gt.shape[:-1] + (1,))], -1)
    save_npz(Keypoints3D(data, "coco17", fps=kp2d.fps), s / "keypoints3d.npz")
    write_calibration(rig, s / "calibration.toml")
    return s, rig


def test_session_rrd_reads_back_with_edges_cameras_and_frames(tmp_path, shared_data):
    from mocap.cli.main import main

    s, rig = make_session(tmp_path)
    out = tmp_path / "session.rrd"
    assert main(["view", str(s), "--rrd", str(out)]) == 0
    rec, cols, static, table = read_rrd(out)
    ctx = static["/world:AnnotationContext"][0]
    coco = [c for c in ctx if c["class_description"]["info"]["label"] == "coco17"][0]["class_description"]
    edges = {(e["keypoint0"], e["keypoint1"]) for e in coco["keypoint_connections"]}
    assert len(coco["keypoint_annotations"]) == 17 and (5, 7) in edges and (7, 9) in edges and len(edges) == 16
    assert table.num_rows == 40 and sorted(table.column("frame").to_pylist()) == list(range(40))
    pos = table.column("/world/person/0/joints:Position3D").to_pylist()
    assert all(len(p) == 17 for p in pos)
    for cam in rig.names:
        K = np.array(static[f"/world/cameras/{cam}:PinholeProjection"][0]).reshape(3, 3).T  # column-major
        np.testing.assert_allclose(K, rig[cam].K, rtol=1e-6)
        t = np.array(static[f"/world/cameras/{cam}:Translation3D"][0])
        np.testing.assert_allclose(t, rig[cam].center, atol=1e-5)
        assert any(c.startswith(f"/world/cameras/{cam}/keypoints/0:") for c in cols)
    times = rec.view(index="time", contents="/world/person/**").select().read_all().column("time")
    assert len(times) == 40


def test_live_viewer_binds_loopback_only(tmp_path):
    from mocap.apps.offline import keypoints_stream
    from mocap.apps.viewer import RerunViewer
    from tests.apps.helpers import synthetic_gestures

    v = RerunViewer(live=True, headless=True, save=tmp_path / "x.rrd")
    try:
        port = int(v.url.rsplit(":", 1)[1].split("/")[0])
        listening = _listeners(port)
        assert listening == {"127.0.0.1"}, listening
        st = keypoints_stream(synthetic_gestures(duration=1.0))
        v.describe(st.descriptions[0])
        for f in st.frames:
            v.send(f)
        v.close()
        assert v.proc.poll() is None  # the viewer took the stream and is still up
    finally:
        v.stop_viewer()
    _, _, _, table = read_rrd(tmp_path / "x.rrd")
    assert table.num_rows == 60


def _listeners(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    import socket
    import struct

    out = set()
    for fn, fam in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = open(fn).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            f = ln.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":
                raw = bytes.fromhex(addr)
                raw = b"".join(struct.pack("<I", w) for w in struct.unpack(f">{len(raw) // 4}I", raw))
                out.add(socket.inet_ntop(fam, raw))
    return out
