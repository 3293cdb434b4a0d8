"""MediaPipe's BlazePose pipeline as functions (mocap.keypoints2d.blazepose) and the multi-person detector."""

import json
import math

import numpy as np
import pytest

from mocap.keypoints2d import blazepose as bp


def test_anchors_layout():
    a = bp.ssd_anchors()
    assert a.shape == (2254, 2)
    # stride 8: 28x28 cells, 2 anchors each, row-major; then 14x14x2; then 7x7x6.
    np.testing.assert_allclose(a[0], a[1])
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(a[1568 + 392: 1568 + 392 + 6], [[0.5 / 7, 0.5 / 7]] * 6)


@pytest.mark.parametrize("rot", [0.0, 0.3, -2.0, math.pi])
def test_crop_and_back(rot):
    roi = np.array([640.5, 377.25, 410.0, rot])
    uv = np.random.default_rng(1).uniform(0, 256, (20, 2))
    frame = bp.crop_to_frame(uv / 256, roi)
    m = bp.crop_affine(roi, 256)
    np.testing.assert_allclose(frame @ m[:, :2].T + m[:, 2], uv, atol=1e-9)
    # the ROI centre is the crop centre; the ROI's "up" (local -y) turns clockwise by rot in the image
    np.testing.assert_allclose(bp.crop_to_frame(np.array([0.5, 0.5]), roi), roi[:2])
    top = bp.crop_to_frame(np.array([0.5, 0.0]), roi) - roi[:2]
    np.testing.assert_allclose(top, [205.0 * math.sin(rot), -205.0 * math.cos(rot)], atol=1e-9)


def test_alignment_roi_rotation_and_size():
    upright = bp.alignment_roi(np.array([100.0, 500.0]), np.array([100.0, 300.0]))
    np.testing.assert_allclose(upright, [100, 500, 2 * 200 * 1.25, 0.0], atol=1e-12)
    lying = bp.alignment_roi(np.array([100.0, 500.0]), np.array([300.0, 500.0]))  # head to the right
    np.testing.assert_allclose(lying[3], math.pi / 2)
    upside_down = bp.alignment_roi(np.array([0.0, 0.0]), np.array([0.0, 10.0]))
    assert abs(abs(upside_down[3]) - math.pi) < 1e-12


def test_detector_tiles_cover_the_frame():
    rois = bp.detector_rois(1088, 1920)
    assert len(rois) == 3 and rois[0][2] == 1920  # letterboxed frame + 2 tiles of the short side
    tops = [r[1] - r[2] / 2 for r in rois[1:]]
    bottoms = [r[1] + r[2] / 2 for r in rois[1:]]
    assert min(tops) == 0 and max(bottoms) == 1920 and all(r[2] == 1088 for r in rois[1:])
    assert len(bp.detector_rois(1000, 1000)) == 1 and len(bp.detector_rois(1088, 1920, tiles=False)) == 1


def test_decode_detections_and_weighted_nms():
    raw = np.zeros((2254, 12))
    logits = np.full(2254, -20.0)
    a = bp.ANCHORS
    i, j, k = 100, 101, 2000  # 100 and 101 are neighbouring anchors: one person seen twice; 2000: another
    for n, dx in ((i, 0.0), (j, 3.0)):
        raw[n, :4] = [dx, 0.0, 40.0, 40.0]
        raw[n, 4:6] = [dx, 10.0]
    raw[k, :4] = [0.0, 0.0, 40.0, 40.0]
    logits[[i, j, k]] = [3.0, 1.0, 2.0]
    s, box, kp = bp.decode_detections(raw, logits)
    assert len(s) == 3
    s, box, kp = bp.weighted_nms(s, box, kp)
    assert len(s) == 2
    assert s[0] == pytest.approx(1 / (1 + math.exp(-3.0)))  # the cluster keeps its best score
    w = np.array([1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(-1.0))])
    x_i, x_j = a[i, 0], a[j, 0] + 3.0 / 224
    np.testing.assert_allclose(kp[0, 0, 0], (w[0] * x_i + w[1] * x_j) / w.sum())  # score-weighted mean
    np.testing.assert_allclose(kp[1, 0], a[k])


