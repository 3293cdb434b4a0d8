"""Rerun logging of captures: world skeletons per person, cameras with their 2D keypoints and images, timelines.

Optional dependency: ``rerun-sdk==0.23.1`` (``pip install mocap[viewer]``; the newest Rerun needs numpy 2).

Layout (Rerun's conventions, as in its human-pose example):

- ``world``: right-handed, Z up (our world), static;
- ``world``'s annotation context, logged once per joint set: one class per skeleton (id, name, joint names as
  keypoint labels, parent -> child bones as keypoint connections), so the viewer draws the edges itself;
- ``world/person/<id>/joints``: ``Points3D`` with the class id and keypoint ids per frame;
- ``world/cameras/<name>``: ``Transform3D`` (camera -> world) + ``Pinhole`` (K, resolution, OpenCV axes), static;
  ``.../image``: the frame (JPEG-compressed); ``.../keypoints/<person>``: ``Points2D`` in raw pixels;
- timelines ``frame`` (sequence) and ``time`` (seconds).

Rerun 0.23.1 under numpy 1.26 cannot build an ``AnnotationContext`` with keypoint connections
(rerun-io/rerun#9862: ``asarray() got an unexpected keyword argument 'copy'``; it would log an empty class). The
component is therefore built here directly as an Arrow array of Rerun's own type (:func:`annotation_context`), and
the tests read the ``.rrd`` back with ``rerun.dataframe`` to check that the edges are there.

Live viewing: :class:`RerunViewer` with ``live=True`` starts the ``rerun`` viewer bound to 127.0.0.1 (never all
interfaces; the SDK's own ``serve_grpc`` cannot choose its address) and streams to it over gRPC.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mocap.errors import MocapError
from mocap.live.stream import SkeletonDescription, SkeletonFrame, TrackState


def _rerun():
    try:
        import rerun as rr
    except ImportError:
        raise MocapError("the Rerun viewer needs the optional 'rerun-sdk' package",
                         hint="pip install 'rerun-sdk==0.23.1' (or: pip install -e '.[viewer]')") from None
    return rr


class _Arrow:
    def __init__(self, array) -> None:  # noqa: ANN001
        self.array = array

    def as_arrow_array(self):  # noqa: ANN201
        return self.array


def annotation_context(classes: list[tuple[int, str, list[str], list[tuple[int, int]]]]) -> list:
    """Component batches of a Rerun ``AnnotationContext`` built directly in Arrow (see the module notes).

    Args:
        classes: ``(class_id, label, keypoint names, keypoint connections)`` per class.

    Returns:
        what ``rr.log(path, ...)`` takes (the archetype's indicator and its ``context`` component).
    """
    rr = _rerun()
    import pyarrow as pa
    from rerun._baseclasses import DescribedComponentBatch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = rr.AnnotationContext([]).as_component_batches()
    out = []
    for b in proto:
        d = b.component_descriptor()
        if "AnnotationContext" in str(d) and "Indicator" not in str(d):
            value = [{"class_id": int(cid), "class_description": {
                "info": {"id": int(cid), "label": label, "color": None},
                "keypoint_annotations": [{"id": i, "label": n, "color": None} for i, n in enumerate(names)],
                "keypoint_connections": [{"keypoint0": int(a), "keypoint1": int(c)} for a, c in edges]}}
                for cid, label, names, edges in classes]
            out.append(DescribedComponentBatch(_Arrow(pa.array([value], type=b.as_arrow_array().type)), d))
        else:
            out.append(b)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_viewer(port: int | None = None, headless: bool = False, timeout_s: float = 10.0
                 ) -> tuple[subprocess.Popen, str]:
    """Start the ``rerun`` viewer (or, ``headless``, only its gRPC server) listening on 127.0.0.1.

    Returns:
        the process and the gRPC URL to connect to (``rerun+http://127.0.0.1:PORT/proxy``).
    """
    exe = shutil.which("rerun", path=str(Path(sys.executable).parent)) or shutil.which("rerun")
    if exe is None:
        raise MocapError("the 'rerun' viewer executable is not installed", hint="pip install 'rerun-sdk==0.23.1'")
    port = port or _free_port()
    cmd = [exe, "--bind", "127.0.0.1", "--port", str(port)] + (["--serve-grpc"] if headless else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise MocapError(f"the Rerun viewer exited at start: {proc.stderr.read().decode(errors='replace')[-300:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"rerun+http://127.0.0.1:{port}/proxy"
        time.sleep(0.05)
    proc.kill()
    raise MocapError(f"the Rerun viewer did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


class RerunViewer:
    """A :class:`~mocap.live.stream.SkeletonSink` logging to Rerun (a ``.rrd`` file, a live viewer, or both).

    Args:
        save: write a ``.rrd`` recording here.
        live: start a viewer on 127.0.0.1 and stream to it (``connect``: an existing one's gRPC URL instead).
        rig: optional :class:`~mocap.cameras.CameraRig`, logged once as pinhole cameras.
        app_id: Rerun application id.
        images: log camera images given to :meth:`log_image` (JPEG quality ``jpeg_quality``).
    """

    def __init__(self, save: str | Path | None = None, live: bool = False, connect: str | None = None, rig=None,
                 app_id: str = "mocap", images: bool = True, jpeg_quality: int = 70, headless: bool = False) -> None:
        rr = _rerun()
        self.rr = rr
        if save is None and not live and connect is None:
            raise MocapError("RerunViewer needs save=PATH.rrd, live=True or connect=URL")
        self.proc: subprocess.Popen | None = None
        self.recs = []
        rid = None
        if save is not None:
            Path(save).parent.mkdir(parents=True, exist_ok=True)
            rec = rr.RecordingStream(app_id)
            rec.save(str(save))
            rid = rec.get_recording_id()
            self.recs.append(rec)
        if live or connect:
            url = connect
            if url is None:
                self.proc, url = start_viewer(headless=headless)
            rec = rr.RecordingStream(app_id, recording_id=rid)
            rec.connect_grpc(url)
            self.recs.append(rec)
            self.url = url
        self.images = bool(images)
        self.jpeg_quality = int(jpeg_quality)
        self._classes: dict[str, int] = {}
        self._class_list: list[tuple[int, str, list[str], list[tuple[int, int]]]] = []
        self._desc: dict[int, SkeletonDescription] = {}
        self._shown: set[int] = set()
        self.frames = 0
        self._log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        if rig is not None:
            self.log_rig(rig)

    # ------------------------------------------------------------------ plumbing
    def _log(self, path: str, *args, **kw) -> None:
        for r in self.recs:
            r.log(path, *args, **kw)

    def set_time(self, frame_index: int, stamp: float) -> None:
        """Set both timelines for what is logged next."""
        for r in self.recs:
            r.set_time("frame", sequence=int(frame_index))
            r.set_time("time", duration=float(stamp))

    def _class_id(self, desc: SkeletonDescription) -> int:
        key = f"{desc.joint_set}/{desc.person_id}" if desc.person_id >= 0 else desc.joint_set
        if key not in self._classes:
            cid = len(self._classes)
            self._classes[key] = cid
            edges = [(int(p), j) for j, p in enumerate(desc.parents) if p >= 0]
            self._class_list.append((cid, key, list(desc.joint_names), edges))
            self._log("world", annotation_context(self._class_list), static=True)
        return self._classes[key]

    # ------------------------------------------------------------------ SkeletonSink
    def describe(self, description: SkeletonDescription) -> None:
        """Log the skeleton's topology once (annotation context of ``world``)."""
        self._desc[description.person_id] = description
        self._class_id(description)

    def send(self, frame: SkeletonFrame) -> None:
        """Log every person's joints at this frame; people no longer present are cleared."""
        rr = self.rr
        self.set_time(frame.frame_index, frame.stamp)
        now = set()
        for p in frame.people:
            path = f"world/person/{p.person_id}"
            if p.state == TrackState.LOST:
                continue
            desc = self._desc.get(p.person_id, self._desc.get(-1))
            if desc is None:
                raise MocapError("RerunViewer.send before describe: send the SkeletonDescription first")
            ok = p.valid()
            self._log(f"{path}/joints", rr.Points3D(p.positions[ok], class_ids=self._class_id(desc),
                                                    keypoint_ids=np.flatnonzero(ok), radii=0.02))
            now.add(p.person_id)
        for pid in self._shown - now:
            self._log(f"world/person/{pid}", rr.Clear(recursive=True))
        self._shown = now
        self.frames += 1

    def close(self) -> None:
        for r in self.recs:
            r.flush()
            r.disconnect()
        self.recs = []

    def stop_viewer(self) -> None:
        """End the viewer process this object started (if any)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    # ------------------------------------------------------------------ cameras
    def log_rig(self, rig) -> None:  # noqa: ANN001
        """Log every camera of a :class:`~mocap.cameras.CameraRig` as a static pinhole in the world."""
        rr = self.rr
        for cam in rig:
            path = f"world/cameras/{cam.name}"
            self._log(path, rr.Transform3D(translation=cam.center, mat3x3=np.asarray(cam.R).T), static=True)
            self._log(path, rr.Pinhole(image_from_camera=np.asarray(cam.K), resolution=list(cam.size),
                                       camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=0.3), static=True)

    def log_keypoints2d(self, camera: str, kp: np.ndarray, joint_set_desc: SkeletonDescription | None = None,
                        min_conf: float = 0.0) -> None:
        """Log one camera's ``(P, J, 3)`` 2D keypoints (raw pixels + confidence) at the current time."""
        rr = self.rr
        kp = np.asarray(kp, float)
        desc = joint_set_desc or self._desc.get(-1)
        cid = self._class_id(desc) if desc is not None and desc.n_joints == kp.shape[1] else None
        for p in range(kp.shape[0]):
            ok = np.isfinite(kp[p, :, :2]).all(-1) & (np.nan_to_num(kp[p, :, 2]) > min_conf)
            self._log(f"world/cameras/{camera}/keypoints/{p}",
                      rr.Points2D(kp[p, ok, :2], class_ids=cid, keypoint_ids=np.flatnonzero(ok), radii=3.0))

    def log_image(self, camera: str, image_bgr: np.ndarray) -> None:
        """Log one camera's BGR frame (JPEG-compressed) at the current time."""
        if not self.images:
            return
        rr = self.rr
        rgb = np.ascontiguousarray(np.asarray(image_bgr)[..., ::-1])
        self._log(f"world/cameras/{camera}/image", rr.Image(rgb).compress(jpeg_quality=self.jpeg_quality))


# ---------------------------------------------------------------------------------------------- sessions
def log_session(session: str | Path, viewer: RerunViewer, calib: str | Path | None = None,
                fitted: bool = True) -> dict[str, int]:
    """Log a finished session folder (``mocap run`` / ``mocap demo`` output): calibration, 2D keypoints, 3D keypoints
    and the fitted body, on the same ``frame``/``time`` timelines.

    Args:
        session: the folder (``keypoints3d.npz``, ``2d/keypoints2d.npz``, ``motion.npz``).
        viewer: where to log.
        calib: calibration file (default: a ``calib*`` file in the folder, as ``mocap live --record`` writes).

    Returns:
        counts of what was logged (``frames``, ``cameras``, ``people``, ``body_frames``).
    """
    from mocap.apps.offline import keypoints_stream, motion_stream
    from mocap.keypoints.npz_io import load_npz

    session = Path(session)
    kp3_path = session / "keypoints3d.npz"
    if not kp3_path.exists():
        raise MocapError(f"{session}: no keypoints3d.npz; is this a `mocap run` output folder?",
                         hint="mocap view SESSION expects the --out folder of mocap run / mocap demo")
    kp3 = load_npz(kp3_path)
    counts = {"frames": kp3.n_frames, "cameras": 0, "people": kp3.n_people, "body_frames": 0}
    cal = calib or next((c for c in sorted(session.glob("calib*")) if c.is_file()), None)
    if cal is not None:
        from mocap.cameras.formats import read_calibration

        rig = read_calibration(cal)
        viewer.log_rig(rig)
        counts["cameras"] = len(rig)
    stream = keypoints_stream(kp3)
    for d in stream.descriptions:
        viewer.describe(d)
    kp2_path = session / "2d" / "keypoints2d.npz"
    kp2 = load_npz(kp2_path) if kp2_path.exists() else None
    for t, f in enumerate(stream.frames):
        viewer.send(f)
        if kp2 is not None and t < kp2.n_frames:
            for c, cam in enumerate(kp2.camera_names):
                viewer.log_keypoints2d(cam, kp2.data[t, c], stream.descriptions[0])
    motion_path = session / "motion.npz"
    if fitted and motion_path.exists():
        from mocap.body.motion import BodyMotion

        ms = motion_stream(BodyMotion.load(motion_path), person_id=1000)
        rr = viewer.rr
        cid = viewer._class_id(ms.descriptions[0])
        for f in ms.frames:
            viewer.set_time(f.frame_index, f.stamp)
            p = f.people[0]
            viewer._log("world/body/joints", rr.Points3D(p.positions, class_ids=cid,
                                                          keypoint_ids=np.arange(p.n_joints), radii=0.012))
        counts["body_frames"] = len(ms.frames)
    return counts
