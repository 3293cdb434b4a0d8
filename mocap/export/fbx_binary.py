"""A minimal binary FBX 7.4 encoder: a tree of nodes with typed properties, written to disk.

Format (FBX 7.4, little endian): the magic ``b"Kaydara FBX Binary  \\x00\\x1a\\x00"`` and a uint32 version;
then node records ``uint32 end_offset, uint32 n_props, uint32 props_bytes, uint8 name_len, name, props,
children, [13 zero bytes]``; a 13-byte null record ends the top level; then a footer. Property type codes:
``C`` bool, ``Y`` int16, ``I`` int32, ``L`` int64, ``F`` float32, ``D`` float64, ``S`` string, ``R`` raw bytes,
``i l f d b`` arrays (uint32 length, encoding 0 raw / 1 zlib, byte length, data).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_MAGIC = b"Kaydara FBX Binary  \x00\x1a\x00"
_NULL = b"\0" * 13
_FOOTER_ID = bytes.fromhex("fabcab09d0c8d466b176fb831cf7267e")
_FOOTER_MAGIC = bytes.fromhex("f85a8c6adef5d97eece90ce3758f290b")
# these node kinds need the null record even without children (observed in files the SDK writes)
_ALWAYS_NULL = {"AnimationStack", "AnimationLayer"}
_ARRAYS = {"i": np.dtype("<i4"), "l": np.dtype("<i8"), "f": np.dtype("<f4"), "d": np.dtype("<f8"), "b": np.dtype("u1")}


class Int64(int):
    """Marks an int property to be written as int64 (``L``)."""


class Int16(int):
    """Marks an int property to be written as int16 (``Y``)."""


class Float32(float):
    """Marks a float property to be written as float32 (``F``)."""


class Raw(bytes):
    """Marks a bytes property to be written as raw data (``R``) rather than a string."""


class Node:
    """An FBX node: a name, typed properties and child nodes.

    Property values map to types as: bool -> C, :class:`Int16` -> Y, int -> I, :class:`Int64` -> L,
    :class:`Float32` -> F, float -> D, str/bytes -> S, :class:`Raw` -> R, numpy arrays -> i/l/f/d/b by dtype.
    """

    __slots__ = ("name", "props", "children")

    def __init__(self, name: str, *props, children: list[Node] | None = None) -> None:
        self.name = name
        self.props = list(props)
        self.children = list(children or [])

    def add(self, name: str, *props) -> Node:
        """Append and return a child node."""
        child = Node(name, *props)
        self.children.append(child)
        return child


def _encode_prop(v) -> bytes:  # noqa: ANN001
    if isinstance(v, bool | np.bool_):
        return b"C" + struct.pack("<?", bool(v))
    if isinstance(v, Int16):
        return b"Y" + struct.pack("<h", v)
    if isinstance(v, Int64):
        return b"L" + struct.pack("<q", v)
    if isinstance(v, int | np.integer):
        return b"I" + struct.pack("<i", int(v))
    if isinstance(v, Float32):
        return b"F" + struct.pack("<f", v)
    if isinstance(v, float | np.floating):
        return b"D" + struct.pack("<d", float(v))
    if isinstance(v, Raw):
        return b"R" + struct.pack("<I", len(v)) + bytes(v)
    if isinstance(v, str):
        v = v.encode("utf-8")
    if isinstance(v, bytes):
        return b"S" + struct.pack("<I", len(v)) + v
    if isinstance(v, np.ndarray):
        for code, dt in _ARRAYS.items():
            if v.dtype.kind == dt.kind and v.dtype.itemsize == dt.itemsize:
                raw = np.ascontiguousarray(v.ravel(), dtype=dt).tobytes()
                if len(raw) > 128:
                    data, enc = zlib.compress(raw, 1), 1
                else:
                    data, enc = raw, 0
                return code.encode() + struct.pack("<III", v.size, enc, len(data)) + data
        raise TypeError(f"FBX arrays of dtype {v.dtype} are not supported")
    raise TypeError(f"cannot encode FBX property of type {type(v).__name__}")


def _encode_node(node: Node, offset: int, is_last: bool) -> bytes:
    props = b"".join(_encode_prop(p) for p in node.props)
    name = node.name.encode("ascii")
    head_len = 13 + len(name)
    body = bytearray()
    pos = offset + head_len + len(props)
    if node.children:
        for k, c in enumerate(node.children):
            enc = _encode_node(c, pos, k == len(node.children) - 1)
            body += enc
            pos += len(enc)
        body += _NULL
    elif (not node.props and not is_last) or node.name in _ALWAYS_NULL:
        body += _NULL
    end = offset + head_len + len(props) + len(body)
    return struct.pack("<IIIB", end, len(node.props), len(props), len(name)) + name + props + bytes(body)


def write_fbx_nodes(nodes: list[Node], path: str | Path, version: int = 7400) -> Path:
    """Write top-level nodes as a binary FBX file (32-bit offsets: version < 7500, files < 4 GB)."""
    if version >= 7500:
        raise ValueError("only FBX versions below 7500 (32-bit records) are written")
    out = bytearray(_MAGIC + struct.pack("<I", version))
    for n in nodes:
        out += _encode_node(n, len(out), False)
    out += _NULL
    out += _FOOTER_ID + b"\0" * 4
    pad = (-len(out)) % 16 or 16
    out += b"\0" * pad
    out += struct.pack("<I", version) + b"\0" * 120 + _FOOTER_MAGIC
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
