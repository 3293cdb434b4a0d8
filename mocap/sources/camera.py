"""Live cameras through OpenCV (USB index or RTSP/HTTP URL), read on a background thread.

The reader thread reconnects with exponential backoff when the stream fails, so one camera that drops out
never blocks the others: :meth:`OpenCVCameraSource.read` waits at most its ``timeout``. Frame indices count nominal
frame periods since the start, so the frames lost during a disconnection show up as gaps (listed in ``gaps``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from mocap.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)


def _open_cv_capture(device: int | str):
    import cv2

    return cv2.VideoCapture(device)


class OpenCVCameraSource(FrameSource):
    """A USB camera (``device`` = index) or network stream (``device`` = RTSP/HTTP URL).

    Args:
        device: OpenCV device index or URL.
        name: camera name (default ``cam<index>`` or the URL's host).
        fps: nominal frame rate, Hz, used to number frames (missing frames leave gaps in ``Frame.index``).
        opener: callable ``device -> capture`` returning an object with ``isOpened()``, ``read() -> (ok, image)``
            and ``release()`` (default ``cv2.VideoCapture``); lets a test or a custom driver plug in.
        backoff_initial_s: first wait after a failure, seconds; doubles after every failed reconnect.
        backoff_max_s: longest wait between reconnect attempts, seconds.
        max_failures: give up (end iteration) after this many consecutive failed reconnects (``None``: never).
        buffer: newest frames kept for the consumer; older ones are dropped (live: latency over completeness).

    Frames carry ``timestamp_s`` = ``time.monotonic()`` at capture, so frames of different cameras in one process
    share a clock. Counters: ``disconnects``, ``reconnects``, ``n_missing`` and ``gaps`` (``(first, last)`` missing
    indices), ``backoff_delays`` (every wait, seconds).
    """

    def __init__(self, device: int | str, name: str | None = None, fps: float = 30.0,
                 opener: Callable[[int | str], object] | None = None, backoff_initial_s: float = 0.1,
                 backoff_max_s: float = 5.0, max_failures: int | None = None, buffer: int = 4) -> None:
        if name is None:
            name = f"cam{device}" if isinstance(device, int) else str(device).split("://")[-1].split("/")[0]
        super().__init__(name, fps, None, None, is_live=True)
        self.device = device
        self._opener = opener or _open_cv_capture
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_failures = max_failures
        self._buf: deque[Frame] = deque(maxlen=max(1, int(buffer)))
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0: float | None = None
        self._last_index = -1
        self.connected = False
        self.finished = False
        self.disconnects = 0
        self.reconnects = 0
        self.n_missing = 0
        self.n_dropped = 0
        self.gaps: list[tuple[int, int]] = []
        self.backoff_delays: list[float] = []

    # ----------------------------------------------------------------- thread
    def start(self) -> OpenCVCameraSource:
        """Start the reader thread (idempotent; iteration starts it too)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
            self._thread.start()
        return self

    def _wait_backoff(self, delay: float) -> None:
        self.backoff_delays.append(delay)
        self._stop.wait(delay)

    def _run(self) -> None:
        delay = self.backoff_initial_s
        failures = 0
        ever_connected = False
        while not self._stop.is_set():
            cap = None
            try:
                cap = self._opener(self.device)
                opened = bool(cap.isOpened())
            except Exception as e:  # a driver error is a failed attempt, not a crash of the thread
                log.debug("camera %s: open failed: %s", self.name, e)
                opened = False
            if not opened:
                if cap is not None:
                    cap.release()
                failures += 1
                if self.max_failures is not None and failures > self.max_failures:
                    log.warning("camera %s: giving up after %d failed connection attempts", self.name, failures - 1)
                    break
                log.info("camera %s: cannot open %s; retrying in %.2f s", self.name, self.device, delay)
                self._wait_backoff(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            if ever_connected:
                self.reconnects += 1
                log.warning("camera %s: reconnected", self.name)
            ever_connected = True
            self.connected = True
            failures = 0
            delay = self.backoff_initial_s
            self._read_until_failure(cap)
            cap.release()
            self.connected = False
            if self._stop.is_set():
                break
            self.disconnects += 1
            log.warning("camera %s: stream failed; reconnecting in %.2f s", self.name, delay)
            self._wait_backoff(delay)
            delay = min(delay * 2, self.backoff_max_s)
        self.finished = True
        with self._cond:
            self._cond.notify_all()

    def _read_until_failure(self, cap) -> None:  # noqa: ANN001
        while not self._stop.is_set():
            try:
                ok, img = cap.read()
            except Exception as e:
                log.debug("camera %s: read raised %s", self.name, e)
                ok, img = False, None
            if not ok or img is None:
                return
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            idx = max(int(round((now - self._t0) * self.fps)), self._last_index + 1)
            if idx > self._last_index + 1:
                self.gaps.append((self._last_index + 1, idx - 1))
                self.n_missing += idx - self._last_index - 1
            self._last_index = idx
            if self.size is None:
                self.size = (int(img.shape[1]), int(img.shape[0]))
            with self._cond:
                if len(self._buf) == self._buf.maxlen:
                    self.n_dropped += 1
                self._buf.append(Frame(idx, now, img, None, self.name))
                self._cond.notify_all()

    # ----------------------------------------------------------------- consumer side
    def read(self, timeout: float | None = None) -> Frame | None:
        """The oldest buffered frame, waiting at most ``timeout`` seconds; ``None`` if none arrived (camera down)."""
        self.start()
        with self._cond:
            if not self._buf and not self.finished:
                self._cond.wait_for(lambda: bool(self._buf) or self.finished or self._stop.is_set(), timeout)
            return self._buf.popleft() if self._buf else None

    def _iter_frames(self) -> Iterator[Frame]:
        self.start()
        period = 1.0 / self.fps if self.fps > 0 else 0.1
        while not self._stop.is_set():
            f = self.read(timeout=max(period * 4, 0.05))
            if f is not None:
                yield f
            elif self.finished:
                return

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
