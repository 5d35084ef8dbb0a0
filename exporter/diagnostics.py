"""Diagnostics: what stages return instead of printing, so callers can count and test them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# The closed list of kinds: code -> (severity, summary used in counts).
KINDS: dict[str, tuple[Severity, str]] = {
    "unreadable": (Severity.ERROR, "files that cannot be read as notes"),
    "outside-vault": (Severity.WARNING, "links, embeds or files leading outside the vault"),
    "unresolved-link": (Severity.WARNING, "links to notes that are not in the vault"),
    "ambiguous-link": (Severity.WARNING, "links that match several notes"),
    "missing-heading": (Severity.WARNING, "links to headings or blocks that do not exist"),
    "embed-cycle": (Severity.WARNING, "embeds that cycle or nest deeper than 10"),
    "missing-embed": (Severity.WARNING, "embeds of notes or files that do not exist"),
    "malformed-stamp": (Severity.WARNING, "timestamps that cannot be read"),
    "no-video-id": (Severity.WARNING, "notes with citations but no videoId"),
    "unsafe-content": (Severity.WARNING, "raw HTML or URLs removed for safety"),
    "math": (Severity.WARNING, "formulas that cannot be typeset, kept as TeX"),
    "nested-footnote": (Severity.WARNING, "footnotes inside footnotes, set in the outer one"),
    "missing-glyph": (Severity.WARNING, "characters no font on this machine has, drawn as boxes in PDFs"),
    "unclosed-frontmatter": (Severity.WARNING, "frontmatter never closed by ---, read as text"),
    "too-large": (Severity.ERROR, "embeds, images or text cut so that outputs stay bounded"),
    "over-budget": (Severity.ERROR, "notes left out: they took too long or too much memory"),
    "policy": (Severity.ERROR, "problems that the configuration makes errors"),
    "cache": (Severity.WARNING, "cache entries found damaged, computed again"),
    "reading": (Severity.INFO, "timestamp reading chosen per note"),
}


# Characters a terminal acts on rather than shows: C0 and C1 controls (newlines, escapes that
# colour or move the cursor) and the line separators and direction overrides of Unicode.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """text with those characters written as escapes (\\n, \\x1b): a file name or a note's words
    holding a newline printed a line of its own that read as a diagnostic, and a terminal
    escape coloured the terminal."""
    return CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    path: str  # vault-relative, or absolute for files outside it
    message: str
    line: int | None = None

    @property
    def severity(self) -> Severity:
        return KINDS[self.code][0]

    def where(self) -> str:
        path = visible(self.path)
        return f"{path}:{self.line}" if self.line else path

    def __str__(self) -> str:
        return f"{self.where()}: {self.severity.value}: {visible(self.message)} [{self.code}]"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "severity": self.severity.value}


@dataclass
class Report:
    """Collects diagnostics from every stage; de-duplicates; counts per kind."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set[Diagnostic] = field(default_factory=set, repr=False)

    def add(self, code: str, path: str, message: str, line: int | None = None) -> None:
        d = Diagnostic(code, path, message, line)
        if d not in self._seen:
            self._seen.add(d)
            self.items.append(d)

    def extend(self, items: list[Diagnostic]) -> None:
        for d in items:
            self.add(d.code, d.path, d.message, d.line)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(d.code for d in self.items).items()))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]
