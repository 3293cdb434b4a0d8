"""The registered joint sets: sizes, trees, left/right pairs, and their order checked against independent sources
(mediapipe's enums, the installed smplx package and a stand-in SMPL-X model, the Shelf ground truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.skeletons import JOINT_CENTRE, get_joint_set, list_joint_sets
from mocap.skeletons._build import mirror_name
from mocap.skeletons.parts import FACE68, FACE_MESH

SIZES = {"coco17": 17, "coco_wholebody133": 133, "halpe26": 26, "body25": 25, "body25b": 25, "mediapipe33": 33,
         "mediapipe_hand21": 21, "mediapipe_holistic": 33 + 21 + 21 + 468, "shelf15": 15, "skel19": 19,
         "smplx55": 55}
FACE_POINTS = set(FACE68) | set(FACE_MESH)


@pytest.mark.parametrize("name, size", sorted(SIZES.items()))
def test_sizes(name, size):
    assert len(get_joint_set(name)) == size


@pytest.mark.parametrize("name", list_joint_sets())
def test_tree_is_acyclic_with_one_body_root(name):
    js = get_joint_set(name)
    for start in range(len(js)):
        seen, j = set(), start
        while j >= 0:
            assert j not in seen, f"cycle through {js.joints[j]}"
            seen.add(j)
            j = js.parents[j]
    body_roots = [r for r in js.roots if js.joints[r] not in FACE_POINTS]
    assert len(body_roots) == 1, [js.joints[r] for r in body_roots]
    for face in (FACE68[17:], FACE_MESH):  # whole faces hang from nothing (drawn through extra edges)
        if set(face) <= set(js.joints):
            assert all(js.parents[js.index(n)] == -1 for n in face)


@pytest.mark.parametrize("name", list_joint_sets())
def test_left_right_pairs(name):
    js = get_joint_set(name)
    flat = [i for p in js.lr_pairs for i in p]
    assert len(flat) == len(set(flat)), "a joint is in two pairs"
    for left, right in js.lr_pairs:
        assert "left" in js.joints[left].split("_") and "right" in js.joints[right].split("_")
        assert mirror_name(js.joints[left]) == js.joints[right]
    sided = {i for i, n in enumerate(js.joints) if mirror_name(n) is not None}
    assert sided == set(flat), "every left_/right_ joint has a partner and only those"
    perm = js.flip_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(len(js)))
    # The tree is mirror-symmetric: the parent of a flipped joint is the flipped parent.
    parents = np.asarray(js.parents)
    flipped_parent = np.where(parents[perm] >= 0, perm[np.maximum(parents[perm], 0)], -1)
    np.testing.assert_array_equal(parents, flipped_parent)
    # A sided joint never hangs from a joint of the other side.
    for i, n in enumerate(js.joints):
        p = js.parents[i]
        if p >= 0 and "left" in n.split("_"):
            assert "right" not in js.joints[p].split("_"), (n, js.joints[p])


def test_shared_points_have_shared_names():
    names = {n: set(get_joint_set(n).joints) for n in ("coco17", "halpe26", "body25", "body25b", "mediapipe33",
                                                        "shelf15", "smplx55", "coco_wholebody133")}
    arm_leg = {f"{s}_{p}" for s in ("left", "right")
               for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}
    for n, joints in names.items():
        assert arm_leg <= joints, (n, arm_leg - joints)
    feet = {f"{s}_{p}" for s in ("left", "right") for p in ("big_toe", "small_toe", "heel")}
    for n in ("halpe26", "body25", "body25b", "coco_wholebody133", "smplx_with_extras"):
        assert feet <= set(get_joint_set(n).joints), n
    assert {"head_top", "upper_neck"} <= set(get_joint_set("body25b").joints) & set(get_joint_set("shelf15").joints)
    assert "mid_hip" not in get_joint_set("body25b").joints and "mid_hip" in get_joint_set("body25").joints


def test_mediapipe_names_follow_mediapipe_enums():
    from mediapipe.python.solutions.hands import HandLandmark
    from mediapipe.python.solutions.pose import PoseLandmark

    renames = {"mouth_left": "left_mouth_corner", "mouth_right": "right_mouth_corner"}
    for s in ("left", "right"):
        renames.update({f"{s}_{f}": f"{s}_{f}_knuckle" for f in ("pinky", "index", "thumb")})
    expected = [renames.get(lm.name.lower(), lm.name.lower()) for lm in sorted(PoseLandmark, key=int)]
    assert list(get_joint_set("mediapipe33").joints) == expected
    hand = [lm.name.lower().replace("_finger", "").replace("wrist", "hand_wrist") for lm in sorted(HandLandmark,
                                                                                                   key=int)]
    assert list(get_joint_set("mediapipe_hand21").joints) == hand
    holistic = get_joint_set("mediapipe_holistic").joints
    assert list(holistic[:33]) == expected
    assert list(holistic[33:54]) == [f"left_{h}" for h in hand]
    assert list(holistic[54:75]) == [f"right_{h}" for h in hand]


def test_mediapipe_face_mesh_named_points_sit_in_mediapipe_regions():
    from mediapipe.python.solutions import face_mesh_connections as fmc

    def points(conns):
        return {i for e in conns for i in e}

    holistic = get_joint_set("mediapipe_holistic")
    face = {n: i - 75 for i, n in enumerate(holistic.joints) if i >= 75}
    assert points(fmc.FACEMESH_LEFT_EYE) >= {face["face_left_eye_outer"], face["face_left_eye_inner"]}
    assert points(fmc.FACEMESH_RIGHT_EYE) >= {face["face_right_eye_outer"], face["face_right_eye_inner"]}
    assert points(fmc.FACEMESH_LIPS) >= {face["face_left_mouth_corner"], face["face_right_mouth_corner"],
                                         face["face_upper_lip_top"], face["face_lower_lip_bottom"]}
    assert points(fmc.FACEMESH_FACE_OVAL) >= {face["face_chin"], face["face_forehead"]}
    assert max(points(fmc.FACEMESH_TESSELATION)) + 1 == len(face)


def test_coco_wholebody_layout():
    js = get_joint_set("coco_wholebody133")
    assert js.joints[:17] == get_joint_set("coco17").joints
    assert js.joints[23:91] == FACE68
    assert js.joints[91] == "left_hand_wrist" and js.joints[112] == "right_hand_wrist"
    assert js.parents[91] == js.index("left_wrist") and js.parents[112] == js.index("right_wrist")
    assert js.joints[95] == "left_thumb_tip" and js.joints[132] == "right_pinky_tip"


def _smplx_canonical(smplx_name: str) -> str:
    from mocap.skeletons.smplx_joints import SMPLX_RENAMES

    return SMPLX_RENAMES.get(smplx_name, smplx_name)


def test_smplx_names_follow_the_installed_package():
    from smplx import SMPLX
    from smplx.joint_names import JOINT_NAMES
    from smplx.vertex_ids import vertex_ids
    from smplx.vertex_joint_selector import VertexJointSelector

    n_extra = VertexJointSelector(vertex_ids=vertex_ids["smplx"]).extra_joints_idxs.numel()
    n_joints = SMPLX.NUM_JOINTS + 1  # + the global (pelvis) joint
    assert len(get_joint_set("smplx55")) == n_joints
    assert len(get_joint_set("smplx_with_extras")) == len(JOINT_NAMES) - 17 == n_joints + n_extra + 51
    assert len(get_joint_set("smplx_with_extras_contour")) == len(JOINT_NAMES)
    ours = get_joint_set("smplx_with_extras_contour")
    body_and_vertices = n_joints + n_extra
    assert [_smplx_canonical(n) for n in JOINT_NAMES[:body_and_vertices]] == list(ours.joints[:body_and_vertices])
    # Face landmarks: smplx names them differently, but the side of every point must agree.
    for theirs, mine in zip(JOINT_NAMES[body_and_vertices:], ours.joints[body_and_vertices:]):
        side = [t for t in ("left", "right") if t in theirs]
        assert side == [t for t in ("left", "right") if t in mine.split("_")], (theirs, mine)
    assert all(ours.kind(i) == JOINT_CENTRE for i in range(55)) and ours.kind(55) != JOINT_CENTRE


def _standin_smplx(path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Write a stand-in SMPL-X .npz (random template, identity-like regressor) and return (v_template, faces)."""
    v = 9930  # smplx hard-codes vertex ids up to 9929
    vt = rng.normal(size=(v, 3)).astype(np.float32)
    faces = np.stack([np.arange(0, 51), np.arange(1000, 1051), np.arange(2000, 2051)], 1).astype(np.int64)
    weights = np.zeros((v, 55), np.float32)
    weights[:, 0] = 1
    regressor = np.zeros((55, v), np.float32)
    regressor[np.arange(55), np.arange(55)] = 1
    kintree = np.stack([np.asarray(get_joint_set("smplx55").parents), np.arange(55)]).astype(np.int64)
    np.savez(path, v_template=vt, f=faces, shapedirs=np.zeros((v, 3, 20), np.float32),
             posedirs=np.zeros((v, 3, 486), np.float32), J_regressor=regressor, kintree_table=kintree,
             weights=weights, hands_componentsl=np.eye(45, dtype=np.float32),
             hands_componentsr=np.eye(45, dtype=np.float32), hands_meanl=np.zeros(45, np.float32),
             hands_meanr=np.zeros(45, np.float32), lmk_faces_idx=np.arange(51),
             lmk_bary_coords=np.tile(np.float32([0.2, 0.3, 0.5]), (51, 1)),
             dynamic_lmk_faces_idx=np.zeros((79, 17), np.int64),
             dynamic_lmk_bary_coords=np.full((79, 17, 3), 1 / 3, np.float32))
    return vt, faces


