#!/usr/bin/env python3
"""Check, per pinned distribution, that Python 3.12 (Ubuntu 24.04, the Tier-1 platform of ROS 2 Jazzy and Kilted)
can install it from a wheel: a cp312 (or pure-Python) wheel for x86-64 Linux must exist.

The pins are read where they live, so pins that anyone adds are covered: ``pyproject.toml`` (dependencies and
every optional extra) and every ``NAME==VERSION`` in the shell scripts that install packages (``scripts/**/*.sh``,
``benchmarks/**/*.sh`` and the ROS 2 launch-system installer ``../shared/ros2_sources/install.sh``). Each one is
fetched alone with

    pip download --no-deps --only-binary=:all: --python-version 3.12 --platform <manylinux tags> REQ

(``--no-deps``: torch's cp312 wheel is PyPI's CUDA build whose nvidia-* dependencies a mirror may lack; the torch
file alone is what matters, and the CPU build for 3.12 comes from PyTorch's CPU index, see the README). The wheel is
deleted right after its check. Exit status 1 when a pin has no such wheel.

Exempt (listed, not checked): pins of tools that run in their own venv on the interpreter they require, see
:data:`EXEMPT`.

Usage: python scripts/check_py312_wheels.py [--list] [--only NAME ...] [--python-version 3.12]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: every manylinux tag Ubuntu 24.04 (glibc 2.39) installs
PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{n}_x86_64" for n in range(17, 40)), "linux_x86_64")
#: distribution -> why it is not checked
EXEMPT = {
    "bpy": "Blender as a Python module, a test-only checker in its own venv (.venv-blender) on the Python 3.11 its "
           "Blender release embeds (scripts/blender_check/setup.sh); never installed into a user's Python",
    "filterpy": "pure Python published only as an sdist (no wheel for any Python); it builds a py3-none-any wheel "
                "on 3.12 (checked by hand with `python3.12 -m pip wheel filterpy==1.4.5`); only Pose2Sim's "
                "filtering in the benchmark peers' venv (.venv-peers) imports it",
}
_PIN = re.compile(r"""(?<![\w.-])([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9_,.-]+\])?==[0-9][A-Za-z0-9.+!_-]*)""")


def _name(req: str) -> str:
    return re.split(r"[\[=<>!~ ;]", req, maxsplit=1)[0].lower().replace("_", "-")


def pins(root: Path = ROOT) -> dict[str, list[str]]:
    """requirement -> the files that state it (pyproject requirements as written, script pins ``NAME==VER``)."""
    out: dict[str, list[str]] = {}
    proj = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    reqs = list(proj.get("dependencies", []))
    for extra in proj.get("optional-dependencies", {}).values():
        reqs += extra
    for r in reqs:
        out.setdefault(r.split(";")[0].strip(), []).append("pyproject.toml")
    scripts = sorted((root / "scripts").rglob("*.sh")) + sorted((root / "benchmarks").rglob("*.sh"))
    shared = root.parent / "shared" / "ros2_sources" / "install.sh"
    if shared.is_file():
        scripts.append(shared)
    for f in scripts:
        for line in f.read_text().splitlines():
            code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
            for m in _PIN.finditer(code):
                out.setdefault(m.group(1), []).append(str(f.relative_to(root.parent) if shared == f else
                                                          f.relative_to(root)))
    return out


def check(req: str, python_version: str, dest: Path) -> tuple[bool, str]:
    """``(ok, wheel file name or pip's last error line)`` for one requirement."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           python_version, "-d", str(dest), "--disable-pip-version-check", "-q"]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    res = subprocess.run([*cmd, req], capture_output=True, text=True, timeout=1800)
    files = sorted(dest.glob("*.whl"))
    for f in files:
        f.unlink()
    if res.returncode == 0 and files:
        return True, files[0].name
    err = [ln for ln in (res.stderr or res.stdout).splitlines() if ln.startswith("ERROR")]
    return False, (err[-1] if err else f"pip exited {res.returncode}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python-version", default="3.12")
    ap.add_argument("--list", action="store_true", help="only list the pins found and where")
    ap.add_argument("--only", nargs="*", default=None, help="check only these distribution names")
    a = ap.parse_args(argv)
    found = pins()
    if a.only:
        keep = {n.lower() for n in a.only}
        found = {r: s for r, s in found.items() if _name(r) in keep}
    failed = []
    with tempfile.TemporaryDirectory(prefix="py312_") as tmp:
        for req, where in sorted(found.items(), key=lambda x: _name(x[0])):
            src = ", ".join(sorted(set(where)))
            if _name(req) in EXEMPT:
                print(f"EXEMPT {req:45s} ({src}): {EXEMPT[_name(req)]}")
                continue
            if a.list:
                print(f"{req:45s} {src}")
                continue
            ok, info = check(req, a.python_version, Path(tmp))
            print(f"{'ok    ' if ok else 'FAILED'} {req:45s} {info}  ({src})", flush=True)
            if not ok:
                failed.append(req)
    if failed:
        print(f"{len(failed)} pin(s) without a Python {a.python_version} wheel: {', '.join(failed)}", file=sys.stderr)
        return 1
    if not a.list:
        print(f"every pin has a Python {a.python_version} wheel (x86-64 Linux)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
