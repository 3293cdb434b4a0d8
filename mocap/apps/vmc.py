"""VMC protocol sender: drive a humanoid avatar (VSeeFace, Warudo, VNyan, VMagicMirror, Unity + EVMC4U) live.

VMC (sh-akira's Virtual Motion Capture Protocol, V3.1) is OSC over UDP; receivers listen on port 39539. One bundle
per frame carries:

- ``/VMC/Ext/Root/Pos`` ``"root"`` + position (3) + rotation (4): the avatar's root, at the origin;
- ``/VMC/Ext/Bone/Pos`` bone name + LOCAL position (3) + LOCAL rotation (4) for each Unity ``HumanBodyBones`` bone
  (``Hips`` carries the hips' world pose; the others their offset and rotation relative to their humanoid parent);
- ``/VMC/Ext/Blend/Val`` name + value and ``/VMC/Ext/Blend/Apply`` when face keypoints give blendshapes;
- ``/VMC/Ext/OK`` loaded (1), calibration state (2 calibrating, 3 done), calibration mode (0), tracking (1/0);
- ``/VMC/Ext/T`` seconds since the stream started.

Every non-integer number is a 32-bit float (EVMC4U ignores doubles). Positions and rotations are in Unity's
left-handed, Y-up axes (:mod:`mocap.apps.unity`: a person facing our +X faces Unity's +Z).

Skeletons: body-model skeletons (SMPL-X, Anny) and the IK rig's standard skeleton map onto humanoid bones by name
(:func:`mocap.apps.humanoid.humanoid_bone_map`); keypoint skeletons (COCO-17, MediaPipe-33, ...) first go through
:class:`mocap.apps.keypoint_rig.KeypointRig`, which measures the person's bone lengths over ``calib_frames``
frames (stand still, ideally in a T-pose; restart with :meth:`VmcSender.calibrate`). The rest-pose calibration of
:class:`mocap.apps.humanoid.HumanoidRetarget` makes the avatar's T-pose match our rest pose.
"""

from __future__ import annotations

import time

import numpy as np
from pythonosc.osc_message import OscMessage

from mocap.apps.face import face_blendshapes
from mocap.apps.humanoid import HumanoidPose, HumanoidRetarget
from mocap.apps.keypoint_rig import KeypointRig
from mocap.apps.osc import OscSender, osc_message, parse_osc_url
from mocap.apps.people import PersonSelector
from mocap.apps.unity import rep103_to_unity_position, rep103_to_unity_quat_xyzw
from mocap.errors import MocapError
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState

#: The port VMC receivers (performers) listen on.
VMC_PORT = 39539

#: ``/VMC/Ext/OK`` calibration states.
CALIBRATING, CALIBRATED = 2, 3


