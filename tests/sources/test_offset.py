import numpy as np
import pytest

from mocap.errors import MocapError
from mocap.sources import estimate_offset, estimate_offsets


def _motion(T: int, rng: np.random.Generator) -> np.ndarray:
    """(T, J, 3) smooth random 2D joint tracks with bursts of motion."""
    t = np.arange(T)
    J = 12
    base = rng.uniform(200, 800, (1, J, 2))
    amp = rng.uniform(20, 80, (1, J, 2))
    speed = 1 + 3 * (np.sin(t / 9.0) > 0.3) + 2 * (np.cos(t / 5.3) > 0.6)
    phase = np.cumsum(speed)[:, None, None] * 0.05
    uv = base + amp * np.sin(phase + rng.uniform(0, 6, (1, J, 2)))
    return np.concatenate([uv, np.ones((T, J, 1))], -1)


@pytest.mark.parametrize("shift", [-7, 0, 4, 11])
def test_recovers_integer_shift(shift, rng):
    kp = _motion(160, rng)
    s0 = 20
    a = kp[s0:s0 + 120]
    b = kp[s0 - shift:s0 - shift + 120] * np.array([0.5, 0.5, 1]) + np.array([30, 10, 0])  # other zoom
    b = b + np.concatenate([rng.normal(0, 0.3, b[..., :2].shape), np.zeros(b[..., :1].shape)], -1)
    est = estimate_offset(a, b, max_lag=20)
    assert est.offset_frames == pytest.approx(shift, abs=0.5)  # b[t + shift] = a[t]
    assert est.confidence > 0.2


def test_subframe_shift(rng):
    kp = _motion(200, rng)
    T = np.arange(200.0)
    frac = 3.4
    shifted = np.stack([np.interp(T + frac, T, kp[:, j, c]) for j in range(kp.shape[1]) for c in range(2)], -1)
    shifted = np.concatenate([shifted.reshape(200, kp.shape[1], 2), kp[..., 2:]], -1)
    est = estimate_offset(kp[20:180], shifted[20:180], max_lag=15)
    assert est.offset_frames == pytest.approx(-frac, abs=0.35)


def test_noise_has_low_confidence(rng):
    a = rng.normal(0, 1, (100, 5, 2)).cumsum(0)
    b = rng.normal(0, 1, (100, 5, 2)).cumsum(0)
    assert estimate_offset(a, b).confidence < 0.5


@pytest.mark.slow
def test_pose2sim_shift_recovered(pose2sim_mediapipe):
    """Motion correlation (no calibration): shift cam04's MediaPipe keypoints against cam01, recover within 1 frame."""
    kp = pose2sim_mediapipe[1].data
    a, b = kp[:, 0], kp[:, 3]  # other pairs of this 100-frame clip miss by 2-15 frames: use the calibrated estimator
    for shift in (5, -8):
        lo = max(0, shift)
        n = 100 - abs(shift)
        aa = a[lo:lo + n] if shift >= 0 else a[:n]
        bb = b[:n] if shift >= 0 else b[-shift:-shift + n]
        # bb[t + shift] shows the moment of aa[t]
        est = estimate_offset(aa, bb, max_lag=20)
        assert abs(est.offset_frames - shift) <= 1.0, (shift, est.offset_frames)
        off, conf = estimate_offsets(np.stack([aa, bb], 1), max_lag=20)
        assert abs(off[1] - shift) <= 1.0 and conf[0] == 1.0


# --------------------------------------------------------------------------- calibrated estimator
def _body_motion(T: int, rng: np.random.Generator, J: int = 15) -> np.ndarray:
    """(T, J, 3) world points of a moving 'body': a walking centre plus limbs swinging at different rates."""
    t = np.arange(T)[:, None]
    centre = np.stack([0.6 * np.sin(t[:, 0] / 23.0), 0.5 * np.cos(t[:, 0] / 31.0), np.ones(T)], -1)[:, None]
    offs = rng.uniform(-0.4, 0.4, (1, J, 3)) * np.array([1, 1, 2])
    amp = rng.uniform(0.05, 0.3, (1, J, 3))
    rate = rng.uniform(0.05, 0.25, (1, J, 3))
    return centre + offs + amp * np.sin(rate * t[..., None] + rng.uniform(0, 6, (1, J, 3)))


