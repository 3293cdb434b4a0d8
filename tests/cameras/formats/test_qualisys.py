"""Qualisys .qca.txt: the Pose2Sim demo calibration, checked by reprojection and against Pose2Sim's convention."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from mocap.cameras.formats import read_calibration, write_calibration
from mocap.errors import CalibrationError

ATTRS_READ_BY_POSE2SIM = {
    "fov_video": ("left", "right", "top", "bottom"),
    "intrinsic": ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV", "radialDistortion1",
                  "radialDistortion2", "tangentalDistortion1", "tangentalDistortion2"),
    "transform": ("x", "y", "z", "r11", "r12", "r13", "r21", "r22", "r23", "r31", "r32", "r33"),
}


@pytest.fixture(scope="module")
def qca(pose2sim_single):
    return pose2sim_single / "calibration" / "Calib.qca.txt"


def volume_points() -> np.ndarray:
    """3D points where the demo's person is: a column above the origin, and the box the person walks through
    in the videos (x from -1.2 to -0.4 m, |y| < 0.35 m, 0 to 1.8 m high; Z up)."""
    column = np.array([[0.0, 0.0, z] for z in np.linspace(0, 1.8, 7)])
    g = np.stack(np.meshgrid(np.linspace(-1.2, -0.4, 5), np.linspace(-0.35, 0.35, 5), np.linspace(0, 1.8, 7)), -1)
    return np.concatenate([column, g.reshape(-1, 3)])


def test_demo_cameras_see_the_capture_volume(qca):
    rig = read_calibration(qca)
    assert rig.names == ["cam01", "cam02", "cam03", "cam04"]
    X = volume_points()
    for cam in rig:
        assert cam.size == (1088, 1920)
        z = cam.world_to_camera(X)[:, 2]
        assert np.all(z > 1.0), f"{cam.name}: points behind or too close"
        uv = cam.project(X)
        # inside the narrowest video of the demo (cam01/cam02 are 1080 wide), with a margin
        assert np.all((uv[:, 0] > 5) & (uv[:, 0] < 1075) & (uv[:, 1] > 5) & (uv[:, 1] < 1915)), cam.name
        # the optical axis points at the person (within 25 degrees of the direction to (0, 0, 1))
        to_person = np.array([0, 0, 1.0]) - cam.center
        cos = cam.R[2] @ to_person / np.linalg.norm(to_person)
        assert cos > np.cos(np.radians(25)), f"{cam.name} looks {np.degrees(np.arccos(cos)):.0f} deg away"
        # the floor is below every camera and cameras stand 1.5-2.5 m high, 2.4-4.2 m from the person
        assert 1.5 < cam.center[2] < 2.5
        assert 2.4 < np.linalg.norm(cam.center[:2]) < 4.2


def test_demo_converted_to_opencv_reprojects_identically(qca, tmp_path):
    rig = read_calibration(qca)
    out = tmp_path / "calib.yml"
    write_calibration(rig, out)
    X = volume_points()
    fs = cv2.FileStorage(str(out), cv2.FILE_STORAGE_READ)  # read back with OpenCV itself, not our reader
    try:
        assert int(fs.getNode("camera_count").real()) == 4
        for i, cam in enumerate(rig):
            node = fs.getNode(f"camera_{i}")
            assert node.getNode("name").string() == cam.name
            K, dist = node.getNode("K").mat(), node.getNode("dist").mat()
            rvec, t = cv2.Rodrigues(node.getNode("R").mat())[0], node.getNode("t").mat()
            np.testing.assert_allclose(cv2.Rodrigues(node.getNode("rvec").mat())[0], node.getNode("R").mat(),
                                       atol=1e-12)
            uv_cv = cv2.projectPoints(X, rvec, t, K, dist)[0][:, 0]
            uv_ours = cam.project(X)
            np.testing.assert_allclose(uv_ours, uv_cv, atol=1e-6)
            assert (int(node.getNode("image_width").real()), int(node.getNode("image_height").real())) == (1088, 1920)
    finally:
        fs.release()


def _pose2sim_style(qca_path):
    """The demo file converted the way Pose2Sim documents it, written independently here from the XML:
    rotation read by column, inverted to the camera's view, turned by pi about the camera's x axis."""
    root = ET.parse(qca_path).getroot()
    out = []
    for cam in root.findall("cameras/camera"):
        tr, it, fov = cam.find("transform"), cam.find("intrinsic"), cam.find("fov_video")
        by_column = np.array([float(tr.get(f"r{r}{c}")) for r in (1, 2, 3) for c in (1, 2, 3)]).reshape(3, 3).T
        centre = np.array([float(tr.get(a)) for a in "xyz"]) / 1000
        r = by_column.T
        t = -r @ centre
        flip_x = np.array([[1, 0, 0], [0, np.cos(np.pi), -np.sin(np.pi)], [0, np.sin(np.pi), np.cos(np.pi)]])
        r, t = flip_x @ r, flip_x @ t
        fu, fv = float(it.get("focalLengthU")) / 64, float(it.get("focalLengthV")) / 64
        cu = float(it.get("centerPointU")) / 64 - float(fov.get("left"))
        cv = float(it.get("centerPointV")) / 64 - float(fov.get("top"))
        K = np.array([[fu, 0, cu], [0, fv, cv], [0, 0, 1]])
        raw = np.array([float(it.get(k)) for k in ("radialDistortion1", "radialDistortion2", "tangentalDistortion1",
                                                       "tangentalDistortion2")])
        out.append((cam.get("serial"), K, raw, cv2.Rodrigues(r)[0].ravel(), t))
    return out


def test_demo_matches_pose2sim_conversion(qca):
    rig = read_calibration(qca)
    ref = _pose2sim_style(qca)
    assert [r[0] for r in ref] == rig.names
    for cam, (_, K, raw, rvec, t) in zip(rig, ref):
        np.testing.assert_allclose(cam.K, K, atol=1e-9)
        np.testing.assert_allclose(cam.rvec, rvec, atol=1e-9)
        np.testing.assert_allclose(cam.t, t, atol=1e-9)
        # distortion: the leads' verified convention keeps Qualisys' coefficients as OpenCV's k1, k2, p1, p2
        # (Pose2Sim's converter divides them by 64; see mocap.cameras.formats.qualisys)
        np.testing.assert_allclose(cam.dist[:4], raw, atol=1e-12)
        assert cam.dist[4] == 0.0


def test_written_qca_has_what_pose2sim_reads(qca, tmp_path):
    rig = read_calibration(qca)
    out = tmp_path / "Calib.qca.txt"
    write_calibration(rig, out)
    a, b = ET.parse(qca).getroot(), ET.parse(out).getroot()
    cams_a, cams_b = a.findall("cameras/camera"), b.findall("cameras/camera")
    assert len(cams_a) == len(cams_b) == 4
    for ca, cb in zip(cams_a, cams_b):
        assert ca.get("serial") == cb.get("serial")
        assert float(ca.get("avg-residual")) == pytest.approx(float(cb.get("avg-residual")))
        for tag, attrs in ATTRS_READ_BY_POSE2SIM.items():
            for attr in attrs:
                va, vb = float(ca.find(tag).get(attr)), float(cb.find(tag).get(attr))
                assert vb == pytest.approx(va, rel=1e-12, abs=1e-9), f"{ca.get('serial')} {tag}.{attr}"
    back = read_calibration(out)
    for c0, c1 in zip(rig, back):
        np.testing.assert_allclose(c0.project(volume_points()), c1.project(volume_points()), atol=1e-9)


def _edit(src, dst, old, new):
    text = src.read_text()
    assert old in text
    dst.write_text(text.replace(old, new, 1))
    return dst


def test_qca_errors_name_file_camera_field(qca, tmp_path):
    p = _edit(qca, tmp_path / "bad.qca.txt", 'focalLengthU="107599.671875" ', "")
    with pytest.raises(CalibrationError, match=r"bad\.qca\.txt: camera 'cam01': field 'intrinsic\.focalLengthU' "
                                               "is missing"):
        read_calibration(p)
    p = _edit(qca, tmp_path / "bad2.qca.txt", 'r11="0.5536380477336265"', 'r11="2.5"')
    with pytest.raises(CalibrationError, match=r"bad2\.qca\.txt: camera 'cam01': field 'transform' .*not a rotation"):
        read_calibration(p)
    p = _edit(qca, tmp_path / "bad3.qca.txt", 'x="1460.2323709212087"', 'x="abc"')
    with pytest.raises(CalibrationError, match=r"camera 'cam01': field 'transform\.x' is 'abc'"):
        read_calibration(p)
    p = _edit(qca, tmp_path / "bad4.qca.txt", "</cameras>", "")
    with pytest.raises(CalibrationError, match=r"bad4\.qca\.txt: not valid XML"):
        read_calibration(p, fmt="qualisys")


def _detect_pose(videos, frames):
    """MediaPipe Pose (model_complexity=1, offline) landmarks ``(F, C, 33, 2)`` in pixels."""
    mp = pytest.importorskip("mediapipe")
    out = np.full((len(frames), len(videos), 33, 2), np.nan)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for ci, video in enumerate(videos):
            cap = cv2.VideoCapture(str(video))
            for fi, frame in enumerate(frames):
                cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
                ok, img = cap.read()
                assert ok, f"cannot read frame {frame} of {video}"
                res = pose.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                if res.pose_landmarks:
                    h, w = img.shape[:2]
                    out[fi, ci] = [[p.x * w, p.y * h] for p in res.pose_landmarks.landmark]
            cap.release()
    return out


def _triangulate_reproject(rig, uv):
    """DLT on undistorted normalised coordinates; returns points ``(3,)`` and reprojection errors ``(C,)``."""
    rows = []
    for cam, p in zip(rig, uv):
        x, y = cam.undistort_normalized(p)
        rows += [x * cam.Rt[2] - cam.Rt[0], y * cam.Rt[2] - cam.Rt[1]]
    Xh = np.linalg.svd(np.array(rows))[2][-1]
    X = Xh[:3] / Xh[3]
    return X, np.linalg.norm(np.array([cam.project(X) for cam in rig]) - uv, axis=1)


@pytest.mark.slow
def test_demo_calibration_agrees_with_the_videos(qca, pose2sim_single):
    """Detect the person with MediaPipe in all 4 videos, triangulate with the converted calibration: the views
    agree (reprojection tens of pixels at most) and the person stands upright on the floor z = 0, in metres."""
    rig = read_calibration(qca)
    videos = [pose2sim_single / "videos" / f"{name}.mp4" for name in rig.names]
    uv = _detect_pose(videos, frames=(20, 80))
    assert np.isfinite(uv).all(), "MediaPipe missed the person in a view"
    wrong = rig.copy()  # the other reading of r11..r33 (transposed): must be clearly worse
    for cam in wrong:
        M = np.diag([1.0, -1, -1]) @ cam.R
        centre = cam.center
        cam.R = np.diag([1.0, -1, -1]) @ M.T
        cam.t = -cam.R @ centre
    joints = {"nose": 0, "l_shoulder": 11, "r_shoulder": 12, "l_ankle": 27, "r_ankle": 28}
    errs, errs_wrong = [], []
    for f in range(uv.shape[0]):
        P = {}
        for name, j in joints.items():
            P[name], e = _triangulate_reproject(rig, uv[f, :, j])
            errs.append(e)
            errs_wrong.append(_triangulate_reproject(wrong, uv[f, :, j])[1])
        assert 1.3 < P["nose"][2] < 1.9, P["nose"]
        assert -0.1 < P["l_ankle"][2] < 0.4 and -0.1 < P["r_ankle"][2] < 0.4, (P["l_ankle"], P["r_ankle"])
        assert 0.25 < np.linalg.norm(P["l_shoulder"] - P["r_shoulder"]) < 0.5  # metres
    med = np.median(np.array(errs), axis=0)
    assert np.all(med < 30), med
    # the transposed reading puts points behind cameras (NaN) or hundreds of pixels off
    assert np.median(np.nan_to_num(np.array(errs_wrong), nan=1e6)) > 5 * np.median(errs)


def test_marker_only_cameras_are_skipped(qca, tmp_path):
    text = qca.read_text()
    i = text.index('serial="cam03"')
    j = text.rindex('model="none"', 0, i)
    p = tmp_path / "mixed.qca.txt"
    p.write_text(text[:j] + 'model="Miqus M3"' + text[j + len('model="none"'):])
    rig = read_calibration(p)
    assert rig.names == ["cam01", "cam02", "cam04"]
    assert rig.meta["skipped_marker_cameras"] == ["cam03"]
