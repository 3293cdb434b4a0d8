"""VMC sender: Unity receiver type checks, global positions rebuilt from local transforms, T-pose calibration,
real-time pacing. All traffic goes to 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.apps.humanoid import HUMANOID_PARENT, HumanoidRetarget, humanoid_bone_map
from mocap.apps.offline import play
from mocap.apps.unity import rep103_to_unity_position
from mocap.apps.vmc import VmcSender
from mocap.errors import MocapError
from mocap.export.ik import STANDARD_JOINTS, STANDARD_PARENTS
from mocap.geometry.rotations import quat_xyzw_to_matrix, rotation_angle_between, rotvec_to_quat_xyzw
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, identity_quats
from tests.apps.helpers import cmu_stream, coco_from_standard, standard_tpose
from tests.apps.vmc_receiver import VmcReceiver, unity_forward_kinematics


@pytest.fixture
def receiver():
    rx = VmcReceiver()
    yield rx
    rx.close()


def _unity_rest(ret: HumanoidRetarget) -> tuple[dict, dict]:
    parents = {b: (ret.bones[a] if a >= 0 else None) for b, a in zip(ret.bones, ret.parents, strict=True)}
    offsets = {b: rep103_to_unity_position(o) for b, o in zip(ret.bones, ret.rest_offsets, strict=True)}
    return parents, offsets


@pytest.mark.slow
def test_cmu_clip_rebuilds_our_skeleton_within_1mm(receiver, shared_data):
    """CMU 01_01 (forward jumps, 688 frames at 30 Hz) as COCO-17 keypoints -> IK rig -> VMC -> a receiver with EVMC4U's
    type checks. Forward kinematics from the received local rotations, the Hips' position and our (calibrated) rest
    pose equals our skeleton's joints (the rig's, converted to Unity axes) within 1 mm on every frame."""
    st = cmu_stream("01_01", frame_step=4)
    sender = VmcSender(port=receiver.port, rate_hz=1e9, calib_frames=30)
    ours = [None if sender.last_pose is None else rep103_to_unity_position(sender.last_pose.positions)
            for _ in play(st, [sender])]
    frames = receiver.wait(len(st.frames), timeout=20)
    assert len(frames) == len(st.frames) == sender.sent
    assert receiver.violations == []
    assert all(f.ok is not None and f.t is not None for f in frames)
    assert [f.ok[1] for f in frames[:29]] == [2] * 29 and frames[29].ok[1] == 3  # calibrating, then calibrated
    assert ours[28] is None and all(o is not None for o in ours[29:])
    ret, rig = sender.retarget_for(st.frames[0].people[0])
    assert rig is not None and len(ret.bones) == 22
    parents, offsets = _unity_rest(ret)
    errs, travel = [], []
    for f, ref in zip(frames[29:], ours[29:], strict=True):
        assert list(f.bones) == ret.bones and f.root == ("root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
        got = unity_forward_kinematics(f, parents, offsets)
        errs.append(max(np.linalg.norm(got[b] - ref[i]) for i, b in enumerate(ret.bones)))
        # the local positions sent are the rest offsets (an avatar may apply them or keep its own)
        for b in ret.bones[1:]:
            np.testing.assert_allclose(f.bones[b][0], offsets[b], atol=1e-6)
        travel.append(np.linalg.norm(ref[0] - ours[29][0]))
    assert max(errs) < 1e-3, f"max FK error {max(errs) * 1e3:.3f} mm"
    assert max(travel) > 3.0  # the hips travel metres (forward jumps): the check is not on a static pose
    # our rig skeleton against the keypoints it came from: CMU bone lengths are constant, so the rig keeps the
    # limbs: wrists and ankles within a few centimetres of the markers
    X0 = st.frames[300].people[0].positions
    Xr, _, _ = rig.solve(X0)
    for coco, std in ((9, "left_wrist"), (16, "right_ankle")):
        assert np.linalg.norm(Xr[STANDARD_JOINTS.index(std)] - X0[coco]) < 0.05


def _paced_run(st) -> tuple[np.ndarray, VmcReceiver, VmcSender]:
    rx = VmcReceiver()
    sender = VmcSender(port=rx.port, rate_hz=60, calib_frames=10)
    late = np.array([lt for _, lt in play(st, [sender], realtime=True)])
    return late, rx, sender


def test_stream_stays_within_one_frame_of_real_time_at_60hz(shared_data):
    """131_01 (walk) at 60 Hz, paced in real time: once the avatar moves (after the rig's calibration frames), the
    arrival times (kernel receive stamps) follow the stream's clock at a constant latency: no drift (slope), no
    backlog, 95% of the bundles within one frame period (16.7 ms) of it. This 2-core machine is shared by several
    processes, so single bundles of a process descheduled for tens of milliseconds are not held against the stream
    (the notes give the maximum at low load); a run disturbed that way is repeated (at most 5, all reported)."""
    st = cmu_stream("131_01", frame_step=2, max_frames=240)  # 4 s
    stamps = np.array([f.stamp for f in st.frames])
    report = []
    for _ in range(5):
        late, rx, sender = _paced_run(st)
        try:
            frames = rx.wait(len(st.frames))
            assert (sender.skipped, len(frames)) == (0, len(st.frames))
            assert rx.violations == []
        finally:
            rx.close()
        assert [f.ok[1] for f in frames].index(3) == 9  # bones from frame 9 on (the rig calibrated on frames 0-9)
        T = np.array([f.t for f in frames])
        np.testing.assert_allclose(T, stamps - stamps[0], atol=1e-5)  # /VMC/Ext/T: stream time, float32
        arrival = np.array([f.arrival_s for f in frames])[10:]
        offset = (arrival - arrival[0]) - (stamps[10:] - stamps[10])
        drift = np.abs(offset - np.median(offset))
        slope = np.polyfit(stamps[10:], offset, 1)[0]
        report.append(f"|drift| p95 {np.percentile(drift, 95) * 1e3:.1f} ms, max {drift.max() * 1e3:.1f} ms, "
                      f"slope {slope * 1e3:.2f} ms/s, pacing lateness max {late.max() * 1e3:.1f} ms")
        if np.percentile(drift, 95) < 1 / 60 and abs(slope) < 2e-3:
            return
    raise AssertionError("; ".join(report))


def _person(X: np.ndarray, pid: int = 0, local=None, glob=None) -> PersonSkeleton:
    J = len(X)
    return PersonSkeleton(pid, X, np.ones(J), identity_quats(J) if local is None else local,
                          identity_quats(J) if glob is None else glob)


def test_tpose_facing_forward_gives_identity_local_rotations(receiver):
    """A person (COCO-17 keypoints) standing in a T-pose facing our +X: after the rig's calibration every avatar
    bone's local rotation is the identity (the avatar's T-pose) and the Hips face Unity's +Z (identity)."""
    X = coco_from_standard(standard_tpose(np.pi / 2))
    from mocap.skeletons import get_joint_set

    js = get_joint_set("coco17")
    desc = SkeletonDescription("coco17", list(js.joints), np.array(js.parents), np.zeros((17, 3)))
    sender = VmcSender(port=receiver.port, rate_hz=1e9, calib_frames=5)
    sender.describe(desc)
    for k in range(8):
        sender.send(SkeletonFrame(k / 30, k, [_person(X)]))
    f = receiver.wait(8)[-1]
    assert receiver.violations == [] and f.ok == (1, 3, 0, 1)
    for b, (_, q) in f.bones.items():
        ang = np.degrees(rotation_angle_between(quat_xyzw_to_matrix(q), np.eye(3)))
        assert ang < 2.0, f"{b}: {ang:.1f} deg from the T-pose"
    pelvis = 0.5 * (X[11] + X[12])  # the rig's pelvis: between the hip keypoints
    np.testing.assert_allclose(f.bones["Hips"][0], [-pelvis[1], pelvis[2], pelvis[0]], atol=1e-6)
    # the left hand is on the avatar's left: Unity -X is the left of a character facing +Z
    assert f.bones["LeftUpperArm"][0][0] < 0


