"""Game-style motion control: skeleton -> events (jump, crouch, lean, turn, punch, arm raise, hands together) and axes.

A declarative mapper. Every frame each tracked person's skeleton becomes a set of **features**: body-relative,
size-normalised numbers (below). **Gestures** are conditions over features, written as small expressions
(``"crouch_depth > 0.45"``), or sequences of conditions/gestures within a time window; the built-in gestures are
defined in exactly the same language (:data:`BUILTIN_GESTURES`), and a TOML file adds or overrides them::

    [settings]
    calib_s = 1.0            # per-person calibration window (stand still, facing forward)
    min_conf = 0.3           # joints below this confidence count as missing (confidence gating)

    [gesture.squat_jump]     # a sequence: crouch, then jump, within 1.5 s
    sequence = ["crouch", "jump"]
    within = 1.5

    [gesture.hands_up]
    when = "hand_left_up > 0.9 and hand_right_up > 0.9"
    release = "hand_left_up < 0.6 or hand_right_up < 0.6"   # hysteresis (default: when the condition fails)
    hold = 0.1               # the condition must hold this long before the event starts (debounce)
    refractory = 0.5         # no new start within this time after the previous start

Per-person calibration (the first ``calib_s`` seconds a person is seen standing upright, legs straight, with hips,
shoulders and ankles): floor level, standing pelvis height, facing direction, body height and arm length (from
segment lengths, so any pose works). All thresholds are relative to these: a child and an adult trigger the same
gestures.

Features (NaN when their joints are missing or below ``min_conf``; a condition on NaN is false):

- ``feet_up``: height of the lower ankle above its standing height, in body heights;
  ``pelvis_up``: pelvis above its standing height, in body heights (negative when crouching);
- ``crouch_depth``: 0 standing .. 1 pelvis on the floor (fraction of the standing pelvis height lost);
- ``lean``: sideways tilt of the torso (pelvis -> shoulders) toward the body's left, degrees (right negative);
- ``heading``: turn of the hips from the calibrated facing direction, degrees in (-180, 180], left positive
  (``turn_left``/``turn_right`` between 45 and 135 degrees, ``turn_around`` beyond 150);
- ``twist``: shoulders' yaw relative to the hips, degrees (left positive);
- ``hand_{left,right}_{fwd,left,up}``: wrist relative to its shoulder in the body frame, in arm lengths;
- ``hand_{left,right}_reach``: shoulder-wrist distance / arm length; ``hand_{left,right}_speed``: wrist speed
  forward (body frame), arm lengths per second;
- ``hands_apart``: wrist-to-wrist distance, arm lengths.

Axes (sent every frame): ``lean`` (-1..1 at +-30 degrees), ``twist`` (-1..1 at +-45 degrees), ``crouch``
(0..1), ``hand_left_x/y/z``, ``hand_right_x/y/z`` (fwd/left/up, arm lengths).

Outputs: callbacks (:meth:`GestureMapper.on_event`), JSON lines (:class:`JsonLinesOutput`), OSC
(:class:`OscOutput`: ``/mocap/gesture/<name>`` int person, int 1 start / 0 end, float t; ``/mocap/axes`` int person
then the axes' floats in :data:`AXES` order), VMC (:class:`VmcKeyOutput`: ``/VMC/Ext/Key`` for events,
``/VMC/Ext/Con`` for the hands and lean axes). Keyboard or virtual-gamepad backends (python-evdev, ``/dev/uinput``)
are left to the user's callback: a virtual device cannot be created on CI machines, so they are not shipped.
"""

from __future__ import annotations

import ast
import json
import operator
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from mocap.errors import MocapError
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState

#: Axis names, in the order ``/mocap/axes`` sends them.
AXES = ("lean", "twist", "crouch", "hand_left_x", "hand_left_y", "hand_left_z", "hand_right_x", "hand_right_y",
        "hand_right_z")

