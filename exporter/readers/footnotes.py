"""Footnotes referenced inside other footnotes, set in the outer one before pandoc reads the note.

pandoc 3.9 reads a [^b] in the text of [^a] as nothing: b's marker and text were lost in every
product, silently. A reference cycle ([^a] in a's own text, or a -> b -> a) made it allocate
without end, and the whole note was left out over its budget. Here each such reference becomes
the inner footnote's text in parentheses, a cycle's reference is dropped, and each is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.readers.fences import fenced

DEFINITION = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:[ \t]?")
REFERENCE = re.compile(r"\[\^([^\]\s]+)\](?!:)")
CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")  # a reference in inline code is text
# what ends a footnote's first paragraph without a blank line: a heading, quote, list, fence or HTML
INTERRUPTS = re.compile(r"^ {0,3}(#{1,6}(\s|$)|>|[-*+]\s|\d{1,9}[.)]\s|`{3,}|~{3,}|<)")
DEPTH = 4  # footnotes set one inside another at most; deeper references are dropped
GROWTH = 20_000  # characters the inner footnotes may add to a note, over its own length


@dataclass
class Flattened:
    text: str
    nested: list[tuple[int, str]] = field(default_factory=list)  # (0-based line of the body, why)


def _definitions(lines: list[str]) -> dict[str, tuple[int, int]]:
    """label (case-folded, as pandoc matches them) -> (first line, line after the last) of each
    definition outside code fences: its first line, the lazy lines of its first paragraph (up to
    a line that starts another block), and indented lines after blank ones."""
    found: dict[str, tuple[int, int]] = {}
    code = fenced(lines)
    k = 0
    while k < len(lines):
        m = None if code[k] else DEFINITION.match(lines[k])
        if not m:
            k += 1
            continue
        end = k + 1
        while end < len(lines):
            if not lines[end].strip():
                after = end
                while after < len(lines) and not lines[after].strip():
                    after += 1
                if after < len(lines) and lines[after].startswith(("    ", "\t")):
                    end = after
                    continue
                break
            if DEFINITION.match(lines[end]) or INTERRUPTS.match(lines[end]):
                break
            end += 1
        found.setdefault(m.group(1).casefold(), (k, end))
        k = end
    return found


def _references(text: str) -> list[re.Match[str]]:
    code = [m.span() for m in CODE.finditer(text)] if "`" in text else []
    return [m for m in REFERENCE.finditer(text) if not any(a <= m.start() < b for a, b in code)]


def flattened(body: str) -> Flattened:
    """body with each footnote referenced in another footnote's text set there in parentheses,
    line for line (line numbers hold); and why, for each reference changed."""
    if "[^" not in body:
        return Flattened(body)
    lines = body.split("\n")
    defined = _definitions(lines)
    owner = {k: label for label, (a, b) in defined.items() for k in range(a, b)}
    inside = [k for k in owner if "[^" in lines[k] and any(m.group(1).casefold() in defined
                                                            for m in _references(_own(lines, k, owner)))]
    if not inside:
        return Flattened(body)
    source = list(lines)  # inner footnotes are read as written, whatever was set in them
    room = len(body) + GROWTH  # characters of inner footnotes read, in all: the work is bounded
    nested: list[tuple[int, str]] = []

    def text_of(label: str, seen: tuple[str, ...], k: int) -> str:
        nonlocal room
        a, b = defined[label]
        own = " ".join(" ".join(_own(source, j, owner) for j in range(a, b)).split())
        room -= len(own)
        return setting(own, (*seen, label), k)

    def setting(text: str, seen: tuple[str, ...], k: int) -> str:
        out, at = [], 0
        for m in _references(text):
            label = m.group(1).casefold()
            if label not in defined:
                continue
            out.append(text[at:m.start()])
            at = m.end()
            name = f"footnote [^{m.group(1)}]"
            if label in seen:
                nested.append((k, f"{name} is referred to inside itself: the reference is dropped"))
            elif len(seen) > DEPTH:
                nested.append((k, f"{name} is nested more than {DEPTH} deep in [^{seen[0]}]: the reference is dropped"))
            elif room <= 0:
                nested.append((k, f"{name} in [^{seen[0]}]: the footnotes set inside others would make the "
                                  f"note over {GROWTH:,} characters longer; the reference is dropped"))
            else:
                out.append(f" ({text_of(label, seen, k)})")
                if len(seen) == 1:
                    nested.append((k, f"{name} inside footnote [^{seen[0]}] is set in it in parentheses"))
        return "".join(out) + text[at:]

    for k in inside:
        label = owner[k]
        head = lines[k][:len(lines[k]) - len(own := _own(lines, k, owner))]
        lines[k] = head + setting(own, (label,), k)
    by_line: dict[int, list[str]] = {}
    for k, why in nested:
        by_line.setdefault(k, []).append(why)
    told = [(k, whys[0] + (f" (and {len(whys) - 1:,} more on this line)" if len(whys) > 1 else ""))
            for k, whys in sorted(by_line.items())]
    return Flattened("\n".join(lines), told)


def _own(lines: list[str], k: int, owner: dict[int, str]) -> str:
    """A footnote's own text on line k: without the [^label]: that opens its first line (only a
    first line matches, the others end before the next definition)."""
    m = DEFINITION.match(lines[k]) if k in owner else None
    return lines[k][m.end():] if m else lines[k]