def _apose_description(yup: bool) -> tuple[SkeletonDescription, np.ndarray]:
    """The standard skeleton with the arms 45 degrees down at rest, optionally in SMPL-X's Y-up rest frame
    (facing +Z); returns it and the rotation from that rest frame into our world."""
    X = standard_tpose(0.0)
    off = X.copy()
    par = np.array(STANDARD_PARENTS)
    off[1:] = X[1:] - X[par[1:]]
    for side, s in (("left", 1), ("right", -1)):
        for j in ("elbow", "wrist"):
            i = STANDARD_JOINTS.index(f"{side}_{j}")
            n = np.linalg.norm(off[i])
            off[i] = n * np.array([s * np.sqrt(0.5), 0.0, -np.sqrt(0.5)])
    to_world = np.eye(3)
    if yup:  # rest frame: y up, facing +z, left +x  ->  ours: z up, facing -y, left +x
        to_world = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
        off = off @ to_world  # = to_world.T @ off_i: expressed in the Y-up rest frame
    return SkeletonDescription("smplx22", list(STANDARD_JOINTS), par, off, body_model="smplx"), to_world


@pytest.mark.parametrize("yup", [False, True])
def test_rest_pose_calibration_apose_and_yup_rest(yup):
    """Rest poses that are not the avatar's T-pose: arms 45 degrees down, and SMPL-X's Y-up rest frame. In our rest
    pose (all local rotations identity, root turning the rest frame into the world) the avatar reproduces our joints
    exactly with its upper arms 45 degrees down; raising our arms to the T-pose gives identity arm rotations."""
    desc, to_world = _apose_description(yup)
    ret = HumanoidRetarget(desc)
    J = desc.n_joints
    G = np.tile(np.eye(3), (J, 1, 1)) @ to_world  # every joint: rest orientation turned into the world
    from mocap.geometry.rotations import matrix_to_quat_xyzw

    rest_world = (desc.rest_positions() - desc.rest_offsets[0]) @ to_world.T
    pose = ret.retarget(rest_world, matrix_to_quat_xyzw(G))
    np.testing.assert_allclose(ret.forward(pose.local_quat_xyzw, pose.positions[0]), rest_world[ret.joints], atol=1e-9)
    ua = ret.bones.index("LeftUpperArm")
    assert np.degrees(rotation_angle_between(quat_xyzw_to_matrix(pose.local_quat_xyzw[ua]), np.eye(3))) == \
        pytest.approx(45.0, abs=1e-6)
    # raise both arms by 45 degrees about the forward axis (our world: facing -y) -> T-pose
    for side, s in (("left", 1), ("right", -1)):
        i = STANDARD_JOINTS.index(f"{side}_shoulder")
        Rz = quat_xyzw_to_matrix(rotvec_to_quat_xyzw(np.array([0.0, -s * np.pi / 4, 0.0])))
        for k in range(J):
            if k == i or _descends(STANDARD_PARENTS, k, i):
                G[k] = Rz @ G[k]
    pose = ret.retarget(rest_world, matrix_to_quat_xyzw(G))  # positions do not enter the rotations
    for b in ("LeftUpperArm", "RightUpperArm", "LeftLowerArm", "LeftHand"):
        i = ret.bones.index(b)
        assert np.degrees(rotation_angle_between(quat_xyzw_to_matrix(pose.local_quat_xyzw[i]), np.eye(3))) < 1e-6


