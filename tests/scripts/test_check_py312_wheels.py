"""scripts/check_py312_wheels.py finds every pin where it is written (pyproject and install scripts); the download
check itself needs the package registry and runs in CI (scripts/test.sh)."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("check_py312_wheels", REPO / "scripts" / "check_py312_wheels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pins_come_from_pyproject_and_scripts(tmp_path):
    mod = _module()
    (tmp_path / "repo" / "scripts" / "sub").mkdir(parents=True)
    (tmp_path / "repo" / "benchmarks").mkdir()
    (tmp_path / "repo" / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["numpy==1.26.4", "rich>=13.7"]\n'
        '[project.optional-dependencies]\nros = ["pin==2.7.0"]\n')
    (tmp_path / "repo" / "scripts" / "sub" / "setup.sh").write_text(
        "pip install -q 'ros-kilted-rclpy[fastrtps]==9.1.2' \\\n  numpy==1.26.4 # not==1.0 in a comment\n"
        "# pip install commented==1.0\nBPY_PIN=\"bpy==4.5.15\"\n")
    found = mod.pins(tmp_path / "repo")
    assert set(found) == {"numpy==1.26.4", "rich>=13.7", "pin==2.7.0", "ros-kilted-rclpy[fastrtps]==9.1.2",
                          "bpy==4.5.15"}
    assert found["numpy==1.26.4"] == ["pyproject.toml", "scripts/sub/setup.sh"]
    assert mod._name("ros-kilted-rclpy[fastrtps]==9.1.2") == "ros-kilted-rclpy" and "bpy" in mod.EXEMPT


def test_every_real_pin_is_found_and_python_312_is_admitted():
    mod = _module()
    found = mod.pins()
    proj = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for req in proj["dependencies"] + [r for extra in proj["optional-dependencies"].values() for r in extra]:
        assert req in found
    assert "torch==2.13.0" in found and any(r.startswith("ros-kilted-rclpy") for r in found)
    spec = proj["requires-python"]
    assert ">=3.11" in spec and "<3.13" in spec
