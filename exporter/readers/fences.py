"""Which lines of a note's markdown are fenced code, where nothing is markup: the text passes
over the body (first H1, table rows, footnote definitions) skip them alike."""

from __future__ import annotations

import re

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def fenced(lines: list[str]) -> list[bool]:
    """For each line, whether it opens, lies in or closes a fenced code block (closed by the
    next fence line of the same character, or by the end)."""
    out: list[bool] = []
    fence: str | None = None
    for line in lines:
        opened = FENCE.match(line)
        if fence is not None:
            fence = None if opened and opened.group(1)[0] == fence else fence
        elif opened:
            fence = opened.group(1)[0]
        out.append(fence is not None or opened is not None)
    return out
