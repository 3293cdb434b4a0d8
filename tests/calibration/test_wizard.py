import numpy as np
import pytest

from mocap.calibration.detection import BoardDetection
from mocap.calibration.diagnostics import empty_regions, guidance
from mocap.calibration.wizard import QualityTargets, run_wizard


def _det(pts, size=(600, 600)):
    pts = np.asarray(pts, float)
    return BoardDetection(0, np.arange(len(pts)), pts, np.zeros((len(pts), 3)), size)


def test_guidance_names_camera_and_region():
    # corners seen everywhere except the left third of the image
    xs, ys = np.meshgrid(np.linspace(230, 590, 12), np.linspace(10, 590, 12))
    views = [_det(np.stack([xs.ravel(), ys.ravel()], 1))]
    regions = empty_regions(views, (600, 600))
    assert set(regions) == {"top-left corner", "left edge", "bottom-left corner"}
    msg = guidance("cam2", None, views, (600, 600))
    assert any("left edge" in m and "cam2" in m for m in msg)


@pytest.mark.slow
def test_wizard_stops_early_on_real_data(shared_data):
    src = shared_data / "charuco_4cam/calibration/extrinsic"
    sources = {f"port_{i}": str(src / f"port_{i}.mp4") for i in range(4)}
    lines: list[str] = []
    # loose uncertainty targets: stops as soon as views, coverage and RMS are enough
    res = run_wizard(sources, "charuco_4x5_dict4x4_1000_inverted",
                     QualityTargets(max_rms=1.0, min_coverage=0.05, min_views=10, chunk=12, max_focal_rel=0.5,
                                    max_position_m=0.5), say=lines.append)
    assert res.stopped_early and res.frames_read < 48
    assert any("quality is enough" in ln and f"stopped after {res.frames_read} frames" in ln for ln in lines)
    assert res.calibration.rms < 1.0


@pytest.mark.slow
def test_wizard_reads_on_while_focal_length_uncertain(shared_data):
    """The same numbers as the calibration's uncertainty decide when there are enough views: on this rig (the board
    covers 12-19 % of each image) the RMS is fine early, but focal lengths stay uncertain, so it reads all (every
    second frame here, to keep the test short)."""
    src = shared_data / "charuco_4cam/calibration/extrinsic"
    sources = {f"port_{i}": str(src / f"port_{i}.mp4") for i in range(4)}
    lines: list[str] = []
    res = run_wizard(sources, "charuco_4x5_dict4x4_1000_inverted",
                     QualityTargets(max_rms=1.0, min_coverage=0.05, min_views=6, chunk=8), say=lines.append, step=2)
    assert not res.stopped_early and res.frames_read == 24 and res.calibration.rms < 1.0
    assert any(ln.startswith("not sure enough yet:") and "focal length +-" in ln for ln in lines)
    assert res.uncertain and all("focal length" in u or "position" in u for u in res.uncertain)
