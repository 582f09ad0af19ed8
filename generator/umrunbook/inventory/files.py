"""Reading an input file the user named: regular files only, and never more than a bound.

A device (/dev/zero, /dev/urandom) would be read without end and a FIFO would block for
ever; both are refused before a byte is read. The read stops at the bound plus one byte,
so a file too large is known as such without reading all of it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_CHUNK = 1024 * 1024


class NotRegularFile(OSError):
    """The path names a device, a pipe or a socket, not a file."""


class TooLarge(OSError):
    """The file holds more than the bound."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


def read_bounded(path: Path, limit: int) -> bytes:
    """The content of the regular file at `path`, at most `limit` bytes; TooLarge beyond,
    NotRegularFile for anything that is not a file, IsADirectoryError for a folder, and the
    OSError of the system otherwise. ValueError (a NUL in the path) becomes an OSError."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:
        raise FileNotFoundError(2, "the path holds a NUL character") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "is a folder")
    if not stat.S_ISREG(mode):
        raise NotRegularFile("not a regular file")
    # O_NONBLOCK: if the path was swapped for a FIFO since the stat, the open does not wait
    # for a writer, and the fstat below refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile("not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise TooLarge(limit)
    return b"".join(chunks)
