"""What the launch file starts (mocap_ros.launch_spec, no DDS): parameter files against the declared parameters,
launch arguments against the README, the node command lines for sessions, modes, sources and namespaces. The real
``ros2 launch`` runs in test_launch_real.py."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.ros.conftest import PKG_SRC, REPO, needs_ros

pytestmark = [pytest.mark.ros, needs_ros]
CONFIG = PKG_SRC / "config" / "multiview.yaml"


def _installed_programs() -> set[str]:
    cmake = (PKG_SRC / "CMakeLists.txt").read_text()
    progs = set()
    for m in re.finditer(r"install\(PROGRAMS ([^)]*?) DESTINATION lib/\$\{PROJECT_NAME\}\)", cmake):
        progs |= {p.split("/")[-1] for p in m.group(1).split()}
    return progs


def test_every_executable_is_installed_and_exists():
    from mocap_ros import launch_spec as spec

    installed = _installed_programs()
    for p in installed:
        assert (PKG_SRC / "nodes" / p).is_file()
    specs = spec.node_specs(CONFIG, "cam01,cam02", teleop=True, record=True, sim_robot=True)
    assert {s.executable for s in specs} == set(spec.EXECUTABLES) <= installed
    assert {s.executable for s in spec.node_specs(CONFIG, "cam01")} == {"camera_node", "fusion_node"}
    cmake = (PKG_SRC / "CMakeLists.txt").read_text()
    for d in ("launch", "config", "rviz"):
        assert d in re.search(r"install\(DIRECTORY ([^)]*) DESTINATION share", cmake).group(1)
    xml = (PKG_SRC / "package.xml").read_text()
    for dep in ("rviz2", "diagnostic_msgs", "tf2_msgs", "launch_ros", "mocap_msgs"):
        assert f"<exec_depend>{dep}</exec_depend>" in xml


def test_parameter_files_match_declared_parameters():
    from mocap_ros import params

    doc = yaml.safe_load(CONFIG.read_text())
    assert set(doc) == {"/**/camera", "/**/fusion"}
    from mocap_ros.launch_spec import config_params

    cam, fus = config_params(CONFIG, "camera"), config_params(CONFIG, "fusion")
    assert set(cam) | {"camera"} == set(params.CAMERA_PARAMS), set(cam) ^ set(params.CAMERA_PARAMS)
    assert set(fus) == set(params.FUSION_PARAMS), set(fus) ^ set(params.FUSION_PARAMS)
    for k, v in {**cam, **fus}.items():  # same types as the declared defaults (ROS rejects a type change)
        default = {**params.CAMERA_PARAMS, **params.FUSION_PARAMS}[k]
        assert type(v) is type(default), f"{k}: {v!r} vs declared {default!r}"
    # the library's defaults are the node's defaults (one source of truth for `mocap live` and ROS)
    from mocap.live.core import CORE_PARAMS
    from mocap.live.sync import SYNC_PARAMS

    for k, v in {**CORE_PARAMS, **SYNC_PARAMS}.items():
        assert fus[k] == v, f"config {k}: {fus[k]!r} but the library default is {v!r}"
    for fname, node, declared in (("teleop.yaml", "teleop", params.TELEOP_PARAMS),
                                  ("recorder.yaml", "recorder", params.RECORDER_PARAMS)):
        got = config_params(PKG_SRC / "config" / fname, node)
        assert set(got) == set(declared), set(got) ^ set(declared)


def test_launch_arguments_match_the_launch_file_and_readme():
    from mocap_ros.launch_spec import LAUNCH_ARGUMENTS

    launch = (PKG_SRC / "launch" / "multiview.launch.py").read_text()
    assert "LAUNCH_ARGUMENTS" in launch and "node_specs(" in launch
    readme = (REPO / "ros2_ws" / "README.md").read_text()
    section = readme.split("## Launch arguments", 1)[1].split("\n## ", 1)[0]
    table = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    assert table == set(LAUNCH_ARGUMENTS), table ^ set(LAUNCH_ARGUMENTS)


def test_node_specs_layout_namespaces_and_supervision():
    from mocap_ros.launch_spec import node_specs

    specs = node_specs(CONFIG, "cam01, cam02", calibration="/c.toml", keypoints_file="/k.npz",
                       extra={"filter": "none", "rate": 0.0}, namespace="rig2", body_model="anny")
    assert [(s.name, s.namespace) for s in specs] == [("camera", "/rig2/cam01"), ("camera", "/rig2/cam02"),
                                                      ("fusion", "/rig2")]
    assert [s.respawn for s in specs] == [True, True, False] and specs[-1].shutdown_on_exit
    fusion = specs[-1].ros_args()
    assert "cameras:=[cam01,cam02]" in fusion and "filter:=none" in fusion and "calibration:=/c.toml" in fusion
    assert "body_model:=anny" in fusion and "rate:=0.0" not in fusion  # camera-only parameter not given to fusion
    cam = specs[0].ros_args()
    assert "camera:=cam01" in cam and "keypoints_file:=/k.npz" in cam and "rate:=0.0" in cam
    assert "replay_start:=/rig2/replay_start" in cam and "filter:=none" not in cam
    assert "body_model:=''" in node_specs(CONFIG, "cam01", body_model="none")[-1].ros_args()


def test_sources_per_camera(tmp_path):
    from mocap_ros.launch_spec import LaunchError, node_specs, per_camera_sources

    for c in ("cam01", "cam02"):
        (tmp_path / f"{c}.mp4").write_bytes(b"")
    cams = ["cam01", "cam02"]
    assert per_camera_sources(str(tmp_path), cams, "video") == {c: str(tmp_path / f"{c}.mp4") for c in cams}
    assert per_camera_sources("0,2", cams, "usb") == {"cam01": "0", "cam02": "2"}
    assert per_camera_sources("cam02=rtsp://x,cam01=3", cams, "usb") == {"cam02": "rtsp://x", "cam01": "3"}
    with pytest.raises(LaunchError, match="2 cameras"):
        per_camera_sources("0", cams, "usb")
    with pytest.raises(LaunchError, match="cam03"):
        per_camera_sources(str(tmp_path), ["cam01", "cam03"], "video")
    with pytest.raises(LaunchError, match="needs source"):
        node_specs(CONFIG, cams, mode="usb")
    with pytest.raises(LaunchError, match="mode must be"):
        node_specs(CONFIG, cams, mode="webcam")
    specs = node_specs(CONFIG, cams, mode="video", source=str(tmp_path))
    assert "source:=" + str(tmp_path / "cam02.mp4") in specs[1].ros_args()
    assert "max_wait_s:=2.0" in specs[-1].ros_args()  # files are not live: wait for the slowest camera


def test_session_fills_cameras_calibration_keypoints_and_offsets(tmp_path, shared_data):
    """A `mocap run` output folder: keypoints, cameras, the calibration beside it and the sync offsets."""
    from mocap_ros.launch_spec import LaunchError, node_specs

    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import Keypoints3D, save_npz
    from mocap.synthetic import make_capture

    rig, kp2d, _ = make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=3, frame_step=4, max_frames=5)
    (tmp_path / "2d").mkdir()
    save_npz(kp2d, tmp_path / "2d" / "keypoints2d.npz")
    with pytest.raises(LaunchError, match="no calibration found"):
        node_specs(CONFIG, session=str(tmp_path))
    write_calibration(rig, tmp_path / "calibration.toml")
    import numpy as np

    kp3d = Keypoints3D(np.zeros((5, 1, 17, 4)), "coco17", kp2d.timestamps, kp2d.fps,
                       meta={"sync_offsets_frames": [0.0, 1.5, 0.0], "camera_names": rig.names})
    save_npz(kp3d, tmp_path / "keypoints3d.npz")
    specs = node_specs(CONFIG, session=str(tmp_path))
    assert [s.namespace for s in specs[:-1]] == [f"/mocap/{c}" for c in rig.names]
    fusion = specs[-1].ros_args()
    assert f"time_offsets:=[{rig.names[1]}:{1.5 / kp2d.fps:.6f}]" in fusion
    assert f"calibration:={tmp_path / 'calibration.toml'}" in fusion
    assert f"keypoints_file:={tmp_path / '2d' / 'keypoints2d.npz'}" in specs[0].ros_args()
    with pytest.raises(LaunchError, match="does not exist"):
        node_specs(CONFIG, session=str(tmp_path / "nope"))