def _observe(rig, X: np.ndarray, rng: np.random.Generator, noise_px: float = 1.0) -> np.ndarray:
    """(T, C, 1, J, 3) pixel keypoints of world points ``X (T, J, 3)`` with Gaussian noise and confidence 1."""
    uv = rig.project(X).transpose(1, 0, 2, 3)  # (T, C, J, 2)
    uv = uv + rng.normal(0, noise_px, uv.shape)
    return np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], -1)[:, :, None]


def _shift_camera(kp: np.ndarray, cam: int, shift: int) -> np.ndarray:
    """Trimmed copy of synchronised ``kp (T, C, ...)`` in which frame ``t + shift`` of ``cam`` shows moment ``t``."""
    n = kp.shape[0] - abs(shift)
    a = max(shift, 0)
    out = kp[a:a + n].copy()
    out[:, cam] = kp[a - shift:a - shift + n, cam]
    return out


@pytest.mark.parametrize("method", ["reprojection", "epipolar"])
@pytest.mark.parametrize(("cam", "shift"), [(1, -7), (2, 4), (3, 12), (3, 0)])
def test_calibrated_recovers_integer_shift(method, cam, shift, rng):
    from mocap.sources.offset import estimate_offsets_calibrated
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(4)
    kp = _shift_camera(_observe(rig, _body_motion(130, rng), rng), cam, shift)
    est = estimate_offsets_calibrated(rig, kp, max_offset_frames=20, method=method)
    assert [e.camera for e in est] == rig.names
    for c, e in enumerate(est):
        expected = shift if c == cam else 0
        assert e.offset_frames == pytest.approx(expected, abs=0.3), (c, e.offset_frames)
        assert e.confidence > 0.5
        assert e.method == method or c == 0
    assert est[cam].residual_px < 3.0  # noise is 1 px
    assert np.nanargmin(est[cam].cost) == list(est[cam].lags).index(shift)


def test_calibrated_subframe_shift_and_two_cameras(rng):
    from mocap.sources.offset import estimate_offsets_calibrated
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(2)
    X = _body_motion(160, rng)
    T = np.arange(160.0)
    frac = 2.4  # camera 1 frame t + 2.4 shows moment t: sample the motion at t - 2.4
    Xs = np.stack([np.interp(T - frac, T, X[:, j, k]) for j in range(X.shape[1]) for k in range(3)], -1)
    kp = _observe(rig, X, rng, 0.3)
    kp[:, 1] = _observe(rig, Xs.reshape(X.shape), rng, 0.3)[:, 1]
    est = estimate_offsets_calibrated(rig, kp[10:150], max_offset_frames=10)  # auto -> epipolar for 2 cameras
    assert est[1].method == "epipolar"
    assert est[1].offset_frames == pytest.approx(frac, abs=0.3)
    with pytest.raises(MocapError, match="3 or more cameras"):
        estimate_offsets_calibrated(rig, kp, method="reprojection")


def test_calibrated_keypoints2d_names_and_errors(rng):
    from mocap.keypoints import Keypoints2D
    from mocap.sources.offset import estimate_offsets_calibrated
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(3)
    kp = _shift_camera(_observe(rig, _body_motion(100, rng), rng), 2, -5)
    # keypoints in another camera order than the rig: matched by name, results in the keypoints' order
    order = [2, 0, 1]
    k2 = Keypoints2D(kp[:, order], "custom", [rig.names[i] for i in order], fps=60.0)
    est = estimate_offsets_calibrated(rig, k2, max_offset_frames=10, reference="cam0")
    assert [e.camera for e in est] == ["cam2", "cam0", "cam1"]
    assert est[0].offset_frames == pytest.approx(-5, abs=0.3)
    assert est[1].offset_frames == 0.0 and est[1].confidence == 1.0
    assert abs(est[2].offset_frames) < 0.3
    with pytest.raises(MocapError, match="not in the calibration"):
        estimate_offsets_calibrated(rig, Keypoints2D(kp, "custom", ["cam0", "cam1", "camX"]))
    with pytest.raises(MocapError, match="unknown offset method"):
        estimate_offsets_calibrated(rig, kp, method="magic")
    with pytest.raises(MocapError, match="expected"):
        estimate_offsets_calibrated(rig, kp[:, :, 0])