#: The built-in gestures, in the same form as a TOML ``[gesture.NAME]`` table.
BUILTIN_GESTURES: dict[str, dict] = {
    "jump": {"when": "feet_up > 0.05 and pelvis_up > 0.04", "release": "feet_up < 0.025", "refractory": 0.3},
    "crouch": {"when": "crouch_depth > 0.25", "release": "crouch_depth < 0.15", "hold": 0.05, "refractory": 0.5},
    "lean_left": {"when": "lean > 15", "release": "lean < 10", "hold": 0.05},
    "lean_right": {"when": "lean < -15", "release": "lean > -10", "hold": 0.05},
    "turn_left": {"when": "heading > 45 and heading < 135", "release": "heading < 30 or heading > 150"},
    "turn_right": {"when": "heading < -45 and heading > -135", "release": "heading > -30 or heading < -150"},
    "turn_around": {"when": "abs(heading) > 150", "release": "abs(heading) < 120"},
    "punch_left": {"when": "hand_left_speed > 2.5 and hand_left_reach > 0.85 and hand_left_fwd > 0.75",
                   "release": "hand_left_fwd < 0.3", "refractory": 0.25},
    "punch_right": {"when": "hand_right_speed > 2.5 and hand_right_reach > 0.85 and hand_right_fwd > 0.75",
                    "release": "hand_right_fwd < 0.3", "refractory": 0.25},
    "arm_raise_left": {"when": "hand_left_up > 0.55", "release": "hand_left_up < 0.3", "hold": 0.03},
    "arm_raise_right": {"when": "hand_right_up > 0.55", "release": "hand_right_up < 0.3", "hold": 0.03},
    "hands_together": {"when": "hands_apart < 0.3", "release": "hands_apart > 0.45", "hold": 0.05,
                       "refractory": 0.3},
}

FEATURES = ("feet_up", "pelvis_up", "crouch_depth", "lean", "heading", "twist", "hands_apart",
            *(f"hand_{s}_{k}" for s in ("left", "right") for k in ("fwd", "left", "up", "reach", "speed")))


@dataclass
class GestureEvent:
    """One output: an event ``phase`` (``"start"``/``"end"``) or an axis ``value``."""

    t: float
    person: int
    name: str
    phase: str | None = None
    value: float | None = None

    def to_json(self) -> str:
        d: dict = {"t": round(float(self.t), 6), "person": int(self.person), "name": self.name}
        if self.phase is not None:
            d["phase"] = self.phase
        if self.value is not None:
            d["value"] = None if not np.isfinite(self.value) else round(float(self.value), 6)
        return json.dumps(d)


# ---------------------------------------------------------------------------------------------- conditions
_CMP = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Eq: operator.eq,
        ast.NotEq: operator.ne}
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


class Condition:
    """A boolean expression over features: comparisons, ``and``/``or``/``not``, ``+ - * /``, ``abs()``, numbers.

    Parsed once with :mod:`ast` and evaluated by walking a whitelist of nodes (no ``eval``). A comparison with a
    NaN side is false.
    """

    def __init__(self, text: str, names: tuple[str, ...] = FEATURES, where: str = "") -> None:
        self.text = str(text)
        try:
            self.tree = ast.parse(self.text, mode="eval").body
        except SyntaxError as e:
            raise MocapError(f"{where}condition {text!r}: {e.msg}") from None
        self.names = set()
        self._check(self.tree, names, where)

    def _check(self, n: ast.AST, names: tuple[str, ...], where: str) -> None:
        ok = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Name, ast.Constant, ast.Call, ast.Load, ast.And,
              ast.Or, ast.Not, ast.USub, ast.UAdd, *_CMP, *_BIN)
        if not isinstance(n, ok):
            raise MocapError(f"{where}condition {self.text!r}: {type(n).__name__} is not allowed",
                             hint="use comparisons of features and numbers with and/or/not, + - * /, abs()")
        if isinstance(n, ast.Name):
            if n.id not in names:
                raise MocapError(f"{where}condition {self.text!r}: unknown feature {n.id!r}",
                                 hint=f"features: {', '.join(names)}")
            self.names.add(n.id)
        if isinstance(n, ast.Constant) and not isinstance(n.value, int | float):
            raise MocapError(f"{where}condition {self.text!r}: only numbers may appear, not {n.value!r}")
        if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id == "abs" and len(n.args) == 1):
            raise MocapError(f"{where}condition {self.text!r}: the only function is abs(x)")
        for c in ast.iter_child_nodes(n):
            if not (isinstance(n, ast.Call) and c is n.func):
                self._check(c, names, where)

    def __call__(self, f: dict[str, float]) -> bool:
        return bool(self._eval(self.tree, f))

    def _eval(self, n: ast.AST, f: dict[str, float]):  # noqa: ANN202
        if isinstance(n, ast.Constant):
            return float(n.value)
        if isinstance(n, ast.Name):
            return f.get(n.id, float("nan"))
        if isinstance(n, ast.BoolOp):
            vals = (self._eval(v, f) for v in n.values)
            return all(vals) if isinstance(n.op, ast.And) else any(vals)
        if isinstance(n, ast.UnaryOp):
            v = self._eval(n.operand, f)
            return (not v) if isinstance(n.op, ast.Not) else (-v if isinstance(n.op, ast.USub) else v)
        if isinstance(n, ast.BinOp):
            a, b = self._eval(n.left, f), self._eval(n.right, f)
            return float("nan") if isinstance(n.op, ast.Div) and b == 0 else _BIN[type(n.op)](a, b)
        if isinstance(n, ast.Call):
            return abs(self._eval(n.args[0], f))
        if isinstance(n, ast.Compare):
            left = self._eval(n.left, f)
            for op, right in zip(n.ops, n.comparators, strict=True):
                r = self._eval(right, f)
                if not (np.isfinite(left) and np.isfinite(r) and _CMP[type(op)](left, r)):
                    return False
                left = r
            return True
        raise MocapError(f"condition {self.text!r}: cannot evaluate {type(n).__name__}")


