"""The live core (mocap.live.core): triangulation through the library, missing cameras, wrong joint counts, the
stream contract it outputs (states, velocities, per-joint quality, descriptions)."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import MocapError
from mocap.live import core as fusion_core
from mocap.live.stream import TrackState
from mocap.reconstruct import triangulate


@pytest.fixture(scope="module")
def capture(shared_data):
    from mocap.synthetic import make_capture

    return make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=4, frame_step=4, max_frames=10)


def _frames(kp2d, i, drop=()):
    return {c: (None if c in drop else kp2d.data[i, k]) for k, c in enumerate(kp2d.camera_names)}


def test_matches_library_triangulation_and_missing_camera(capture):
    """The core is thin over the library: its default single-person path is OnlineTriangulator's (robust view
    selection + Gauss-Newton refinement; the running bone-length constraint needs more frames than these)."""
    rig, kp2d, gt = capture
    core = fusion_core.FusionCore(rig, "coco17", filter="none", use_prior=False)
    for i in range(3):
        res = core.process(float(kp2d.timestamps[i]), _frames(kp2d, i))
        ref = triangulate(rig, kp2d.data[i, :, 0, :, :2], kp2d.data[i, :, 0, :, 2], refine=True).X
        assert len(res.skeletons) == 1 and res.joint_set == "coco17"
        np.testing.assert_allclose(res.skeletons[0].positions, ref, atol=1e-9)
        err = np.nanmedian(np.linalg.norm(res.skeletons[0].positions - gt[i, 0], axis=1))
        assert err < 0.05  # 2 px noise: centimetres from the BVH truth
    # one camera missing: the other three still give a skeleton
    res = core.process(float(kp2d.timestamps[3]), _frames(kp2d, 3, drop=("cam02",)))
    ref = triangulate(rig.subset(["cam01", "cam03", "cam04"]), kp2d.data[3, [0, 2, 3], 0, :, :2],
                      kp2d.data[3, [0, 2, 3], 0, :, 2], refine=True).X
    np.testing.assert_allclose(res.skeletons[0].positions, ref, atol=1e-9)
    # all cameras missing: no skeleton, no exception
    assert core.process(float(kp2d.timestamps[4]), _frames(kp2d, 4, drop=tuple(rig.names))).skeletons == []


def test_wrong_joint_count_is_reported(capture):
    rig, kp2d, _ = capture
    core = fusion_core.FusionCore(rig, "coco17")
    assert core.check_frame("cam01", kp2d.data[0, 0]) is None
    msg = core.check_frame("cam01", np.zeros((1, 33, 3)))
    assert msg and "33 joints" in msg and "coco17 has 17" in msg and "cam01" in msg


def test_filter_smooths_and_reset(capture):
    rig, kp2d, _ = capture
    core = fusion_core.FusionCore(rig, "coco17", filter="one_euro")
    a = [core.process(float(kp2d.timestamps[i]), _frames(kp2d, i)).skeletons[0].positions for i in range(5)]
    raw = [triangulate(rig, kp2d.data[i, :, 0, :, :2], kp2d.data[i, :, 0, :, 2], refine=True).X for i in range(5)]
    assert not np.allclose(a[-1], raw[-1])  # filtered output differs from the raw frame
    core.reset()
    lost, first = core.process(float(kp2d.timestamps[0]), _frames(kp2d, 0)).skeletons
    assert lost.state is TrackState.LOST and first.state is TrackState.NEW
    first = first.positions
    np.testing.assert_allclose(first, raw[0], atol=1e-6)  # a reset filter passes the first frame through


def _two_people(rig, gt, offset=(1.5, 0.8, 0.0), noise_px=1.0, seed=1):
    """Per frame, per camera ``(2, J, 3)`` detections of two people (the BVH actor and a shifted copy), listed in a
    random order per camera (the camera does not know who is who); ``truth (T, 2, J, 3)``."""
    rng = np.random.default_rng(seed)
    truth = np.stack([gt[:, 0], gt[:, 0] + np.asarray(offset)], axis=1)
    frames = []
    for t in range(len(truth)):
        per_cam = {}
        for cam in rig.names:
            uv = np.stack([rig[cam].project(truth[t, p]) for p in range(2)]) + rng.normal(0, noise_px, (2, 17, 2))
            kp = np.concatenate([uv, np.full((2, 17, 1), 0.9)], axis=-1)
            per_cam[cam] = kp[rng.permutation(2)]
        frames.append(per_cam)
    return truth, frames


def test_two_people_associated_across_views_and_tracked(capture):
    rig, kp2d, gt = capture
    truth, frames = _two_people(rig, gt)
    core = fusion_core.FusionCore(rig, "coco17", filter="none")
    owner: dict[int, int] = {}  # person_id -> index of the true person it follows
    for t, per_cam in enumerate(frames):
        res = core.process(float(kp2d.timestamps[t]), per_cam)
        assert res.multi_person and res.cameras == list(rig.names)
        assert len(res.skeletons) == 2, f"frame {t}: {len(res.skeletons)} people"
        for sk in res.skeletons:
            err = [np.nanmean(np.linalg.norm(sk.positions - truth[t, p], axis=1)) for p in range(2)]
            p = int(np.argmin(err))
            assert err[p] < 0.03 and err[1 - p] > 1.0  # the right person, centimetres off
            assert owner.setdefault(sk.person_id, p) == p, f"frame {t}: id {sk.person_id} switched person"
    assert sorted(owner) == [0, 1] and sorted(owner.values()) == [0, 1]
    # one camera missing: the three others still give both people with the same ids
    t = len(frames) - 1
    res = core.process(float(kp2d.timestamps[t]) + 1 / 30, {**frames[t], "cam02": None})
    assert res.cameras == ["cam01", "cam03", "cam04"] and sorted(s.person_id for s in res.skeletons) == [0, 1]


def test_one_person_per_camera_uses_the_single_person_path(capture):
    rig, kp2d, _ = capture
    truth_frames = _two_people(rig, capture[2])[1]
    core = fusion_core.FusionCore(rig, "coco17", filter="none", use_prior=False)
    res = core.process(float(kp2d.timestamps[0]), _frames(kp2d, 0, drop=("cam03",)))
    assert not res.multi_person and res.cameras == ["cam01", "cam02", "cam04"]
    assert [s.person_id for s in res.skeletons] == [0]
    # multi_person=False: a crowded camera keeps its most confident detection, one skeleton out
    single = fusion_core.FusionCore(rig, "coco17", filter="none", multi_person=False)
    res = single.process(float(kp2d.timestamps[0]), truth_frames[0])
    assert not res.multi_person and len(res.skeletons) == 1


def test_multi_person_filter_is_per_track(capture):
    rig, kp2d, gt = capture
    truth, frames = _two_people(rig, gt, noise_px=3.0)
    raw = fusion_core.FusionCore(rig, "coco17", filter="none")
    filt = fusion_core.FusionCore(rig, "coco17", filter="one_euro", filter_opts={"min_cutoff": 1.0, "beta": 0.0})
    jitter = {"none": [], "one_euro": []}
    for name, core in (("none", raw), ("one_euro", filt)):
        prev = {}
        for t, per_cam in enumerate(frames):
            for sk in core.process(float(kp2d.timestamps[t]), per_cam).skeletons:
                if sk.person_id in prev:
                    jitter[name].append(np.nanmean(np.linalg.norm(sk.positions - prev[sk.person_id], axis=1)))
                prev[sk.person_id] = sk.positions
    # both people filtered (no state shared between them: a shared filter would jump by metres between people)
    assert max(jitter["one_euro"]) < 0.5 and np.mean(jitter["one_euro"]) < np.mean(jitter["none"])


def test_latest_slot_keeps_only_the_newest_frame():
    slot = fusion_core.LatestSlot()
    assert slot.take() is None and not slot.pending
    assert slot.put("f0") is False  # nothing was waiting
    assert slot.put("f1") is True and slot.put("f2") is True  # f0, f1 never taken: skipped
    assert slot.pending and slot.take() == "f2" and slot.take() is None
    slot.put("f3")
    assert slot.take() == "f3"
    assert (slot.put_count, slot.taken, slot.skipped) == (4, 2, 2)


@pytest.fixture(scope="module")
def anny_factory():
    from mocap.body.anny_model import AnnyModel
    from mocap.body.fit import OnlineFitter
    from mocap.skeletons import get_joint_set

    model, names = AnnyModel(), list(get_joint_set("coco17").joints)
    return lambda js: OnlineFitter(model, names, fps=7.5, joint_set=js)


def test_deferred_fit_of_the_newest_frame_stays_warm(capture, anny_factory):
    """The node's hand-off: every frame triangulated (fit=False), only the newest one fitted later; the fit equals
    the inline one, skipped frames do not cold-start the fitter, and a reset does."""
    rig, kp2d, gt = capture
    inline = fusion_core.FusionCore(rig, "coco17", filter="none", fitter_factory=anny_factory)
    deferred = fusion_core.FusionCore(rig, "coco17", filter="none", fitter_factory=anny_factory)
    for i in range(2):  # no skipping: deferred == inline
        a = inline.process(float(kp2d.timestamps[i]), _frames(kp2d, i))
        tri = deferred.process(float(kp2d.timestamps[i]), _frames(kp2d, i), fit=False)
        assert not tri.fitted and tri.joint_set == "coco17" and not tri.fitted
        b = deferred.fit(tri)
        assert a.fitted and b.fitted and b.joint_set == a.joint_set != "coco17" and b.stamp == tri.stamp
        np.testing.assert_allclose(b.skeletons[0].positions, a.skeletons[0].positions, atol=1e-9)
        np.testing.assert_allclose(b.skeletons[0].local_quat_xyzw, a.skeletons[0].local_quat_xyzw, atol=1e-9)
    slot = fusion_core.LatestSlot()
    for i in range(2, 6):  # four frames arrive during a (simulated) slow fit: each is triangulated, queued in the slot
        slot.put(deferred.process(float(kp2d.timestamps[i]), _frames(kp2d, i), fit=False))
    res = deferred.fit(slot.take())
    assert slot.skipped == 3 and res.stamp == float(kp2d.timestamps[5])
    assert deferred.fit_stats == {**deferred.fit_stats, "fitted": 3, "cold_starts": 1}  # warm across the skip
    # the body model (its own joints, other than coco17's) stands where the actor of frame 5 stands
    assert np.linalg.norm(res.skeletons[0].positions.mean(0)[:2] - np.nanmean(gt[5, 0], axis=0)[:2]) < 0.05
    deferred.reset()  # e.g. a clock jump: the next fit starts cold
    res = deferred.fit(deferred.process(float(kp2d.timestamps[6]), _frames(kp2d, 6), fit=False))
    assert deferred.fit_stats["cold_starts"] == 2
    assert [p.state for p in res.skeletons] == [TrackState.LOST, TrackState.NEW]
    d = deferred.description()
    assert d.body_model == "anny" and d.n_joints == res.skeletons[1].n_joints == res.skeletons[0].n_joints
    assert d.shape is not None and d.rest_offsets.shape == (d.n_joints, 3)


def _forearm_rotations(gt: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` left forearm orientations of ``gt (T, 1, 17, 3)``: x along elbow -> wrist, y normal to the arm
    plane (shoulder, elbow, wrist)."""
    sh, el, wr = gt[:, 0, 5], gt[:, 0, 7], gt[:, 0, 9]
    x = (wr - el) / np.linalg.norm(wr - el, axis=1, keepdims=True)
    y = np.cross(x, sh - el)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def test_imu_fills_the_wrist_vision_loses(shared_data):
    """A forearm IMU (simulated: heading offset, drift, noise) keeps the left wrist within centimetres while every
    camera loses it for 0.8 s; without IMU samples the wrist is missing there."""
    from mocap.reconstruct.imu_fusion import simulate_imu
    from mocap.synthetic import make_capture

    rig, kp2d, gt = make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=4, frame_step=4, max_frames=90,
                                 outlier_rate=0.0, dropout_rate=0.0)
    gap = np.arange(55, 79)  # after >= 30 visible frames: the IMU aligns itself first
    kp2d.data[gap, :, 0, 9] = [np.nan, np.nan, 0.0]  # left wrist hidden from every camera
    ts = kp2d.timestamps
    quat, gyro = simulate_imu(_forearm_rotations(gt), ts, heading_rad=1.2, yaw_drift_rad_s=0.01,
                              rng=np.random.default_rng(3))
    wrist = {}
    for imu in (True, False):
        core = fusion_core.FusionCore(rig, "coco17", filter="one_euro",
                                      imu_segments={"/imu/l_forearm": "left_elbow:left_wrist"})
        out = []
        for i in range(len(ts)):
            if imu:  # the IMU sample arrives a little before the frame is complete
                core.add_imu("/imu/l_forearm", float(ts[i]), quat[i], gyro[i])
            out.append(core.process(float(ts[i]), _frames(kp2d, i)).skeletons[0])
        wrist[imu] = np.stack([sk.positions[9] for sk in out])
        if imu:
            assert core.imu_stats["samples"] == len(ts) and core.imu_stats["filled"] == len(gap)
            conf = np.array([sk.joint_confidence[[7, 9]] for sk in out])  # elbow, wrist
            np.testing.assert_allclose(conf[gap, 1], 0.5 * conf[gap, 0])  # marked as inferred: half the elbow's
    err = np.linalg.norm(wrist[True][gap] - gt[gap, 0, 9], axis=1)
    assert np.isfinite(err).all() and err.max() < 0.06 and np.median(err) < 0.04, err
    assert not np.isfinite(wrist[False][gap]).any()  # vision alone has no wrist in the gap
    vis = np.setdiff1d(np.arange(len(ts)), gap)
    np.testing.assert_allclose(wrist[True][vis], wrist[False][vis])  # IMU changes only what vision lost


