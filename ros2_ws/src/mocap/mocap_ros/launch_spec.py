"""What ``multiview.launch.py`` starts, as plain data (no ``launch`` import), so tests and scripts can start the
very same processes without ``launch_ros`` and the launch file stays a thin wrapper.

Node layout, for launch argument ``namespace`` (default ``mocap``): one ``camera`` node per camera in namespace
``/<namespace>/<camera>`` (publishing ``keypoints2d`` and ``camera_info`` there), one ``fusion`` node in
``/<namespace>`` (subscribing ``<camera>/keypoints2d``, publishing ``skeletons`` ...), optionally a ``teleop`` and a
``recorder`` node in ``/<namespace>``. Every topic name is relative, so two launches in two namespaces do not see
each other. Camera and fusion nodes get the config YAML (keys ``/**/camera`` and ``/**/fusion``), the teleop node
``teleop.yaml`` and the recorder ``recorder.yaml`` (next to the default config), each plus per-node overrides.

Process supervision (a documented choice): camera nodes respawn (1 s delay) when they die (``respawn:=false``
turns that off); the fusion node's death shuts the whole launch down (it holds the tracking and filter state; a
supervisor such as systemd restarts the launch), with a log line saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

PACKAGE = "mocap"
EXECUTABLES = ("camera_node", "fusion_node", "teleop_node", "recorder_node", "sim_robot_node")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: Launch arguments of multiview.launch.py: name -> (default, description). The README documents the same.
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    "session": ("", "a `mocap run` / `mocap demo` output folder: its 2D keypoints, calibration, cameras and time "
                    "offsets (video mode: its source videos)"),
    "mode": ("", "camera mode for every camera: replay | video | usb | realsense (default: the config's, replay)"),
    "source": ("", "video: a folder with <camera>.mp4 files or one path per camera; usb: device indices/URLs; "
                   "realsense: serials or .db3/.bag files (comma-separated, in camera order, or cam=value pairs)"),
    "cameras": ("", "comma-separated camera names (default: the session's, else the config's fusion 'cameras')"),
    "calibration": ("", "calibration file for all nodes (overrides the session and the config)"),
    "keypoints_file": ("", "2D keypoints .npz replayed by the camera nodes in replay mode (overrides the session)"),
    "body_model": ("", "fit a body model online: anny | smplx | none (default: the config's, none)"),
    "namespace": ("mocap", "namespace of every node and topic (two rigs: two namespaces)"),
    "respawn": ("true", "restart a camera node that dies (1 s later); the fusion node's death always ends the launch"),
    "config": ("", "parameter YAML (default: share/mocap/config/multiview.yaml)"),
    "rviz": ("false", "start RViz 2 with share/mocap/rviz/mocap.rviz (needs the rviz2 package)"),
    "teleop": ("false", "start the teleop node (arm -> robot JointTrajectory)"),
    "teleop_config": ("", "teleop parameter YAML (default: share/mocap/config/teleop.yaml)"),
    "record": ("false", "start the recorder node: rosbag2 MCAP + LeRobot v3.0 dataset into record_dir"),
    "record_dir": ("mocap_recording", "output folder of the recording (one timestamped subfolder per run)"),
    "sim_robot": ("false", "start the simulated robot (a TEST TOOL standing in for a joint trajectory controller: "
                           "accepts/rejects trajectories by its rules, publishes /joint_states)"),
    # app bridges over mocap.apps (started by the launch file's _apps)
    "vmc": ("false", "start vmc_bridge: skeletons -> an avatar over VMC (VSeeFace, Warudo, Unity + EVMC4U)"),
    "vmc_url": ("vmc://127.0.0.1:39539", "VMC receiver, vmc://HOST:PORT[?person=ID&rate=HZ&calib=FRAMES]"),
    "game_control": ("false", "start game_control: skeletons -> sensor_msgs/Joy /mocap/joy + events /mocap/events"),
    "gestures": ("", "gesture TOML file of game_control (default: the built-in gestures)"),
}


class LaunchError(ValueError):
    """A launch argument that cannot be used (the launch prints the message and starts nothing)."""


@dataclass
class NodeSpec:
    """One process of the launch: executable, node name, namespace, parameters, remappings and supervision."""

    executable: str
    name: str
    namespace: str
    params_file: str
    overrides: dict = field(default_factory=dict)
    remaps: dict = field(default_factory=dict)
    respawn: bool = False
    shutdown_on_exit: bool = False

    def ros_args(self) -> list[str]:
        """The command-line arguments (after the executable) that start this node like the launch file does."""
        args = ["--ros-args", "-r", f"__node:={self.name}", "-r", f"__ns:={self.namespace}"]
        for k, v in self.remaps.items():
            args += ["-r", f"{k}:={v}"]
        args += ["--params-file", self.params_file]
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


def per_camera_sources(source: str, cameras: list[str], mode: str) -> dict[str, str]:
    """Launch argument ``source`` -> camera -> source. Accepted: a folder holding ``<camera>.<video suffix>``
    files (video mode), ``cam01=a,cam02=b`` pairs, or one comma-separated entry per camera in camera order."""
    source = source.strip()
    if not source:
        return {}
    if mode == "video" and "," not in source and Path(source).expanduser().is_dir():
        d = Path(source).expanduser()
        out, missing = {}, []
        for c in cameras:
            hits = [f for f in sorted(d.iterdir()) if f.stem == c and f.suffix.lower() in VIDEO_SUFFIXES]
            (out.__setitem__(c, str(hits[0])) if hits else missing.append(c))
        if missing:
            raise LaunchError(f"source folder {d} has no video for camera(s) {missing} (expected <camera>.mp4 ...)")
        return out
    parts = [s.strip() for s in source.split(",") if s.strip()]
    if all("=" in s for s in parts):
        out = dict(s.split("=", 1) for s in parts)
        unknown = [c for c in out if c not in cameras]
        if unknown:
            raise LaunchError(f"source names camera(s) {unknown} that are not among {cameras}")
        return out
    if len(parts) != len(cameras):
        raise LaunchError(f"source has {len(parts)} entries for {len(cameras)} cameras {cameras}; give one per "
                          "camera (comma-separated, camera order), cam=value pairs, or a folder of <camera>.mp4")
    return dict(zip(cameras, parts, strict=True))


def node_specs(config: str | Path, cameras: str | list[str] = "", calibration: str = "",
               keypoints_file: str = "", extra: dict | None = None, teleop: bool = False, teleop_config: str = "",
               record: bool = False, record_dir: str = "", config_dir: str | Path = "", *,
               session: str = "", mode: str = "", source: str = "", body_model: str = "",
               namespace: str = "mocap", respawn: bool = True, sim_robot: bool = False) -> list[NodeSpec]:
    """The nodes the launch file starts for these launch arguments.

    Args:
        config: parameter YAML path.
        cameras: comma-separated names or a list (empty: the session's, else the config's fusion ``cameras``).
        calibration, keypoints_file: overrides for every node (empty: the session's, else the config's).
        extra: more overrides for every node, e.g. ``{"filter": "none"}`` (only parameters the node declares are
            applied, so it is safe to pass fusion-only keys).
        teleop, teleop_config: add the teleop node with this YAML (empty: ``config_dir/teleop.yaml``).
        record, record_dir: add the recorder node (``config_dir/recorder.yaml``), output into ``record_dir``.
        config_dir: folder of ``teleop.yaml`` and ``recorder.yaml`` (empty: the folder of ``config``).
        session: a session folder (:func:`mocap.live.session.resolve_session`).
        mode: camera mode for every camera (empty: the config's). Video files are not live: in video mode the
            cameras run as fast as detection allows and the fusion node waits up to 2 s for the slowest one.
        source: see :func:`per_camera_sources` (video mode with a session: the session's videos).
        body_model: ``anny`` | ``smplx`` | ``none`` (empty: the config's).
        namespace: namespace of all nodes and topics.
        respawn: restart camera nodes that die.
        sim_robot: add the simulated robot (``config_dir/sim_robot.yaml``), a test tool for teleop without a robot.

    Raises:
        LaunchError: an argument that cannot be used (message for the user).
    """
    from mocap_ros.params import CAMERA_PARAMS, FUSION_PARAMS, MODES

    config = str(config)
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    fusion = config_params(config, "fusion")
    cam_cfg = config_params(config, "camera")
    mode = mode.strip() or cam_cfg.get("mode", "replay")
    if mode not in MODES:
        raise LaunchError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    info = None
    if session:
        from mocap.errors import MocapError
        from mocap.live.session import resolve_session

        try:
            info = resolve_session(session)
        except MocapError as e:
            raise LaunchError(str(e)) from None
    cams = [c.strip() for c in cameras.split(",")] if isinstance(cameras, str) else list(cameras)
    cams = [c for c in cams if c] or (info.cameras if info else []) or [c for c in fusion.get("cameras", []) if c]
    if not cams:
        raise LaunchError(f"no cameras: pass cameras:=cam01,cam02,..., session:=DIR, or set fusion 'cameras' in "
                          f"{config}")
    calibration = calibration or (info.calibration if info else "")
    if info and not calibration and not fusion.get("calibration"):
        raise LaunchError(f"no calibration found for session {info.folder} (looked for calibration.* / calib* in "
                          "it and in calibration/ beside its videos); pass calibration:=FILE")
    common = {"calibration": calibration} if calibration else {}
    fusion_over = {**common, "cameras": cams}
    cam_over = {**common, "mode": mode}
    if info:
        fusion_over["time_offsets"] = info.time_offset_entries() or [""]
        if mode == "replay":
            cam_over["keypoints_file"] = str(info.keypoints_file)
    if keypoints_file:
        cam_over["keypoints_file"] = keypoints_file
    if mode == "video":
        fusion_over.update({"max_wait_s": 2.0, "camera_timeout_s": 5.0})
    if body_model:
        if body_model not in ("anny", "smplx", "none"):
            raise LaunchError(f"body_model must be anny, smplx or none, not {body_model!r}")
        fusion_over["body_model"] = "" if body_model == "none" else body_model
    sources = per_camera_sources(source, cams, mode)
    if mode == "video" and not sources and info:
        sources = {c: info.videos[c] for c in cams if c in info.videos}
    if mode != "replay" and not sources and not cam_cfg.get("source"):
        raise LaunchError(f"mode {mode} needs source:= (video files, device indices, serials) or session:=DIR "
                          "with its videos")
    if mode in ("video", "usb", "realsense") and sources and len(sources) != len(cams):
        raise LaunchError(f"mode {mode}: no source for camera(s) {[c for c in cams if c not in sources]}")
    for k, v in (extra or {}).items():
        if k in FUSION_PARAMS:
            fusion_over[k] = v
        if k in CAMERA_PARAMS:
            cam_over[k] = v
    specs = [NodeSpec("camera_node", "camera", f"{ns}/{c}", config,
                      {**cam_over, "camera": c, **({"source": sources[c]} if c in sources else {})},
                      remaps={"replay_start": f"{ns}/replay_start"}, respawn=respawn) for c in cams]
    specs.append(NodeSpec("fusion_node", "fusion", ns or "/", config, fusion_over, shutdown_on_exit=True))
    cdir = Path(config_dir) if config_dir else Path(config).parent
    if teleop:
        specs.append(NodeSpec("teleop_node", "teleop", ns or "/", str(teleop_config or cdir / "teleop.yaml"), {}))
    if record:
        specs.append(NodeSpec("recorder_node", "recorder", ns or "/", str(cdir / "recorder.yaml"),
                              {"output_dir": record_dir} if record_dir else {}))
    if sim_robot:
        specs.append(NodeSpec("sim_robot_node", "sim_robot", ns or "/", str(cdir / "sim_robot.yaml"), {}))
    return specs


def is_true(value: str) -> bool:
    """A launch argument's truth value (``true``/``1``/``yes``/``on``, any case)."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")
