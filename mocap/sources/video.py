"""Offline sources: video files and folders of images (OpenCV decoding)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mocap.errors import DataError, MocapWarning
from mocap.sources.base import Frame, FrameSource

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


class VideoFileSource(FrameSource):
    """Frames of one video file.

    Args:
        path: the video file.
        name: camera name (default: the file stem).
        start: first frame index to yield (earlier frames are decoded and skipped, which is exact, unlike seeking).
        stop: stop before this frame index (default: the end).
        step: yield every ``step``-th frame (indices keep their position in the video).
        fps: override the frame rate stored in the file (Hz).

    Raises:
        DataError: the file is missing or OpenCV cannot decode it.

    A video that ends before the frame count its header announces (truncated or damaged) stops with a
    :class:`MocapWarning` naming the file and the frame where it stopped; the frames before are yielded and
    ``stopped_at`` holds the number of frames actually read.
    """

    def __init__(self, path: str | Path, name: str | None = None, start: int = 0, stop: int | None = None,
                 step: int = 1, fps: float | None = None) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"video file {self.path} does not exist", hint="check the path")
        cap = cv2.VideoCapture(str(self.path))
        ok = cap.isOpened()
        ok_frame = ok and cap.read()[0]
        if not ok_frame:
            cap.release()
            raise DataError(f"cannot read any frame from video {self.path} (not a video, damaged, or a codec "
                            "OpenCV cannot decode)", hint="re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`")
        file_fps = cap.get(cv2.CAP_PROP_FPS)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
        use_fps = float(fps) if fps else (file_fps if file_fps and np.isfinite(file_fps) and file_fps > 0 else 30.0)
        super().__init__(name or self.path.stem, use_fps, size, n if n > 0 else None)
        if step < 1 or start < 0:
            raise DataError(f"video {self.path}: start must be >= 0 and step >= 1 (got start={start}, step={step})")
        self.start, self.stop, self.step = int(start), stop, int(step)
        self.stopped_at: int | None = None
        self._cap = None

    def _iter_frames(self) -> Iterator[Frame]:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        self._cap = cap
        stop = self.stop if self.stop is not None else self.n_frames
        i = 0
        try:
            while stop is None or i < stop:
                want = i >= self.start and (i - self.start) % self.step == 0
                if want:
                    ok, img = cap.read()
                else:
                    ok, img = cap.grab(), None
                if not ok:
                    break
                if want:
                    yield Frame(i, i / self.fps, img, None, self.name)
                i += 1
        finally:
            cap.release()
            self._cap = None
        self.stopped_at = i
        if self.n_frames is not None and i < min(stop or self.n_frames, self.n_frames):
            warnings.warn(f"video {self.path} stopped at frame {i} of the {self.n_frames} its header announces "
                          f"(truncated or damaged); keeping the {i} frames read", MocapWarning, stacklevel=2)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource(FrameSource):
    """Frames from a folder of images, in natural sort order (``img2.png`` before ``img10.png``).

    Args:
        folder: the folder.
        name: camera name (default: the folder name).
        fps: frame rate used for timestamps (``index / fps``), Hz.
        extensions: image file extensions to use.

    Unreadable images are skipped with a :class:`MocapWarning` naming the file (their index stays unused).
    """

    def __init__(self, folder: str | Path, name: str | None = None, fps: float = 30.0,
                 extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> None:
        import cv2

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"image folder {self.folder} does not exist")
        self.files = sorted((p for p in self.folder.iterdir() if p.suffix.lower() in extensions), key=_natural_key)
        if not self.files:
            raise DataError(f"image folder {self.folder} has no images ({', '.join(extensions)})")
        first = cv2.imread(str(self.files[0]))
        size = None if first is None else (first.shape[1], first.shape[0])
        super().__init__(name or self.folder.name, fps, size, len(self.files))

    def _iter_frames(self) -> Iterator[Frame]:
        import cv2

        for i, p in enumerate(self.files):
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                warnings.warn(f"image {p} (frame {i} of camera {self.name}) cannot be read; skipped", MocapWarning,
                              stacklevel=2)
                continue
            yield Frame(i, i / self.fps, img, None, self.name)


def open_source(spec: str | Path, name: str | None = None, **kwargs) -> FrameSource:
    """Open a source from a path or device spec: a video file, an image folder, a camera index (``"0"``), an
    RTSP/HTTP URL, or a RealSense recording (``.bag``/``.db3``) / ``"realsense"`` / ``"realsense:SERIAL"``."""
    s = str(spec)
    if s.isdigit() or re.match(r"^(rtsp|rtsps|http|https|udp|tcp)://", s):
        from mocap.sources.camera import OpenCVCameraSource

        return OpenCVCameraSource(int(s) if s.isdigit() else s, name=name, **kwargs)
    if s == "realsense" or s.startswith("realsense:") or s.lower().endswith((".bag", ".db3")):
        from mocap.sources.realsense import RealSenseSource

        if s.lower().endswith((".bag", ".db3")):
            return RealSenseSource(file=s, name=name or Path(s).stem, **kwargs)
        serial = s.split(":", 1)[1] if ":" in s else None
        return RealSenseSource(serial=serial, name=name, **kwargs)
    p = Path(s)
    if p.is_dir():
        return ImageFolderSource(p, name=name, **kwargs)
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        raise DataError(f"{p} is a single image; give the folder of images instead")
    return VideoFileSource(p, name=name, **kwargs)


def find_videos(spec: list[str | Path]) -> list[Path]:
    """Video files from a list of files and/or folders (folders: every video inside, sorted by name).

    Raises:
        DataError: a path does not exist, or no video was found.
    """
    out: list[Path] = []
    for s in spec:
        p = Path(s)
        if p.is_dir():
            vids = sorted((q for q in p.iterdir() if q.suffix.lower() in VIDEO_EXTENSIONS), key=_natural_key)
            if not vids:
                raise DataError(f"folder {p} has no videos ({', '.join(VIDEO_EXTENSIONS)})")
            out.extend(vids)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"video path {p} does not exist")
    names = [p.stem for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"several videos share the file stem(s) {dup}; camera names come from file stems",
                        hint="rename the videos so each camera has a unique name")
    return out
