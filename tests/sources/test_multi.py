import time

import numpy as np
import pytest

from mocap.errors import DataError, MocapWarning
from mocap.sources import MultiSource, OpenCVCameraSource, VideoFileSource
from tests.sources.helpers import ListSource, write_avi


def test_index_sync_with_missing_frames_and_offsets():
    a = ListSource("a", [(i, i / 10) for i in range(5)])
    b = ListSource("b", [(i, i / 10) for i in (0, 1, 3, 4)])
    groups = list(MultiSource([a, b], sync="index"))
    assert len(groups) == 5
    assert [g.frames[1] is None for g in groups] == [False, False, True, False, False]
    assert [g.frames[0].index for g in groups] == list(range(5))
    # b started 2 frames later: its frame i shows a's frame i - 2 ... with offset 2, b's frame 2 pairs a's frame 0
    b2 = ListSource("b", [(i, i / 10) for i in range(2, 7)])
    g = list(MultiSource([a, b2], sync="index", offsets_frames=[0, 2]))
    assert all(x.complete for x in g) and [x.frames[1].index - x.frames[0].index for x in g] == [2] * 5


def test_timestamp_sync_tolerance():
    a = ListSource("a", [(i, i * 0.1) for i in range(4)])
    b = ListSource("b", [(i, i * 0.1 + 0.02) for i in range(4)])
    g = list(MultiSource([a, b], sync="timestamp", tolerance_s=0.03))
    assert len(g) == 4 and all(x.complete for x in g)
    np.testing.assert_allclose([x.timestamp for x in g], np.arange(4) * 0.1 + 0.01)
    g = list(MultiSource([a, b], sync="timestamp", tolerance_s=0.01))
    assert len(g) == 8 and not any(x.complete for x in g)


def test_different_counts_warn_and_rates_error(tmp_path):
    v1 = VideoFileSource(write_avi(tmp_path / "c1.avi", 6, fps=10))
    v2 = VideoFileSource(write_avi(tmp_path / "c2.avi", 4, fps=10))
    with pytest.warns(MocapWarning, match=r"different frame counts \(c1: 6, c2: 4\)"):
        ms = MultiSource([v1, v2])
    g = list(ms)
    assert len(g) == 6 and [x.frames[1] is None for x in g] == [False] * 4 + [True] * 2
    v3 = VideoFileSource(write_avi(tmp_path / "c3.avi", 6, fps=20))
    with pytest.raises(DataError, match=r"c1: 10 fps, c3: 20 fps"):
        MultiSource([v1, v3], sync="index")
    with pytest.warns(MocapWarning, match="different frame rates"):
        g = list(MultiSource([v1, v3], sync="timestamp"))
    assert sum(x.frames[1] is not None for x in g) == 6


class _Cap:
    def __init__(self, ok: bool, size=(8, 6)):  # noqa: ANN001
        self.ok, self.size = ok, size

    def isOpened(self):  # noqa: N802
        return self.ok

    def read(self):
        time.sleep(0.01)
        return True, np.zeros((self.size[1], self.size[0], 3), np.uint8)

    def release(self):
        pass


def test_live_multisource_never_blocks_on_dead_camera():
    good = OpenCVCameraSource(0, name="good", fps=50, opener=lambda d: _Cap(True))
    dead = OpenCVCameraSource(1, name="dead", fps=50, opener=lambda d: _Cap(False), backoff_initial_s=0.02,
                              backoff_max_s=0.1)
    t0 = time.monotonic()
    with MultiSource([good, dead], max_groups=20) as ms:
        groups = list(ms)
    elapsed = time.monotonic() - t0
    assert len(groups) == 20 and elapsed < 2.0
    assert all(g.frames[1] is None for g in groups)
    assert sum(g.frames[0] is not None for g in groups) >= 15
    assert len(dead.backoff_delays) >= 3 and dead.backoff_delays[1] == pytest.approx(2 * dead.backoff_delays[0])


def test_mixing_live_and_files_is_an_error(tmp_path):
    v = VideoFileSource(write_avi(tmp_path / "c1.avi", 2))
    with pytest.raises(DataError, match="live"):
        MultiSource([v, OpenCVCameraSource(0, opener=lambda d: _Cap(False))])
