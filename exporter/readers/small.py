"""The small text files a command line names (an order file, extra CSS, a config): read whole,
so each is a regular file under a size cap. /dev/zero as --order filled 23 GB of memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_BYTES = 4 << 20


class Unreadable(ValueError):
    """Why a file could not be read as small text: one line for the user."""


def small_text(path: Path, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most limit bytes. Opened without blocking, so a
    named pipe is refused rather than waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise Unreadable(e.strerror or str(e)) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unreadable("not a regular file")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise Unreadable(e.strerror or str(e)) from None
    if len(data) > limit:
        raise Unreadable(f"larger than {limit >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unreadable(f"not UTF-8 text (byte {e.start + 1})") from None
