"""numpy <-> message conversions (needs the built workspace)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ros.conftest import needs_ros

pytestmark = [pytest.mark.ros, needs_ros]


def test_keypoints_round_trip_keeps_nan_and_float32():
    from mocap_ros import convert

    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 1000, (2, 17, 3))
    kp[0, 3] = np.nan
    msg = convert.keypoints_to_msg(kp, "cam01", "coco17", [f"j{i}" for i in range(17)], 12.3456789, (1280, 720), 7)
    assert msg.header.stamp.sec == 12 and abs(msg.header.stamp.nanosec - 345678900) <= 1
    assert msg.camera_name == "cam01" and msg.frame_index == 7 and msg.image_width == 1280
    back = convert.msg_to_keypoints(msg)
    np.testing.assert_allclose(back, kp.astype(np.float32), equal_nan=True)
    msg.people[1].u = msg.people[1].u[:5]
    with pytest.raises(ValueError, match="person 1 has 5"):
        convert.msg_to_keypoints(msg)


def test_skeleton_and_camera_info():
    from mocap_ros import convert

    from mocap.cameras import Camera
    from mocap.skeletons.orientations import joint_orientations

    par = np.array([-1, 0, 1, 0])
    X = np.array([[0, 0, 1.0], [0.3, 0, 1.0], [0.3, 0, 0.5], [np.nan] * 3])
    g, loc = joint_orientations(X, par)
    msg = convert.skeleton_msg(3, ["a", "b", "c", "d"], par, X, np.array([0.9, 0.8, 0.7, 0.5]), g, loc, 5.0,
                               "world", "anny", np.arange(3.0), X[0])
    X2, conf, g2, l2 = convert.skeleton_to_arrays(msg)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_allclose(conf, [0.9, 0.8, 0.7, 0.0], atol=1e-6)  # missing joint -> confidence 0
    np.testing.assert_allclose(g2, g)
    assert list(msg.parents) == [-1, 0, 1, 0] and msg.body_model == "anny" and msg.root_translation.z == 1.0
    tfs = convert.transforms(3, ["a", "b", "c", "d"], X, g, 5.0, "world")
    assert [t.child_frame_id for t in tfs] == ["mocap/person_3/a", "mocap/person_3/b", "mocap/person_3/c"]
    cam = Camera("cam01", (640, 480), np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]),
                 np.array([0.1, -0.01, 0, 0, 0.001]))
    info = convert.camera_info_msg(cam, 1.0)
    assert info.distortion_model == "plumb_bob" and info.width == 640 and info.k[0] == 500.0
    assert list(info.d) == pytest.approx([0.1, -0.01, 0, 0, 0.001])


def test_stream_round_trip_through_messages():
    """SkeletonDescription / SkeletonFrame / PersonSkeleton -> messages -> back: every field survives (float32
    where the message has float32), lost people carry no joints, states map one to one."""
    from mocap_msgs.msg import Skeleton
    from mocap_ros import convert

    from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState, identity_quats
    from mocap.skeletons.orientations import joint_orientations

    par = np.array([-1, 0, 1, 0])
    d = SkeletonDescription("chain4", ["a", "b", "c", "d"], par, [[0, 0, 1.0], [0.3, 0, 0], [0.5, 0, 0], [0, .1, 0]],
                            frame_id="world")
    X = np.array([[0, 0, 1.0], [0.3, 0, 1.0], [0.3, 0, 0.5], [np.nan] * 3])
    g, loc = joint_orientations(X, par)
    V = np.array([[0.1, 0, 0], [0.2, 0, 0], [np.nan] * 3, [np.nan] * 3])
    p = PersonSkeleton(4, X, [0.9, 0.8, 0.7, 0.0], loc, g, TrackState.TRACKED, 0.6, V, [3, 2, 2, 0],
                       [1.5, 2.5, np.nan, np.nan])
    lost = PersonSkeleton(2, np.full((4, 3), np.nan), np.zeros(4), identity_quats(4), identity_quats(4),
                          TrackState.LOST, 0.0)
    frame = SkeletonFrame(12.5, 41, [p, lost], "chain4", ["cam01", "cam03"])
    msg = convert.frame_to_msg(frame, lambda pid: d, "world")
    assert msg.frame_index == 41 and list(msg.cameras) == ["cam01", "cam03"] and msg.joint_set == "chain4"
    assert [s.tracking_state for s in msg.skeletons] == [Skeleton.STATE_TRACKED, Skeleton.STATE_LOST]
    assert len(msg.skeletons[1].positions) == 0 and len(msg.skeletons[1].joint_names) == 0
    back = convert.msg_to_frame(msg)
    assert back.stamp == 12.5 and back.frame_index == 41 and back.person_ids == [4, 2]
    q = back.people[0]
    assert q.state is TrackState.TRACKED and abs(q.confidence - 0.6) < 1e-6
    np.testing.assert_array_equal(q.positions, X)
    np.testing.assert_allclose(q.velocities, V)
    np.testing.assert_array_equal(q.views_used, [3, 2, 2, 0])
    np.testing.assert_allclose(q.reprojection_error_px, [1.5, 2.5, np.nan, np.nan], rtol=1e-6)
    np.testing.assert_allclose(q.local_quat_xyzw, loc)
    assert back.people[1].state is TrackState.LOST and back.people[1].n_joints == 0
    for state in TrackState:
        assert convert.msg_to_person(convert.person_to_msg(
            PersonSkeleton(0, X, np.ones(4), loc, g, state), d, 0.0, "world")).state is state
    dm = convert.description_to_msg(SkeletonDescription("anny", d.joint_names, par, d.rest_offsets, "anny",
                                                        np.arange(3.0), "map", 7), 3.0)
    d2 = convert.msg_to_description(dm)
    assert (d2.joint_set, d2.body_model, d2.frame_id, d2.person_id) == ("anny", "anny", "map", 7)
    np.testing.assert_allclose(d2.rest_offsets, d.rest_offsets)
    np.testing.assert_allclose(d2.shape, [0, 1, 2])
    with pytest.raises(ValueError, match="description"):
        convert.person_to_msg(PersonSkeleton(0, X[:3], np.ones(3), loc[:3], g[:3]), d, 0.0, "world")


def test_marker_lifetime_is_a_duration_and_camera_tf_inverts_the_extrinsics():
    from builtin_interfaces.msg import Duration
    from mocap_ros import convert

    from mocap.geometry.rotations import quat_xyzw_to_matrix
    from tests.conftest import make_ring_rig

    arr = convert.markers_msg([(0, np.zeros((3, 3)))], [(0, 1), (1, 2)], 1.0, "world", lifetime_s=0.25)
    assert all(isinstance(m.lifetime, Duration) and m.lifetime.nanosec == 250_000_000 for m in arr.markers)
    cam = make_ring_rig(2)[0]
    tf = convert.camera_transform(cam, "world", "cam_optical_frame")
    c = np.array([tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z])
    r = tf.transform.rotation
    Rwc = quat_xyzw_to_matrix(np.array([r.x, r.y, r.z, r.w]))
    np.testing.assert_allclose(cam.R @ c + cam.t, 0, atol=1e-12)  # the camera centre
    np.testing.assert_allclose(Rwc, cam.R.T, atol=1e-12)  # optical axes in the world
    assert tf.header.frame_id == "world" and tf.child_frame_id == "cam_optical_frame"
