"""numpy <-> ROS message conversions (imports the message packages, never rclpy nodes).

Arrays follow the library's contracts: 2D ``(P, J, 3)`` = people, joints, ``(u, v, confidence)`` raw pixels;
3D ``(J, 3)`` metres in the world frame (REP 103, Z up); quaternions ``(x, y, z, w)``.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Quaternion, TransformStamped, Vector3
from mocap_msgs.msg import Keypoints2D, Person2D, Skeleton, SkeletonArray
from sensor_msgs.msg import CameraInfo, JointState
from visualization_msgs.msg import Marker, MarkerArray


def stamp_to_sec(stamp: Time) -> float:
    """``builtin_interfaces/Time`` -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def sec_to_stamp(t: float) -> Time:
    """Float seconds (>= 0) -> ``builtin_interfaces/Time``."""
    ns = int(round(t * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


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


def skeleton_msg(person_id: int, joint_names: list[str], parents: np.ndarray, X: np.ndarray, conf: np.ndarray,
                 global_q: np.ndarray, local_q: np.ndarray, stamp: float, frame_id: str, body_model: str = "",
                 shape: np.ndarray | None = None, root_translation: np.ndarray | None = None) -> Skeleton:
    """Build a :class:`mocap_msgs.msg.Skeleton` from ``X (J, 3)`` metres, ``conf (J,)``, quaternions ``(J, 4)``.

    Missing joints (NaN) keep NaN positions and get confidence 0.
    """
    msg = Skeleton()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.person_id = int(person_id)
    msg.joint_names = list(joint_names)
    msg.parents = array.array("i", [int(p) for p in parents])
    msg.positions = _points(X)
    msg.global_orientations = _quats(global_q)
    msg.local_orientations = _quats(local_q)
    msg.confidences = _f32(np.nan_to_num(np.where(np.isfinite(X).all(-1), conf, 0.0), nan=0.0))
    msg.body_model = body_model
    if shape is not None:
        msg.shape_params = _f32(np.asarray(shape).ravel())
    if root_translation is not None:
        msg.root_translation = Vector3(x=float(root_translation[0]), y=float(root_translation[1]),
                                       z=float(root_translation[2]))
    return msg


def skeleton_array_msg(skeletons: list[Skeleton], joint_set: str, stamp: float, frame_id: str,
                       cameras: list[str] | None = None) -> SkeletonArray:
    """A ``SkeletonArray``; ``cameras``: the names of the cameras fused into this frame."""
    msg = SkeletonArray()
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id
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


_PALETTE = ((0.9, 0.3, 0.2), (0.2, 0.6, 0.9), (0.3, 0.8, 0.3), (0.9, 0.8, 0.2), (0.7, 0.4, 0.9))


def markers_msg(people: list[tuple[int, np.ndarray]], bones: list[tuple[int, int]], stamp: float, frame_id: str,
                lifetime_s: float = 0.5) -> MarkerArray:
    """RViz markers: per person a SPHERE_LIST of joints and a LINE_LIST of bones (``people`` = (id, X (J, 3)))."""
    arr = MarkerArray()
    st = sec_to_stamp(stamp)
    life = sec_to_stamp(lifetime_s)
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


def joint_state_msg(pid: int, joint_names: list[str], local_rotvec: np.ndarray, stamp: float) -> JointState:
    """``sensor_msgs/JointState`` of ball joints: three entries per joint, ``{joint}/rx``, ``/ry``, ``/rz`` = the
    local rotation as a rotation vector (radians) in the parent joint's frame; person ``pid`` > 0 prefixes names
    with ``person_{pid}/``."""
    msg = JointState()
    msg.header.stamp = sec_to_stamp(stamp)
    pre = f"person_{pid}/" if pid else ""
    msg.name = [f"{pre}{n}/{a}" for n in joint_names for a in ("rx", "ry", "rz")]
    rv = np.nan_to_num(np.asarray(local_rotvec, float).reshape(-1), nan=0.0)
    msg.position = [float(x) for x in rv]
    return msg
