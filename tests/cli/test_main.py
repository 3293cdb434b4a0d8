"""The `mocap` command: help for every subcommand, version, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mocap import __version__
from mocap.cli.main import SUBCOMMANDS, build_parser, main


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_subcommand_help_renders(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"mocap {name}" in out and "--verbose" in out and "--debug" in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_user_error_is_one_line_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    code = main(["view", str(missing)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error:") and "nope.toml" in err and "\n" not in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "nope.toml"
    r = subprocess.run([sys.executable, "-m", "mocap.cli.main", "view", str(missing), "--debug"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_parser_builds_without_side_effects():
    p = build_parser()
    assert p.prog == "mocap"