def test_calibrated_unrelated_tracks_have_low_confidence(rng):
    from mocap.sources.offset import estimate_offsets_calibrated
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(4)  # 4 cameras: the others' triangulation outvotes the wrong one
    kp = _observe(rig, _body_motion(120, rng), rng)
    kp[:, 1] = _observe(rig, _body_motion(120, np.random.default_rng(7)), rng)[:, 1]  # someone else entirely
    est = estimate_offsets_calibrated(rig, kp, max_offset_frames=15)
    assert est[1].confidence < 0.35
    for e in est[2:]:
        assert e.confidence > 0.5 and abs(e.offset_frames) < 0.3


def test_cost_confidence():
    from mocap.sources.offset import cost_confidence

    sharp = np.array([10, 9, 8, 6, 2, 6, 8, 9, 10.0])
    assert cost_confidence(sharp, 4) == pytest.approx(1 - 2 / 10)  # one basin: its rim
    two = np.array([10, 3, 10, 6, 2, 6, 8, 9, 10.0])
    assert cost_confidence(two, 4) == pytest.approx(1 - 2 / 3)
    assert cost_confidence(np.array([5, 2, 5, 2, 5.0]), 1) == pytest.approx(0.0)
    assert cost_confidence(np.array([np.nan, 1.0, np.nan]), 1) == 0.0


@pytest.fixture(scope="session")
def pose2sim_mediapipe(pose2sim_single, tmp_path_factory):
    """MediaPipe keypoints of the 4 Pose2Sim demo videos and their calibration (detected once per session)."""
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints2d import detect_videos

    videos = sorted((pose2sim_single / "videos").glob("*.mp4"))
    kp, _ = detect_videos(videos, tmp_path_factory.mktemp("offset_kp"), backend="mediapipe", show_progress=False)
    return read_calibration(pose2sim_single / "calibration" / "Calib.qca.txt"), kp


@pytest.mark.slow
def test_pose2sim_calibrated_recovers_every_camera_shift(pose2sim_mediapipe):
    """Shift each Pose2Sim camera in turn by -7, +4, +12 frames and recover the shift within 1 frame.

    The demo's own synchronisation is not perfect for MediaPipe keypoints: cam03 comes out 1-4 frames late against
    the others with every method, joint subset and reference tried, so the applied shift is compared with the
    estimate on the unshifted clip (the other cameras' absolute estimates must also be within 1 frame).
    """
    from mocap.sources.offset import estimate_offsets_calibrated

    rig, kp = pose2sim_mediapipe
    data = kp.data
    assert kp.camera_names == ["cam01", "cam02", "cam03", "cam04"]
    base = estimate_offsets_calibrated(rig, kp, max_offset_frames=20)
    assert all(e.confidence > 0.5 for e in base)
    for c in (1, 3):
        assert abs(base[c].offset_frames) <= 1.0, (c, base[c].offset_frames)
    for cam in (1, 2, 3):
        for shift in (-7, 4, 12):
            est = estimate_offsets_calibrated(rig, _shift_camera(data, cam, shift), max_offset_frames=20)
            found = est[cam].offset_frames - base[cam].offset_frames
            assert abs(found - shift) <= 1.0, (kp.camera_names[cam], shift, est[cam].offset_frames)
            assert est[cam].confidence > 0.5
            for c in (1, 3):
                if c != cam:
                    assert abs(est[c].offset_frames) <= 1.0, (kp.camera_names[c], cam, shift, est[c].offset_frames)
    # the reference itself shifted: every other camera sees the opposite shift
    est = estimate_offsets_calibrated(rig, _shift_camera(data, 0, 6), max_offset_frames=20)
    for c in (1, 2, 3):
        found = est[c].offset_frames - base[c].offset_frames
        assert abs(found + 6) <= 1.0, (kp.camera_names[c], est[c].offset_frames)


