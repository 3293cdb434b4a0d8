"""ROS 2 fusion node: N cameras' ``mocap_msgs/Keypoints2D`` -> ``mocap_msgs/SkeletonArray``, markers, TF, JointState.

Subscribes ``keypoints_topic`` (``{camera}`` replaced by each name of ``cameras``), time-synchronises by header stamp
(:mod:`mocap.live.sync`), triangulates and filters with the library's live core (:mod:`mocap.live.core`) and publishes:

- ``skeletons_topic`` (``/mocap/skeletons``): ``mocap_msgs/SkeletonArray``;
- ``/mocap/markers``: ``visualization_msgs/MarkerArray`` (joints + bones);
- ``/tf``: ``tf2_msgs/TFMessage``, one transform per reconstructed joint (``world_frame`` ->
  ``mocap/person_{id}/{joint}``);
- ``/mocap/joint_states``: ``sensor_msgs/JointState`` (local rotations as rotation vectors, 3 entries per joint).

With a body model (``body_model: anny | smplx``) the fit is deferred: every frame's triangulated skeleton is
published at once on ``triangulated_topic`` (keypoint joint set) and put in a one-frame slot
(:class:`~mocap.live.core.LatestSlot`); when no callback is ready, the node's spin loop (:func:`spin_fitting`)
fits the newest frame (warm-started) and publishes it on ``skeletons_topic`` (body model joints, orientations,
shape; markers, TF and joint states follow it). Frames that arrive during a fit replace each other in the slot:
they are skipped (counted, reported in a throttled log line) instead of queueing, so the fitted output stays fresh.
One thread on purpose: torch releases the GIL at every op, so a fit thread beside the executor is slowed down by
GIL hand-offs (measured: fit p95 14 -> 26 ms next to a 30 Hz triangulation thread).

Body-worn IMUs (``imu_topics``, ``sensor_msgs/Imu``, each strapped to the bone ``imu_segments`` names as
``"parent:child"``) are fused on the single-person path: each aligns itself to its bone from frames where the cameras
see it, then rebuilds the child joint when the cameras lose it (:class:`~mocap.live.core.FusionCore`). The IMU
stamps must be on the cameras' clock.

It warns (throttled) and keeps publishing on: a missing camera, a clock jump (filters reset), out-of-sync/late
cameras, a wrong joint count, and a silent IMU topic (``imu_topic`` or one of ``imu_topics`` without a message for
``imu_timeout_s``).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from mocap_msgs.msg import Keypoints2D, SkeletonArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Imu, JointState
from visualization_msgs.msg import MarkerArray

from mocap.errors import MocapError
from mocap.live.core import FusionCore, LatestSlot
from mocap.live.sync import FrameSynchronizer
from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.params import FUSION_PARAMS as PARAMS

try:  # not on PyPI; present in every real ROS 2 install
    from tf2_msgs.msg import TFMessage
except ImportError:  # pragma: no cover - depends on the installation
    TFMessage = None



class FusionNode(Node):
    """See the module docstring; parameters in :data:`PARAMS` (``config/multiview.yaml`` documents them)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("fusion", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = {k: self.get_parameter(k).value for k in PARAMS}
        self.p = p
        imu_topics = [t for t in p["imu_topics"] if t]
        try:
            self.core = FusionCore.from_params(p["calibration"], p, cameras=[c for c in p["cameras"] if c])
        except MocapError as e:
            raise SystemExit(f"fusion: {e}") from None
        cams = self.core.cameras
        self.sync = FrameSynchronizer(cams, p["sync_tolerance_s"], p["max_wait_s"], p["min_cameras"],
                                      p["clock_jump_s"])
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_skel = self.create_publisher(SkeletonArray, p["skeletons_topic"], qos)
        self.pub_tri = None
        self.fit_slot = LatestSlot() if self.core.fits else None  # newest triangulated frame waiting for the fit
        if self.core.fits and p["triangulated_topic"]:
            self.pub_tri = self.create_publisher(SkeletonArray, p["triangulated_topic"], qos)
        self.callbacks = 0  # callbacks run so far (spin_fitting drains ready callbacks before a fit)
        self._extras = None  # fitted frame whose markers / TF / joint states are still to be published
        self.pub_markers = self.create_publisher(MarkerArray, "/mocap/markers", qos) if p["publish_markers"] else None
        self.pub_js = self.create_publisher(JointState, "/mocap/joint_states", qos) if p["publish_joint_state"] \
            else None
        self.pub_tf = None
        if p["publish_tf"]:
            if TFMessage is None:
                self.get_logger().warning("tf2_msgs is not installed: TF for the joints will not be published")
            else:
                self.pub_tf = self.create_publisher(TFMessage, "/tf", qos)
        self.subs = [self.create_subscription(Keypoints2D, p["keypoints_topic"].format(camera=c),
                                              lambda m, c=c: self._on_keypoints(c, m), qos) for c in cams]
        self.last_seen = {c: None for c in cams}
        self._warned: dict[str, float] = {}
        self._skip_reported = 0
        self.start_wall = time.monotonic()
        watched = [p["imu_topic"]] if p["imu_topic"] and p["imu_topic"] not in imu_topics else []
        self.imu_last: dict[str, float | None] = {t: None for t in imu_topics + watched}  # topic -> last wall time
        for t in imu_topics:
            self.create_subscription(Imu, t, lambda m, t=t: self._on_imu(t, m, fuse=True), 200)
        for t in watched:
            self.create_subscription(Imu, t, lambda m, t=t: self._on_imu(t, m, fuse=False), 50)
        self.timer = self.create_timer(min(0.02, p["max_wait_s"] / 2), self._on_timer)
        self.stats = {"frames": 0, "published": 0}
        imu = f", IMUs {self.core._imu_specs}" if imu_topics else ""
        fit = (f", body fit {p['body_model']} of the newest frame (triangulated: {p['triangulated_topic'] or 'off'})"
               if self.fit_slot is not None else "")
        self.get_logger().info(f"fusing {len(cams)} cameras {cams} ({p['joint_set'] or 'joint set from the cameras'}, "
                               f"filter {p['filter']}, "
                               f"sync tolerance {p['sync_tolerance_s'] * 1000:.1f} ms) -> {p['skeletons_topic']}"
                               f"{imu}{fit}")

    def _warn(self, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= self.p["warn_period_s"]:
            self._warned[key] = now
            self.get_logger().warning(text)

    def fit_pending(self) -> bool:
        """Fit and publish the newest triangulated frame waiting in the slot; False when none was waiting."""
        res = self.fit_slot.take() if self.fit_slot is not None else None
        if res is None:
            return False
        fitted = self.core.fit(res)
        if self._publish_skeletons(fitted):
            self._extras = fitted  # markers, TF, joint states when idle (a newer fit replaces them)
        slot = self.fit_slot
        if slot.skipped > self._skip_reported:
            self._warn("fit_skipped", f"body fit slower than the cameras: {slot.skipped} of {slot.put_count} frames "
                       f"skipped so far (the newest frame is fitted); {self.fit_summary()}")
            self._skip_reported = slot.skipped
        return True

    def fit_summary(self) -> str:
        """One line: frames fitted / skipped, mean and slowest fit, cold starts."""
        slot, st = self.fit_slot, self.core.fit_stats
        if slot is None:
            return "no body fit"
        n = max(1, st["fitted"])
        return (f"body fit: {st['fitted']} frames fitted, {slot.skipped} skipped (newest frame fitted first), "
                f"mean {st['fit_s'] / n * 1000:.1f} ms (CPU {st['fit_cpu_s'] / n * 1000:.1f} ms), slowest "
                f"{st['max_fit_s'] * 1000:.1f} ms, {st['cold_starts']} cold starts")

    # ------------------------------------------------------------------ callbacks
    def _on_imu(self, topic: str, msg: Imu, fuse: bool) -> None:
        self.imu_last[topic] = time.monotonic()
        if not fuse:
            return
        o, w = msg.orientation, msg.angular_velocity
        # REP 145: covariance[0] == -1 means "no estimate"
        q = [o.x, o.y, o.z, o.w] if msg.orientation_covariance[0] != -1 else [np.nan] * 4
        g = [w.x, w.y, w.z] if msg.angular_velocity_covariance[0] != -1 else None
        if not self.core.add_imu(topic, convert.stamp_to_sec(msg.header.stamp), q, g):
            self._warn(f"imu_order:{topic}", f"IMU topic {topic}: sample stamps going backwards; samples ignored")

    def _on_keypoints(self, camera: str, msg: Keypoints2D) -> None:
        self.callbacks += 1
        now = time.monotonic()
        self.last_seen[camera] = now
        try:
            kp = convert.msg_to_keypoints(msg)
        except ValueError as e:
            self._warn(f"bad:{camera}", f"{e}; message ignored")
            return
        try:
            problem = self.core.check_frame(camera, kp, msg.joint_set)
        except MocapError as e:  # an unknown joint set, or IMU segments naming joints it lacks
            problem = f"camera {camera!r}: {e}; camera ignored"
        if problem:
            self._warn(f"joints:{camera}", problem)
            kp = None
        groups, events = self.sync.add(camera, convert.stamp_to_sec(msg.header.stamp), kp, now)
        self._handle(groups, events)

    def _on_timer(self) -> None:
        self.callbacks += 1
        now = time.monotonic()
        groups, events = self.sync.poll(now)
        self._handle(groups, events)
        for c, t in self.last_seen.items():
            silent = now - (t if t is not None else self.start_wall)
            if silent > max(1.0, 10 * self.p["max_wait_s"]):
                self._warn(f"missing:{c}", f"camera {c!r}: no keypoints for {silent:.1f} s on "
                           f"{self.p['keypoints_topic'].format(camera=c)}; fusing the other cameras")
        for topic, t in self.imu_last.items():
            silent = now - (t if t is not None else self.start_wall)
            if silent > self.p["imu_timeout_s"]:
                self._warn(f"imu:{topic}", f"IMU topic {topic} silent for {silent:.1f} s; continuing with cameras "
                           "only")

    def _handle(self, groups, events) -> None:
        for ev in events:
            self._warn(f"{ev.kind}:{ev.camera}", ev.message)
            if ev.kind == "clock_jump":
                self.core.reset()
        for g in groups:
            if g.missing:
                self._warn("incomplete", f"frame at {g.stamp:.3f} s: no keypoints from {', '.join(g.missing)} "
                           f"within {self.p['max_wait_s'] * 1000:.0f} ms; triangulating {g.n_present} cameras")
            if g.spread_s > self.p["sync_tolerance_s"]:
                self._warn("spread", f"cameras out of sync by {g.spread_s * 1000:.1f} ms")
            res = self.core.process(g.stamp, g.frames, fit=False)  # a body fit is deferred: see fit_pending
            for w in res.warnings:
                self._warn(w.split(":")[0], w)
            if self.fit_slot is None:
                self._publish(res)
                continue
            if self.pub_tri is not None:
                self.pub_tri.publish(self._array_msg(res))
            self.fit_slot.put(res)

    def _array_msg(self, res):
        wf = self.p["world_frame"]
        msgs = []
        for s in res.skeletons:
            d = self.core.description(s.person_id, fitted=res.fitted)
            names, parents = (d.joint_names, d.parents) if d is not None else ([], [])
            msgs.append(convert.skeleton_msg(s.person_id, names, parents, s.positions, s.joint_confidence,
                                             s.global_quat_xyzw, s.local_quat_xyzw, res.stamp, wf,
                                             d.body_model if d else "", d.shape if d else None,
                                             s.root_translation))
        return convert.skeleton_array_msg(msgs, res.joint_set, res.stamp, wf, res.cameras)

    def publish_extras(self) -> bool:
        """Publish the markers, TF and joint states of the last fitted frame, if not done; False when none."""
        res, self._extras = self._extras, None
        if res is None:
            return False
        self._publish_extras(res)
        return True

    def _publish(self, res) -> None:
        """Publish a frame's skeletons on ``skeletons_topic`` + markers, TF, joint states."""
        if self._publish_skeletons(res):
            self._publish_extras(res)

    def _publish_skeletons(self, res) -> bool:
        """Publish the ``SkeletonArray`` of a frame; False when it has no skeleton (nothing more to publish)."""
        for w in res.warnings if res.fitted else ():
            self._warn(w.split(":")[0], w)
        self.pub_skel.publish(self._array_msg(res))
        self.stats["frames"] += 1
        self.stats["published"] += len(res.skeletons)
        if not res.skeletons:
            self._warn("empty", f"frame at {res.stamp:.3f} s: no person triangulated (too few views agree; check "
                       "the calibration and the camera sync)")
            return False
        return True

    def _publish_extras(self, res) -> None:
        wf = self.p["world_frame"]
        people = [s for s in res.skeletons if s.valid().any()]
        if not people:
            return
        d = self.core.description(fitted=res.fitted)
        if self.pub_markers is not None:
            bones = [(int(p), c) for c, p in enumerate(d.parents) if p >= 0]
            self.pub_markers.publish(convert.markers_msg([(s.person_id, s.positions) for s in people], bones,
                                                         res.stamp, wf))
        if self.pub_tf is not None:
            tfs = [t for s in people
                   for t in convert.transforms(s.person_id, d.joint_names, s.positions, s.global_quat_xyzw, res.stamp,
                                               wf)]
            self.pub_tf.publish(TFMessage(transforms=tfs))
        if self.pub_js is not None:
            from mocap.geometry.rotations import matrix_to_rotvec, quat_xyzw_to_matrix

            for s in people:
                rv = matrix_to_rotvec(quat_xyzw_to_matrix(s.local_quat_xyzw))
                self.pub_js.publish(convert.joint_state_msg(s.person_id, d.joint_names, rv, res.stamp))


def spin_fitting(node: FusionNode) -> None:
    """Spin ``node``; between callbacks, fit the newest waiting frame (only once every ready callback has run, so
    the frame fitted is the newest one that has arrived), and when idle publish the fitted frame's markers, TF and
    joint states (about 5 ms for a 100-joint body: they must not delay the next frame). Without a body model this is
    ``rclpy.spin``."""
    if node.fit_slot is None:
        rclpy.spin(node)
        return
    ex = SingleThreadedExecutor(context=node.context)
    ex.add_node(node)
    try:
        while node.context.ok():
            if not node.fit_slot.pending and node._extras is None:
                ex.spin_once(timeout_sec=0.1)
                continue
            n = node.callbacks
            ex.spin_once(timeout_sec=0.0)
            if node.callbacks == n and not node.fit_pending():  # nothing was ready: fit now, else the extras
                node.publish_extras()
    finally:
        node.get_logger().info(node.fit_summary())
        ex.remove_node(node)
        ex.shutdown(timeout_sec=0)


def main(argv: list[str] | None = None) -> int:
    return run_node(FusionNode, "fusion", argv, run=spin_fitting)


if __name__ == "__main__":
    sys.exit(main())