def test_smplx_with_extras_matches_a_standin_model_output(tmp_path, rng):
    import smplx
    from smplx.vertex_ids import vertex_ids

    vt, faces = _standin_smplx(tmp_path / "SMPLX_NEUTRAL.npz", rng)
    for name, contour in (("smplx_with_extras", False), ("smplx_with_extras_contour", True)):
        model = smplx.SMPLX(str(tmp_path / "SMPLX_NEUTRAL.npz"), use_pca=False, use_face_contour=contour,
                            num_betas=10, num_expression_coeffs=10)
        joints = model().joints[0].detach().numpy()
        js = get_joint_set(name)
        assert joints.shape == (len(js), 3)
        # Each vertex keypoint is the vertex smplx selects for it.
        ids = vertex_ids["smplx"]
        keys = {"nose": "nose", "right_eye": "reye", "left_eye": "leye", "right_ear": "rear", "left_ear": "lear"}
        for s, c in (("left", "L"), ("right", "R")):
            keys.update({f"{s}_big_toe": f"{c}BigToe", f"{s}_small_toe": f"{c}SmallToe", f"{s}_heel": f"{c}Heel"})
            keys.update({f"{s}_{f}_tip": f"{s[0]}{f}" for f in ("thumb", "index", "middle", "ring", "pinky")})
        for joint, key in keys.items():
            np.testing.assert_allclose(joints[js.index(joint)], vt[ids[key]], atol=1e-5, err_msg=joint)
        # The 51 static landmarks come next, in lmk_faces_idx order.
        bary = np.float32([0.2, 0.3, 0.5])
        lmk = np.einsum("k,lkd->ld", bary, vt[faces])
        first = js.index("right_brow_1")
        np.testing.assert_allclose(joints[first:first + 51], lmk, atol=1e-5)
        # The model joints are the regressed vertices 0..54 at the rest pose.
        np.testing.assert_allclose(joints[:55], vt[:55], atol=1e-5)