def test_imu_segment_spec_is_checked(capture):
    rig = capture[0]
    with pytest.raises(MocapError, match="left_elbw"):
        fusion_core.FusionCore(rig, "coco17", imu_segments={"imu0": "left_elbw:left_wrist"})
    core = fusion_core.FusionCore(rig, "coco17", imu_segments={"imu0": "left_elbow:left_wrist"})
    assert not core.add_imu("other", 0.0, [0, 0, 0, 1])  # unknown sensor ignored
    assert core.add_imu("imu0", 1.0, [0, 0, 0, 2]) and not core.add_imu("imu0", 0.5, [0, 0, 0, 1])
    core.add_imu("imu0", 1.1, [0, 0, np.sin(0.5), np.cos(0.5)], [0, 0, 10.0])
    q, g = core.imu_at(1.05)  # halfway: half the rotation (slerp), mean rate
    np.testing.assert_allclose(q[0], [0, 0, np.sin(0.25), np.cos(0.25)], atol=1e-12)
    np.testing.assert_allclose(g[0], [np.nan, np.nan, np.nan])  # first sample had no gyro
    assert np.isnan(core.imu_at(2.0)[0]).all()  # newest sample too old: silent


def test_stream_fields_states_velocity_quality_and_description(capture):
    """The core's output is the stream contract: new then tracked, velocities from consecutive outputs, views used
    and reprojection error from the triangulation, a description before the first person, lost once retired."""
    rig, kp2d, gt = capture
    core = fusion_core.FusionCore(rig, "coco17", filter="none", use_prior=False, tracker_opts={"max_misses": 1})
    res = [core.process(float(kp2d.timestamps[i]), _frames(kp2d, i, drop=("cam04",) if i == 1 else ()))
           for i in range(3)]
    assert [r.frame.frame_index for r in res] == [0, 1, 2]
    assert [r.skeletons[0].state for r in res] == [TrackState.NEW, TrackState.TRACKED, TrackState.TRACKED]
    assert len(res[0].descriptions) == 1 and core.description() is not None
    d = core.description()
    assert d.n_joints == 17 and d.body_model == "" and d.frame_id == "world"
    p0, p1, p2 = (r.skeletons[0] for r in res)
    ref = triangulate(rig, kp2d.data[0, :, 0, :, :2], kp2d.data[0, :, 0, :, 2], refine=True, raw_pixel_errors=False)
    ok = np.isfinite(ref.X).all(1)
    np.testing.assert_array_equal(p0.views_used[ok], ref.n_views[ok])
    np.testing.assert_allclose(p0.reprojection_error_px[ok], ref.reproj_error_px[ok])
    assert p1.views_used.max() <= 3 and p0.views_used.max() == 4  # cam04 missing in frame 1
    assert np.isnan(p0.velocities).all()  # first frame: unknown
    dt = kp2d.timestamps[2] - kp2d.timestamps[1]
    np.testing.assert_allclose(p2.velocities, (p2.positions - p1.positions) / dt)
    assert 0 < p0.confidence <= 1
    # the description's rest offsets rebuild the first child of every joint from the orientations (x along bone)
    from mocap.geometry.rotations import quat_xyzw_to_matrix

    G = quat_xyzw_to_matrix(res[0].skeletons[0].global_quat_xyzw)
    X = res[0].skeletons[0].positions
    for j, par in enumerate(d.parents):
        if par >= 0 and np.isfinite(X[[j, par]]).all() and not d.rest_offsets[j][1:].any():
            np.testing.assert_allclose(X[par] + G[par] @ d.rest_offsets[j], X[j], atol=1e-9)
    # nobody for two frames: the id is retired and reported lost once, with no joints
    empty = {c: None for c in rig.names}
    lost = [core.process(float(kp2d.timestamps[3 + k]), empty).skeletons for k in range(3)]
    states = [[p.state for p in people] for people in lost]
    assert states == [[], [TrackState.LOST], []], states
    assert lost[1][0].person_id == 0 and not lost[1][0].valid().any()


