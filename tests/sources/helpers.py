"""Test helpers: small synthetic videos and in-memory frame sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mocap.sources.base import Frame, FrameSource


def write_avi(path: Path, n: int, size=(64, 48), fps: float = 10.0, frames=None) -> Path:  # noqa: ANN001
    """An MJPG AVI whose frame i is uniformly grey level 10*i (or the given frames)."""
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n):
        img = frames[i] if frames is not None else np.full((size[1], size[0], 3), (10 * i) % 250, np.uint8)
        w.write(img)
    w.release()
    return path


def damage_avi(src: Path, dst: Path, keep_fraction: float = 0.6) -> Path:
    """Copy of an AVI with the frame data after ``keep_fraction`` of the movie chunk zeroed (index kept)."""
    b = bytearray(src.read_bytes())
    idx, mv = b.rfind(b"idx1"), b.find(b"movi")
    cut = mv + int((idx - mv) * keep_fraction)
    b[cut: idx - 8] = bytes(idx - 8 - cut)
    dst.write_bytes(bytes(b))
    return dst


class ListSource(FrameSource):
    """A recorded source over given ``(index, timestamp)`` pairs (image = index as grey level)."""

    def __init__(self, name: str, stamps: list[tuple[int, float]], fps: float = 10.0) -> None:
        super().__init__(name, fps, (8, 8), len(stamps))
        self.stamps = stamps

    def _iter_frames(self) -> Iterator[Frame]:
        for i, t in self.stamps:
            yield Frame(i, t, np.full((8, 8, 3), i % 256, np.uint8), None, self.name)
