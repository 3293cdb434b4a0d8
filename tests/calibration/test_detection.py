import numpy as np
import pytest

from mocap.calibration.boards import load_board
from mocap.calibration.detection import BoardDetector, select_views
from mocap.calibration.diagnostics import no_board_message
from mocap.calibration.synthetic import BoardRenderer
from mocap.cameras.camera import Camera


def _cam():
    K = np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    return Camera("c", (640, 480), K, np.array([-0.1, 0.02, 0, 0, 0]))


def _pose(x=-0.13, y=-0.19, z=0.9, flip=False):
    T = np.eye(4)
    if flip:  # seen from behind: rotate 180 deg about y
        T[:3, :3] = np.diag([-1.0, 1.0, -1.0])
    T[:3, 3] = [x, y, z]
    return T


@pytest.mark.parametrize("name", ["charuco_a3", "checkerboard_4x7_60mm", "charuco_4x5_dict4x4_1000_inverted"])
def test_detects_rendered_board_subpixel(name):
    b = load_board(name)
    cam = _cam()
    T = _pose(z=1.2)
    img = BoardRenderer(b, px_per_m=1500, supersample=2).render(cam, T)
    d = BoardDetector(b).detect(img)
    assert d is not None and d.n == b.n_corners
    X = d.object_points @ T[:3, :3].T + T[:3, 3]
    err = np.linalg.norm(d.image_points - cam.project(X), axis=1)
    assert np.median(err) < 0.2
    assert d.sharpness > 0 and 0 < d.coverage < 1


def test_mirrored_board_found():
    b = load_board("charuco_4x5_dict4x4_1000_inverted")
    cam = _cam()
    T = _pose(x=0.1, z=1.0, flip=True)
    img = BoardRenderer(b, px_per_m=1500, supersample=2).render(cam, T)
    assert BoardDetector(b, mirror=False).detect(img) is None
    d = BoardDetector(b).detect(img)
    assert d is not None and d.mirrored
    X = d.object_points @ T[:3, :3].T + T[:3, 3]
    assert np.median(np.linalg.norm(d.image_points - cam.project(X), axis=1)) < 0.3


def test_wrong_dictionary_diagnosed():
    b = load_board("charuco_4x5_dict4x4_1000_inverted")
    img = BoardRenderer(b, px_per_m=1500, supersample=1).render(_cam(), _pose(z=1.0))
    wrong = load_board("charuco_a4")  # DICT_5X5_100, not inverted
    assert BoardDetector(wrong).detect(img) is None
    msg = no_board_message(wrong, [img])
    assert "no board found with" in msg and "DICT_4X4" in msg and "inverted=true" in msg


def test_select_views_spreads():
    b = load_board("charuco_a3")
    cam = _cam()
    r = BoardRenderer(b, px_per_m=1000, supersample=1)
    det = BoardDetector(b)
    dets = []
    for i, x in enumerate([-0.25, -0.249, -0.248, 0.0, 0.01]):
        d = det.detect(r.render(cam, _pose(x=x, z=1.3)), frame=i)
        if d is not None:
            dets.append(d)
    assert len(dets) >= 4
    sel = select_views(dets, 2)
    assert len(sel) == 2 and abs(sel[0].image_points[:, 0].mean() - sel[1].image_points[:, 0].mean()) > 50
