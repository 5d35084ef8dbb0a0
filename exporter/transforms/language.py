"""A note's language when its frontmatter names none, guessed from its text (lingua).

bench/language.py measured lingua and langdetect on the sample and real notes: both read every
whole note right; lingua in its low-accuracy mode is the faster (0.3 ms a note, 30 MB) and
was right on every text of 80 characters or more, so shorter texts are not guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from exporter.model import ast
from exporter.model.document import Block

LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "ru", "el", "zh", "ja")  # those with a catalog (exporter/locale)
MIN_CHARS = 80  # below this a guess is too often wrong
LONGEST = 40  # characters: no word of these languages runs so long (pdf.py marks such runs, too)
DIST = "lingua_language_detector"  # the distribution, as a .dist-info folder names it
MAX_CHARS = 1000  # right on every text of 80 or more; lingua's time grows with the text (2.2 ms at 4,000)


@cache
def _detector() -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in LANGUAGES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()


def prose(blocks: list[Block]) -> str:
    """The note's own words: no code, math, raw HTML or footnotes (citations are chrome), and no
    addresses or runs of 40 characters or more, which are no words: a note opening with long
    URLs was read as Portuguese from them, its English after them left unread."""
    def inlines(xs: list[Any]) -> list[Any]:
        return [x for x in xs if x["t"] not in ("Code", "Math", "RawInline", "Note")]

    def blocks_(bs: list[Any]) -> list[Any]:
        return [b for b in bs if b["t"] not in ("CodeBlock", "RawBlock")]

    kept = ast.walk(blocks, inlines, blocks_)
    words = (w for w in ast.stringify(kept).split() if len(w) < LONGEST and "://" not in w and not w.startswith("www."))
    return " ".join(words)[:MAX_CHARS]


Detect = Callable[[str], "str | None"]


@cache
def lingua_version() -> str:
    """lingua's version, for cache keys: from the name of its .dist-info folder beside it (a
    wheel's own naming), where importlib.metadata would parse its METADATA with the email
    package, 30 ms of every build that guesses a language; the metadata where there is no such folder."""
    import lingua

    site = Path(lingua.__file__).resolve().parent.parent
    found = [p.name for p in site.glob(f"{DIST}-*.dist-info")]
    if len(found) == 1:
        return found[0].removeprefix(f"{DIST}-").removesuffix(".dist-info")
    from importlib.metadata import version

    return version("lingua-language-detector")


def detect(text: str) -> str | None:
    """The language of text: an ISO 639-1 code, or None when lingua cannot tell."""
    found = _detector().detect_language_of(text)
    return None if found is None else str(found.iso_code_639_1.name).lower()


def guess(blocks: list[Block], detector: Detect = detect) -> str | None:
    """An ISO 639-1 code, or None when the text is too short to tell. detector may be detect()
    remembered: the guess depends on the prose alone, its first MAX_CHARS characters."""
    text = prose(blocks)
    if sum(c.isalpha() for c in text) < MIN_CHARS:
        return None
    return detector(text)
