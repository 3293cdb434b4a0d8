"""ROS 2 camera node: one camera's frames -> 2D keypoints -> ``mocap_msgs/Keypoints2D`` + ``sensor_msgs/CameraInfo``.

Modes (parameter ``mode``):

- ``replay``: play recorded 2D keypoints (``keypoints_file``: a Keypoints2D ``.npz`` saved by ``mocap detect`` /
  :func:`mocap.keypoints.save_npz`) for camera ``camera``, at the recorded timing times ``rate``.
- ``video``: a video file or image folder (``source``) through a detector (``detector``: a backend of
  :func:`mocap.keypoints2d.make_detector`), as fast as detection allows (``rate`` 0) or paced at ``rate`` x real
  time; no frame is skipped.
- ``usb``: an OpenCV camera (``source`` = device index or URL); ``realsense``: an Intel RealSense (``source`` =
  serial number, or a ``.db3``/``.bag`` recording).

Stamps are capture times on the wall clock (epoch seconds): live cameras stamp each frame with its capture instant
(the source's monotonic capture time moved to the wall clock; RealSense: the device timestamp, moved to the wall
clock at the first frame unless it already is one), never the time detection finished. Replay and video: the
recorded frame time + a base that every camera of the launch shares: the start instant the fusion node announces
on ``replay_start`` (``builtin_interfaces/Time``, transient local) once it hears every camera, so cameras started
as separate processes on a busy machine all begin together and stay in step (``wait_start``; without an
announcement within ``wait_timeout_s`` the camera starts on its own). A replaying camera that (re)starts late skips
the frames whose time has passed, so a respawned camera rejoins in step.

Topics (relative to the node's namespace ``/<ns>/<camera>``): ``keypoints_topic`` (``keypoints2d``, QoS sensor
data: best effort, keep last 10) and ``camera_info_topic`` (``camera_info``, reliable + transient local, depth 1: a late
subscriber still gets it). The node spins on a background thread
the whole time (its parameter services answer), and stays up after a replay or video has finished.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from mocap_msgs.msg import Keypoints2D
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo

from mocap_ros import convert, qos
from mocap_ros.node_main import run_node
from mocap_ros.params import CAMERA_PARAMS as PARAMS
from mocap_ros.params import MODES


class CameraNode(Node):
    """See the module docstring; parameters in :data:`PARAMS`."""

    def __init__(self, **kwargs) -> None:
        super().__init__("camera", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = {k: self.get_parameter(k).value for k in PARAMS}
        if p["mode"] not in MODES:
            raise SystemExit(f"camera: mode must be one of {MODES}, not {p['mode']!r}")
        if not p["camera"]:
            raise SystemExit("camera: parameter 'camera' (the camera's name in the calibration) is empty")
        self.p = p
        self.name = p["camera"]
        self.frame_id = p["frame_id"] or f"{self.name}_optical_frame"
        self.pub = self.create_publisher(Keypoints2D, p["keypoints_topic"].format(camera=self.name), qos.KEYPOINTS)
        # reliable + transient local, depth 1: a subscriber that matches late (or after the replay) still gets the
        # calibration; compatible with best-effort / volatile readers (RViz's sensor QoS)
        self.pub_info = self.create_publisher(CameraInfo, p["camera_info_topic"].format(camera=self.name),
                                              qos.LATCHED)
        self.start_wall: float | None = None
        self.create_subscription(Time, "replay_start", self._on_start, qos.LATCHED)
        self.camera = None
        if p["calibration"]:
            from mocap.cameras.formats import read_calibration

            rig = read_calibration(p["calibration"])
            if self.name not in rig.names:
                raise SystemExit(f"camera: {self.name!r} is not in {p['calibration']} (cameras: {rig.names})")
            self.camera = rig[self.name]
        self.published = 0
        self.skipped = 0

    def _on_start(self, msg: Time) -> None:
        self.start_wall = convert.stamp_to_sec(msg)

    # ------------------------------------------------------------------ publishing
    def publish(self, kp: np.ndarray, stamp: float, index: int, joint_set: str, joint_names: list[str],
                size: tuple[int, int]) -> None:
        """Publish one frame's ``(P, J, 3)`` detections (and the camera info)."""
        self.pub.publish(convert.keypoints_to_msg(kp, self.name, joint_set, joint_names, stamp, size, index,
                                                  self.frame_id))
        if self.camera is not None:
            self.pub_info.publish(convert.camera_info_msg(self.camera, stamp, self.frame_id))
        self.published += 1

    def _wait_until(self, t_wall: float) -> bool:
        """Sleep until the wall-clock instant ``t_wall`` (epoch s); False when ROS shut down meanwhile."""
        while rclpy.ok():
            dt = t_wall - time.time()
            if dt <= 0:
                return True
            time.sleep(min(dt, 0.05))
        return False

    def wait_for_start(self) -> float:
        """The shared start instant (epoch s): the fusion node's announcement once this camera's publisher has
        matched a subscriber, or now after ``wait_timeout_s`` (``wait_start`` false: now)."""
        if not self.p["wait_start"]:
            return time.time()
        deadline = time.monotonic() + float(self.p["wait_timeout_s"])
        while rclpy.ok() and (self.start_wall is None or self.pub.get_subscription_count() < 1):
            if time.monotonic() > deadline:
                self.get_logger().warning(
                    f"no start announcement on {self.resolve_topic_name('replay_start')} and "
                    f"{self.pub.get_subscription_count()} subscribers after {self.p['wait_timeout_s']} s; starting now")
                return time.time()
            time.sleep(0.01)
        return self.start_wall if self.start_wall is not None else time.time()

    # ------------------------------------------------------------------ modes
    def run(self) -> None:
        if self.p["mode"] == "replay":
            self._run_replay()
        elif self.p["mode"] == "video":
            self._run_video()
        else:
            self._run_live()

    def _run_replay(self) -> None:
        from mocap.keypoints import load_npz
        from mocap.skeletons import get_joint_set

        if not self.p["keypoints_file"]:
            raise SystemExit("camera: mode 'replay' needs 'keypoints_file' (a 2D keypoints .npz), or launch with "
                             "session:=DIR (a `mocap run` / `mocap demo` output folder)")
        kp2d = load_npz(self.p["keypoints_file"])
        if not hasattr(kp2d, "camera_names"):
            raise SystemExit(f"camera: {self.p['keypoints_file']} holds 3D keypoints; replay needs 2D")
        data = kp2d.camera(self.name)  # (T, P, J, 3); raises naming the cameras present
        n = int(self.p["max_frames"]) or len(data)
        names = list(get_joint_set(kp2d.joint_set).joints)
        size = self.camera.size if self.camera is not None else (0, 0)
        ts = np.asarray(kp2d.timestamps, float)[:n] - float(kp2d.timestamps[0])
        rate = float(self.p["rate"])
        start = self.wait_for_start()
        base = float(self.p["replay_time_base"]) or start
        while rclpy.ok():
            for i in range(len(ts)):
                if rate > 0:
                    due = start + ts[i] / rate
                    if due < time.time() - 0.1:  # joined late (e.g. respawned): rejoin in step
                        self.skipped += 1
                        continue
                    if not self._wait_until(due):
                        return
                self.publish(data[i], base + ts[i], i, kp2d.joint_set, names, size)
            if not self.p["loop"]:
                break
            period = ts[-1] + 1.0 / kp2d.fps
            base += period
            start += period / rate if rate > 0 else 0.0
        self.get_logger().info(f"replay of {self.name} finished ({self.published} frames published, {self.skipped} "
                               "skipped as already past)")

    def _open_source(self):
        from mocap.sources import open_source

        mode, src = self.p["mode"], str(self.p["source"])
        if not src and mode != "realsense":
            raise SystemExit(f"camera: mode {mode!r} needs 'source' (video file, device index or URL)")
        if mode == "realsense":
            src = src if src.lower().endswith((".db3", ".bag")) else f"realsense:{src}" if src else "realsense"
        return open_source(src, name=self.name)

    def _detector(self):
        from mocap.keypoints2d import make_detector
        from mocap.skeletons import get_joint_set

        det = make_detector(self.p["detector"])
        joint_set = self.p["joint_set"] or det.joint_set
        return det, joint_set, list(get_joint_set(joint_set).joints)

    def _run_video(self) -> None:
        source = self._open_source()
        det, joint_set, names = self._detector()  # loaded before the start: every camera begins together
        rate = float(self.p["rate"])
        try:
            start = self.wait_for_start()
            base = float(self.p["replay_time_base"]) or start
            for frame in source:
                if not rclpy.ok() or (self.p["max_frames"] and frame.index >= self.p["max_frames"]):
                    break
                if rate > 0 and not self._wait_until(start + frame.timestamp_s / rate):
                    break
                kp = det.detect(frame.image)
                h, w = frame.image.shape[:2]
                self.publish(kp, base + frame.timestamp_s, frame.index, joint_set, names, (w, h))
        finally:
            source.close()
            det.close()
        self.get_logger().info(f"video of {self.name} finished ({self.published} frames)")

    def _run_live(self) -> None:
        source = self._open_source()
        det, joint_set, names = self._detector()
        mono_to_wall = time.time() - time.monotonic()
        device_to_wall = None
        try:
            for frame in source:
                if not rclpy.ok():
                    break
                if self.p["mode"] == "usb":  # OpenCVCameraSource: monotonic capture time
                    stamp = frame.timestamp_s + mono_to_wall
                elif frame.timestamp_s > 1e9:  # RealSense global/system time: already epoch
                    stamp = frame.timestamp_s
                else:  # RealSense hardware clock: anchored to the wall clock at the first frame
                    if device_to_wall is None:
                        device_to_wall = time.time() - frame.timestamp_s
                    stamp = frame.timestamp_s + device_to_wall
                kp = det.detect(frame.image)
                h, w = frame.image.shape[:2]
                self.publish(kp, stamp, frame.index, joint_set, names, (w, h))
        finally:
            source.close()
            det.close()


def run_camera(node: CameraNode) -> None:
    """Spin the node on a background thread (parameter services, the start announcement) while its source runs
    on this thread; after the source ends, keep spinning until shutdown."""
    ex = SingleThreadedExecutor(context=node.context)
    ex.add_node(node)
    def spin() -> None:
        try:
            ex.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        node.run()
        while node.context.ok():
            time.sleep(0.1)
    finally:
        ex.shutdown(timeout_sec=1.0)


def main(argv: list[str] | None = None) -> int:
    return run_node(CameraNode, "camera", argv, run=run_camera)


if __name__ == "__main__":
    sys.exit(main())