def test_heatmap_refinement_moves_to_the_peak():
    raw = np.zeros(195)
    raw.reshape(39, 5)[:, 0:2] = 128.0  # every landmark at the crop centre (heatmap cell 32)
    heat = np.full((64, 64, 39), -30.0)
    heat[30, 33, 5] = 10.0  # landmark 5: a confident peak at row 30, col 33 (within the 7x7 window)
    lm = bp.decode_landmarks(raw, heat)
    np.testing.assert_allclose(lm[5, :2], [33 / 64, 30 / 64], atol=1e-6)
    np.testing.assert_allclose(lm[4, :2], [0.5, 0.5])  # no confident heatmap: left as regressed
    np.testing.assert_allclose(lm[:, 3], 0.5)  # sigmoid(0) visibility


def test_one_euro_checkpoint_continues_exactly():
    rng = np.random.default_rng(0)
    seq = np.cumsum(rng.normal(size=(30, 4)), axis=0)
    f = bp.OneEuro(0.05, 80.0)
    full = [f(x, 0.01) for x in seq]
    g = bp.OneEuro(0.05, 80.0)
    for x in seq[:12]:
        g(x, 0.01)
    h = bp.OneEuro(0.05, 80.0)
    h.load(json.loads(json.dumps(g.state())))
    rest = [h(x, 0.01) for x in seq[12:]]
    np.testing.assert_array_equal(np.array(rest), np.array(full[12:]))
    assert np.abs(np.array(full) - seq).max() > 0  # it does smooth


def _frames(video, n):
    from mocap.sources import VideoFileSource

    return [f.image for f in VideoFileSource(video, stop=n)]


@pytest.mark.slow
def test_single_person_agrees_with_mediapipe_pose(pose2sim_single):
    """Same models, same pipeline: with one person, no tiles and no re-detection it reproduces MediaPipe Pose."""
    from mocap.keypoints2d import make_detector

    frames = _frames(pose2sim_single / "videos" / "cam01.mp4", 8)
    with make_detector("mediapipe") as mp_det:
        ref = np.stack([mp_det.detect(f) for f in frames])
    with make_detector("blazepose", max_people=1, redetect_every=0, detector_tiles=False) as det:
        ours = np.stack([det.detect(f) for f in frames])
    assert ours.shape == (8, 1, 33, 3)
    d = np.linalg.norm(ours[..., :2] - ref[..., :2], axis=-1)
    assert np.median(d) < 2.5 and np.percentile(d, 90) < 8, (np.median(d), np.percentile(d, 90))
    assert np.abs(ours[..., 2] - ref[..., 2]).max() < 0.05  # visibilities


@pytest.mark.slow
def test_two_people_found_and_tracked_in_every_camera(pose2sim_multi):
    from mocap.keypoints2d import make_detector

    for cam in ("cam01", "cam02", "cam03", "cam04"):
        with make_detector("blazepose") as det:
            out, ids = [], []
            for f in _frames(pose2sim_multi / "videos" / f"{cam}.mp4", 6):
                out.append(det.detect(f))
                ids.append(det.track_ids.copy())
        out, ids = np.stack(out), np.stack(ids)
        found = np.isfinite(out[..., 0]).any(-1)  # (T, P)
        assert (found.sum(1) == 2).all(), (cam, found.sum(1))
        assert (ids[found] >= 0).all() and len(set(ids[found])) == 2  # the same two track ids throughout
        slots = np.flatnonzero(found[0])
        hips = [np.nanmean(out[0, p, 23:25, :2], axis=0) for p in slots]
        assert np.linalg.norm(hips[0] - hips[1]) > 100, cam  # two different people, not one twice


@pytest.mark.slow
def test_state_dict_resumes_exactly(pose2sim_multi):
    from mocap.keypoints2d import make_detector

    frames = _frames(pose2sim_multi / "videos" / "cam03.mp4", 14)
    with make_detector("blazepose", redetect_every=4) as det:
        full = np.stack([det.detect(f) for f in frames])
    with make_detector("blazepose", redetect_every=4) as det:
        first = [det.detect(f) for f in frames[:7]]
        state = json.loads(json.dumps(det.state_dict()))
    with make_detector("blazepose", redetect_every=4) as det2:
        det2.load_state_dict(state)
        rest = [det2.detect(f) for f in frames[7:]]
    np.testing.assert_array_equal(np.stack(first + rest), full)


def test_empty_image_finds_nobody():
    from mocap.keypoints2d import make_detector

    with make_detector("blazepose") as det:
        out = det.detect(np.zeros((480, 640, 3), np.uint8))
        assert out.shape == (6, 33, 3) and np.isnan(out).all() and (det.track_ids == -1).all()
        assert det.n_detector_runs == 1
        det.detect(np.full((480, 640, 3), 200, np.uint8))
        assert det.n_detector_runs == 2  # nobody tracked: the detector runs on every frame
