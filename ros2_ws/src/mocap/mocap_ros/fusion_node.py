"""ROS 2 fusion node: N cameras' ``mocap_msgs/Keypoints2D`` -> the skeleton stream as ``mocap_msgs`` messages.

A thin adapter over the library: :class:`mocap.live.sync.FrameSynchronizer` groups the cameras' messages by capture
stamp (time offsets applied, silent cameras not waited for), :class:`mocap.live.core.FusionCore` triangulates,
filters, tracks and optionally fits a body model, :mod:`mocap_ros.convert` turns its stream output into messages.

Topics (names relative to the node's namespace, ``/mocap`` in the launch file; parameters name them):

- subscribes ``keypoints_topic`` (``{camera}/keypoints2d``, QoS sensor data) for each name of ``cameras``;
- ``skeletons_topic`` (``skeletons``): ``mocap_msgs/SkeletonArray``, reliable, keep last 10;
- ``latest_topic`` (``skeletons/latest``, ``""`` = off): the same messages, best effort, keep last 1 (control
  consumers that only want the newest frame and never a backlog);
- ``description_topic`` (``skeleton_description``): ``mocap_msgs/SkeletonDescription``, reliable, transient local
  (keep last 16): sent before the first frame it describes and whenever it changes;
- ``markers_topic`` (``markers``): ``visualization_msgs/MarkerArray`` (joints + bones), only while subscribed;
- ``/tf``: ``world_frame`` -> ``<namespace>/person_<id>/<joint>`` per reconstructed joint, only while subscribed;
- ``/tf_static``: ``world_frame`` -> ``<camera>_optical_frame`` from the calibration (``publish_camera_tf``);
- ``/diagnostics``: ``diagnostic_msgs/DiagnosticArray`` every ``diagnostics_period_s``: per camera its message rate,
  latency (arrival - capture stamp) p50/p95, dropped frames (frame-index gaps) and late messages; one line for the
  fusion (frames, incomplete groups);
- ``replay_start`` (``builtin_interfaces/Time``, transient local): the instant replaying / video cameras start
  together, announced ``start_margin_s`` after every camera is heard (or after ``start_timeout_s``) and a subscriber
  of the skeletons topic is matched (or ``start_subscriber_wait_s`` after the node started: DDS discovery of a
  consumer can take a few seconds, and a replay started before it would lose its first frames to it).

No ``sensor_msgs/JointState``: a skeleton's joints are ball joints whose local rotations no URDF revolute-joint
consumer can take without a made-up Euler decomposition; ``Skeleton.local_orientations`` + the
``SkeletonDescription`` rest pose are the interface (what avatar retargeting and robot teleoperation read).

With a body model (``body_model: anny | smplx``) the fit is deferred: every frame's triangulated skeleton is
published at once on ``triangulated_topic`` (keypoint joint set) and put in a one-frame slot
(:class:`~mocap.live.core.LatestSlot`); when no callback is ready, the node's spin loop (:func:`spin_fitting`)
fits the newest frame (warm-started) and publishes it on ``skeletons_topic`` (body model joints, orientations,
shape; the description topic then carries the body model's rest pose). Frames that arrive during a fit replace each
other in the slot: they are skipped (counted, reported in a throttled log line) instead of queueing. One thread on
purpose: torch releases the GIL at every op, so a fit thread beside the executor is slowed down by GIL hand-offs
(measured: fit p95 14 -> 26 ms next to a 30 Hz triangulation thread).

Body-worn IMUs (``imu_topics``, ``sensor_msgs/Imu``, each strapped to the bone ``imu_segments`` names as
``"parent:child"``) are fused on the single-person path (:class:`~mocap.live.core.FusionCore`). The IMU stamps
must be on the cameras' clock.

It warns (throttled) and keeps publishing on: a silent camera (then not waited for until it speaks again), a clock
jump (filters reset), out-of-sync/late cameras, a wrong or mixed joint set, and a silent IMU topic.
"""

from __future__ import annotations

import sys
import time
from collections import deque

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from mocap_msgs.msg import Keypoints2D, SkeletonArray, SkeletonDescription
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Imu
from visualization_msgs.msg import MarkerArray

from mocap.errors import MocapError
from mocap.live.core import FusionCore, LatestSlot
from mocap.live.sync import FrameSynchronizer
from mocap_ros import convert, qos
from mocap_ros.node_main import run_node
from mocap_ros.params import FUSION_PARAMS as PARAMS