def _read_4da(path: Path) -> np.ndarray:
    """All fully visible skeletons of a 4D-Association text file: ``(N, J, 3)``."""
    tok = path.read_text().split()
    n_joints, n_frames, k, out = int(tok[0]), int(tok[1]), 2, []
    for _ in range(n_frames):
        n_people = int(tok[k])
        k += 1
        for _ in range(n_people):
            m = np.asarray(tok[k + 1:k + 1 + 4 * n_joints], float).reshape(4, n_joints)
            k += 1 + 4 * n_joints
            if (m[3] > 0).all():
                out.append(m[:3].T)
    return np.asarray(out)


def _forward(x: np.ndarray, js, left: str, right: str) -> np.ndarray:
    """Unit facing direction per skeleton from a left/right pair (world Z up): cross(left - right, z)."""
    f = np.cross(x[:, js.index(left)] - x[:, js.index(right)], [0.0, 0.0, 1.0])
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def test_shelf15_order_on_the_ground_truth(shared_data):
    js = get_joint_set("shelf15")
    gt = _read_4da(shared_data / "shelf" / "gt.txt")
    assert gt.shape[1:] == (len(js), 3) and len(gt) > 100
    z = gt[..., 2].mean(0)
    assert z[js.index("head_top")] == z.max() and z[js.index("upper_neck")] > z[js.index("left_shoulder")]
    assert max(z[js.index("left_ankle")], z[js.index("right_ankle")]) < z[js.index("left_knee")]
    # Left/right are the subject's: the head top leans forward of the upper neck.
    fwd = _forward(gt, js, "left_shoulder", "right_shoulder")
    lean = ((gt[:, js.index("head_top")] - gt[:, js.index("upper_neck")]) * fwd).sum(1)
    assert np.mean(lean > 0) > 0.9


def test_skel19_order_on_4d_association_output(shared_data):
    js = get_joint_set("skel19")
    x = _read_4da(shared_data / "shelf" / "skel.txt")
    assert x.shape[1:] == (len(js), 3)
    fwd = _forward(x, js, "left_shoulder", "right_shoulder")
    nose = ((x[:, js.index("nose")] - x[:, js.index("neck")]) * fwd).sum(1)
    toe = ((x[:, js.index("left_big_toe")] - x[:, js.index("left_ankle")]) * fwd).sum(1)
    assert np.mean(nose > 0) > 0.9 and np.mean(toe > 0) > 0.9
    d = np.linalg.norm(x[:, js.index("left_big_toe")] - x[:, js.index("left_ankle")], axis=1)
    d_other = np.linalg.norm(x[:, js.index("left_big_toe")] - x[:, js.index("right_ankle")], axis=1)
    assert np.median(d) < np.median(d_other)
