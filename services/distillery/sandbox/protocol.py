"""Length-prefixed JSON frames between the service and its sandbox workers (over pipes)."""

from __future__ import annotations

import json
import os
import select
import struct
import time

MAX_FRAME_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class ChannelClosed(Exception):
    """The other end closed the pipe (it exited or crashed)."""


class ChannelTimeout(Exception):
    """No complete frame arrived before the deadline."""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_frame(fd: int, message: dict) -> None:
    payload = json.dumps(message, separators=(",", ":")).encode()
    write_all(fd, _HEADER.pack(len(payload)) + payload)


def read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise ChannelTimeout(f"no reply within the deadline ({size - remaining}/{size} bytes read)")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed("channel closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> dict:
    (size,) = _HEADER.unpack(read_exactly(fd, _HEADER.size, deadline))
    if size > MAX_FRAME_BYTES:
        raise ChannelClosed(f"frame of {size} bytes exceeds the {MAX_FRAME_BYTES} byte limit")
    return json.loads(read_exactly(fd, size, deadline))
