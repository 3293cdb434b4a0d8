"""Helpers shared by the calibration format readers/writers: field parsing with precise error messages.

Every parse error names the file, the camera and the field, e.g.
``calib.toml: camera 'cam_2': field 'matrix' has 8 numbers, expected 3x3``.
"""

from __future__ import annotations

import datetime as _dt
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from mocap.errors import CalibrationError
from mocap.geometry.rotations import rotvec_to_matrix


def where(source: str | Path, camera: str | None = None) -> str:
    """Message prefix ``"FILE: camera 'NAME'"`` (or just ``"FILE"``)."""
    src = Path(source).name if source else "<calibration>"
    return f"{src}: camera '{camera}'" if camera is not None else src


def field_error(source: str | Path, camera: str | None, field: str, msg: str,
                hint: str | None = None) -> CalibrationError:
    """A :class:`CalibrationError` ``"FILE: camera 'C': field 'F' MSG"``."""
    return CalibrationError(f"{where(source, camera)}: field '{field}' {msg}", hint=hint)


def require(table: dict, key: str | tuple[str, ...], source: str | Path, camera: str | None) -> Any:
    """``table[key]`` (the first present of several alternative keys), or a message naming the missing field."""
    keys = (key,) if isinstance(key, str) else key
    for k in keys:
        if k in table:
            return table[k]
    names = " or ".join(f"'{k}'" for k in keys)
    raise CalibrationError(f"{where(source, camera)}: field {names} is missing",
                           hint="the file is incomplete or not in the format it was read as (pass --from FMT)")


def _flatten_numbers(value: Any) -> list | None:
    """Nested lists of numbers -> flat list; ``None`` if anything is not a number."""
    out: list = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list | tuple | np.ndarray):
            stack.extend(reversed(list(v)))
        elif isinstance(v, bool):
            return None
        elif isinstance(v, int | float | np.integer | np.floating):
            out.append(float(v))
        elif isinstance(v, str):
            try:
                out.append(float(v))
            except ValueError:
                return None
        else:
            return None
    return out


def as_array(value: Any, shape: tuple[int, ...], source: str | Path, camera: str | None, field: str) -> np.ndarray:
    """Parse a field into a float array of ``shape``; nested or flat input; raise naming FILE/CAMERA/FIELD.

    Args:
        value: nested or flat lists of numbers (row-major), or an array.
        shape: the expected shape, e.g. ``(3, 3)``.
        source, camera, field: for the error message.

    Raises:
        CalibrationError: wrong count/shape, non-numbers, NaN or infinity.
    """
    want = "x".join(map(str, shape)) if len(shape) > 1 else f"{shape[0]} numbers"
    flat = _flatten_numbers(value)
    if flat is None:
        raise field_error(source, camera, field, f"is {value!r:.80}, expected {want} numbers")
    n = int(np.prod(shape))
    if len(flat) != n:
        raise field_error(source, camera, field, f"has {len(flat)} numbers, expected {want}")
    arr = np.asarray(flat, dtype=float).reshape(shape)
    if not np.all(np.isfinite(arr)):
        raise field_error(source, camera, field, "contains NaN or infinite values",
                          hint="re-run calibration or fix the file")
    return arr


def as_vector(value: Any, lengths: tuple[int, ...], source: str | Path, camera: str | None,
              field: str) -> np.ndarray:
    """Parse a field into a flat float vector whose length is one of ``lengths``."""
    flat = _flatten_numbers(value if isinstance(value, list | tuple | np.ndarray) else [value])
    if flat is None:
        raise field_error(source, camera, field, f"is {value!r:.80}, expected a list of numbers")
    if len(flat) not in lengths:
        raise field_error(source, camera, field,
                          f"has {len(flat)} numbers, expected {' or '.join(map(str, lengths))}")
    arr = np.asarray(flat, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise field_error(source, camera, field, "contains NaN or infinite values",
                          hint="re-run calibration or fix the file")
    return arr


def as_rotation(value: Any, source: str | Path, camera: str | None, field: str) -> np.ndarray:
    """A rotation field given as an OpenCV rvec (3 numbers) or a 3x3 matrix -> ``(3, 3)`` matrix."""
    flat = _flatten_numbers(value)
    if flat is None or len(flat) not in (3, 9):
        n = "non-numeric values" if flat is None else f"{len(flat)} numbers"
        raise field_error(source, camera, field, f"has {n}, expected a rotation vector (3) or a 3x3 matrix")
    if len(flat) == 3:
        return rotvec_to_matrix(as_array(flat, (3,), source, camera, field))
    return as_array(flat, (3, 3), source, camera, field)


def as_size(value: Any, source: str | Path, camera: str | None, field: str = "size") -> tuple[int, int]:
    """``(width, height)`` in pixels from two numbers (integers, possibly written as floats)."""
    wh = as_array(value, (2,), source, camera, field)
    if np.any(wh != np.round(wh)) or np.any(wh <= 0):
        raise field_error(source, camera, field, f"is {wh.tolist()}, expected two positive whole pixel counts "
                          "(width, height)")
    return int(wh[0]), int(wh[1])


def load_toml(path: Path) -> dict:
    """Parse a TOML file; a syntax error names the file and line."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise CalibrationError(f"{Path(path).name}: not valid TOML ({e})",
                               hint="fix the syntax, or pass --from FMT if it is another format") from e


def to_plain(value: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) to plain Python floats/ints/lists for serialisers."""
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def toml_safe(value: Any) -> bool:
    """Whether a (plain) value can be written to TOML: no None, no NaN, no mixed nesting surprises."""
    if value is None:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str | bool | int | _dt.datetime | _dt.date | _dt.time):
        return True
    if isinstance(value, list):
        return all(toml_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and toml_safe(v) for k, v in value.items())
    return False


def clean_meta(meta: dict) -> dict:
    """The TOML-writable part of a free-form meta dict (plain types, no None/NaN)."""
    out = {}
    for k, v in meta.items():
        v = to_plain(v)
        if toml_safe(v):
            out[str(k)] = v
    return out


def floats(a: np.ndarray) -> list:
    """Array -> nested lists of Python floats (full precision; ``repr`` round-trips exactly)."""
    return np.asarray(a, dtype=float).tolist()


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(v: Any) -> str:
    """One value as inline TOML (floats in ``repr`` form, which round-trips exactly)."""
    import json

    v = to_plain(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, _dt.datetime | _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"cannot write a {type(v).__name__} to TOML")


def dumps_toml(doc: dict, header: str = "") -> str:
    """Serialise ``{key: value | {table}}`` compactly: top-level scalars first, then one ``[table]`` per dict.

    Matrices stay on one line (``matrix = [[fx, 0.0, cx], ...]``), as anipose/Pose2Sim write them. Nested
    dicts inside a table become sub-tables ``[table.sub]``.
    """
    lines = [header.rstrip("\n")] if header else []
    plain = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]

    def emit(prefix: str, table: dict) -> None:
        if lines:
            lines.append("")
        lines.append(f"[{prefix}]")
        subs = {}
        for k, v in table.items():
            if isinstance(v, dict):
                subs[k] = v
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in subs.items():
            emit(f"{prefix}.{_toml_key(k)}", v)

    for k, v in tables.items():
        emit(_toml_key(k), v)
    return "\n".join(lines) + "\n"