def test_reset_reports_lost_and_predicted_people(capture):
    rig, kp2d, _ = capture
    core = fusion_core.FusionCore(rig, "coco17", filter="none", predict_s=0.5)
    core.process(float(kp2d.timestamps[0]), _frames(kp2d, 0))
    core.process(float(kp2d.timestamps[1]), _frames(kp2d, 1))
    pred = core.process(float(kp2d.timestamps[2]), {c: None for c in rig.names}).skeletons
    assert [p.state for p in pred] == [TrackState.PREDICTED] and pred[0].valid().sum() > 10
    core.reset()
    after = core.process(float(kp2d.timestamps[3]), _frames(kp2d, 3)).skeletons
    assert [(p.person_id, p.state) for p in after] == [(0, TrackState.LOST), (0, TrackState.NEW)]


def test_joint_set_adopted_from_first_camera_and_mixed_sets_refused(capture):
    rig, kp2d, _ = capture
    core = fusion_core.FusionCore.from_params(rig, {"filter": "none", "topic": "ignored"})
    assert core.joint_set is None
    empty = core.process(0.0, _frames(kp2d, 0))  # no joint set known yet: nothing fused, no exception
    assert empty.skeletons == [] and "joint set" in empty.warnings[0]
    assert core.check_frame("cam01", kp2d.data[0, 0], "coco17") is None and core.joint_set.name == "coco17"
    msg = core.check_frame("cam02", np.zeros((1, 33, 3)), "mediapipe33")
    assert msg and "mediapipe33" in msg and "coco17" in msg and "mixed" in msg
    res = core.process(float(kp2d.timestamps[1]), {**_frames(kp2d, 1), "cam03": np.zeros((1, 33, 3))})
    assert res.cameras == ["cam01", "cam02", "cam04"] and any("33 joints" in w for w in res.warnings)