@dataclass
class Gesture:
    """One gesture definition (see the module notes for the TOML keys)."""

    name: str
    when: Condition | None = None
    release: Condition | None = None
    sequence: list[str | Condition] = field(default_factory=list)
    within: float = 1.0
    hold: float = 0.0
    refractory: float = 0.0

    @classmethod
    def from_table(cls, name: str, t: dict, known: set[str]) -> Gesture:
        where = f"gesture {name!r}: "
        unknown = set(t) - {"when", "release", "sequence", "within", "hold", "refractory"}
        if unknown:
            raise MocapError(f"{where}unknown keys {sorted(unknown)}",
                             hint="keys: when, release, sequence, within, hold, refractory")
        if ("when" in t) == ("sequence" in t):
            raise MocapError(f"{where}give either 'when' (a condition) or 'sequence' (a list of steps)")
        g = cls(name, within=float(t.get("within", 1.0)), hold=float(t.get("hold", 0.0)),
                refractory=float(t.get("refractory", 0.0)))
        if "when" in t:
            g.when = Condition(t["when"], where=where)
            g.release = Condition(t["release"], where=where) if "release" in t else None
        else:
            steps = t["sequence"]
            if not isinstance(steps, list) or len(steps) < 2:
                raise MocapError(f"{where}'sequence' must be a list of at least two steps")
            g.sequence = [s if s in known else Condition(s, where=where + "sequence step: ") for s in steps]
        return g


def load_gestures(path: str | Path | None = None, builtins: bool = True) -> tuple[dict[str, Gesture], dict]:
    """The gesture set (built-ins, then the file's ``[gesture.*]`` tables) and the file's ``[settings]``."""
    tables = dict(BUILTIN_GESTURES) if builtins else {}
    settings: dict = {}
    if path is not None:
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise MocapError(f"{path}: cannot read the gesture file ({e})") from None
        unknown = set(doc) - {"gesture", "settings"}
        if unknown:
            raise MocapError(f"{path}: unknown sections {sorted(unknown)}; use [settings] and [gesture.NAME]")
        tables.update(doc.get("gesture", {}))
        settings = dict(doc.get("settings", {}))
    out: dict[str, Gesture] = {}
    for name, t in tables.items():  # sequences may refer to gestures defined before or after them
        try:
            out[name] = Gesture.from_table(name, t, set(tables))
        except MocapError as e:
            raise MocapError(f"{path or 'built-in gestures'}: {e}") from None
    return out, settings


# ---------------------------------------------------------------------------------------------- features
_JOINTS = ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "left_knee", "right_knee", "left_ankle",
           "right_ankle", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "nose", "head")


def _joint_index(names: list[str]) -> dict[str, int]:
    from mocap.apps.humanoid import anny_names

    anny = anny_names(names)
    idx: dict[str, int] = {}
    for j, n in enumerate(names):
        c = n if n in _JOINTS else anny.get(n, n)
        if c in _JOINTS and c not in idx:
            idx[c] = j
    return idx


@dataclass
class Calibration:
    """A person's standing reference (metres, our world): floor (ankle) height, pelvis height, facing direction
    (unit, horizontal), body height and arm length."""

    ankle_z: float
    pelvis_z: float
    facing: np.ndarray
    height: float
    arm: float


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 1e-9, n, np.nan)


