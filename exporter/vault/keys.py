"""Link-key normalization (SPEC 3): the one rule every lookup goes through."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SEP = re.compile(r"[\s_\-]+")
SUFFIX = re.compile(r"\.(md|markdown|txt)$", re.I)


@lru_cache(maxsize=65536)
def link_key(text: str) -> str:
    """NFC, case-folded, trimmed, note suffix dropped, runs of space/_/- as one separator."""
    text = unicodedata.normalize("NFC", text).strip()
    text = SUFFIX.sub("", text)
    return _SEP.sub(" ", text.casefold()).strip()


@lru_cache(maxsize=65536)
def path_key(path: str) -> str:
    """A vault path as a key: each segment normalized like a link key."""
    return "/".join(link_key(p) for p in path.split("/") if p not in ("", "."))
