"""Two machines: camera nodes in one network namespace, the fusion node (and a listener) in another, joined by a
veth pair with private addresses (10.231.0.0/24). Both namespaces, the veth pair and the addresses are created and
removed by this test, inside scripts/ros_test.sh's sandbox (unshare -n): nothing leaves the machine. DDS discovery
crosses the veth with ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET and ROS_STATIC_PEERS, set for those processes only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ros.conftest import needs_netns, needs_ros

pytestmark = [pytest.mark.ros, needs_ros, needs_netns]
NET = "10.231.0"


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


class Machine:
    """A child network namespace held by a sleeping process; commands run in it with nsenter."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
        time.sleep(0.1)
        if self.holder.poll() is not None:
            raise OSError("unshare -n failed")

    def cmd(self, *args: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *args]

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.kill()  # the namespace, its veth end and its peer disappear with the last process
            self.holder.wait()


@pytest.fixture
def machines():
    if not (shutil.which("ip") and shutil.which("nsenter") and shutil.which("unshare")):
        pytest.skip("needs iproute2 (ip), nsenter and unshare")
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.splitlines()
    if len(links) != 1 or ": lo:" not in links[0]:
        pytest.skip("refusing to add a veth pair: this is not scripts/ros_test.sh's loopback-only sandbox")
    made: list[Machine] = []
    try:
        try:
            a, b = Machine(), Machine()
            made += [a, b]
            _run(["ip", "link", "add", "mcveth_a", "type", "veth", "peer", "name", "mcveth_b"])
            _run(["ip", "link", "set", "mcveth_a", "netns", str(a.holder.pid)])
            _run(["ip", "link", "set", "mcveth_b", "netns", str(b.holder.pid)])
            for m, dev, ip in ((a, "mcveth_a", f"{NET}.1"), (b, "mcveth_b", f"{NET}.2")):
                _run(m.cmd("ip", "link", "set", "lo", "up"))
                _run(m.cmd("ip", "addr", "add", f"{ip}/24", "dev", dev))
                _run(m.cmd("ip", "link", "set", dev, "up"))
                _run(m.cmd("ip", "route", "add", "224.0.0.0/4", "dev", dev))  # discovery multicast stays on veth
        except (OSError, subprocess.SubprocessError) as e:
            detail = getattr(e, "stderr", b"") or b""
            pytest.skip(f"cannot create network namespaces / veth pair here ({e} {detail.decode(errors='replace')})")
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", "mcveth_a"], capture_output=True)  # only if it never moved
        for m in made:
            m.close()


@pytest.mark.slow
def test_cameras_and_fusion_on_two_machines(machines, shared_data, tmp_path, ros_env):
    from mocap_ros.launch_spec import node_specs

    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import save_npz
    from mocap.skeletons import get_joint_set
    from mocap.synthetic import make_capture
    from tests.ros.rosutil import installed_executable, logs, stop_nodes

    a, b = machines
    rig, kp2d, _ = make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=3, frame_step=4, max_frames=20)
    calib = write_calibration(rig, tmp_path / "calibration.toml")
    save_npz(kp2d, tmp_path / "kp2d.npz")
    config = installed_executable("x").parents[2] / "share" / "mocap" / "config" / "multiview.yaml"
    specs = node_specs(config, rig.names, calibration=str(calib), keypoints_file=str(tmp_path / "kp2d.npz"),
                       extra={"filter": "none", "wait_timeout_s": 60.0, "max_wait_s": 10.0, "camera_timeout_s": 10.0,
                              "replay_time_base": 1000.0})
    T = kp2d.n_frames

    def env(peer: str) -> dict:
        e = dict(ros_env)
        e["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"
        e["ROS_STATIC_PEERS"] = peer
        return e

    procs = []

    def start(machine: Machine, cmd: list[str], peer: str, log: str) -> None:
        f = open(tmp_path / f"{log}.log", "w")  # noqa: SIM115
        procs.append(subprocess.Popen(machine.cmd(*cmd), env=env(peer), stdout=f, stderr=subprocess.STDOUT))

    out = tmp_path / "listener.json"
    try:
        # machine B: fusion + listener; machine A: the cameras (they wait for the fusion node to subscribe)
        start(b, [sys.executable, str(Path(__file__).with_name("skeleton_listener.py")), str(out), str(T), "60"],
              f"{NET}.1", "listener")
        fusion = specs[-1]
        start(b, [sys.executable, str(installed_executable(fusion.executable)), *fusion.ros_args()], f"{NET}.1",
              "fusion")
        for s in specs[:-1]:
            start(a, [sys.executable, str(installed_executable(s.executable)), *s.ros_args()], f"{NET}.2",
                  f"camera_{s.overrides['camera']}")
        procs[0].wait(timeout=90)
    finally:
        stop_nodes(procs)
    assert out.is_file(), logs(tmp_path)
    res = json.loads(out.read_text())
    print(f"two machines: {res['count']}/{T} skeleton arrays arrived across the veth pair")
    assert res["count"] >= 0.8 * T, f"{res['count']} of {T} skeleton arrays\n{logs(tmp_path)}"
    assert res["joint_names"] == [list(get_joint_set("coco17").joints)]
    assert all(n == 1 for n in res["people"])