# --------------------------------------------------------------------------- several people per camera
def _two_people(rig, rng, T: int = 140, bystander: bool = True) -> np.ndarray:
    """(T, C, 3, J, 3): two moving people (1.5 m apart) in every camera, in a shuffled order per camera and frame,
    plus (slot 2) a bystander seen by camera 1 only."""
    a = _body_motion(T, rng)
    b = _body_motion(T, np.random.default_rng(11)) + np.array([1.5, 0.0, 0.0])
    kp = np.concatenate([_observe(rig, a, rng), _observe(rig, b, rng), np.full_like(_observe(rig, a, rng), np.nan)],
                        axis=2)
    if bystander:
        c = _body_motion(T, np.random.default_rng(12)) + np.array([-1.5, 1.0, 0.0])
        kp[:, 1, 2] = _observe(rig, c, rng)[:, 1, 0]
    for t in range(T):
        for cam in range(kp.shape[1]):
            kp[t, cam] = kp[t, cam, rng.permutation(3)]
    return kp


@pytest.mark.parametrize(("cam", "shift"), [(2, 5), (3, -4), (1, 0)])
def test_calibrated_several_people_matched_not_mixed(cam, shift, rng):
    from mocap.sources.offset import estimate_offsets_calibrated
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(4)
    kp = _shift_camera(_two_people(rig, rng), cam, shift)
    est = estimate_offsets_calibrated(rig, kp, max_offset_frames=15)
    for c, e in enumerate(est):
        assert e.offset_frames == pytest.approx(shift if c == cam else 0, abs=0.3), (c, e.offset_frames)
        assert e.reliable and e.confidence > 0.5
        assert e.method == "reprojection-multi" or c == 0
    # slot 0 alone mixes the two people (their order is shuffled): that estimate is useless
    single = estimate_offsets_calibrated(rig, kp, max_offset_frames=15, person=0)
    assert single[1].method == "reprojection" and single[1].residual_px > 5 * est[1].residual_px


def test_unreliable_estimates_report_zero_confidence_and_are_not_applied(rng):
    from mocap.keypoints import Keypoints2D
    from mocap.sources.offset import estimate_offsets_calibrated, synchronise
    from tests.conftest import make_ring_rig

    rig = make_ring_rig(4)
    kp = _observe(rig, _body_motion(120, rng), rng)
    kp[:, 1] = _observe(rig, _body_motion(120, np.random.default_rng(7)), rng)[:, 1]  # someone else entirely
    kp = _shift_camera(kp, 3, 3)  # a real delay in camera 3
    est = estimate_offsets_calibrated(rig, kp, max_offset_frames=15)
    assert not est[1].reliable and est[1].confidence == 0.0 and est[1].note
    assert est[3].reliable and est[3].offset_frames == pytest.approx(3, abs=0.3)
    k2 = Keypoints2D(kp, "custom", rig.names, fps=30.0)
    out, dec = synchronise(rig, k2, max_offset_frames=15)
    assert dec["cam1"].applied == 0.0 and dec["cam1"].note
    assert dec["cam3"].applied == pytest.approx(3, abs=0.3) and not dec["cam3"].note
    assert out.meta["sync_offsets_frames"][1] == 0.0
    # a minimum at the end of the searched range is not trusted
    far = _shift_camera(_observe(rig, _body_motion(160, rng), rng), 2, 14)
    e = estimate_offsets_calibrated(rig, far, max_offset_frames=10)[2]
    assert not e.reliable and "end of the searched range" in e.note
    # too few cameras or frames: nothing estimated
    assert synchronise(rig.subset(rig.names[:2]), k2.select_cameras(rig.names[:2]))[1] == {}


def test_shift_track_never_blends_two_people(rng):
    from mocap.sources.offset import shift_track

    T = 10
    a = np.zeros((T, 2, 3, 3))
    a[..., 2] = 1.0
    a[:, 0, :, 0] = np.arange(T)[:, None] * 2.0 + 100  # person A moves 2 px per frame
    a[:, 1, :, 0] = 900.0  # person B stands far away
    a[:, :, 1, 1] = 300.0  # some height so the people have a size
    a[5] = a[5, ::-1]  # the detector lists them the other way round in frame 5
    out = shift_track(a, 0.5)
    assert out[2, 0, 0, 0] == pytest.approx(105.0)  # same person in both frames: interpolated
    assert out[4, 0, 0, 0] in (108.0, 900.0)  # frames 4 and 5 hold different people in slot 0: not blended
    assert np.isnan(out[T - 1]).all()  # past the end