def _descends(parents, k: int, a: int) -> bool:
    while k >= 0:
        k = parents[k]
        if k == a:
            return True
    return False


def test_bone_maps_cover_smplx_anny_and_unity_names():
    m = humanoid_bone_map(list(STANDARD_JOINTS))
    assert m["Hips"] == 0 and m["Spine"] == 3 and m["UpperChest"] == 9 and m["LeftShoulder"] == 13
    assert m["LeftToes"] == STANDARD_JOINTS.index("left_foot") and len(m) == 22
    anny = ["root", "spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "head", "upperleg01.L",
            "lowerleg01.L", "upperarm01.R", "finger2-1.L", "finger1-3.R"]
    a = humanoid_bone_map(anny)
    assert a["Hips"] == 0 and a["Spine"] == 2 and a["Chest"] == 4 and a["UpperChest"] == 5
    assert a["LeftUpperLeg"] == 8 and a["RightUpperArm"] == 10
    assert a["LeftIndexProximal"] == 11 and a["RightThumbDistal"] == 12
    smplx = humanoid_bone_map(["pelvis", "left_index1", "right_thumb3", "left_eye_smplhf", "jaw"])
    assert smplx == {"Hips": 0, "LeftIndexProximal": 1, "RightThumbDistal": 2, "LeftEye": 3, "Jaw": 4}
    assert humanoid_bone_map(["Hips", "Spine", "LeftHand", "nose"]) == {"Hips": 0, "Spine": 1, "LeftHand": 2}
    assert set(HUMANOID_PARENT) == set(__import__("mocap.apps.humanoid", fromlist=["x"]).HUMAN_BODY_BONES)