class _Body:
    """Joint positions of one frame by canonical name (NaN where missing or not confident)."""

    def __init__(self, X: np.ndarray, conf: np.ndarray, idx: dict[str, int], min_conf: float) -> None:
        nan = np.full(3, np.nan)
        self.p = {k: (X[j] if conf[j] >= min_conf and np.isfinite(X[j]).all() else nan) for k, j in idx.items()}
        for k in _JOINTS:
            self.p.setdefault(k, nan)

    def __getitem__(self, k: str) -> np.ndarray:
        return self.p[k]

    def mid(self, a: str, b: str) -> np.ndarray:
        return 0.5 * (self.p[a] + self.p[b])

    @property
    def head(self) -> np.ndarray:
        return self.p["head"] if np.isfinite(self.p["head"]).all() else self.p["nose"]

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body axes (forward, left, up=+Z), horizontal forward from the hips' left-right axis."""
        left = self.p["left_hip"] - self.p["right_hip"]
        left[2] = 0.0
        left = _unit(left)
        up = np.array([0.0, 0.0, 1.0])
        return np.cross(left, up), left, up

    def segments(self) -> tuple[float, float]:
        """Body height and arm length estimated from segment lengths (pose-independent), metres."""
        def d(a, b):  # noqa: ANN001, ANN202
            return float(np.linalg.norm(a - b))
        legs = np.nanmean([d(self[f"{s}_hip"], self[f"{s}_knee"]) + d(self[f"{s}_knee"], self[f"{s}_ankle"])
                           for s in ("left", "right")])
        torso = d(self.mid("left_hip", "right_hip"), self.mid("left_shoulder", "right_shoulder"))
        head = d(self.mid("left_shoulder", "right_shoulder"), self.head)
        arm = np.nanmean([d(self[f"{s}_shoulder"], self[f"{s}_elbow"]) + d(self[f"{s}_elbow"], self[f"{s}_wrist"])
                          for s in ("left", "right")])
        # ankle to the floor ~4%, crown above the nose/head joint ~7% of the height
        return float((legs + torso + head) / 0.89), float(arm)


def _standing(body: _Body) -> bool:
    """True when the person stands upright: both legs nearly straight (hip-ankle distance at least 92% of the
    thigh + shank length; knees without keypoints count as straight) and the torso within 20 degrees of vertical.
    Only such frames enter the calibration, so it is right even when a person is first seen crouching."""
    for s in ("left", "right"):
        hip, knee, ankle = body[f"{s}_hip"], body[f"{s}_knee"], body[f"{s}_ankle"]
        leg = np.linalg.norm(hip - knee) + np.linalg.norm(knee - ankle)
        if np.isfinite(leg) and np.linalg.norm(hip - ankle) < 0.92 * leg:
            return False
    torso = body.mid("left_shoulder", "right_shoulder") - body.mid("left_hip", "right_hip")
    return bool(torso[2] > np.cos(np.radians(20)) * np.linalg.norm(torso))


def _yaw(v: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(v[1], v[0])))


def _wrap(a: float) -> float:
    return float((a + 180.0) % 360.0 - 180.0)


def compute_features(body: _Body, cal: Calibration, prev: dict | None, dt: float) -> dict[str, float]:
    """The features of one frame (see the module notes) for a calibrated person."""
    f: dict[str, float] = {}
    H, arm = cal.height, cal.arm
    pelvis = body.mid("left_hip", "right_hip")
    shoulders = body.mid("left_shoulder", "right_shoulder")
    ankle = np.nanmin([body["left_ankle"][2], body["right_ankle"][2]]) if \
        np.isfinite(body["left_ankle"][2]) and np.isfinite(body["right_ankle"][2]) else np.nan
    f["feet_up"] = (ankle - cal.ankle_z) / H
    f["pelvis_up"] = (pelvis[2] - cal.pelvis_z) / H
    f["crouch_depth"] = float(np.clip((cal.pelvis_z - pelvis[2]) / max(cal.pelvis_z - cal.ankle_z, 1e-6), 0, 1)) \
        if np.isfinite(pelvis[2]) else np.nan
    fwd, left, up = body.frame()
    torso = shoulders - pelvis
    f["lean"] = float(np.degrees(np.arctan2(torso @ left, torso @ up)))
    f["heading"] = _wrap(_yaw(fwd) - _yaw(cal.facing))
    sl = body["left_shoulder"] - body["right_shoulder"]
    f["twist"] = _wrap(_yaw(np.cross(np.array([sl[0], sl[1], 0.0]), up)) - _yaw(fwd))
    for s in ("left", "right"):
        r = body[f"{s}_wrist"] - body[f"{s}_shoulder"]
        rel = np.array([r @ fwd, r @ left, r @ up]) / arm
        f[f"hand_{s}_fwd"], f[f"hand_{s}_left"], f[f"hand_{s}_up"] = (float(x) for x in rel)
        f[f"hand_{s}_reach"] = float(np.linalg.norm(r) / arm)
        pv = None if prev is None else prev.get(f"hand_{s}_fwd")
        f[f"hand_{s}_speed"] = (f[f"hand_{s}_fwd"] - pv) / dt if pv is not None and dt > 0 else np.nan
    f["hands_apart"] = float(np.linalg.norm(body["left_wrist"] - body["right_wrist"]) / arm)
    return {k: float(v) for k, v in f.items()}


