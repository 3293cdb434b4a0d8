import warnings

import numpy as np
import pytest

from mocap.errors import DataError, MocapWarning
from mocap.sources import ImageFolderSource, VideoFileSource, find_videos, open_source
from tests.sources.helpers import damage_avi, write_avi


def test_video_frames_indices_timestamps(tmp_path):
    p = write_avi(tmp_path / "camA.avi", 12, fps=10)
    src = VideoFileSource(p)
    assert (src.name, src.fps, src.size, src.n_frames) == ("camA", 10.0, (64, 48), 12)
    frames = list(src)
    assert [f.index for f in frames] == list(range(12))
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(12) / 10)
    grey = [int(np.median(f.image)) for f in frames]
    assert np.all(np.abs(np.array(grey) - 10 * np.arange(12)) <= 3)  # MJPG is lossy
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (48, 64, 3)
    sub = list(VideoFileSource(p, start=3, stop=10, step=3))
    assert [f.index for f in sub] == [3, 6, 9]
    assert abs(int(np.median(sub[1].image)) - 60) <= 3


def test_damaged_video_keeps_frames_before_and_names_file(tmp_path):
    p = damage_avi(write_avi(tmp_path / "ok.avi", 20), tmp_path / "bad.avi")
    src = VideoFileSource(p)
    with pytest.warns(MocapWarning, match=r"bad\.avi stopped at frame \d+ of the 20"):
        frames = list(src)
    assert 0 < len(frames) < 20 and src.stopped_at == len(frames)
    assert [f.index for f in frames] == list(range(len(frames)))


def test_unreadable_video(tmp_path):
    p = tmp_path / "junk.mp4"
    p.write_bytes(b"not a video" * 100)
    with pytest.raises(DataError, match="junk.mp4"):
        VideoFileSource(p)
    with pytest.raises(DataError, match="does not exist"):
        VideoFileSource(tmp_path / "missing.mp4")


def test_image_folder_natural_order_and_bad_image(tmp_path):
    import cv2

    d = tmp_path / "cam7"
    d.mkdir()
    for i in (1, 2, 10):
        cv2.imwrite(str(d / f"img{i}.png"), np.full((6, 5, 3), i, np.uint8))
    (d / "img3.png").write_bytes(b"broken")
    src = open_source(d, fps=5.0)
    assert isinstance(src, ImageFolderSource) and src.name == "cam7" and src.size == (5, 6)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        frames = list(src)
    assert any("img3.png" in str(x.message) for x in w)
    assert [(f.index, int(f.image[0, 0, 0])) for f in frames] == [(0, 1), (1, 2), (3, 10)]
    assert frames[2].timestamp_s == pytest.approx(3 / 5.0)


def test_find_videos(tmp_path):
    a = write_avi(tmp_path / "cam2.avi", 2)
    b = write_avi(tmp_path / "cam10.avi", 2)
    assert find_videos([tmp_path]) == [a, b]
    (tmp_path / "x").mkdir()
    write_avi(tmp_path / "x" / "cam2.avi", 2)
    with pytest.raises(DataError, match="cam2"):
        find_videos([tmp_path, tmp_path / "x"])
    with pytest.raises(DataError, match="nope"):
        find_videos([tmp_path / "nope"])
