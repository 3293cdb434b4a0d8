"""ROS 2 latency of the fusion node: 2D keypoints in -> SkeletonArray out (p50 / p95 / max, milliseconds).

This process publishes every camera's ``mocap_msgs/Keypoints2D`` of one frame (synthetic 4-camera COCO-17 capture
from a CMU BVH clip) at ``--fps``, and subscribes to ``/mocap/skeletons``; the fusion node runs as a separate process
with the installed ``config/multiview.yaml``. Latency = receive time of a frame's SkeletonArray minus the publish
time of that frame's last camera message (both in this process). Targets: p95 < 10 ms without a body fit,
p95 < 40 ms with the online Anny fit (``--body-model anny``).

With a body model the node fits on a worker thread and publishes the fitted skeleton of the newest frame on
``/mocap/skeletons`` (frames that arrive during a fit are skipped, not queued); the benchmark then reports the
fitted latency, how many frames were fitted / skipped, and the latency of the triangulated skeletons published
before the fit on ``/mocap/skeletons/triangulated``.

DDS stays on loopback: run inside a network namespace (as scripts/ros_test.sh does)::

    unshare -n sh -c 'ip link set lo up; ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
        .venv/bin/python benchmarks/bench_ros_latency.py [--frames 300] [--fps 30] [--body-model anny] \
        [--json out.json]'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bvh", default=str(REPO.parent / "shared" / "data" / "bvh" / "131_01.bvh"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--filter", default="", choices=["", "kalman", "one_euro", "none"],
                    help="override the config's filter (default: keep it)")
    ap.add_argument("--body-model", default="", choices=["", "anny", "smplx"],
                    help="fit this body model online in the fusion node (default: none)")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)

    import rclpy  # noqa: F401  (before anything that may load pyrealsense2)
    from mocap_msgs.msg import Keypoints2D, SkeletonArray
    from mocap_ros import convert
    from mocap_ros.launch_spec import config_params, node_specs

    from mocap.cameras.formats import write_calibration
    from mocap.skeletons import get_joint_set
    from mocap.synthetic import make_capture
    from tests.ros.rosutil import Collector, installed_executable, logs, start_nodes, stop_nodes

    rig, kp2d, _ = make_capture(a.bvh, n_cameras=a.cameras, frame_step=4, max_frames=a.frames)
    T = kp2d.n_frames
    names = list(get_joint_set(kp2d.joint_set).joints)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ros_"))
    calib = write_calibration(rig, tmp / "calibration.toml")
    config = installed_executable("x").parents[2] / "share" / "mocap" / "config" / "multiview.yaml"
    a.filter = a.filter or config_params(config, "fusion").get("filter", "")
    extra = {"filter": a.filter, "body_model": a.body_model, "fps": kp2d.fps}
    fusion = node_specs(config, rig.names, calibration=str(calib), extra=extra)[-1]
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    os.environ["ROS_DOMAIN_ID"] = env["ROS_DOMAIN_ID"]

    tri_topic = "/mocap/skeletons/triangulated"
    topics = {"/mocap/skeletons": SkeletonArray, **({tri_topic: SkeletonArray} if a.body_model else {})}
    col = Collector(topics)
    pubs = [col.node.create_publisher(Keypoints2D, f"/mocap/{c}/keypoints2d", 10) for c in rig.names]
    procs = start_nodes([fusion], env, tmp)
    sent: dict[int, float] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (min(s.get_publisher_count() for s in col.subs.values()) < 1
                                               or min(p.get_subscription_count() for p in pubs) < 1):
            time.sleep(0.05)
        time.sleep(2.0)  # the fusion node must match our publishers too (discovery is per side)
        base = 1000.0
        msgs = [[convert.keypoints_to_msg(kp2d.data[i, c], cam, kp2d.joint_set, names, base + kp2d.timestamps[i],
                                          rig[cam].size, i) for c, cam in enumerate(rig.names)] for i in range(T)]
        t_start = time.time()
        for i in range(T):
            while time.time() < t_start + i / a.fps:
                time.sleep(0.0005)
            for p, m in zip(pubs, msgs[i]):
                p.publish(m)
            sent[i] = time.time()
        time.sleep(1.0)
    finally:
        stop_nodes(procs)
        col.close()

    def latencies(topic: str) -> np.ndarray:
        out = []
        for t_recv, m in col.msgs[topic]:
            i = int(round((convert.stamp_to_sec(m.header.stamp) - base - kp2d.timestamps[0]) * kp2d.fps))
            if i in sent:
                out.append((t_recv - sent[i]) * 1000)
        return np.asarray(out)

    lat = latencies("/mocap/skeletons")
    if not len(lat):
        print("no skeletons received\n" + logs(tmp), file=sys.stderr)
        return 1
    res = {"frames_sent": T, "frames_received": int(len(lat)), "cameras": a.cameras, "joints": len(names),
           "filter": a.filter, "body_model": a.body_model or "none", "fps": a.fps,
           "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
           "max_ms": float(lat.max())}
    print(f"ROS fusion latency ({a.cameras} cameras, {len(names)} joints, {a.filter}, body model "
          f"{a.body_model or 'none'}, {a.fps:g} Hz): "
          f"p50 {res['p50_ms']:.2f} ms, p95 {res['p95_ms']:.2f} ms, max {res['max_ms']:.2f} ms "
          f"({len(lat)}/{T} frames)")
    if a.body_model:
        tri = latencies(tri_topic)
        res["frames_skipped"] = T - int(len(lat))  # frames that arrived while the worker was fitting a newer one
        res["triangulated"] = {"frames_received": int(len(tri)), **({
            "p50_ms": float(np.percentile(tri, 50)), "p95_ms": float(np.percentile(tri, 95)),
            "max_ms": float(tri.max())} if len(tri) else {})}
        gaps = np.diff(sorted(int(round((convert.stamp_to_sec(m.header.stamp) - base - kp2d.timestamps[0])
                                        * kp2d.fps)) for _, m in col.msgs["/mocap/skeletons"]))
        res["longest_fit_gap_frames"] = int(gaps.max()) if len(gaps) else 0
        summary = [ln for ln in logs(tmp).splitlines() if "body fit:" in ln]
        print(f"  body fit: {len(lat)} frames fitted, {res['frames_skipped']} skipped (newest frame fitted), "
              f"longest gap {res['longest_fit_gap_frames']} frames" + (f"; node: {summary[-1].strip()}"
                                                                       if summary else ""))
        if len(tri):
            t = res["triangulated"]
            print(f"  triangulated skeletons ({tri_topic}, before the fit): p50 {t['p50_ms']:.2f} ms, "
                  f"p95 {t['p95_ms']:.2f} ms, max {t['max_ms']:.2f} ms ({len(tri)}/{T} frames)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
