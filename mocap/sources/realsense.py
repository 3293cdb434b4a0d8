"""Intel RealSense colour + depth, live or from a recording (``.bag`` ROS 1 or ``.db3`` ROS 2), via pyrealsense2.

Depth is aligned to the colour image. When the depth stream already shares the colour stream's intrinsics and has an
identity extrinsic to it (recorded aligned), depth is passed through unchanged (exact); otherwise ``rs.align``
reprojects it (which leaves small holes, as librealsense's align always does).

NOTE: import ``rclpy`` before ``pyrealsense2`` if both are needed in one process (the other order crashes at exit);
this module imports pyrealsense2 only when a :class:`RealSenseSource` is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.sources.base import Frame, FrameSource


def _rs():
    try:
        import pyrealsense2 as rs
    except ImportError as e:  # pragma: no cover - pinned dependency
        raise DataError("pyrealsense2 is not installed; `pip install pyrealsense2`") from e
    return rs


def intrinsics_to_camera(name: str, intr) -> object:  # noqa: ANN001
    """A :class:`mocap.cameras.Camera` (identity pose) from ``rs.intrinsics``.

    Brown-Conrady / modified Brown-Conrady coefficients ``[k1, k2, p1, p2, k3]`` are OpenCV's order. RealSense's
    *inverse* Brown-Conrady (D4xx depth) is not OpenCV's model; it is kept in ``meta["rs_distortion"]`` with zero
    ``dist`` (D4xx colour streams report zero coefficients in practice).
    """
    from mocap.cameras import Camera

    rs = _rs()
    K = np.array([[intr.fx, 0.0, intr.ppx], [0.0, intr.fy, intr.ppy], [0.0, 0.0, 1.0]])
    coeffs = np.asarray(intr.coeffs, float)
    opencv_like = intr.model in (rs.distortion.brown_conrady, rs.distortion.modified_brown_conrady, rs.distortion.none)
    dist = coeffs if opencv_like else np.zeros(5)
    cam = Camera(name, (intr.width, intr.height), K, dist)
    cam.meta["rs_distortion"] = str(intr.model)
    if not opencv_like:
        cam.meta["rs_coeffs"] = coeffs.tolist()
    return cam


class RealSenseSource(FrameSource):
    """Colour (BGR ``uint8``) and aligned depth (``uint16``, ``meta["depth_scale"]`` metres per unit) frames.

    Args:
        file: a ``.bag``/``.db3`` recording to play back (every frame, not real time); ``None`` for a live device.
        serial: device serial number (live; default: the first device).
        name: camera name (default: the file stem or ``realsense-<serial>``).
        width, height, fps: live stream settings (colour and depth).
        depth: also deliver aligned depth.
        timeout_s: wait for a frame this long before giving up (playback end / device lost).

    ``camera`` holds the colour stream's intrinsics as a :class:`mocap.cameras.Camera` (read from the device or the
    recording when the source starts).
    """

    def __init__(self, file: str | Path | None = None, serial: str | None = None, name: str | None = None,
                 width: int = 1280, height: int = 720, fps: float = 30.0, depth: bool = True,
                 timeout_s: float = 2.0) -> None:
        self.file = Path(file) if file is not None else None
        if self.file is not None and not self.file.is_file():
            raise DataError(f"RealSense recording {self.file} does not exist")
        default = self.file.stem if self.file is not None else f"realsense-{serial or 'default'}"
        super().__init__(name or default, fps, (width, height) if self.file is None else None, None,
                         is_live=self.file is None)
        self.serial, self.want_depth, self.timeout_s = serial, depth, float(timeout_s)
        self._req = (int(width), int(height), int(fps))
        self._pipe = None
        self._align = None
        self._passthrough = False
        self.camera = None
        self._start()

    def _start(self) -> None:
        rs = _rs()
        pipe, cfg = rs.pipeline(), rs.config()
        if self.file is not None:
            cfg.enable_device_from_file(str(self.file), repeat_playback=False)
        else:
            if self.serial:
                cfg.enable_device(self.serial)
            w, h, f = self._req
            cfg.enable_stream(rs.stream.color, w, h, rs.format.bgr8, f)
            if self.want_depth:
                cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, f)
        try:
            prof = pipe.start(cfg)
        except RuntimeError as e:
            what = f"recording {self.file}" if self.file else f"RealSense device {self.serial or '(first found)'}"
            raise DataError(f"cannot start {what}: {e}",
                            hint="check the file/cable, or pick other width/height/fps the device supports") from e
        self._pipe = pipe
        dev = prof.get_device()
        if self.file is not None:
            dev.as_playback().set_real_time(False)
        try:
            cprof = prof.get_stream(rs.stream.color).as_video_stream_profile()
        except RuntimeError as e:
            pipe.stop()
            raise DataError(f"{self.file or 'RealSense device'} has no colour stream") from e
        intr = cprof.get_intrinsics()
        self.size = (intr.width, intr.height)
        self.fps = float(cprof.fps())
        self.camera = intrinsics_to_camera(self.name, intr)
        self.meta["depth_scale"] = None
        has_depth = False
        if self.want_depth:
            try:
                dprof = prof.get_stream(rs.stream.depth).as_video_stream_profile()
                has_depth = True
            except RuntimeError:
                has_depth = False
        if has_depth:
            sensor = dev.first_depth_sensor()
            self.meta["depth_scale"] = float(sensor.get_depth_scale())
            di = dprof.get_intrinsics()
            ex = dprof.get_extrinsics_to(cprof)
            same = (di.width, di.height, di.fx, di.fy, di.ppx, di.ppy, tuple(di.coeffs)) == (
                intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy, tuple(intr.coeffs))
            ident = np.allclose(ex.rotation, np.eye(3).ravel()) and np.allclose(ex.translation, 0.0)
            self._passthrough = same and ident
            self._align = None if self._passthrough else rs.align(rs.stream.color)
        self.want_depth = has_depth
        try:
            self.serial = self.serial or dev.get_info(rs.camera_info.serial_number)
        except RuntimeError:
            pass
        self.camera.meta["serial"] = self.serial

    def _iter_frames(self) -> Iterator[Frame]:
        rs = _rs()
        if self._pipe is None:
            self._start()
        pipe = self._pipe
        k = 0
        while self._pipe is not None:
            ok, fs = pipe.try_wait_for_frames(int(self.timeout_s * 1000))
            if not ok:
                if self.file is not None:
                    break
                raise DataError(f"RealSense {self.name}: no frame for {self.timeout_s:g} s (device lost?)",
                                hint="check the USB cable (USB 3) and power")
            if self._align is not None:
                fs = self._align.process(fs)
            cf = fs.get_color_frame()
            if not cf:
                continue
            img = np.asanyarray(cf.get_data()).copy()
            fmt = cf.get_profile().format()
            if fmt == rs.format.rgb8:
                img = img[..., ::-1].copy()
            elif fmt not in (rs.format.bgr8,):
                raise DataError(f"RealSense {self.name}: colour format {fmt} is not supported (use bgr8 or rgb8)")
            depth = None
            if self.want_depth:
                df = fs.get_depth_frame()
                depth = np.asanyarray(df.get_data()).copy() if df else None
            idx = int(cf.get_frame_number()) if self.file is not None else k
            yield Frame(idx, float(cf.get_timestamp()) / 1000.0, img, depth, self.name)
            k += 1
        self.close()

    def close(self) -> None:
        if self._pipe is not None:
            try:
                self._pipe.stop()
            except RuntimeError:
                pass
            self._pipe = None