def features_to_axes(f: dict[str, float]) -> dict[str, float]:
    """The axes (see the module notes) from features."""
    return {"lean": float(np.clip(f["lean"] / 30.0, -1, 1)), "twist": float(np.clip(f["twist"] / 45.0, -1, 1)),
            "crouch": f["crouch_depth"],
            **{f"hand_{s}_{a}": f[f"hand_{s}_{k}"] for s in ("left", "right")
               for a, k in (("x", "fwd"), ("y", "left"), ("z", "up"))}}


# ---------------------------------------------------------------------------------------------- the mapper
class _GestureState:
    def __init__(self) -> None:
        self.active = False
        self.since: float | None = None  # condition true since (for hold)
        self.last_start = -np.inf
        self.step = 0  # sequences: next step index
        self.step_t0 = 0.0


class _Person:
    def __init__(self, gestures: dict[str, Gesture]) -> None:
        self.window: list[_Body] = []
        self.t0 = 0.0
        self.cal: Calibration | None = None
        self.prev: dict | None = None
        self.prev_t: float | None = None
        self.states = {n: _GestureState() for n in gestures}


class GestureMapper:
    """A :class:`~mocap.live.stream.SkeletonSink` turning skeletons into :class:`GestureEvent` s.

    Args:
        gestures: name -> :class:`Gesture` (default: the built-ins); see :func:`load_gestures`.
        calib_s: seconds of a person measured for the calibration before events fire.
        min_conf: confidence gating of joints; frames of a person whose track is only predicted start nothing.
        person: only this person id (None: everybody, one event stream per person).
        axes: emit axis values every frame.
    """

    def __init__(self, gestures: dict[str, Gesture] | None = None, calib_s: float = 1.0, min_conf: float = 0.3,
                 person: int | None = None, axes: bool = True) -> None:
        self.gestures = gestures if gestures is not None else load_gestures()[0]
        self.calib_s = float(calib_s)
        self.min_conf = float(min_conf)
        self.person = person
        self.axes = bool(axes)
        self._idx: dict[str, int] = {}
        self._people: dict[int, _Person] = {}
        self._callbacks: list[Callable[[GestureEvent], None]] = []
        self._axis_callbacks: list[Callable[[float, int, dict[str, float]], None]] = []

    @classmethod
    def from_file(cls, path: str | Path | None, **kw) -> GestureMapper:
        """Built-ins + a TOML file (its ``[settings]`` give ``calib_s``/``min_conf`` unless passed)."""
        gestures, settings = load_gestures(path)
        for k in ("calib_s", "min_conf"):
            if k in settings:
                kw.setdefault(k, float(settings[k]))
        return cls(gestures, **kw)

    def on_event(self, callback: Callable[[GestureEvent], None]) -> None:
        """Call ``callback(event)`` for every event start/end."""
        self._callbacks.append(callback)

    def on_axes(self, callback: Callable[[float, int, dict[str, float]], None]) -> None:
        """Call ``callback(t, person, axes)`` every frame (axes: name -> value, :data:`AXES`)."""
        self._axis_callbacks.append(callback)

    def calibrate(self, person: int | None = None) -> None:
        """Measure the calibration again (for ``person``, or everybody) from the next frames."""
        for pid in list(self._people) if person is None else [person]:
            self._people.pop(pid, None)

    # ------------------------------------------------------------------ SkeletonSink
    def describe(self, description: SkeletonDescription) -> None:
        idx = _joint_index(description.joint_names)
        need = {"left_hip", "right_hip", "left_shoulder", "right_shoulder", "left_ankle", "right_ankle"}
        if need - set(idx):
            raise MocapError(f"skeleton {description.joint_set!r} lacks {sorted(need - set(idx))} for gestures")
        self._idx = idx

    def send(self, frame: SkeletonFrame) -> list[GestureEvent]:
        """Process one frame; returns (and dispatches) its events."""
        out: list[GestureEvent] = []
        seen = set()
        for p in frame.people:
            if self.person is not None and p.person_id != self.person:
                continue
            seen.add(p.person_id)
            out += self._person_frame(frame.stamp, p)
        for pid in [i for i in self._people if i not in seen]:  # a person gone: end their active events
            out += self._end_all(frame.stamp, pid)
            del self._people[pid]
        for e in out:
            for cb in self._callbacks:
                cb(e)
        return out

    def close(self) -> None:
        for pid in list(self._people):
            for e in self._end_all(self._people[pid].prev_t or 0.0, pid):
                for cb in self._callbacks:
                    cb(e)

    # ------------------------------------------------------------------ internals
    def _end_all(self, t: float, pid: int) -> list[GestureEvent]:
        st = self._people.get(pid)
        if st is None:
            return []
        out = []
        for name, s in st.states.items():
            if s.active:
                s.active = False
                out.append(GestureEvent(t, pid, name, "end"))
        return out

    def _calibrate(self, st: _Person) -> Calibration:
        H, A, az, pz, facing = [], [], [], [], []
        for b in st.window:
            h, a = b.segments()
            H.append(h)
            A.append(a)
            az.append(np.nanmin([b["left_ankle"][2], b["right_ankle"][2]]))
            pz.append(b.mid("left_hip", "right_hip")[2])
            facing.append(b.frame()[0])
        f = _unit(np.nanmean(np.array(facing), axis=0))
        return Calibration(float(np.nanmedian(az)), float(np.nanmedian(pz)), f, float(np.nanmedian(H)),
                           float(np.nanmedian(A)))

    def _person_frame(self, t: float, p: PersonSkeleton) -> list[GestureEvent]:
        st = self._people.setdefault(p.person_id, _Person(self.gestures))
        body = _Body(p.positions, p.joint_confidence, self._idx, self.min_conf)
        if p.state == TrackState.LOST:
            return self._end_all(t, p.person_id)
        if st.cal is None:
            core = ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "left_ankle", "right_ankle")
            if all(np.isfinite(body[k]).all() for k in core) and _standing(body):
                st.window.append(body)
                if len(st.window) == 1:
                    st.t0 = t
                elif t - st.t0 >= self.calib_s:
                    st.cal = self._calibrate(st)
                    st.window.clear()
            return []
        dt = t - st.prev_t if st.prev_t is not None else 0.0
        f = compute_features(body, st.cal, st.prev, dt)
        st.prev, st.prev_t = f, t
        measured = p.state in (TrackState.NEW, TrackState.TRACKED)
        out: list[GestureEvent] = []
        for name, g in self.gestures.items():
            if not g.sequence:
                out += self._condition(t, p.person_id, name, g, st.states[name], f, measured)
        started = {e.name for e in out if e.phase == "start"}
        for name, g in self.gestures.items():  # sequences see this frame's starts
            if g.sequence:
                out += self._sequence(t, p.person_id, name, g, st.states[name], f, started, measured)
        if self.axes:
            ax = features_to_axes(f)
            for cb in self._axis_callbacks:
                cb(t, p.person_id, ax)
        return out

    @staticmethod
    def _condition(t: float, pid: int, name: str, g: Gesture, s: _GestureState, f: dict[str, float],
                   measured: bool) -> list[GestureEvent]:
        if s.active:
            done = g.release(f) if g.release is not None else not g.when(f)
            if done:
                s.active, s.since = False, None
                return [GestureEvent(t, pid, name, "end")]
            return []
        if not (measured and g.when(f)):
            s.since = None
            return []
        if s.since is None:
            s.since = t
        if t - s.since + 1e-9 >= g.hold and t - s.last_start >= g.refractory:
            s.active, s.last_start = True, t
            return [GestureEvent(t, pid, name, "start")]
        return []

    @staticmethod
    def _sequence(t: float, pid: int, name: str, g: Gesture, s: _GestureState, f: dict[str, float],
                  started: set[str], measured: bool) -> list[GestureEvent]:
        out = []
        if s.active:  # a sequence is an instant: it ends on the next frame
            s.active = False
            out.append(GestureEvent(t, pid, name, "end"))
        if s.step > 0 and t - s.step_t0 > g.within:
            s.step = 0
        step = g.sequence[s.step]
        hit = (step in started) if isinstance(step, str) else (measured and step(f))
        if hit:
            if s.step == 0:
                s.step_t0 = t
            s.step += 1
            if s.step == len(g.sequence):
                s.step = 0
                if t - s.last_start >= g.refractory:
                    s.active, s.last_start = True, t
                    out.append(GestureEvent(t, pid, name, "start"))
        return out


