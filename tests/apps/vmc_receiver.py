"""A VMC receiver for the tests, with the type checks of the common Unity receiver (EVMC4U).

EVMC4U accepts a message only when every argument has the expected OSC type: ``/VMC/Ext/Root/Pos`` and
``/VMC/Ext/Bone/Pos`` are a string and seven 32-bit floats (a double is silently ignored), ``/VMC/Ext/OK`` starts
with an int, ``/VMC/Ext/T`` is a float, ``/VMC/Ext/Blend/Val`` a string and a float; a bone name that is not a
``HumanBodyBones`` name is ignored. Here every such violation is recorded (the tests require none).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from mocap.apps.humanoid import HUMAN_BODY_BONES

#: Linux's SO_TIMESTAMPNS (not exported by Python 3.11's socket module)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

EXPECTED = {"/VMC/Ext/Root/Pos": "sfffffff", "/VMC/Ext/Bone/Pos": "sfffffff", "/VMC/Ext/T": "f",
            "/VMC/Ext/Blend/Val": "sf", "/VMC/Ext/Blend/Apply": "", "/VMC/Ext/Key": "isi",
            "/VMC/Ext/Con": "isiiifff"}


def type_tags(msg: OscMessage) -> str:
    """The OSC type-tag string of a message (without the leading comma), read from its datagram."""
    d = msg.dgram
    end = d.index(b"\0")
    start = (end // 4 + 1) * 4
    tags = d[start:d.index(b"\0", start)].decode()
    return tags[1:]


@dataclass
class VmcFrame:
    """One received bundle: arrival (kernel receive time, wall clock, s), root, bones (Unity axes), OK, T."""

    arrival_s: float
    root: tuple | None = None
    bones: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    ok: tuple | None = None
    t: float | None = None
    blend: dict[str, float] = field(default_factory=dict)
    other: list[tuple[str, tuple]] = field(default_factory=list)


class VmcReceiver:
    """Listen on 127.0.0.1 (ephemeral port) in a thread; parse bundles into :class:`VmcFrame` s."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        # kernel receive timestamps: arrival times that do not depend on when this thread gets the GIL
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._raw: list[tuple[bytes, float]] = []  # parsed lazily: the thread only receives (little GIL time)
        self._frames: list[VmcFrame] = []
        self._violations: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, 64)
            except TimeoutError:
                continue
            except OSError:
                return
            stamp = time.time()
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    stamp = sec + nsec * 1e-9
            self._raw.append((data, stamp))

    def _drain(self) -> None:
        n = len(self._raw)
        for data, stamp in self._raw[len(self._frames):n]:
            self._parse(data, stamp)

    @property
    def frames(self) -> list[VmcFrame]:
        """The bundles received so far, parsed."""
        self._drain()
        return self._frames

    @property
    def violations(self) -> list[str]:
        """Type-check failures of the bundles received so far."""
        self._drain()
        return self._violations

    def _parse(self, data: bytes, now: float) -> None:
        msgs = list(OscBundle(data)) if OscBundle.dgram_is_bundle(data) else [OscMessage(data)]
        f = VmcFrame(now)
        for m in msgs:
            if isinstance(m, OscBundle):
                self._violations.append("nested bundle")
                continue
            tags, addr, v = type_tags(m), m.address, tuple(m.params)
            if addr == "/VMC/Ext/OK":
                if not tags or tags[0] != "i" or set(tags) - {"i"}:
                    self._violations.append(f"{addr}: type tags {tags!r}, expected ints")
                f.ok = v
                continue
            want = EXPECTED.get(addr)
            if want is None:
                self._violations.append(f"unknown address {addr}")
                continue
            if tags != want:
                self._violations.append(f"{addr} {v[:1]}: type tags {tags!r}, expected {want!r}")
                continue
            if addr == "/VMC/Ext/Bone/Pos":
                if v[0] not in HUMAN_BODY_BONES:
                    self._violations.append(f"unknown bone {v[0]!r}")
                    continue
                f.bones[v[0]] = (np.array(v[1:4]), np.array(v[4:8]))
            elif addr == "/VMC/Ext/Root/Pos":
                f.root = v
            elif addr == "/VMC/Ext/T":
                f.t = v[0]
            elif addr == "/VMC/Ext/Blend/Val":
                f.blend[v[0]] = v[1]
            else:
                f.other.append((addr, v))
        if f.ok is None or f.t is None:
            self._violations.append("bundle without /VMC/Ext/OK and /VMC/Ext/T")
        self._frames.append(f)

    def wait(self, n: int, timeout: float = 5.0) -> list[VmcFrame]:
        """Wait until ``n`` bundles arrived (or the timeout) and return them."""
        end = time.monotonic() + timeout
        while len(self._raw) < n and time.monotonic() < end:
            time.sleep(0.005)
        return list(self.frames)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self.sock.close()


def unity_forward_kinematics(frame: VmcFrame, parents: dict[str, str | None], offsets: dict[str, np.ndarray]
                             ) -> dict[str, np.ndarray]:
    """Global bone positions (Unity axes) from a frame's root, local rotations, the Hips' local position and rest
    ``offsets`` (Unity axes), as Unity's transform hierarchy computes them (``p = p_parent + q_parent * offset``)."""
    from mocap.geometry.rotations import quat_xyzw_to_matrix

    R: dict[str, np.ndarray] = {}
    P: dict[str, np.ndarray] = {}
    root_p = np.array(frame.root[1:4]) if frame.root else np.zeros(3)
    root_R = quat_xyzw_to_matrix(np.array(frame.root[4:8])) if frame.root else np.eye(3)
    for b, (pos, q) in frame.bones.items():  # the sender orders parents first
        par = parents[b]
        L = quat_xyzw_to_matrix(q)
        if par is None:
            R[b], P[b] = root_R @ L, root_p + root_R @ pos
        else:
            R[b] = R[par] @ L
            P[b] = P[par] + R[par] @ offsets[b]
    return P
