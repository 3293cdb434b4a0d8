"""Integration: camera nodes (replaying recorded 2D keypoints) + fusion node as separate processes, started with
the launch file's parameters; a subscriber checks the skeletons against offline triangulation of the same frames.

Robust on a loaded 2-core machine: DDS matching is only known on the writer side (a camera can see the fusion
node's subscription before the fusion node has matched the camera, and a volatile reader misses what was sent
before), so the cameras start at the instant the fusion node announces once it hears all of them; and every
SkeletonArray states which cameras were fused (``cameras``), so each frame is compared with offline triangulation of
exactly those cameras' keypoints, whatever arrived late or not at all."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.ros.conftest import needs_netns, needs_ros

pytestmark = [pytest.mark.ros, needs_ros, needs_netns]

BASE = 1000.0  # replay_time_base: stamps = BASE + recorded time


@pytest.fixture(scope="module")
def capture(shared_data, tmp_path_factory):
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import save_npz
    from mocap.synthetic import make_capture

    rig, kp2d, _ = make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=4, frame_step=4, max_frames=45)
    d = tmp_path_factory.mktemp("ros_capture")
    calib = write_calibration(rig, d / "calibration.toml")
    save_npz(kp2d, d / "kp2d.npz")
    return rig, kp2d, calib, d / "kp2d.npz"


@pytest.mark.slow
def test_pipeline_matches_offline_triangulation(capture, ros_env, tmp_path):
    from mocap_msgs.msg import SkeletonArray, SkeletonDescription
    from mocap_ros import convert, qos
    from mocap_ros.launch_spec import node_specs
    from sensor_msgs.msg import CameraInfo
    from tf2_msgs.msg import TFMessage
    from visualization_msgs.msg import MarkerArray

    from mocap.cameras.formats import read_calibration
    from mocap.reconstruct import triangulate
    from mocap.skeletons import get_joint_set
    from tests.ros.rosutil import Collector, installed_executable, logs, start_nodes, stop_nodes

    rig0, kp2d, calib, kp_file = capture
    rig = read_calibration(calib)
    config = installed_executable("x").parents[2] / "share" / "mocap" / "config" / "multiview.yaml"
    # frame-by-frame math to compare with: no filter, prior, running bone lengths or "auto" threshold history
    extra = {"filter": "none", "use_prior": False, "bones": False, "reproj_threshold_px": 15.0, "soft_factor": 0.0,
             "fallback_factor": 0.0, "replay_time_base": BASE, "wait_timeout_s": 60.0,
             "max_wait_s": 10.0, "camera_timeout_s": 10.0}
    fusion = node_specs(config, rig.names, calibration=str(calib), keypoints_file=str(kp_file), extra=extra)[-1]
    col = Collector({"/mocap/skeletons": SkeletonArray, "/mocap/markers": MarkerArray, "/tf": TFMessage,
                     "/mocap/skeleton_description": (SkeletonDescription, qos.DESCRIPTION),
                     "/mocap/cam01/camera_info": (CameraInfo, qos.LATCHED)})
    procs = start_nodes([fusion], ros_env, tmp_path)  # fusion first; the cameras once it is connected to us
    T = kp2d.n_frames
    try:
        deadline = time.monotonic() + 60
        while col.subs["/mocap/skeletons"].get_publisher_count() < 1 and time.monotonic() < deadline:
            assert procs[0].poll() is None, f"fusion node exited\n{logs(tmp_path)}"
            time.sleep(0.05)
        cams = node_specs(config, rig.names, calibration=str(calib), keypoints_file=str(kp_file), extra=extra)[:-1]
        procs += start_nodes(cams, ros_env, tmp_path)
        deadline = time.monotonic() + 60  # generous for a loaded machine, bounded
        while time.monotonic() < deadline and len(col.msgs["/mocap/skeletons"]) < T:
            time.sleep(0.1)
            if any(p.poll() not in (None, 0) for p in procs):
                break
        time.sleep(0.3)
        deadline = time.monotonic() + 15  # camera_info is latched: it arrives once discovery matched us
        while not col.msgs["/mocap/cam01/camera_info"] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_nodes(procs)
        col.close()
    got = col.msgs["/mocap/skeletons"]
    assert len(got) >= 0.8 * T, f"received {len(got)} of {T} skeleton arrays\n{logs(tmp_path)}"

    js = get_joint_set("coco17")
    data32 = kp2d.data.astype(np.float32).astype(float)  # the messages carry float32 pixels
    worst = 0.0
    n_cams = []
    for _, msg in got:
        t = convert.stamp_to_sec(msg.header.stamp) - BASE
        i = int(np.argmin(np.abs(kp2d.timestamps - t)))
        assert abs(kp2d.timestamps[i] - t) < 1e-6
        assert msg.header.frame_id == "world" and msg.joint_set == "coco17"
        assert len(msg.skeletons) == 1
        sk = msg.skeletons[0]
        assert list(sk.joint_names) == list(js.joints) and list(sk.parents) == list(js.parents)
        X, conf, g, loc = convert.skeleton_to_arrays(sk)
        # like with like: offline triangulation of the cameras this frame fused (the others as not detected)
        used = [rig.names.index(c) for c in msg.cameras]
        assert len(used) >= 2 and len(set(used)) == len(used), list(msg.cameras)
        n_cams.append(len(used))
        uv = np.full_like(data32[i, :, 0], np.nan)
        uv[used] = data32[i, used, 0]
        ref = triangulate(rig, uv[..., :2], uv[..., 2], refine=True).X
        np.testing.assert_array_equal(np.isfinite(X).all(1), np.isfinite(ref).all(1),
                                      err_msg=f"frame {i}, cameras {list(msg.cameras)}\n{logs(tmp_path)}")
        ok = np.isfinite(ref).all(1)
        worst = max(worst, float(np.abs(X[ok] - ref[ok]).max()))
        np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-6)
        assert np.all(conf[~ok] == 0) and np.all(conf[ok] > 0)
    print(f"pipeline: {len(got)}/{T} frames ({sum(n == len(rig) for n in n_cams)} with all {len(rig)} cameras), "
          f"max deviation from offline triangulation {worst * 1000:.6f} mm")
    assert max(n_cams) == len(rig), "no frame fused every camera"
    assert worst < 1e-3, f"max deviation from offline triangulation {worst * 1000:.4f} mm"

    markers = col.msgs["/mocap/markers"]
    assert markers and {m.ns for m in markers[-1][1].markers} == {"mocap/joints", "mocap/bones"}
    tfs = col.msgs["/tf"]
    assert tfs, "no TF published"
    names = {t.child_frame_id for t in tfs[-1][1].transforms}
    assert names <= {f"mocap/person_0/{j}" for j in js.joints} and len(names) >= 10
    desc = col.msgs["/mocap/skeleton_description"]
    assert desc and list(desc[-1][1].joint_names) == list(js.joints) and desc[-1][1].joint_set == "coco17"
    infos = col.msgs["/mocap/cam01/camera_info"]
    assert infos and np.allclose(np.reshape(infos[-1][1].k, (3, 3)), rig["cam01"].K)