def test_unmappable_skeleton_is_refused_with_advice():
    from mocap.skeletons import get_joint_set

    js = get_joint_set("coco17")
    desc = SkeletonDescription("coco17", list(js.joints), np.array(js.parents), np.zeros((17, 3)))
    with pytest.raises(MocapError, match="IK rig"):
        HumanoidRetarget(desc)
    with pytest.raises(MocapError, match="HumanBodyBones"):
        HumanoidRetarget(_apose_description(False)[0], bone_map={"Pelvis": "pelvis"})


def test_url_options_and_person_selection(receiver):
    s = VmcSender.from_url(f"vmc://127.0.0.1:{receiver.port}?person=1&rate=30&calib=3&mtu=1400")
    assert s.selector.person == 1 and s.rate_hz == 30 and s.calib_frames == 3 and s.osc.max_bundle_bytes == 1400
    with pytest.raises(MocapError, match="scheme"):
        VmcSender.from_url("osc://127.0.0.1:1")
    desc, _ = _apose_description(False)
    s = VmcSender(port=receiver.port, person=1, rate_hz=1e9, max_bundle_bytes=600)
    s.describe(desc)
    X = desc.rest_positions()
    s.send(SkeletonFrame(0.0, 0, [_person(X, 0), _person(X + [5.0, 0, 0], 1)]))
    s.send(SkeletonFrame(0.1, 1, [_person(X, 0)]))  # person 1 gone: OK says "not tracking", no bones
    import time

    time.sleep(0.2)
    assert receiver.violations == [] or all("without" in v for v in receiver.violations)
    bones = {}
    for f in receiver.frames:
        bones.update(f.bones)
    assert bones["Hips"][0][2] == pytest.approx(5.0)  # Unity z = our x: person 1
    assert s.osc.packets > 2  # split into bundles of at most 600 bytes
    oks = [f.ok for f in receiver.frames if f.ok is not None]
    assert oks[-1] == (1, 3, 0, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name, n_bones", [("anny", 54), ("smplx", 55)])
def test_body_model_skeleton_drives_humanoid_bones_exactly(name, n_bones, rng, tmp_path):
    """A body model's skeleton (Anny's 104 bones, Z up; the stand-in SMPL-X's 55 joints, Y up, facing +Z) in its
    own rest pose -> humanoid bones; random rotations of the mapped joints: forward kinematics of the avatar (rest
    offsets + local rotations) lands on the model's joints."""
    from mocap.geometry.rotations import matrix_to_quat_xyzw
    from mocap.skeletons.orientations import global_from_local

    if name == "anny":
        from mocap.body.anny_model import AnnyModel

        model = AnnyModel()
    else:
        from mocap.body.smplx_model import SmplxModel
        from mocap.body.standin import make_standin_smplx

        make_standin_smplx(tmp_path / "SMPLX_NEUTRAL.npz")
        model = SmplxModel(tmp_path)
    off = model.rest_offsets()
    desc = SkeletonDescription(name, list(model.joint_names), np.asarray(model.parents), off, body_model=name)
    ret = HumanoidRetarget(desc)
    assert len(ret.bones) == n_bones and {"Hips", "UpperChest", "LeftThumbDistal", "RightToes"} <= set(ret.bones)
    J = desc.n_joints
    local = np.tile([0.0, 0, 0, 1], (J, 1))
    local[ret.joints] = rotvec_to_quat_xyzw(rng.normal(scale=0.4, size=(len(ret.joints), 3)))
    G = global_from_local(local, desc.parents)
    Gm = quat_xyzw_to_matrix(G)
    X = np.zeros((J, 3))
    for j, p in enumerate(desc.parents):
        X[j] = off[j] if p < 0 else X[p] + Gm[p] @ off[j]
    pose = ret.retarget(X, matrix_to_quat_xyzw(Gm))
    np.testing.assert_allclose(ret.forward(pose.local_quat_xyzw, pose.positions[0]), X[ret.joints], atol=1e-9)
    np.testing.assert_allclose(pose.local_positions[1:], ret.rest_offsets[1:], atol=1e-9)
