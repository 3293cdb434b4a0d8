"""OSC over UDP with python-osc: typed messages (floats always 32-bit), bundles, and ``scheme://host:port?opts`` URLs.

Every float is sent with the OSC type tag ``f`` (32-bit): receivers such as EVMC4U silently ignore doubles.
Python ``bool`` / ``int`` (and numpy integers) are ``i`` (32-bit), ``str`` is ``s``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from mocap.errors import MocapError

OscArg = float | int | str | bool


def osc_message(address: str, *args: OscArg) -> OscMessage:
    """Build one OSC message; floats (Python or numpy) as float32, integers and bools as int32, strings as ``s``."""
    b = OscMessageBuilder(address)
    for a in args:
        if isinstance(a, str):
            b.add_arg(a, "s")
        elif isinstance(a, bool | int | np.integer):
            b.add_arg(int(a), "i")
        else:
            b.add_arg(float(a), "f")
    return b.build()


@dataclass
class OscUrl:
    """A parsed ``scheme://host:port?key=value`` sink URL."""

    scheme: str
    host: str
    port: int
    options: dict[str, str] = field(default_factory=dict)


def parse_osc_url(url: str, default_port: int, schemes: tuple[str, ...] = ("osc", "vmc")) -> OscUrl:
    """Parse ``vmc://127.0.0.1:39539?person=1`` (host defaults to 127.0.0.1, port to ``default_port``).

    Raises:
        MocapError: unknown scheme, bad port.
    """
    s = urlsplit(url if "://" in url else f"{schemes[0]}://{url}")
    if s.scheme not in schemes:
        raise MocapError(f"sink {url!r}: scheme {s.scheme!r} is not one of {', '.join(schemes)}",
                         hint=f"e.g. {schemes[0]}://127.0.0.1:{default_port}")
    try:
        port = s.port or default_port
    except ValueError:
        raise MocapError(f"sink {url!r}: the port is not a number in 1..65535") from None
    return OscUrl(s.scheme, s.hostname or "127.0.0.1", int(port), dict(parse_qsl(s.query)))


class OscSender:
    """Send OSC messages as bundles over UDP.

    Args:
        host, port: the receiver.
        max_bundle_bytes: split a frame's messages into bundles of at most this size (e.g. 1400 for a LAN with a
            1500-byte MTU; a bigger datagram is fragmented and lost whole if one fragment is); 0 = one bundle.

    Attributes:
        packets, bytes_sent, errors: counters (a receiver that is not running is not an error on UDP; an
            unreachable network is counted in ``errors`` and never raised).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 39539, max_bundle_bytes: int = 0) -> None:
        self.address = (host, int(port))
        self.max_bundle_bytes = int(max_bundle_bytes)
        try:
            info = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as e:
            raise MocapError(f"OSC receiver {host}:{port}: cannot resolve the host ({e})") from None
        self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
        self._target = info[4]
        self.packets = self.bytes_sent = self.errors = 0

    def _send(self, dgram: bytes) -> None:
        try:
            self._sock.sendto(dgram, self._target)
            self.packets += 1
            self.bytes_sent += len(dgram)
        except OSError:
            self.errors += 1

    def send(self, messages: list[OscMessage]) -> None:
        """Send ``messages`` in one bundle (or several, see ``max_bundle_bytes``), in order."""
        if not messages:
            return
        groups: list[list[OscMessage]] = [[]]
        size = 16
        for m in messages:
            if self.max_bundle_bytes and groups[-1] and size + 4 + m.size > self.max_bundle_bytes:
                groups.append([])
                size = 16
            groups[-1].append(m)
            size += 4 + m.size
        for g in groups:
            bb = OscBundleBuilder(IMMEDIATELY)
            for m in g:
                bb.add_content(m)
            self._send(bb.build().dgram)

    def send_message(self, message: OscMessage) -> None:
        """Send one message on its own (no bundle)."""
        self._send(message.dgram)

    def close(self) -> None:
        self._sock.close()