# ---------------------------------------------------------------------------------------------- outputs
class JsonLinesOutput:
    """Write events (and axis values, when given to :meth:`axes`) as JSON lines to an open text file."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.count = 0

    def __call__(self, e: GestureEvent) -> None:
        self.fh.write(e.to_json() + "\n")
        self.count += 1

    def axes(self, t: float, person: int, values: dict[str, float]) -> None:
        for k, v in values.items():
            self(GestureEvent(t, person, k, value=v))


class OscOutput:
    """``/mocap/gesture/<name>`` (int person, int 1/0, float t) and ``/mocap/axes`` (int person, floats)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9000) -> None:
        from mocap.apps.osc import OscSender

        self.osc = OscSender(host, port)

    @classmethod
    def from_url(cls, url: str) -> OscOutput:
        from mocap.apps.osc import parse_osc_url

        u = parse_osc_url(url, 9000, ("osc",))
        return cls(u.host, u.port)

    def __call__(self, e: GestureEvent) -> None:
        from mocap.apps.osc import osc_message

        self.osc.send_message(osc_message(f"/mocap/gesture/{e.name}", e.person, int(e.phase == "start"), e.t))

    def axes(self, t: float, person: int, values: dict[str, float]) -> None:
        from mocap.apps.osc import osc_message

        self.osc.send_message(osc_message("/mocap/axes", person, *(values[k] for k in AXES)))

    def close(self) -> None:
        self.osc.close()