try:  # not on PyPI; present in every real ROS 2 install
    from tf2_msgs.msg import TFMessage
except ImportError:  # pragma: no cover - depends on the installation
    TFMessage = None


class CameraStats:
    """Per-camera counters for ``/diagnostics``: arrivals, latency (arrival - capture stamp), frame-index gaps."""

    def __init__(self, window: int = 300) -> None:
        self.arrivals: deque[float] = deque(maxlen=window)  # wall times (monotonic)
        self.latency_s: deque[float] = deque(maxlen=window)
        self.received = 0
        self.dropped = 0
        self.last_index: int | None = None

    def add(self, now_mono: float, latency_s: float, frame_index: int) -> None:
        self.arrivals.append(now_mono)
        self.latency_s.append(latency_s)
        self.received += 1
        if self.last_index is not None and frame_index > self.last_index + 1:
            self.dropped += frame_index - self.last_index - 1
        self.last_index = frame_index

    def rate_hz(self, now_mono: float, span_s: float = 2.0) -> float:
        recent = [t for t in self.arrivals if now_mono - t <= span_s]
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0


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
            self.core = FusionCore.from_params(p["calibration"], p, cameras=[c for c in p["cameras"] if c],
                                               world_frame=p["world_frame"])
            cams = self.core.cameras
            self.sync = FrameSynchronizer.from_params(cams, p)
        except (MocapError, ValueError) as e:
            raise SystemExit(f"fusion: {e}") from None
        self.tf_prefix = self.get_namespace().strip("/") or "mocap"
        self.pub_skel = self.create_publisher(SkeletonArray, p["skeletons_topic"], qos.SKELETONS)
        self.pub_latest = self.create_publisher(SkeletonArray, p["latest_topic"], qos.LATEST) \
            if p["latest_topic"] else None
        self.pub_desc = self.create_publisher(SkeletonDescription, p["description_topic"], qos.DESCRIPTION)
        self.pub_tri = None
        self.fit_slot = LatestSlot() if self.core.fits else None  # newest triangulated frame waiting for the fit
        if self.core.fits and p["triangulated_topic"]:
            self.pub_tri = self.create_publisher(SkeletonArray, p["triangulated_topic"], qos.SKELETONS)
        self.callbacks = 0  # callbacks run so far (spin_fitting drains ready callbacks before a fit)
        self._extras = None  # fitted frame whose markers / TF are still to be published
        self.pub_markers = self.create_publisher(MarkerArray, p["markers_topic"], qos.SKELETONS) \
            if p["publish_markers"] else None
        self.pub_tf = None
        if p["publish_tf"] or p["publish_camera_tf"]:
            if TFMessage is None:
                self.get_logger().warning("tf2_msgs is not installed: no TF will be published")
            else:
                self.pub_tf = self.create_publisher(TFMessage, "/tf", qos.SKELETONS) if p["publish_tf"] else None
                if p["publish_camera_tf"]:
                    self.pub_tf_static = self.create_publisher(TFMessage, "/tf_static", qos.LATCHED)
                    self.pub_tf_static.publish(TFMessage(transforms=[
                        convert.camera_transform(self.core.rig[c], p["world_frame"], f"{c}_optical_frame",
                                                 time.time()) for c in cams]))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_start = self.create_publisher(Time, "replay_start", qos.LATCHED)
        self.subs = [self.create_subscription(Keypoints2D, p["keypoints_topic"].format(camera=c),
                                              lambda m, c=c: self._on_keypoints(c, m), qos.KEYPOINTS) for c in cams]
        self.cam_stats = {c: CameraStats() for c in cams}
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
        self.start_timer = self.create_timer(0.05, self._announce_start)
        self.diag_timer = self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)
        self.stats = {"frames": 0, "published": 0}
        imu = f", IMUs {self.core._imu_specs}" if imu_topics else ""
        fit = (f", body fit {p['body_model']} of the newest frame (triangulated: {p['triangulated_topic'] or 'off'})"
               if self.fit_slot is not None else "")
        offsets = {c: round(o * 1000, 2) for c, o in self.sync.offsets_s.items() if o}
        self.get_logger().info(
            f"fusing {len(cams)} cameras {cams} ({p['joint_set'] or 'joint set from the cameras'}, filter "
            f"{p['filter']}, sync tolerance {p['sync_tolerance_s'] * 1000:.1f} ms"
            f"{f', time offsets (ms) {offsets}' if offsets else ''}) -> "
            f"{self.resolve_topic_name(p['skeletons_topic'])}{imu}{fit}")

    def _warn(self, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= self.p["warn_period_s"]:
            self._warned[key] = now
            self.get_logger().warning(text)

    # ------------------------------------------------------------------ start, diagnostics
    def _announce_start(self) -> None:
        """Once every camera's publisher is matched (or after ``start_timeout_s``) and a skeletons subscriber (or
        ``start_subscriber_wait_s`` passed), announce the common start."""
        heard = [c for c, s in zip(self.core.cameras, self.subs, strict=True) if s.get_publisher_count() > 0]
        waited = time.monotonic() - self.start_wall
        if len(heard) < len(self.core.cameras) and waited < self.p["start_timeout_s"]:
            return
        if len(heard) == len(self.core.cameras) and self.pub_skel.get_subscription_count() == 0:
            if waited < float(self.p["start_subscriber_wait_s"]):
                return  # a consumer may still be in discovery
            self.get_logger().info(f"no subscriber of {self.pub_skel.topic_name} after {waited:.1f} s; starting "
                                   "anyway")
        if len(heard) < len(self.core.cameras):
            self.get_logger().warning(f"cameras {[c for c in self.core.cameras if c not in heard]} not connected "
                                      f"after {waited:.0f} s; starting the others")
        t = time.time() + float(self.p["start_margin_s"])
        self.pub_start.publish(convert.sec_to_stamp(t))
        self.get_logger().info(f"{len(heard)} cameras connected: replay/video start at {t:.3f} (in "
                               f"{self.p['start_margin_s']:.2f} s)")
        self.start_timer.cancel()

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        name = self.get_fully_qualified_name()
        for c, st in self.cam_stats.items():
            lat = np.asarray(st.latency_s, float) * 1000
            p50, p95 = (np.percentile(lat, 50), np.percentile(lat, 95)) if len(lat) else (np.nan, np.nan)
            rate = st.rate_hz(now)
            silent = c in self.sync.silent
            level = DiagnosticStatus.WARN if silent or st.received == 0 else DiagnosticStatus.OK
            msg = ("silent: not waited for" if silent else "no message yet" if st.received == 0 else
                   f"{rate:.1f} Hz, latency p50 {p50:.1f} ms p95 {p95:.1f} ms")
            values = {"rate_hz": f"{rate:.2f}", "latency_p50_ms": f"{p50:.2f}", "latency_p95_ms": f"{p95:.2f}",
                      "received": str(st.received), "dropped": str(st.dropped),
                      "late": str(self.sync.late_by_camera.get(c, 0)), "silent": str(silent).lower(),
                      "time_offset_ms": f"{self.sync.offsets_s.get(c, 0.0) * 1000:.2f}"}
            arr.status.append(DiagnosticStatus(level=level, name=f"{name}: camera {c}", hardware_id=c, message=msg,
                                               values=[KeyValue(key=k, value=v) for k, v in values.items()]))
        counts = {**self.sync.counts, **self.stats}
        arr.status.append(DiagnosticStatus(level=DiagnosticStatus.OK, name=f"{name}: fusion", hardware_id="",
                                           message=f"{self.stats['frames']} frames published",
                                           values=[KeyValue(key=k, value=str(v)) for k, v in counts.items()]))
        self.pub_diag.publish(arr)

    # ------------------------------------------------------------------ body fit
    def fit_pending(self) -> bool:
        """Fit and publish the newest triangulated frame waiting in the slot; False when none was waiting."""
        res = self.fit_slot.take() if self.fit_slot is not None else None
        if res is None:
            return False
        fitted = self.core.fit(res)
        if self._publish_skeletons(fitted):
            self._extras = fitted  # markers, TF when idle (a newer fit replaces them)
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
        stamp = convert.stamp_to_sec(msg.header.stamp)
        self.cam_stats[camera].add(now, time.time() - stamp, int(msg.frame_index))
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
        groups, events = self.sync.add(camera, stamp, kp, now)
        self._handle(groups, events)

    def _on_timer(self) -> None:
        self.callbacks += 1
        now = time.monotonic()
        groups, events = self.sync.poll(now)
        self._handle(groups, events)
        for topic, t in self.imu_last.items():
            silent = now - (t if t is not None else self.start_wall)
            if silent > self.p["imu_timeout_s"]:
                self._warn(f"imu:{topic}", f"IMU topic {topic} silent for {silent:.1f} s; continuing with cameras "
                           "only")

    def _handle(self, groups, events) -> None:
        for ev in events:
            if ev.kind == "resumed":
                self.get_logger().info(ev.message)
            else:
                self._warn(f"{ev.kind}:{ev.camera}", ev.message)
            if ev.kind == "clock_jump":
                self.core.reset()
        for g in groups:
            missing = [c for c in g.missing if c not in self.sync.silent]
            if missing:
                self._warn("incomplete", f"frame at {g.stamp:.3f} s: no keypoints from {', '.join(missing)} "
                           f"within {self.p['max_wait_s'] * 1000:.0f} ms; triangulating {g.n_present} cameras")
            if g.spread_s > self.p["sync_tolerance_s"]:
                self._warn("spread", f"cameras out of sync by {g.spread_s * 1000:.1f} ms")
            res = self.core.process(g.stamp, g.frames, fit=False)  # a body fit is deferred: see fit_pending
            for w in res.warnings:
                self._warn(w.split(":")[0], w)
            if self.fit_slot is None:
                if self._publish_skeletons(res):
                    self._publish_extras(res)
                continue
            if self.pub_tri is not None:
                self.pub_tri.publish(self._array_msg(res))
            self.fit_slot.put(res)

    # ------------------------------------------------------------------ publishing
    def _array_msg(self, res) -> SkeletonArray:
        return convert.frame_to_msg(res.frame, lambda pid: self.core.description(pid, fitted=res.fitted),
                                    self.p["world_frame"])

    def _publish_skeletons(self, res) -> bool:
        """Publish a frame's descriptions (if new) and ``SkeletonArray``; False when nobody was reconstructed."""
        for w in res.warnings if res.fitted else ():
            self._warn(w.split(":")[0], w)
        for d in res.descriptions:
            self.pub_desc.publish(convert.description_to_msg(d, res.stamp))
        msg = self._array_msg(res)
        self.pub_skel.publish(msg)
        if self.pub_latest is not None:
            self.pub_latest.publish(msg)
        self.stats["frames"] += 1
        self.stats["published"] += len(res.skeletons)
        if not any(p.valid().any() for p in res.skeletons):
            self._warn("empty", f"frame at {res.stamp:.3f} s: no person triangulated (too few views agree; check "
                       "the calibration and the camera sync)")
            return False
        return True

    def publish_extras(self) -> bool:
        """Publish the markers and TF of the last fitted frame, if not done; False when none."""
        res, self._extras = self._extras, None
        if res is None:
            return False
        self._publish_extras(res)
        return True

    def _publish_extras(self, res) -> None:
        """Markers and TF of a frame, only for topics someone listens to (about 5 ms for a 100-joint body)."""
        want_markers = self.pub_markers is not None and self.pub_markers.get_subscription_count() > 0
        want_tf = self.pub_tf is not None and self.pub_tf.get_subscription_count() > 0
        if not (want_markers or want_tf):
            return
        wf = self.p["world_frame"]
        people = [s for s in res.skeletons if s.valid().any()]
        d = self.core.description(fitted=res.fitted)
        if want_markers:
            self.pub_markers.publish(convert.markers_msg([(s.person_id, s.positions) for s in people],
                                                         self._bones(d), res.stamp, wf))
        if want_tf:
            tfs = [t for s in people
                   for t in convert.transforms(s.person_id, d.joint_names, s.positions, s.global_quat_xyzw, res.stamp,
                                               wf, prefix=self.tf_prefix)]
            self.pub_tf.publish(TFMessage(transforms=tfs))

    def _bones(self, d) -> list[tuple[int, int]]:
        key = (d.joint_set, d.n_joints)
        if getattr(self, "_bones_key", None) != key:  # built once per joint set
            self._bones_key, self._bones_list = key, [(int(p), c) for c, p in enumerate(d.parents) if p >= 0]
        return self._bones_list


def spin_fitting(node: FusionNode) -> None:
    """Spin ``node``; between callbacks, fit the newest waiting frame (only once every ready callback has run, so
    the frame fitted is the newest one that has arrived), and when idle publish the fitted frame's markers and TF.
    Without a body model this is ``rclpy.spin``."""
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
