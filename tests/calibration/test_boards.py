import pytest

from mocap.calibration.boards import Board, list_boards, load_board, save_board
from mocap.errors import CalibrationError


def test_shipped_boards_load():
    names = list_boards()
    for n in ("charuco_4x5_dict4x4_1000_inverted", "checkerboard_4x7_60mm", "charuco_a4", "charuco_a3"):
        assert n in names
    b = load_board("charuco_4x5_dict4x4_1000_inverted")
    assert b.inverted and b.dictionary == "DICT_4X4_1000" and b.n_corners == 12
    assert load_board("checkerboard_4x7_60mm").n_corners == 28


def test_roundtrip(tmp_path):
    b = Board("aruco_grid", 3, 4, 0.0, 0.03, 0.006, "DICT_4X4_50", name="g")
    save_board(b, tmp_path / "g.toml")
    assert load_board(tmp_path / "g.toml") == b
    assert b.object_points().shape == (48, 3)


def test_millimetres_rejected():
    with pytest.raises(CalibrationError, match="millimetres"):
        Board("charuco", 4, 5, 54.0, 40.5, dictionary="DICT_4X4_50")


def test_unknown_board():
    with pytest.raises(CalibrationError, match="shipped boards"):
        load_board("no_such_board")
