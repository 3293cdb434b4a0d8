"""What ``multiview.launch.py`` starts, as plain data (no ``launch`` import), so tests and scripts can start the
very same processes without ``launch_ros``.

Node layout: one ``camera`` node per camera in namespace ``/mocap/<camera>``, one ``fusion`` node in ``/mocap``,
optionally a ``teleop`` node and a ``recorder`` node in ``/mocap``. Camera and fusion nodes get the config YAML
(keys ``/**/camera`` and ``/**/fusion``), the teleop node ``teleop.yaml`` and the recorder ``recorder.yaml`` (next to
the default config), each plus per-node overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

PACKAGE = "mocap"
EXECUTABLES = ("camera_node", "fusion_node", "teleop_node", "recorder_node")
#: Launch arguments of multiview.launch.py: name -> (default, description). The README documents the same.
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    "config": ("", "parameter YAML (default: share/mocap/config/multiview.yaml)"),
    "cameras": ("", "comma-separated camera names (default: the config's fusion 'cameras')"),
    "calibration": ("", "calibration file for all nodes (overrides the config)"),
    "keypoints_file": ("", "2D keypoints .npz played by the camera nodes in replay mode (overrides the config)"),
    "rviz": ("false", "start RViz 2 with share/mocap/rviz/mocap.rviz"),
    "teleop": ("false", "start the teleop node (arm -> robot JointTrajectory)"),
    "teleop_config": ("", "teleop parameter YAML (default: share/mocap/config/teleop.yaml)"),
    "record": ("false", "start the recorder node: rosbag2 MCAP + LeRobot v3.0 dataset into record_dir"),
    "record_dir": ("mocap_recording", "output folder of the recording (one timestamped subfolder per run)"),
    # app bridges over mocap.apps (started by the launch file's _apps)
    "vmc": ("false", "start vmc_bridge: skeletons -> an avatar over VMC (VSeeFace, Warudo, Unity + EVMC4U)"),
    "vmc_url": ("vmc://127.0.0.1:39539", "VMC receiver, vmc://HOST:PORT[?person=ID&rate=HZ&calib=FRAMES]"),
    "game_control": ("false", "start game_control: skeletons -> sensor_msgs/Joy /mocap/joy + events /mocap/events"),
    "gestures": ("", "gesture TOML file of game_control (default: the built-in gestures)"),
}


@dataclass
class NodeSpec:
    executable: str
    name: str
    namespace: str
    params_file: str
    overrides: dict = field(default_factory=dict)

    def ros_args(self) -> list[str]:
        """The command-line arguments (after the executable) that start this node like the launch file does."""
        args = ["--ros-args", "-r", f"__node:={self.name}", "-r", f"__ns:={self.namespace}",
                "--params-file", self.params_file]
        for k, v in self.overrides.items():
            args += ["-p", f"{k}:={_yaml_value(v)}"]
        return args


def _yaml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_yaml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return v if v else "''"
    return str(v)


def config_params(config: str | Path, node: str) -> dict:
    """The ``ros__parameters`` of ``/**/<node>`` in a config YAML (empty when absent)."""
    doc = yaml.safe_load(Path(config).read_text()) or {}
    for key, val in doc.items():
        if key.rstrip("/").split("/")[-1] == node and isinstance(val, dict):
            return dict(val.get("ros__parameters", {}))
    return {}


def node_specs(config: str | Path, cameras: str | list[str] = "", calibration: str = "",
               keypoints_file: str = "", extra: dict | None = None, start_wall: float = 0.0,
               teleop: bool = False, teleop_config: str = "", record: bool = False, record_dir: str = "",
               config_dir: str | Path = "") -> list[NodeSpec]:
    """The nodes the launch file starts for these launch arguments.

    Args:
        config: parameter YAML path.
        cameras: comma-separated names or a list (empty: the config's fusion ``cameras``).
        calibration, keypoints_file: overrides for every node (empty: keep the config's).
        extra: more overrides for every node, e.g. ``{"filter": "none"}`` (only parameters the node declares are
            applied, so it is safe to pass fusion-only keys).
        start_wall: wall-clock time (epoch s) at which replaying cameras publish frame 0, and the stamp base
            (``replay_time_base``), so separately started camera processes stay in step (0 = each on its own).
        teleop, teleop_config: add the teleop node with this YAML (empty: ``config_dir/teleop.yaml``).
        record, record_dir: add the recorder node (``config_dir/recorder.yaml``), output into ``record_dir``.
        config_dir: folder of ``teleop.yaml`` and ``recorder.yaml`` (empty: the folder of ``config``).
    """
    config = str(config)
    fusion = config_params(config, "fusion")
    cams = [c.strip() for c in cameras.split(",")] if isinstance(cameras, str) else list(cameras)
    cams = [c for c in cams if c] or [c for c in fusion.get("cameras", []) if c]
    if not cams:
        raise ValueError(f"no cameras: pass cameras:=cam01,cam02,... or set fusion 'cameras' in {config}")
    common = {}
    if calibration:
        common["calibration"] = calibration
    fusion_over = {**common, "cameras": cams}
    cam_over = dict(common)
    if keypoints_file:
        cam_over["keypoints_file"] = keypoints_file
    if start_wall:
        cam_over["replay_start_wall"] = float(start_wall)
        cam_over["replay_time_base"] = float(start_wall)
    from mocap_ros.params import CAMERA_PARAMS, FUSION_PARAMS

    for k, v in (extra or {}).items():
        if k in FUSION_PARAMS:
            fusion_over[k] = v
        if k in CAMERA_PARAMS:
            cam_over[k] = v
    specs = [NodeSpec("camera_node", "camera", f"/mocap/{c}", config, {**cam_over, "camera": c}) for c in cams]
    specs.append(NodeSpec("fusion_node", "fusion", "/mocap", config, fusion_over))
    cdir = Path(config_dir) if config_dir else Path(config).parent
    if teleop:
        specs.append(NodeSpec("teleop_node", "teleop", "/mocap", str(teleop_config or cdir / "teleop.yaml"), {}))
    if record:
        specs.append(NodeSpec("recorder_node", "recorder", "/mocap", str(cdir / "recorder.yaml"),
                              {"output_dir": record_dir} if record_dir else {}))
    return specs


def is_true(value: str) -> bool:
    """A launch argument's truth value (``true``/``1``/``yes``/``on``, any case)."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")