class VmcSender:
    """A :class:`~mocap.live.stream.SkeletonSink` streaming one person to a VMC receiver.

    Args:
        host, port: the receiver (default 127.0.0.1:39539).
        person: person id to stream, or None for the first tracked person (one sender per avatar: give each
            person its own sender and port).
        rate_hz: at most this many bundles per second (frames arriving faster are skipped); 30-60 suits avatars.
        calib_frames: keypoint skeletons: frames measured before the avatar moves (see the module notes).
        blendshapes: send mouth/blink blendshapes when the skeleton has face keypoints.
        bone_map: extra humanoid bone -> joint name assignments (see :class:`~mocap.apps.humanoid.HumanoidRetarget`).
        max_bundle_bytes: split bundles for a LAN (see :class:`~mocap.apps.osc.OscSender`); 0 = one per frame.

    Attributes:
        sent, skipped: frames sent / skipped by the rate limit.
        last_sent_s: ``time.perf_counter()`` right after the last bundle left.
        last_pose: the humanoid pose (:class:`~mocap.apps.humanoid.HumanoidPose`) of the last frame with bones.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = VMC_PORT, person: int | None = None,
                 rate_hz: float = 60.0, calib_frames: int = 30, blendshapes: bool = True,
                 bone_map: dict[str, str] | None = None, max_bundle_bytes: int = 0) -> None:
        if not rate_hz > 0:
            raise MocapError(f"VMC rate must be positive (got {rate_hz} Hz)")
        self.osc = OscSender(host, port, max_bundle_bytes)
        self.selector = PersonSelector(person)
        self.rate_hz = float(rate_hz)
        self.calib_frames = int(calib_frames)
        self.blendshapes = bool(blendshapes)
        self.bone_map = dict(bone_map or {})
        self._shared: SkeletonDescription | None = None
        self._per_person: dict[int, SkeletonDescription] = {}
        self._retargets: dict[tuple[int, int], HumanoidRetarget] = {}
        self._rigs: dict[tuple[int, int], KeypointRig] = {}
        self._t0: float | None = None
        self._tokens, self._last_t = 3.0, time.perf_counter()
        self.sent = self.skipped = 0
        self.last_sent_s = float("nan")
        self.last_pose: HumanoidPose | None = None

    @classmethod
    def from_url(cls, url: str, **kw) -> VmcSender:
        """``vmc://HOST:PORT?person=ID&rate=HZ&calib=FRAMES&mtu=BYTES`` (all optional)."""
        u = parse_osc_url(url, VMC_PORT, ("vmc",))
        o = u.options
        try:
            return cls(u.host, u.port, person=int(o["person"]) if "person" in o else None,
                       rate_hz=float(o.get("rate", 60.0)), calib_frames=int(o.get("calib", 30)),
                       max_bundle_bytes=int(o.get("mtu", 0)), **kw)
        except ValueError as e:
            raise MocapError(f"sink {url!r}: bad option ({e})") from None

    # ------------------------------------------------------------------ SkeletonSink
    def describe(self, description: SkeletonDescription) -> None:
        """Take a (new) description; per-person ones (body models) override the shared one for that person."""
        if description.person_id >= 0:
            self._per_person[description.person_id] = description
        else:
            self._shared = description
        self._prepare(description.person_id if description.person_id >= 0 else -1, description)

    def _prepare(self, pid: int, desc: SkeletonDescription) -> None:
        """Set up the retarget (or the keypoint rig) now, so the first frames are not delayed by it."""
        key = (pid, id(desc))
        if key in self._retargets or key in self._rigs:
            return
        try:
            self._retargets[key] = HumanoidRetarget(desc, self.bone_map)
        except MocapError:
            self._rigs[key] = KeypointRig(desc.joint_set, self.calib_frames)

    def send(self, frame: SkeletonFrame) -> bool:
        """Send the followed person of ``frame``; returns False when the rate limit skipped it."""
        now = time.perf_counter()
        # token bucket: rate_hz tokens per second, up to a quarter second saved, so frames delayed upstream go out
        self._tokens = min(max(3.0, 0.25 * self.rate_hz), self._tokens + (now - self._last_t) * self.rate_hz)
        self._last_t = now
        if self._tokens < 0.5:
            self.skipped += 1
            return False
        self._tokens -= 1.0
        msgs = self.messages(frame)
        self.osc.send(msgs)
        self.last_sent_s = time.perf_counter()
        self.sent += 1
        return True

    def close(self) -> None:
        self.osc.close()

    # ------------------------------------------------------------------ building
    def calibrate(self) -> None:
        """Restart the keypoint rigs' bone-length calibration (ask the user to stand in a T-pose)."""
        for rig in self._rigs.values():
            rig.reset()
        self._retargets = {k: v for k, v in self._retargets.items() if k not in self._rigs}

    def _description(self, pid: int) -> SkeletonDescription | None:
        return self._per_person.get(pid, self._shared)

    def retarget_for(self, person: PersonSkeleton) -> tuple[HumanoidRetarget | None, KeypointRig | None]:
        """The humanoid retarget (None while a keypoint rig calibrates) and the rig (None for named skeletons)."""
        desc = self._description(person.person_id)
        if desc is None:
            raise MocapError("VmcSender.send before describe: send the SkeletonDescription first")
        key = (desc.person_id if desc.person_id >= 0 else -1, id(desc))
        self._prepare(key[0], desc)
        rig = self._rigs.get(key)
        if rig is not None:
            if not rig.ready:
                rig.add(person.positions, person.joint_confidence)
                if not rig.ready:
                    return None, rig
            if key not in self._retargets:
                self._retargets[key] = HumanoidRetarget(rig.description(), self.bone_map)
        return self._retargets[key], rig

    def messages(self, frame: SkeletonFrame) -> list[OscMessage]:
        """The OSC messages of one frame (what :meth:`send` sends)."""
        if self._t0 is None:
            self._t0 = frame.stamp
        person = self.selector.pick(frame)
        tail = [osc_message("/VMC/Ext/T", float(frame.stamp - self._t0))]
        if person is None:
            return [osc_message("/VMC/Ext/OK", 1, CALIBRATED, 0, 0), *tail]
        tracking = int(person.state in (TrackState.NEW, TrackState.TRACKED))
        ret, rig = self.retarget_for(person)
        if ret is None:
            return [osc_message("/VMC/Ext/OK", 1, CALIBRATING, 0, tracking), *tail]
        if rig is not None:
            solved = rig.solve(person.positions, person.joint_confidence)
            if solved is None:  # hips/shoulders missing this frame: the avatar holds its pose
                return [osc_message("/VMC/Ext/OK", 1, CALIBRATED, 0, 0), *tail]
            X, G = solved[0], solved[1]
        else:
            X, G = person.positions, person.global_quat_xyzw
        self.last_pose = ret.retarget(X, G)
        out = [osc_message("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)]
        out += self.bone_messages(ret, self.last_pose)
        if self.blendshapes:
            desc = self._description(person.person_id)
            shapes = face_blendshapes(desc.joint_names, person.positions, person.joint_confidence)
            if shapes:
                out += [osc_message("/VMC/Ext/Blend/Val", k, v) for k, v in shapes.items()]
                out.append(osc_message("/VMC/Ext/Blend/Apply"))
        out.append(osc_message("/VMC/Ext/OK", 1, CALIBRATED, 0, tracking))
        return out + tail

    @staticmethod
    def bone_messages(ret: HumanoidRetarget, pose: HumanoidPose) -> list[OscMessage]:
        """``/VMC/Ext/Bone/Pos`` messages of one pose (:meth:`HumanoidRetarget.retarget`): Hips world pose, other
        bones rest offset + local rotation, in Unity axes."""
        pos = ret.rest_offsets.copy()
        pos[0] = pose.positions[0]
        q = pose.local_quat_xyzw
        ok = np.isfinite(q).all(-1) & np.isfinite(pos).all(-1)
        up = rep103_to_unity_position(pos)
        uq = rep103_to_unity_quat_xyzw(q)
        return [osc_message("/VMC/Ext/Bone/Pos", b, *up[i], *uq[i]) for i, b in enumerate(ret.bones) if ok[i]]
