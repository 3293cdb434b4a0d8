"""Synchronised multi-camera frames: :class:`MultiSource` groups the frames of several sources.

- ``sync="index"``: frames with the same index (plus a per-camera offset in frames) form a group. Cameras must
  share a frame rate.
- ``sync="timestamp"``: frames whose timestamps (plus offset) lie within ``tolerance_s`` of the earliest pending
  frame form a group; a camera with no frame that close gets ``None``.
- Live sources (cameras) are polled with a shared deadline of one frame period per group, so a camera that is down
  yields ``None`` and never holds up the others.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from mocap.errors import DataError, MocapWarning
from mocap.sources.base import Frame, FrameSource, MultiFrame

SYNC_MODES = ("index", "timestamp")


def check_consistency(sources: Sequence[FrameSource], sync: str = "index") -> list[str]:
    """Problems between offline sources: different frame counts (warning) or frame rates.

    Returns:
        the warning messages (also emitted as :class:`MocapWarning`).

    Raises:
        DataError: frame rates differ and ``sync == "index"`` (use timestamp sync instead).
    """
    msgs: list[str] = []
    fps = {s.name: round(s.fps, 3) for s in sources if s.fps}
    if len(set(fps.values())) > 1:
        desc = ", ".join(f"{k}: {v:g} fps" for k, v in fps.items())
        if sync == "index":
            raise DataError(f"cameras have different frame rates ({desc}); frame-index sync would pair frames "
                            "taken at different times", hint="use sync='timestamp' (--sync timestamp)")
        msgs.append(f"cameras have different frame rates ({desc}); synchronising by timestamp")
    counts = {s.name: s.n_frames for s in sources if not s.is_live and s.n_frames is not None}
    if len(set(counts.values())) > 1:
        desc = ", ".join(f"{k}: {v}" for k, v in counts.items())
        msgs.append(f"cameras have different frame counts ({desc}); groups past the shortest camera's end "
                    "have missing cameras")
    for m in msgs:
        warnings.warn(m, MocapWarning, stacklevel=3)
    return msgs


class MultiSource:
    """Iterate several :class:`FrameSource` s as synchronised :class:`MultiFrame` s.

    Args:
        sources: one source per camera (camera order = this order).
        sync: ``"index"`` or ``"timestamp"``.
        tolerance_s: largest time difference inside a group, seconds (default half a frame period of the fastest
            camera).
        offsets_frames: per-camera delay in frames, e.g. from :func:`mocap.sources.offset.estimate_offsets`: frame
            ``i`` of camera ``c`` is taken to be simultaneous with frame ``i - offsets_frames[c]`` of a camera with
            offset 0.

    Iteration ends when every source has ended (offline) or after :meth:`close` / ``max_groups`` (live).
    """

    def __init__(self, sources: Sequence[FrameSource], sync: str = "index", tolerance_s: float | None = None,
                 offsets_frames: Sequence[float] | None = None, max_groups: int | None = None) -> None:
        if sync not in SYNC_MODES:
            raise DataError(f"unknown sync mode {sync!r}; choose one of {SYNC_MODES}")
        if not sources:
            raise DataError("MultiSource needs at least one source")
        self.sources = list(sources)
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise DataError(f"camera names must be unique; got {names}")
        self.live = any(s.is_live for s in self.sources)
        if self.live and not all(s.is_live for s in self.sources):
            raise DataError("cannot mix live cameras and recorded files in one MultiSource "
                            f"(live: {[s.name for s in self.sources if s.is_live]})")
        self.sync = "timestamp" if self.live else sync
        self.warnings = [] if self.live else check_consistency(self.sources, self.sync)
        fps = max((s.fps for s in self.sources if s.fps), default=30.0)
        self.tolerance_s = float(tolerance_s) if tolerance_s is not None else 0.5 / fps
        off = np.zeros(len(self.sources)) if offsets_frames is None else np.asarray(offsets_frames, float).ravel()
        if off.shape != (len(self.sources),):
            raise DataError(f"offsets_frames has {off.size} values for {len(self.sources)} cameras")
        self.offsets_frames = off
        self.max_groups = max_groups

    @property
    def camera_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def _offset_s(self, c: int) -> float:
        fps = self.sources[c].fps or 30.0
        return float(self.offsets_frames[c]) / fps

    def __iter__(self) -> Iterator[MultiFrame]:
        it = self._iter_live() if self.live else self._iter_index() if self.sync == "index" else self._iter_time()
        for k, mf in enumerate(it):
            if self.max_groups is not None and k >= self.max_groups:
                return
            mf.index = k
            yield mf

    # ----------------------------------------------------------------- offline
    def _heads(self) -> tuple[list[Iterator[Frame]], list[Frame | None]]:
        its = [iter(s) for s in self.sources]
        return its, [next(it, None) for it in its]

    def _iter_index(self) -> Iterator[MultiFrame]:
        its, heads = self._heads()
        off = np.round(self.offsets_frames).astype(int)
        while any(h is not None for h in heads):
            keys = [h.index - off[c] if h is not None else None for c, h in enumerate(heads)]
            cur = min(k for k in keys if k is not None)
            group: list[Frame | None] = [None] * len(heads)
            for c, k in enumerate(keys):
                if k == cur:
                    group[c] = heads[c]
                    heads[c] = next(its[c], None)
            ts = [f.timestamp_s - off[c] / (self.sources[c].fps or 30.0) for c, f in enumerate(group) if f is not None]
            yield MultiFrame(float(np.mean(ts)), group)

    def _iter_time(self) -> Iterator[MultiFrame]:
        its, heads = self._heads()
        while any(h is not None for h in heads):
            t = [h.timestamp_s - self._offset_s(c) if h is not None else np.inf for c, h in enumerate(heads)]
            ref = min(t)
            group: list[Frame | None] = [None] * len(heads)
            for c, tc in enumerate(t):
                if tc <= ref + self.tolerance_s:
                    group[c] = heads[c]
                    heads[c] = next(its[c], None)
            yield MultiFrame(float(np.mean([x for x in t if x <= ref + self.tolerance_s])), group)

    # ----------------------------------------------------------------- live
    def _iter_live(self) -> Iterator[MultiFrame]:
        for s in self.sources:
            getattr(s, "start", lambda: None)()
        fps = max((s.fps for s in self.sources if s.fps), default=30.0)
        period = 1.0 / fps
        while True:
            if all(getattr(s, "finished", False) for s in self.sources):
                return
            deadline = time.monotonic() + period
            got: list[Frame | None] = []
            for s in self.sources:
                f = s.read(timeout=max(0.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
                # drain to the newest buffered frame: live output favours latency
                while f is not None:
                    nxt = s.read(timeout=0.0)  # type: ignore[attr-defined]
                    if nxt is None:
                        break
                    f = nxt
                got.append(f)
            times = [f.timestamp_s - self._offset_s(c) for c, f in enumerate(got) if f is not None]
            if not times:
                yield MultiFrame(time.monotonic(), got)
                continue
            ref = float(np.median(times))
            group = [f if f is not None and abs(f.timestamp_s - self._offset_s(c) - ref) <= max(self.tolerance_s,
                                                                                             period) else None
                     for c, f in enumerate(got)]
            yield MultiFrame(ref, group)

    def close(self) -> None:
        """Close every source."""
        for s in self.sources:
            s.close()

    def __enter__(self) -> MultiSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
