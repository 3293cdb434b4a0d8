"""numpy and skeleton-stream <-> ROS message conversions (imports the message packages, never rclpy nodes).

The skeleton stream (:mod:`mocap.live.stream`) maps one to one: ``SkeletonDescription`` <->
``mocap_msgs/SkeletonDescription`` (:func:`description_to_msg`, :func:`msg_to_description`), ``SkeletonFrame`` <->
``SkeletonArray`` (:func:`frame_to_msg`, :func:`msg_to_frame`), ``PersonSkeleton`` <-> ``Skeleton``
(:func:`person_to_msg`, :func:`msg_to_person`). Arrays follow the library's contracts: 2D ``(P, J, 3)`` = people,
joints, ``(u, v, confidence)`` raw pixels; 3D ``(J, 3)`` metres in the world frame (REP 103, Z up);
quaternions ``(x, y, z, w)``.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Quaternion, TransformStamped, Vector3
from mocap_msgs.msg import Keypoints2D, Person2D, Skeleton, SkeletonArray
from mocap_msgs.msg import SkeletonDescription as SkeletonDescriptionMsg
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import Marker, MarkerArray

from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState


def stamp_to_sec(stamp: Time) -> float:
    """``builtin_interfaces/Time`` -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def sec_to_stamp(t: float) -> Time:
    """Float seconds (>= 0) -> ``builtin_interfaces/Time``."""
    ns = int(round(t * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def sec_to_duration(t: float) -> Duration:
    """Float seconds -> ``builtin_interfaces/Duration``."""
    ns = int(round(t * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _f32(a: np.ndarray) -> array.array:
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return out


def keypoints_to_msg(kp: np.ndarray, camera: str, joint_set: str, joint_names: list[str], stamp: float,
                     size: tuple[int, int], frame_index: int = 0, frame_id: str = "") -> Keypoints2D:
    """One camera's detections ``(P, J, 3)`` (NaN = missing) -> :class:`mocap_msgs.msg.Keypoints2D`."""
    kp = np.asarray(kp, float)
    msg = Keypoints2D()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id or f"{camera}_optical_frame"
    msg.camera_name = camera
    msg.joint_set = joint_set
    msg.joint_names = list(joint_names)
    msg.image_width, msg.image_height = int(size[0]), int(size[1])
    msg.frame_index = int(frame_index)
    people = []
    for p in range(kp.shape[0]):
        if not np.isfinite(kp[p, :, :2]).any():
            continue
        person = Person2D(person_id=p)
        person.u, person.v, person.confidence = _f32(kp[p, :, 0]), _f32(kp[p, :, 1]), _f32(kp[p, :, 2])
        people.append(person)
    msg.people = people
    return msg


def msg_to_keypoints(msg: Keypoints2D) -> np.ndarray:
    """:class:`mocap_msgs.msg.Keypoints2D` -> ``(P, J, 3)`` float array (``J`` = ``len(joint_names)``).

    Raises:
        ValueError: a person's arrays do not have one entry per joint name.
    """
    J = len(msg.joint_names)
    out = np.full((len(msg.people), J, 3), np.nan)
    for i, p in enumerate(msg.people):
        if not (len(p.u) == len(p.v) == len(p.confidence) == J):
            raise ValueError(f"camera {msg.camera_name!r}: person {i} has {len(p.u)}/{len(p.v)}/{len(p.confidence)} "
                             f"u/v/confidence values for {J} joint names")
        out[i, :, 0] = np.frombuffer(p.u, np.float32) if isinstance(p.u, array.array) else p.u
        out[i, :, 1] = np.frombuffer(p.v, np.float32) if isinstance(p.v, array.array) else p.v
        out[i, :, 2] = np.frombuffer(p.confidence, np.float32) if isinstance(p.confidence, array.array) \
            else p.confidence
    return out


def camera_info_msg(camera, stamp: float, frame_id: str = "") -> CameraInfo:
    """A :class:`mocap.cameras.Camera` -> ``sensor_msgs/CameraInfo`` (intrinsics only; R identity, P = [K|0])."""
    msg = CameraInfo()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id or f"{camera.name}_optical_frame"
    msg.width, msg.height = int(camera.size[0]), int(camera.size[1])
    d = [float(x) for x in np.asarray(camera.dist).ravel()]
    if camera.model == "fisheye":
        msg.distortion_model = "equidistant"
    elif len(d) > 5:
        msg.distortion_model = "rational_polynomial"
    else:
        msg.distortion_model = "plumb_bob"
        d = (d + [0.0] * 5)[:5]
    msg.d = d
    msg.k = [float(x) for x in np.asarray(camera.K).ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    P = np.hstack([np.asarray(camera.K, float), np.zeros((3, 1))])
    msg.p = [float(x) for x in P.ravel()]
    return msg


def _points(X: np.ndarray) -> list[Point]:
    return [Point(x=float(a), y=float(b), z=float(c)) for a, b, c in X]


def _quats(q: np.ndarray) -> list[Quaternion]:
    return [Quaternion(x=float(a), y=float(b), z=float(c), w=float(d)) for a, b, c, d in q]


_STATE_CODES = {TrackState.NEW: Skeleton.STATE_NEW, TrackState.TRACKED: Skeleton.STATE_TRACKED,
                TrackState.PREDICTED: Skeleton.STATE_PREDICTED, TrackState.LOST: Skeleton.STATE_LOST}
_CODE_STATES = {v: k for k, v in _STATE_CODES.items()}


def _vectors(V: np.ndarray) -> list[Vector3]:
    return [Vector3(x=float(a), y=float(b), z=float(c)) for a, b, c in V]


def skeleton_msg(person_id: int, joint_names: list[str], parents: np.ndarray, X: np.ndarray, conf: np.ndarray,
                 global_q: np.ndarray, local_q: np.ndarray, stamp: float, frame_id: str, body_model: str = "",
                 shape: np.ndarray | None = None, root_translation: np.ndarray | None = None, *,
                 state: TrackState | str = TrackState.TRACKED, confidence: float | None = None,
                 velocities: np.ndarray | None = None, views_used: np.ndarray | None = None,
                 reprojection_errors: np.ndarray | None = None) -> Skeleton:
    """Build a :class:`mocap_msgs.msg.Skeleton` from ``X (J, 3)`` metres, ``conf (J,)``, quaternions ``(J, 4)``,
    optionally velocities ``(J, 3)`` m/s, views used ``(J,)`` and reprojection errors ``(J,)`` pixels.

    Missing joints (NaN) keep NaN positions and get confidence 0. ``confidence`` (overall) defaults to the mean
    joint confidence.
    """
    X = np.asarray(X, float)
    msg = Skeleton()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.person_id = int(person_id)
    msg.tracking_state = _STATE_CODES[TrackState(state)]
    msg.joint_names = list(joint_names)
    msg.parents = array.array("i", [int(p) for p in parents])
    msg.positions = _points(X)
    msg.global_orientations = _quats(global_q)
    msg.local_orientations = _quats(local_q)
    c = np.nan_to_num(np.where(np.isfinite(X).all(-1), conf, 0.0), nan=0.0)
    msg.confidences = _f32(c)
    msg.confidence = float(np.clip(c.mean() if confidence is None and len(c) else (confidence or 0.0), 0.0, 1.0))
    if velocities is not None:
        msg.velocities = _vectors(np.asarray(velocities, float))
    if views_used is not None:
        msg.views_used = array.array("B", np.clip(np.asarray(views_used), 0, 255).astype(np.uint8).tolist())
    if reprojection_errors is not None:
        msg.reprojection_errors = _f32(np.asarray(reprojection_errors, float))
    msg.body_model = body_model
    if shape is not None:
        msg.shape_params = _f32(np.asarray(shape).ravel())
    if root_translation is not None:
        msg.root_translation = Vector3(x=float(root_translation[0]), y=float(root_translation[1]),
                                       z=float(root_translation[2]))
    return msg


def skeleton_array_msg(skeletons: list[Skeleton], joint_set: str, stamp: float, frame_id: str,
                       cameras: list[str] | None = None, frame_index: int = 0) -> SkeletonArray:
    """A ``SkeletonArray``; ``cameras``: the names of the cameras fused into this frame."""
    msg = SkeletonArray()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.frame_index = int(frame_index)
    msg.joint_set = joint_set
    msg.cameras = list(cameras or [])
    msg.skeletons = skeletons
    return msg


def skeleton_to_arrays(msg: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X (J, 3), conf (J,), global (J, 4), local (J, 4))`` of a :class:`mocap_msgs.msg.Skeleton`."""
    X = np.array([[p.x, p.y, p.z] for p in msg.positions], float).reshape(-1, 3)
    conf = np.asarray(msg.confidences, float)
    g = np.array([[q.x, q.y, q.z, q.w] for q in msg.global_orientations], float).reshape(-1, 4)
    loc = np.array([[q.x, q.y, q.z, q.w] for q in msg.local_orientations], float).reshape(-1, 4)
    return X, conf, g, loc


# --------------------------------------------------------------------------- the skeleton stream <-> messages
def person_to_msg(person: PersonSkeleton, description: SkeletonDescription | None, stamp: float,
                  frame_id: str) -> Skeleton:
    """A :class:`mocap.live.stream.PersonSkeleton` -> ``Skeleton`` (joint names, parents and body model from its
    ``description``; a ``lost`` person has no joints)."""
    d = description
    lost = person.state is TrackState.LOST
    J = 0 if lost else person.n_joints
    names, parents = (d.joint_names, d.parents) if (d is not None and not lost) else ([], np.zeros(0, int))
    if d is not None and not lost and d.n_joints != J:
        raise ValueError(f"person {person.person_id} has {J} joints but its description ({d.joint_set}) has "
                         f"{d.n_joints}")
    sl = slice(0, J)
    return skeleton_msg(person.person_id, names, parents, person.positions[sl], person.joint_confidence[sl],
                        person.global_quat_xyzw[sl], person.local_quat_xyzw[sl], stamp, frame_id,
                        d.body_model if d else "", d.shape if d is not None else None, person.root_translation,
                        state=person.state, confidence=person.confidence, velocities=person.velocities[sl],
                        views_used=person.views_used[sl] if not d or not d.body_model else None,
                        reprojection_errors=person.reprojection_error_px[sl] if not d or not d.body_model else None)


def msg_to_person(msg: Skeleton) -> PersonSkeleton:
    """``Skeleton`` -> :class:`mocap.live.stream.PersonSkeleton` (fields a message lacks get the contract's
    defaults: unknown velocities, 0 views, NaN errors)."""
    X, conf, g, loc = skeleton_to_arrays(msg)
    J = len(X)
    V = np.array([[v.x, v.y, v.z] for v in msg.velocities], float).reshape(-1, 3) if len(msg.velocities) == J \
        else None
    views = np.asarray(msg.views_used, np.int64) if len(msg.views_used) == J else None
    err = np.asarray(msg.reprojection_errors, float) if len(msg.reprojection_errors) == J else None
    rt = msg.root_translation
    root = np.array([rt.x, rt.y, rt.z]) if msg.body_model else None
    return PersonSkeleton(msg.person_id, X, conf, loc if J else np.zeros((0, 4)), g if J else np.zeros((0, 4)),
                          _CODE_STATES.get(msg.tracking_state, TrackState.TRACKED), float(msg.confidence), V, views,
                          err, root)


def frame_to_msg(frame: SkeletonFrame, describe, frame_id: str) -> SkeletonArray:
    """A :class:`mocap.live.stream.SkeletonFrame` -> ``SkeletonArray``; ``describe(person_id)`` gives each
    person's :class:`~mocap.live.stream.SkeletonDescription` (or None)."""
    skeletons = [person_to_msg(p, describe(p.person_id), frame.stamp, frame_id) for p in frame.people]
    return skeleton_array_msg(skeletons, frame.joint_set, frame.stamp, frame_id, frame.cameras, frame.frame_index)


def msg_to_frame(msg: SkeletonArray) -> SkeletonFrame:
    """``SkeletonArray`` -> :class:`mocap.live.stream.SkeletonFrame`."""
    return SkeletonFrame(stamp_to_sec(msg.header.stamp), int(msg.frame_index),
                         [msg_to_person(s) for s in msg.skeletons], msg.joint_set, list(msg.cameras))


def description_to_msg(d: SkeletonDescription, stamp: float) -> SkeletonDescriptionMsg:
    """:class:`mocap.live.stream.SkeletonDescription` -> ``mocap_msgs/SkeletonDescription``."""
    msg = SkeletonDescriptionMsg()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = d.frame_id
    msg.joint_set = d.joint_set
    msg.joint_names = list(d.joint_names)
    msg.parents = array.array("i", [int(p) for p in d.parents])
    msg.rest_offsets = _vectors(d.rest_offsets)
    msg.body_model = d.body_model
    if d.shape is not None:
        msg.shape_params = _f32(d.shape)
    msg.person_id = int(d.person_id)
    return msg


def msg_to_description(msg: SkeletonDescriptionMsg) -> SkeletonDescription:
    """``mocap_msgs/SkeletonDescription`` -> :class:`mocap.live.stream.SkeletonDescription`."""
    off = np.array([[v.x, v.y, v.z] for v in msg.rest_offsets], float).reshape(-1, 3)
    shape = np.asarray(msg.shape_params, float) if len(msg.shape_params) else None
    return SkeletonDescription(msg.joint_set, list(msg.joint_names), np.asarray(msg.parents, int), off,
                               msg.body_model, shape, msg.header.frame_id, int(msg.person_id))


_PALETTE = ((0.9, 0.3, 0.2), (0.2, 0.6, 0.9), (0.3, 0.8, 0.3), (0.9, 0.8, 0.2), (0.7, 0.4, 0.9))


def markers_msg(people: list[tuple[int, np.ndarray]], bones: list[tuple[int, int]], stamp: float, frame_id: str,
                lifetime_s: float = 0.5) -> MarkerArray:
    """RViz markers: per person a SPHERE_LIST of joints and a LINE_LIST of bones (``people`` = (id, X (J, 3)))."""
    arr = MarkerArray()
    st = sec_to_stamp(stamp)
    life = sec_to_duration(lifetime_s)
    for pid, X in people:
        r, g, b = _PALETTE[pid % len(_PALETTE)]
        ok = np.isfinite(X).all(-1)
        joints = Marker(ns="mocap/joints", id=int(pid), type=Marker.SPHERE_LIST, action=Marker.ADD)
        joints.header.stamp, joints.header.frame_id, joints.lifetime = st, frame_id, life
        joints.pose.orientation.w = 1.0
        joints.scale = Vector3(x=0.04, y=0.04, z=0.04)
        joints.color.r, joints.color.g, joints.color.b, joints.color.a = r, g, b, 1.0
        joints.points = _points(X[ok])
        lines = Marker(ns="mocap/bones", id=int(pid), type=Marker.LINE_LIST, action=Marker.ADD)
        lines.header.stamp, lines.header.frame_id, lines.lifetime = st, frame_id, life
        lines.pose.orientation.w = 1.0
        lines.scale.x = 0.015
        lines.color.r, lines.color.g, lines.color.b, lines.color.a = r, g, b, 0.9
        seg = [(a, c) for a, c in bones if ok[a] and ok[c]]
        lines.points = _points(X[[i for s in seg for i in s]]) if seg else []
        arr.markers += [joints, lines]
    return arr


def camera_transform(camera, world_frame: str, frame_id: str, stamp: float = 0.0) -> TransformStamped:
    """The pose of a :class:`mocap.cameras.Camera` as a transform ``world_frame`` -> ``frame_id`` (its optical
    frame: x right, y down, z forward): translation = the camera centre ``-R^T t``, rotation = ``R^T``."""
    from mocap.geometry.rotations import matrix_to_quat_xyzw

    R, t = np.asarray(camera.R, float), np.asarray(camera.t, float).reshape(3)
    tf = TransformStamped()
    tf.header.stamp, tf.header.frame_id, tf.child_frame_id = sec_to_stamp(stamp), world_frame, frame_id
    c = -R.T @ t
    tf.transform.translation = Vector3(x=float(c[0]), y=float(c[1]), z=float(c[2]))
    q = matrix_to_quat_xyzw(R.T)
    tf.transform.rotation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
    return tf


def transforms(pid: int, joint_names: list[str], X: np.ndarray, global_q: np.ndarray, stamp: float,
               world_frame: str, prefix: str = "mocap") -> list[TransformStamped]:
    """One TF per reconstructed joint: ``world_frame`` -> ``{prefix}/person_{pid}/{joint}`` (global pose)."""
    st = sec_to_stamp(stamp)
    out = []
    for j, name in enumerate(joint_names):
        if not np.isfinite(X[j]).all():
            continue
        t = TransformStamped()
        t.header.stamp, t.header.frame_id = st, world_frame
        t.child_frame_id = f"{prefix}/person_{pid}/{name}"
        t.transform.translation = Vector3(x=float(X[j, 0]), y=float(X[j, 1]), z=float(X[j, 2]))
        q = global_q[j]
        t.transform.rotation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
        out.append(t)
    return out
