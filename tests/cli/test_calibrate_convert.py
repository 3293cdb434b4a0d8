"""`mocap calibrate convert`: parser registration, conversion, scaling, one summary line per camera."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.cli.calibrate_convert import add_convert_parser
from mocap.errors import CalibrationError, MocapWarning
from tests.cameras.formats.helpers import assert_rigs_equal, varied_rig


def _parser() -> argparse.ArgumentParser:
    """A `mocap`-like parser with `calibrate convert` registered the way mocap.cli.calibrate will do it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0)
    common.add_argument("--debug", action="store_true")
    top = argparse.ArgumentParser(prog="mocap")
    sub = top.add_subparsers(dest="command")
    calibrate = sub.add_parser("calibrate", parents=[common])
    add_convert_parser(calibrate.add_subparsers(dest="calibrate_command"), parents=[common])
    return top


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def test_convert_qualisys_demo_to_toml(pose2sim_single, tmp_path, capsys):
    qca = pose2sim_single / "calibration" / "Calib.qca.txt"
    out = tmp_path / "calib.toml"
    assert _run(["calibrate", "convert", str(qca), str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "(qualisys)" in lines[0] and "(mocap)" in lines[0] and "4 cameras" in lines[0]
    assert len(lines) == 5 and all("centre=(" in ln and "1088x1920" in ln for ln in lines[1:])
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == ["cam01", "cam02", "cam03", "cam04"]
    assert detect_format(out) == "mocap"
    assert_rigs_equal(read_calibration(out), read_calibration(qca), atol=1e-9)


def test_convert_with_scale_and_explicit_formats(tmp_path, capsys):
    rig = varied_rig(3)
    src = tmp_path / "mm.toml"
    with pytest.warns(MocapWarning):
        write_calibration(rig.scaled(1000.0), src, fmt="pose2sim")
    out = tmp_path / "cams.yaml"
    with pytest.warns(MocapWarning, match="millimetres"):  # the input is flagged; the output is fixed
        assert _run(["calibrate", "convert", str(src), str(out), "--from", "pose2sim", "--to", "ros",
                     "--scale", "0.001"]) == 0
    assert "world scaled by 0.001" in capsys.readouterr().out
    assert detect_format(out) == "ros"
    back = read_calibration(out)
    np.testing.assert_allclose(back.centers, rig.centers, atol=1e-9)
    assert_rigs_equal(back, rig, atol=1e-9)


def test_convert_errors(tmp_path):
    src = write_calibration(varied_rig(2), tmp_path / "calib.toml")
    with pytest.raises(CalibrationError, match="the output is the input"):
        _run(["calibrate", "convert", str(src), str(src)])
    with pytest.raises(CalibrationError, match=r"calib\.toml: not valid XML"):
        _run(["calibrate", "convert", str(src), str(tmp_path / "x.yml"), "--from", "qualisys"])
    with pytest.raises(CalibrationError, match="cannot tell the format from the extension"):
        _run(["calibrate", "convert", str(src), str(tmp_path / "x.txt")])
    with pytest.raises(CalibrationError, match="--scale must be positive"):
        _run(["calibrate", "convert", str(src), str(tmp_path / "x.yml"), "--scale", "0"])
    with pytest.raises(SystemExit):
        _run(["calibrate", "convert", str(src), str(tmp_path / "x.yml"), "--to", "vicon"])
    assert not (tmp_path / "x.yml").exists()
