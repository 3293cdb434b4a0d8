"""ROS 2 camera node: one camera's frames -> 2D keypoints -> ``mocap_msgs/Keypoints2D`` + ``sensor_msgs/CameraInfo``.

Modes (parameter ``mode``):

- ``replay``: play recorded 2D keypoints (``keypoints_file``: a Keypoints2D ``.npz`` saved by ``mocap detect`` /
  :func:`mocap.keypoints.save_npz`) for camera ``camera``, at the recorded timing times ``rate`` (0 = as fast as
  possible). Stamps are ``replay_time_base`` + the recorded timestamps, so several replaying cameras stay in sync;
  frame 0 is published at the wall-clock time ``replay_start_wall`` (epoch seconds; 0 = when ready), so cameras
  started as separate processes also publish in step (a late starter catches up).
- ``video``: a video file or image folder (``source``) through a detector (``detector``: a backend of
  :func:`mocap.keypoints2d.make_detector`); stamps = ``replay_time_base`` (default: node start) + frame time.
- ``usb``: an OpenCV camera (``source`` = device index or URL); ``realsense``: an Intel RealSense (``source`` =
  serial number, or a ``.db3``/``.bag`` recording); stamps = the node's clock at capture.

Topics: ``keypoints_topic`` and ``camera_info_topic`` with ``{camera}`` replaced by the camera name.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from mocap_msgs.msg import Keypoints2D
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo

from mocap_ros import convert
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
        self.pub = self.create_publisher(Keypoints2D, p["keypoints_topic"].format(camera=self.name), 10)
        self.pub_info = self.create_publisher(CameraInfo, p["camera_info_topic"].format(camera=self.name), 10)
        self.camera = None
        if p["calibration"]:
            from mocap.cameras.formats import read_calibration

            rig = read_calibration(p["calibration"])
            if self.name not in rig.names:
                raise SystemExit(f"camera: {self.name!r} is not in {p['calibration']} (cameras: {rig.names})")
            self.camera = rig[self.name]
        self.published = 0

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
        while rclpy.ok():
            dt = t_wall - time.monotonic()
            if dt <= 0:
                return True
            time.sleep(min(dt, 0.05))
        return False

    # ------------------------------------------------------------------ modes
    def wait_for_subscribers(self) -> None:
        """Block until ``wait_subscribers`` subscribers listen (e.g. the fusion node), at most ``wait_timeout_s``,
        then ``settle_s`` more so that they have matched this publisher too."""
        n = int(self.p["wait_subscribers"])
        deadline = time.monotonic() + float(self.p["wait_timeout_s"])
        while n > 0 and rclpy.ok() and self.pub.get_subscription_count() < n:
            if time.monotonic() > deadline:
                self.get_logger().warning(f"only {self.pub.get_subscription_count()} of {n} subscribers after "
                                          f"{self.p['wait_timeout_s']} s on {self.pub.topic_name}; publishing anyway")
                return
            time.sleep(0.02)
        if n > 0:  # we see the subscriber; it may not see us yet (discovery is per side): give it time
            self._wait_until(time.monotonic() + float(self.p["settle_s"]))

    def run(self) -> None:
        if self.p["start_delay_s"] > 0:
            self._wait_until(time.monotonic() + self.p["start_delay_s"])
        self.wait_for_subscribers()
        if self.p["mode"] == "replay":
            self._run_replay()
        else:
            self._run_live()

    def _run_replay(self) -> None:
        from mocap.keypoints import load_npz
        from mocap.skeletons import get_joint_set

        if not self.p["keypoints_file"]:
            raise SystemExit("camera: mode 'replay' needs 'keypoints_file' (a 2D keypoints .npz)")
        kp2d = load_npz(self.p["keypoints_file"])
        if not hasattr(kp2d, "camera_names"):
            raise SystemExit(f"camera: {self.p['keypoints_file']} holds 3D keypoints; replay needs 2D")
        data = kp2d.camera(self.name)  # (T, P, J, 3); raises naming the cameras present
        names = list(get_joint_set(kp2d.joint_set).joints)
        size = self.camera.size if self.camera is not None else (0, 0)
        ts = np.asarray(kp2d.timestamps, float)
        rate = float(self.p["rate"])
        base = float(self.p["replay_time_base"])
        # pacing on the wall clock: cameras given the same replay_start_wall stay in step across processes
        t0_wall = float(self.p["replay_start_wall"]) or time.time()
        while rclpy.ok():
            t0 = time.monotonic() + (t0_wall - time.time())
            for i in range(len(ts)):
                if rate > 0 and not self._wait_until(t0 + (ts[i] - ts[0]) / rate):
                    return
                self.publish(data[i], base + ts[i], i, kp2d.joint_set, names, size)
            if not self.p["loop"]:
                break
            base += ts[-1] - ts[0] + (1.0 / kp2d.fps)
            t0_wall = time.time()
        self.get_logger().info(f"replay of {self.name} finished ({self.published} frames)")

    def _open_source(self):
        mode, src = self.p["mode"], self.p["source"]
        if mode == "video":
            from mocap.sources import open_source

            return open_source(src, name=self.name)
        if mode == "usb":
            from mocap.sources import OpenCVCameraSource

            return OpenCVCameraSource(int(src) if str(src).isdigit() else src, name=self.name).start()
        from mocap.sources.realsense import RealSenseSource  # after rclpy (see NOTES: import order)

        is_file = str(src).endswith((".db3", ".bag"))
        return RealSenseSource(file=src if is_file else None, serial=None if is_file else (src or None),
                               name=self.name)

    def _run_live(self) -> None:
        from mocap.keypoints2d import make_detector
        from mocap.skeletons import get_joint_set

        source = self._open_source()
        det = make_detector(self.p["detector"])
        joint_set = self.p["joint_set"] or det.joint_set
        names = list(get_joint_set(joint_set).joints)
        base = self.p["replay_time_base"] or time.time()
        live = self.p["mode"] in ("usb", "realsense")
        try:
            for frame in source:
                if not rclpy.ok():
                    break
                kp = det.detect(frame.image)
                stamp = time.time() if live else base + frame.timestamp_s
                h, w = frame.image.shape[:2]
                self.publish(kp, stamp, frame.index, joint_set, names, (w, h))
        finally:
            source.close()
            det.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(CameraNode, "camera", argv, run=CameraNode.run)


if __name__ == "__main__":
    sys.exit(main())
