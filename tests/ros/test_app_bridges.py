"""The ROS 2 app bridges through the real ``ros2 launch``: camera nodes replay a synthetic capture of CMU 131_01
(walk, deep crouch near 3 s), the fusion node publishes skeletons, ``vmc_bridge`` streams them to a VMC receiver in
this test (EVMC4U's type checks) and ``game_control`` publishes ``sensor_msgs/Joy`` and the crouch event.

Runs inside the loopback-only network namespace: ``bash scripts/ros_test.sh tests/apps/test_ros_bridges.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.ros.conftest import needs_netns, needs_ros, ros_env  # noqa: F401 (ros_env: the fixture)

pytestmark = [pytest.mark.ros, needs_ros, needs_netns]


@pytest.mark.slow
def test_launch_with_vmc_bridge_and_game_control(shared_data, ros_env, tmp_path):  # noqa: F811
    from mocap_msgs.msg import SkeletonArray
    from sensor_msgs.msg import Joy
    from std_msgs.msg import String

    from mocap.apps.gestures import AXES
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import save_npz
    from mocap.synthetic import make_capture
    from tests.apps.vmc_receiver import VmcReceiver
    from tests.ros.rosutil import Collector

    rig, kp2d, _ = make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=3, frame_step=4, max_frames=130,
                                noise_px=1.0, outlier_rate=0.0, dropout_rate=0.0)
    calib = write_calibration(rig, tmp_path / "calibration.toml")
    kp_file = save_npz(kp2d, tmp_path / "kp2d.npz")
    bindir = Path(sys.executable).parent
    # the installed config, with the cameras waiting for the fusion node's subscription (and settling) before they
    # publish: on a busy machine the nodes start seconds after the launch's shared replay start, and frames
    # published before DDS matched would be lost (the elapsed frames then go out at once, stamped as recorded)
    import yaml

    cfg = yaml.safe_load((bindir.parent / "share" / "mocap" / "config" / "multiview.yaml").read_text())
    cfg["/**/camera"]["ros__parameters"].update(wait_subscribers=1, wait_timeout_s=60.0, settle_s=3.0)
    # the fusion node waits for late cameras (their elapsed frames arrive in bursts) instead of dropping them
    cfg["/**/fusion"]["ros__parameters"].update(publish_joint_state=False, max_wait_s=10.0, clock_jump_s=1000.0)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    rx = VmcReceiver()
    col = Collector({"/mocap/skeletons": SkeletonArray, "/mocap/joy": Joy, "/mocap/events": String})
    env = {**ros_env, "AMENT_PREFIX_PATH": str(bindir.parent), "PATH": f"{bindir}:{ros_env.get('PATH', '')}"}
    cmd = [str(bindir / "ros2"), "launch", "mocap", "multiview.launch.py", f"config:={tmp_path / 'config.yaml'}",
           f"calibration:={calib}",
           f"keypoints_file:={kp_file}", f"cameras:={','.join(rig.names)}", "vmc:=true",
           f"vmc_url:=vmc://127.0.0.1:{rx.port}?calib=5&rate=1000", "game_control:=true"]
    log = open(tmp_path / "launch.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 150  # generous for a loaded machine, bounded

        def crouched() -> bool:
            return any('"crouch"' in m.data and '"start"' in m.data for _, m in col.msgs["/mocap/events"])

        while time.monotonic() < deadline and proc.poll() is None:
            n = len(col.msgs["/mocap/skeletons"])
            quiet = n and time.monotonic() - col.msgs["/mocap/skeletons"][-1][0] > 2
            if crouched() and n >= 0.8 * kp2d.n_frames and quiet:
                break
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()
        col.close()
        rx.close()
    full = (tmp_path / "launch.log").read_text()
    text = full[:3000] + "\n...\n" + full[-2000:]
    skel = col.msgs["/mocap/skeletons"]
    assert len(skel) >= 0.5 * kp2d.n_frames, text
    # vmc_bridge: Unity receiver's checks on every bundle; bones after the rig's 5 calibration frames
    frames = rx.frames
    assert rx.violations == [] and len(frames) >= 0.9 * len(skel), text
    moving = [f for f in frames if f.bones]
    assert len(moving) >= len(frames) - 10 and len(moving[-1].bones) == 22 and moving[-1].ok[:3] == (1, 3, 0)
    # game_control: Joy with the axes in order and one button per gesture; crouch events while the hips are low
    # (131_01's deep crouch), never a jump
    joys = [m for _, m in col.msgs["/mocap/joy"]]
    assert len(joys) >= 0.9 * len(skel) and all(len(j.axes) == len(AXES) for j in joys), text
    assert len({len(j.buttons) for j in joys}) == 1
    events = [json.loads(m.data) for _, m in col.msgs["/mocap/events"]]
    starts = [e for e in events if e["phase"] == "start"]
    assert not [e for e in starts if e["name"] == "jump"], events
    crouch = [e["t"] for e in starts if e["name"] == "crouch"]
    assert crouch, events
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in skel])
    pelvis = []
    for _, m in skel:
        sk = m.skeletons[0] if m.skeletons else None
        names = list(sk.joint_names) if sk else []
        pelvis.append(np.mean([sk.positions[names.index(n)].z for n in ("left_hip", "right_hip")]) if sk else np.nan)
    pelvis = np.array(pelvis)
    for t in crouch:
        k = int(np.argmin(np.abs(stamps - t)))
        assert pelvis[k] < 0.75 * np.nanmax(pelvis), (t, pelvis[k])
    assert max(j.axes[AXES.index("crouch")] for j in joys) > 0.3 and any(any(j.buttons) for j in joys)
