"""The ADB wire format, device side: 24-byte message headers, shell v2 packets, sync requests.

Message header (six little-endian uint32): command, arg0, arg1, payload length, payload checksum
(byte sum; ignored from protocol version 0x01000001 on), magic (command ^ 0xffffffff).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass


def _cmd(name: str) -> int:
    return struct.unpack("<I", name.encode())[0]


A_CNXN, A_AUTH, A_OPEN, A_OKAY = _cmd("CNXN"), _cmd("AUTH"), _cmd("OPEN"), _cmd("OKAY")
A_WRTE, A_CLSE, A_STLS = _cmd("WRTE"), _cmd("CLSE"), _cmd("STLS")
NAMES = {A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY", A_WRTE: "WRTE", A_CLSE: "CLSE",
         A_STLS: "STLS"}

A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024

AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3

# shell protocol v2: [id:u8][length:u32 LE][data]
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = range(6)

SYNC_DATA_MAX = 64 * 1024

_HEADER = struct.Struct("<6I")


class ProtocolError(Exception):
    pass


@dataclass
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return NAMES.get(self.command, f"0x{self.command:08x}")

    def pack(self, checksum: bool = True) -> bytes:
        total = sum(self.data) & 0xFFFFFFFF if checksum and self.data else 0
        return _HEADER.pack(self.command, self.arg0, self.arg1, len(self.data), total,
                            self.command ^ 0xFFFFFFFF) + self.data


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket, max_payload: int = 1024 * 1024) -> Message:
    command, arg0, arg1, length, _checksum, magic = _HEADER.unpack(_read_exact(sock, _HEADER.size))
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic for command 0x{command:08x}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds {max_payload}")
    return Message(command, arg0, arg1, _read_exact(sock, length) if length else b"")


def shell_packet(kind: int, data: bytes) -> bytes:
    return struct.pack("<BI", kind, len(data)) + data


def sync_header(ident: str, value: int) -> bytes:
    return ident.encode() + struct.pack("<I", value & 0xFFFFFFFF)


def parse_banner(data: bytes) -> tuple[str, dict[str, str]]:
    """``host::features=shell_v2,cmd;`` -> ('host', {'features': 'shell_v2,cmd'})."""
    text = data.rstrip(b"\0").decode(errors="replace")
    kind, _, rest = text.partition("::")
    props = {}
    for item in rest.split(";"):
        if "=" in item:
            key, _, value = item.partition("=")
            props[key] = value
    return kind.split(":")[0], props