class VmcKeyOutput:
    """VMC ``/VMC/Ext/Key`` (int active, str name, int keycode) per event and ``/VMC/Ext/Con`` (int active, str
    name, int is-left, int is-touch, int is-axis, float x, y, z) for the hands (x/y/z = fwd/left/up, arm lengths)
    and the lean axis. ``keycodes``: event name -> key code (default: the event's index + 1)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 39539, keycodes: dict[str, int] | None = None) -> None:
        from mocap.apps.osc import OscSender

        self.osc = OscSender(host, port)
        self.keycodes = dict(keycodes or {})

    def __call__(self, e: GestureEvent) -> None:
        from mocap.apps.osc import osc_message

        code = self.keycodes.setdefault(e.name, len(self.keycodes) + 1)
        self.osc.send_message(osc_message("/VMC/Ext/Key", int(e.phase == "start"), e.name, code))

    def axes(self, t: float, person: int, v: dict[str, float]) -> None:
        from mocap.apps.osc import osc_message

        msgs = [osc_message("/VMC/Ext/Con", 1, f"hand_{s}", int(s == "left"), 0, 1, v[f"hand_{s}_x"],
                            v[f"hand_{s}_y"], v[f"hand_{s}_z"]) for s in ("left", "right")]
        msgs.append(osc_message("/VMC/Ext/Con", 1, "lean", 0, 0, 1, v["lean"], v["twist"], v["crouch"]))
        self.osc.send(msgs)

    def close(self) -> None:
        self.osc.close()


def run_events(stream, mapper: GestureMapper, outputs: list) -> list[GestureEvent]:  # noqa: ANN001
    """Run a :class:`mocap.apps.offline.OfflineStream` through ``mapper`` into ``outputs`` (callables with an
    optional ``axes`` method); returns the events."""
    events: list[GestureEvent] = []
    mapper.on_event(events.append)
    for o in outputs:
        mapper.on_event(o)
        if hasattr(o, "axes"):
            mapper.on_axes(o.axes)
    for d in stream.descriptions:
        mapper.describe(d)
    for f in stream.frames:
        mapper.send(f)
    mapper.close()
    return events
