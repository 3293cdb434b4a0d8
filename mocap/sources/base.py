"""The frame-source interface: one camera yields :class:`Frame` objects in time order.

Every source (video file, image folder, USB/IP camera, RealSense) implements :class:`FrameSource`;
:class:`mocap.sources.multi.MultiSource` combines several into synchronised :class:`MultiFrame` s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    """One image of one camera.

    Attributes:
        index: frame number in the source (0-based). Live sources count nominal frame periods since the start, so a
            gap in ``index`` means frames were missed (e.g. while reconnecting).
        timestamp_s: capture time in seconds (video/images: ``index / fps``; live: monotonic clock since start;
            RealSense: device timestamp).
        image: ``(H, W, 3)`` BGR ``uint8``.
        depth: ``(H, W)`` ``uint16`` depth aligned to ``image`` (RealSense), else ``None``; multiply by
            ``depth_scale`` (metres per unit, in the source's ``meta``) for metres.
        camera_name: the camera this frame comes from.
    """

    index: int
    timestamp_s: float
    image: np.ndarray
    depth: np.ndarray | None = None
    camera_name: str = ""


@dataclass
class MultiFrame:
    """Frames of several cameras taken at (about) the same time.

    Attributes:
        timestamp: reference time of the group, seconds.
        frames: one entry per source, in the order of the sources; ``None`` where a camera has no frame within the
            sync tolerance (missing, dropped, disconnected or ended).
        index: running number of the group (0-based).
    """

    timestamp: float
    frames: list[Frame | None]
    index: int = 0

    @property
    def complete(self) -> bool:
        """True when every camera has a frame."""
        return all(f is not None for f in self.frames)


class FrameSource:
    """Base class of a single-camera source; iterate it to get :class:`Frame` s.

    Subclasses implement :meth:`_iter_frames`. Use as a context manager or call :meth:`close`.

    Attributes:
        name: camera name (e.g. the video's file stem).
        fps: nominal frame rate, Hz (``0`` when unknown).
        size: ``(width, height)`` pixels, or ``None`` until known.
        n_frames: expected number of frames, or ``None`` (unknown or live).
        is_live: True for cameras/streams (frames arrive in real time and may be missing).
        meta: free-form extra info (e.g. RealSense ``depth_scale``).
    """

    def __init__(self, name: str, fps: float = 0.0, size: tuple[int, int] | None = None,
                 n_frames: int | None = None, is_live: bool = False) -> None:
        self.name = str(name)
        self.fps = float(fps)
        self.size = size
        self.n_frames = n_frames
        self.is_live = is_live
        self.meta: dict = {}

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_frames()

    def _iter_frames(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, fps={self.fps:g}, size={self.size}, "
                f"n_frames={self.n_frames})")
