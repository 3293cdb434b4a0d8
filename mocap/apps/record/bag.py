"""rosbag2 MCAP bags of serialized ROS messages, written as they arrive, recoverable after a crash (``rosbags``).

- :func:`make_typestore`: a ``rosbags`` typestore (ROS 2 Kilted) with the ``mocap_msgs`` types registered from
  their ``.msg`` text, so the bag carries their definitions and reads back anywhere (``rosbags``, ``ros2 bag``,
  Foxglove).
- :class:`BagRecorder` writes CDR bytes of any registered type. Every ``flush_every_s`` it closes the pending MCAP
  chunk and flushes it to the file: a killed process leaves a bag whose messages up to the last flush are on disk
  (rosbags alone would keep up to 1 MiB in memory and write the index and ``metadata.yaml`` only at close).
- :func:`recover_bag`: a bag without ``metadata.yaml`` (its writer was killed) -> a complete bag beside it: the
  MCAP file is cut after its last complete record, closed with an MCAP footer, scanned, and copied into
  ``<bag>.recovered``. The original is left as it was.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import time
from pathlib import Path

from mocap.errors import DataError

MOCAP_MSGS = ("Person2D", "Keypoints2D", "Skeleton", "SkeletonArray", "SkeletonDescription")
TF_MESSAGE = "geometry_msgs/TransformStamped[] transforms\n"
MCAP_MAGIC = b"\x89MCAP0\r\n"


def mocap_msg_dir() -> Path:
    """Folder with ``mocap_msgs``' ``.msg`` files: the installed share (this prefix, ``AMENT_PREFIX_PATH``) or the
    source tree."""
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    cands = [Path(p) / "share" / "mocap_msgs" / "msg" for p in prefixes if p]
    cands.append(Path(__file__).resolve().parents[3] / "ros2_ws" / "src" / "mocap_msgs" / "msg")
    for c in cands:
        if (c / "SkeletonArray.msg").is_file():
            return c
    raise DataError(f"mocap_msgs .msg files not found in {[str(c) for c in cands]}",
                    hint="build the ROS workspace (scripts/ros_setup.sh) or pass msg_dir")


def make_typestore(msg_dir: str | Path | None = None):
    """A ``rosbags`` typestore (ROS 2 Kilted) with ``mocap_msgs`` (and ``tf2_msgs/TFMessage``) registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    d = Path(msg_dir) if msg_dir else mocap_msg_dir()
    types = {}
    for name in MOCAP_MSGS:
        f = d / f"{name}.msg"
        if f.is_file():
            types.update(get_types_from_msg(f.read_text(), f"mocap_msgs/msg/{name}"))
    if "tf2_msgs/msg/TFMessage" not in ts.types:
        types.update(get_types_from_msg(TF_MESSAGE, "tf2_msgs/msg/TFMessage"))
    ts.register(types)
    return ts


def cdr_trim(data: bytes, msgtype: str, typestore) -> bytes:
    """``data`` cut after the CDR message it starts with (4-byte header + payload, padded to 4 bytes): rmw buffers
    may carry trailing bytes that strict readers reject."""
    if len(data) < 4 or data[:2] not in (b"\x00\x00", b"\x00\x01"):
        return data
    msgdef = typestore.get_msgdef(msgtype)
    func = msgdef.deserialize_cdr_le if data[1] else msgdef.deserialize_cdr_be
    try:
        _, pos = func(data[4:], 0, msgdef.cls, typestore)
    except Exception:  # noqa: BLE001 - keep the message as received if it does not parse
        return data
    end = 4 + pos
    end += (-end) % 4
    return data[:end] if end < len(data) else data


