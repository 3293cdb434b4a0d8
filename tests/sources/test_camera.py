import threading
import time

import numpy as np

from mocap.sources import OpenCVCameraSource


class FlakyCamera:
    """A capture driver that delivers frames, drops out, refuses a few reconnects, then recovers."""

    script = {"frames_before_failure": 10, "refused_opens": 2}

    def __init__(self, state: dict):
        self.state = state
        state["opens"] += 1
        self.opened = not (state["failed"] and state["refused"] < self.script["refused_opens"])
        if not self.opened:
            state["refused"] += 1

    def isOpened(self):  # noqa: N802
        return self.opened

    def read(self):
        time.sleep(0.02)  # a camera delivering at its nominal 50 fps
        s = self.state
        if not s["failed"] and s["served"] >= self.script["frames_before_failure"]:
            s["failed"] = True
            return False, None
        s["served"] += 1
        return True, np.full((4, 5, 3), s["served"] % 256, np.uint8)

    def release(self):
        pass


def test_reconnect_with_backoff_marks_missing_frames():
    state = {"opens": 0, "served": 0, "failed": False, "refused": 0}
    src = OpenCVCameraSource("rtsp://example.invalid/stream", fps=50, opener=lambda d: FlakyCamera(state),
                             backoff_initial_s=0.02, backoff_max_s=1.0, buffer=1000)
    assert src.name == "example.invalid"
    frames = []
    t0 = time.monotonic()
    for f in src:
        frames.append(f)
        if len(frames) >= 25 or time.monotonic() - t0 > 10:
            break
    src.close()
    assert len(frames) == 25
    assert src.disconnects == 1 and src.reconnects == 1 and state["opens"] == 4
    # backoff: after the drop 0.02, then two refused opens 0.04, 0.08 (exponential)
    assert src.backoff_delays[:3] == [0.02, 0.04, 0.08]
    idx = [f.index for f in frames]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    # the outage is the longest gap and starts right after the last frame before the drop (a loaded machine may
    # add short timing gaps elsewhere, so this does not insist on it being the only one)
    assert src.n_missing > 0 and src.gaps
    longest = max(src.gaps, key=lambda g: g[1] - g[0])
    assert longest[0] == frames[9].index + 1 and longest[1] - longest[0] >= 3
    assert frames[0].image.shape == (4, 5, 3) and src.size == (5, 4)
    assert not any(t.name.startswith("camera-example") for t in threading.enumerate())


def test_gives_up_after_max_failures():
    src = OpenCVCameraSource(3, opener=lambda d: type("C", (), {"isOpened": lambda s: False,
                                                                "release": lambda s: None})(),
                             backoff_initial_s=0.01, max_failures=2)
    t0 = time.monotonic()
    assert list(src) == [] and time.monotonic() - t0 < 2
    assert src.finished and src.backoff_delays == [0.01, 0.02]
