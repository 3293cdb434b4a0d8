"""The launch file, read with ``ast`` (launch/launch_ros are not installable from PyPI): every executable it starts
is installed by the package, every parameter file exists, its arguments match the README's table."""

from __future__ import annotations

import ast
import re

import yaml

from tests.ros.conftest import PKG_SRC, REPO, import_pure

LAUNCH = PKG_SRC / "launch" / "multiview.launch.py"
spec = import_pure("launch_spec")
params = import_pure("params")


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def _kw(call: ast.Call, key: str):
    for k in call.keywords:
        if k.arg == key:
            return k.value
    return None


def _installed_programs() -> set[str]:
    cmake = (PKG_SRC / "CMakeLists.txt").read_text()
    progs = set()
    for m in re.finditer(r"install\(PROGRAMS ([^)]*?) DESTINATION lib/\$\{PROJECT_NAME\}\)", cmake):
        progs |= {p.split("/")[-1] for p in m.group(1).split()}
    return progs


def test_every_executable_is_installed_and_exists():
    tree = ast.parse(LAUNCH.read_text())
    installed = _installed_programs()
    assert installed, "CMakeLists.txt installs no node executables"
    for p in installed:
        assert (PKG_SRC / "nodes" / p).is_file()
    literal = {_kw(c, "executable").value for c in _calls(tree, "Node")
               if isinstance(_kw(c, "package"), ast.Constant) and _kw(c, "package").value == "mocap"
               and isinstance(_kw(c, "executable"), ast.Constant)}
    specs = spec.node_specs(PKG_SRC / "config" / "multiview.yaml", "cam01,cam02", teleop=True, record=True)
    dynamic = {s.executable for s in specs}
    assert {s.executable for s in spec.node_specs(PKG_SRC / "config" / "multiview.yaml", "cam01")} == \
        {"camera_node", "fusion_node"}  # teleop and recorder only on request
    assert dynamic == set(spec.EXECUTABLES)
    assert literal | dynamic <= installed, f"not installed: {(literal | dynamic) - installed}"
    # the launch file starts the spec's nodes from package 'mocap'
    assert any(isinstance(_kw(c, "executable"), ast.Attribute) and _kw(c, "package").value == "mocap"
               for c in _calls(tree, "Node"))


def test_parameter_files_exist_and_match_declared_parameters():
    config = PKG_SRC / "config" / "multiview.yaml"
    cmake = (PKG_SRC / "CMakeLists.txt").read_text()
    for d in ("launch", "config", "rviz"):
        assert d in re.search(r"install\(DIRECTORY ([^)]*) DESTINATION share", cmake).group(1)
    assert (PKG_SRC / "rviz" / "mocap.rviz").is_file()
    assert "multiview.yaml" in LAUNCH.read_text()
    doc = yaml.safe_load(config.read_text())
    cam = spec.config_params(config, "camera")
    fus = spec.config_params(config, "fusion")
    assert set(doc) == {"/**/camera", "/**/fusion"}
    assert set(cam) | {"camera"} == set(params.CAMERA_PARAMS), set(cam) ^ set(params.CAMERA_PARAMS)  # per node
    assert set(fus) == set(params.FUSION_PARAMS), set(fus) ^ set(params.FUSION_PARAMS)
    for k, v in {**cam, **fus}.items():  # same types as the declared defaults (ROS rejects a type change)
        default = {**params.CAMERA_PARAMS, **params.FUSION_PARAMS}[k]
        assert type(v) is type(default), f"{k}: {v!r} vs declared {default!r}"


def test_teleop_and_recorder_configs_match_declared_parameters():
    for fname, node, declared in (("teleop.yaml", "teleop", params.TELEOP_PARAMS),
                                  ("recorder.yaml", "recorder", params.RECORDER_PARAMS)):
        path = PKG_SRC / "config" / fname
        doc = yaml.safe_load(path.read_text())
        assert set(doc) == {f"/**/{node}"}
        got = spec.config_params(path, node)
        assert set(got) == set(declared), set(got) ^ set(declared)
        for k, v in got.items():
            assert type(v) is type(declared[k]), f"{fname} {k}: {v!r} vs declared {declared[k]!r}"
    specs = spec.node_specs(PKG_SRC / "config" / "multiview.yaml", "cam01", teleop=True, record=True,
                            record_dir="/tmp/demos")
    teleop, recorder = specs[-2:]
    assert teleop.params_file == str(PKG_SRC / "config" / "teleop.yaml") and teleop.namespace == "/mocap"
    assert recorder.params_file == str(PKG_SRC / "config" / "recorder.yaml")
    assert "output_dir:=/tmp/demos" in recorder.ros_args()
    custom = spec.node_specs(PKG_SRC / "config" / "multiview.yaml", "cam01", teleop=True, teleop_config="/my.yaml")
    assert custom[-1].params_file == "/my.yaml"
    tree = ast.parse(LAUNCH.read_text())
    assert {"teleop", "teleop_config", "record", "record_dir"} <= {c.args[0].value for c in
                                                                   _calls(tree, "LaunchConfiguration")}
    assert spec.is_true("True") and spec.is_true("1") and not spec.is_true("false") and not spec.is_true("")


def test_launch_arguments_match_readme():
    tree = ast.parse(LAUNCH.read_text())
    assert _calls(tree, "DeclareLaunchArgument"), "the launch file declares no arguments"
    used = {c.args[0].value for c in _calls(tree, "LaunchConfiguration")}
    assert used <= set(spec.LAUNCH_ARGUMENTS), used - set(spec.LAUNCH_ARGUMENTS)
    readme = (REPO / "ros2_ws" / "README.md").read_text()
    table = set(re.findall(r"^\| `([a-z_]+)` \|", readme, re.M))
    assert table == set(spec.LAUNCH_ARGUMENTS), table ^ set(spec.LAUNCH_ARGUMENTS)


def test_node_specs_command_lines():
    specs = spec.node_specs(PKG_SRC / "config" / "multiview.yaml", "cam01, cam02", calibration="/c.toml",
                            keypoints_file="/k.npz", extra={"filter": "none", "rate": 0.0})
    assert [s.namespace for s in specs] == ["/mocap/cam01", "/mocap/cam02", "/mocap"]
    fusion = specs[-1]
    args = fusion.ros_args()
    assert "cameras:=[cam01,cam02]" in args and "filter:=none" in args and "calibration:=/c.toml" in args
    assert "rate:=0.0" not in args  # camera-only parameter not given to the fusion node
    cam = specs[0].ros_args()
    assert "camera:=cam01" in cam and "keypoints_file:=/k.npz" in cam and "rate:=0.0" in cam
    assert "filter:=none" not in cam