class BagRecorder:
    """rosbag2 bag (MCAP storage) of serialized messages, flushed every ``flush_every_s``. ``path`` must not exist.

    Args:
        path: the bag folder to create.
        typestore: from :func:`make_typestore` (default: built here).
        flush_every_s: longest time a written message may stay in memory (s).
    """

    def __init__(self, path: str | Path, typestore=None, flush_every_s: float = 0.5) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        self.typestore = typestore or make_typestore()
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.connections: dict[str, object] = {}
        self.count = 0
        self.flushed = 0  # messages on disk (count at the last flush)
        self.flush_every_s = flush_every_s
        self._last_flush = time.monotonic()

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic; ``msgtype`` like ``mocap_msgs/msg/SkeletonArray`` (must be known to the typestore)."""
        if topic not in self.connections:
            if msgtype not in self.typestore.types:
                raise KeyError(f"message type {msgtype} of {topic} is unknown to the bag's typestore")
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """One CDR-serialized message (``stamp_ns``: receive or header time, nanoseconds)."""
        conn = self.connections[topic]
        self.writer.write(conn, int(stamp_ns), cdr_trim(bytes(data), conn.msgtype, self.typestore))
        self.count += 1
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Write the pending messages to the file now (closes the MCAP chunk being filled)."""
        storage = getattr(self.writer, "storage", None)
        if storage is not None and hasattr(storage, "close_chunk") and storage.chunk.bio.tell():
            storage.close_chunk()
            storage.bio.flush()
            os.fsync(storage.bio.fileno())
        self.flushed = self.count
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write the index and ``metadata.yaml``."""
        self.writer.close()


def _complete_records_end(data: bytes) -> int:
    """Offset after the last complete MCAP record of a (possibly truncated) file."""
    if not data.startswith(MCAP_MAGIC):
        raise DataError("not an MCAP file (bad magic)")
    pos, end = len(MCAP_MAGIC), len(MCAP_MAGIC)
    while pos + 9 <= len(data):
        op = data[pos]
        (length,) = struct.unpack_from("<Q", data, pos + 1)
        nxt = pos + 9 + length
        if nxt > len(data) or op == 0:
            break
        if op in (0x0F, 0x02):  # data end / footer: the file was closed
            return -1
        pos = end = nxt
    return end


def recover_bag(path: str | Path, typestore=None) -> Path:
    """A readable bag from one whose writer died (no ``metadata.yaml``); returns the bag to read.

    A complete bag is returned as is. Otherwise its ``.mcap`` file is cut after the last complete record, given
    an MCAP footer, scanned (``rosbags`` reads an MCAP without summary by scanning), and every message is copied
    into ``<path>.recovered`` (created; an existing one is replaced).

    Raises:
        DataError: no MCAP file, or nothing readable in it.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.rosbag2.storage_mcap import McapReader

    path = Path(path)
    if (path / "metadata.yaml").is_file():
        return path
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise DataError(f"{path}: no .mcap file to recover")
    data = files[0].read_bytes()
    end = _complete_records_end(data)
    out = path.with_name(path.name + ".recovered")
    if out.exists():
        shutil.rmtree(out)
    scratch = path.with_name(path.name + ".scan")
    scratch.mkdir(exist_ok=True)
    fixed = scratch / files[0].name
    body = data if end < 0 else data[:end] + _closing_records()
    fixed.write_bytes(body)
    try:
        reader = McapReader(fixed)
        reader.open()
        writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        conns = {}
        for c in reader.connections:
            if c.digest:
                conns[c.id] = writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
            else:  # rosbags' writer leaves the type hash out of the MCAP: take it from the typestore
                ts = typestore if typestore is not None else _default_typestore()
                if c.msgtype not in ts.types:
                    raise DataError(f"{path}: message type {c.msgtype} is unknown; pass its typestore")
                conns[c.id] = writer.add_connection(c.topic, c.msgtype, typestore=ts)
        for conn, stamp, raw in reader.messages(reader.connections):
            writer.write(conns[conn.id], stamp, raw)
        writer.close()
        reader.close()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure means the file cannot be recovered
        raise DataError(f"{files[0]}: cannot recover the bag ({type(e).__name__}: {e})") from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def _default_typestore():
    try:
        return make_typestore()
    except DataError:  # no mocap_msgs definitions here: the standard types still work
        from rosbags.typesys import Stores, get_typestore

        return get_typestore(Stores.ROS2_KILTED)


def _closing_records() -> bytes:
    """MCAP DataEnd (crc 0) + Footer without summary (both offsets 0) + magic."""
    data_end = bytes([0x0F]) + struct.pack("<Q", 4) + struct.pack("<I", 0)
    footer = bytes([0x02]) + struct.pack("<Q", 20) + struct.pack("<QQI", 0, 0, 0)
    return data_end + footer + MCAP_MAGIC