def test_from_params_options_and_errors(capture, tmp_path):
    from mocap.cameras.formats import write_calibration

    rig = capture[0]
    calib = write_calibration(rig, tmp_path / "calib.toml")
    core = fusion_core.FusionCore.from_params(str(calib), {"joint_set": "coco17", "filter": "kalman",
                                                           "track_max_misses": 3}, cameras=["cam02", "cam01"])
    assert core.cameras == ["cam02", "cam01"] and core.filter_name == "kalman" and core.tracker.max_misses == 3
    assert core.J == 17 and not core.fits
    with pytest.raises(MocapError, match="cam09"):
        fusion_core.FusionCore.from_params(rig, cameras=["cam01", "cam09"])
    with pytest.raises(MocapError, match="unknown core option"):
        fusion_core.FusionCore.from_params(rig, topic="x")
    with pytest.raises(MocapError, match="imu_segments"):
        fusion_core.FusionCore.from_params(rig, imu_topics=["/imu/a"], imu_segments=[""])
    with pytest.raises(MocapError, match="body_model"):
        fusion_core.FusionCore.from_params(rig, body_model="smpl")
    with pytest.raises(MocapError, match="filter"):
        fusion_core.make_filter("median")
    assert fusion_core.make_filter("none") is None
    assert isinstance(fusion_core.make_filter("one_euro", min_cutoff=1.0), fusion_core.OneEuroFilter)
