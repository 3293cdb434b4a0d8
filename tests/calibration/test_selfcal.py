"""Board-free self-calibration from a person walking (synthetic CMU capture, 5 cameras, 2 px noise, 5 % outliers)."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.calibration.refine import RefineRefused, person_height_m, similarity
from mocap.calibration.selfcal import LOWER_ACCURACY_NOTE, focal_from_fov, focal_from_mm, self_calibrate
from mocap.errors import CalibrationError
from tests.calibration.test_refine import BVH, _capture, mpjpe_mm


def test_focal_guesses():
    assert focal_from_fov(1920, 90.0) == pytest.approx(960.0)
    assert focal_from_mm(4000, 24.0, 36.0) == pytest.approx(4000 * 24 / 36)
    with pytest.raises(CalibrationError, match="field of view"):
        focal_from_fov(1920, 200.0)


@pytest.mark.slow
def test_selfcal_from_a_walk(shared_data):
    from mocap.synthetic.capture import COCO17

    rig, kp, gt = _capture(str(shared_data / BVH))
    height = person_height_m(gt[:, 0], list(COCO17))
    f_mean = np.mean([c.K[0, 0] for c in rig])
    hfov = 1.1 * 2 * np.degrees(np.arctan(640 / f_mean))  # a field-of-view guess 10 % too wide
    res = self_calibrate(kp, height, (1280, 720), hfov_deg=hfov, refine_focal=True)
    true_mm = mpjpe_mm(rig, kp, gt)[1]
    _, aligned_mm = mpjpe_mm(res.rig, kp, gt)
    s, _, _ = similarity(res.rig.centers, rig.centers)
    assert abs(s - 1) < 0.05  # metric scale from the height, within 5 %
    assert aligned_mm < 2.0 * true_mm, (aligned_mm, true_mm)
    # Z up: the person's feet are near z = 0 and the head above
    from mocap.reconstruct.sequence import triangulate_keypoints

    X = triangulate_keypoints(res.rig, kp).xyz[:, 0]
    assert abs(np.nanmedian(X[:, 15:17, 2])) < 0.15 and np.nanmedian(X[:, 0, 2]) > 1.2
    text = "\n".join(res.lines())
    assert LOWER_ACCURACY_NOTE in text and "field of view" in text


def test_selfcal_refuses_a_person_nobody_sees_together(shared_data):
    rig, kp, _ = _capture(str(shared_data / BVH), 4)
    data = kp.data.copy()
    data[:, 1:, :, :, :] = np.nan  # only the first camera sees anything
    from mocap.keypoints import Keypoints2D

    with pytest.raises(RefineRefused, match="no two cameras see the person together"):
        self_calibrate(Keypoints2D(data, "coco17", kp.camera_names, fps=kp.fps), 1.7, (1280, 720))
