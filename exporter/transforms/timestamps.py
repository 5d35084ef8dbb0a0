"""Find timestamp stamps and runs of them, and decide what their times mean (SPEC 4)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from exporter.model.ast import stringify

Reading = Literal["auto", "hms", "ms"]

OPEN_TAG = re.compile(r"<a\b[^>]*\bclass\s*=\s*[\"'][^\"']*\byt-timestamp\b[^>]*>", re.I)
DATA_T = re.compile(r"\bdata-t\s*=\s*[\"']([^\"']*)[\"']", re.I)
CLOSE_TAG = re.compile(r"^</a\s*>$", re.I)
ANY_OPEN_A = re.compile(r"^<a\b", re.I)  # an anchor opened before the last one closed ends its search
# [0-9], not \d: \d also takes other scripts' digits ('１２:００'), which int() would then read
FIELDS = re.compile(r"^\s*\[?\s*([0-9]{1,3}(?::[0-9]{1,2}){1,2})\s*\]?\s*$")
LOOSE = re.compile(r"^\s*\[?\s*([^\]]*?)\s*\]?\s*$")
BRACKETED = re.compile(r"\[[0-9]{1,3}(?::[0-9]{1,2}){1,2}\]")

Fields = tuple[int, ...]


@dataclass(frozen=True)
class Stamp:
    """One stamp as found: where it sits in its inline list and what it says."""

    start: int
    end: int  # exclusive
    data_t: str | None
    shown: str

    @property
    def raw(self) -> str:
        return self.data_t if self.data_t is not None else self.shown


def parse_fields(text: str | None) -> Fields | None:
    """'01:33:00' -> (1, 33, 0); None when it is not two or three in-range fields."""
    if text is None or not (m := FIELDS.match(text)):
        return None
    fields = tuple(int(x) for x in m.group(1).split(":"))
    if any(f >= 60 for f in fields[1:]):
        return None
    return fields


def stamp_fields(stamp: Stamp) -> Fields | None:
    """data-t when it parses, else the shown text (SPEC 4 rule 3)."""
    return parse_fields(stamp.data_t) or parse_fields(stamp.shown)


def split_bracketed(inlines: list[Any]) -> list[Any]:
    """Cut Str nodes so each plain '[00:00:36]' stands alone ('([00:00:36],' -> 3 Strs).

    Returns the same list when nothing needs cutting (the common case).
    """
    todo = [
        i
        for i, x in enumerate(inlines)
        if x["t"] == "Str" and "[" in x["c"] and not BRACKETED.fullmatch(x["c"]) and BRACKETED.search(x["c"])
    ]
    if not todo:
        return inlines
    out: list[Any] = []
    last = 0
    for i in todo:
        out.extend(inlines[last:i])
        text, pos = inlines[i]["c"], 0
        for m in BRACKETED.finditer(text):
            if m.start() > pos:
                out.append({"t": "Str", "c": text[pos : m.start()]})
            out.append({"t": "Str", "c": m.group(0)})
            pos = m.end()
        if pos < len(text):
            out.append({"t": "Str", "c": text[pos:]})
        last = i + 1
    out.extend(inlines[last:])
    return out


def find_stamps(inlines: list[Any], plain: bool) -> list[Stamp]:
    """Stamps in one inline list: yt-timestamp spans, links to '#', and (if plain) '[00:00:36]'."""
    found: list[Stamp] = []
    n = len(inlines)
    i = 0
    while i < n:
        x = inlines[i]
        t = x["t"]
        if t == "RawInline":
            m = OPEN_TAG.match(x["c"][1].strip()) if x["c"][0] == "html" else None
            if m:
                j = i + 1
                while j < n and _tag(inlines[j]) is None:
                    j += 1
                d = DATA_T.search(m.group(0))
                data_t = d.group(1) if d else None
                if j == n or _tag(inlines[j]) == "open":
                    # unclosed: the opening tag is the stamp, with its shown '[00:00:20]' if that
                    # follows (else it would stay behind as text); the text after it stays
                    end = i + 1
                    if end < n and inlines[end]["t"] == "Str" and BRACKETED.fullmatch(inlines[end]["c"]):
                        end += 1
                    found.append(Stamp(i, end, data_t, inlines[end - 1]["c"] if end > i + 1 else ""))
                    i = end
                    continue
                shown = (
                    inlines[i + 1]["c"]
                    if j == i + 2 and inlines[i + 1]["t"] == "Str"
                    else stringify(inlines[i + 1 : j])
                ).strip()
                found.append(Stamp(i, j + 1, data_t, shown))
                i = j + 1
                continue
        elif t == "Link":
            if x["c"][2][0] in ("#", "") and FIELDS.match(label := stringify(x["c"][1])):
                found.append(Stamp(i, i + 1, None, label.strip()))
        elif plain and t == "Str" and x["c"][:1] == "[" and BRACKETED.fullmatch(x["c"]):
            found.append(Stamp(i, i + 1, None, x["c"]))
        i += 1
    return found


def _tag(x: dict[str, Any]) -> Literal["open", "close"] | None:
    """Whether an inline is a raw '<a ...>' or '</a>': where the search for a closing tag stops."""
    if x["t"] != "RawInline":
        return None
    raw = x["c"][1].strip()
    return "close" if CLOSE_TAG.match(raw) else "open" if ANY_OPEN_A.match(raw) else None


def _separator(between: list[Any]) -> bool:
    """What may join two stamps of one run: nothing, a space, or ', '."""
    n = len(between)
    if n == 0:
        return True
    first = between[0]
    t = first["t"]
    if n == 1:
        return t == "Space" or t == "SoftBreak" or (t == "Str" and first["c"] == ",")
    return n == 2 and t == "Str" and first["c"] == "," and between[1]["t"] in ("Space", "SoftBreak")


def group_runs(inlines: list[Any], stamps: list[Stamp]) -> list[list[Stamp]]:
    runs: list[list[Stamp]] = []
    for s in stamps:
        if runs and _separator(inlines[runs[-1][-1].end : s.start]):
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def third_field_rule(all_fields: Iterable[Fields]) -> int | None:
    """SPEC 4 rule 2: the third-field value v that marks MM:SS stamps, or None."""
    distinct = {f for f in all_fields if len(f) == 3}
    if not distinct:
        return None
    v, n = Counter(f[2] for f in distinct).most_common(1)[0]
    # most_common keeps first-seen order on ties; prefer 0 on a tie, the common real case
    counts = Counter(f[2] for f in distinct)
    if counts.get(0, 0) == n:
        v = 0
    if n * 2 >= len(distinct) and n >= (2 if v == 0 else 3):
        return v
    return None


def to_seconds(fields: Fields, v: int | None, reading: Reading = "auto") -> int:
    if len(fields) == 2:
        return fields[0] * 60 + fields[1]
    h, m, s = fields
    if reading == "ms" or (reading == "auto" and v is not None and s == v and h < 60):
        return h * 60 + m
    return h * 3600 + m * 60 + s


def human(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def describe_reading(v: int | None, reading: Reading, has_three: bool) -> str:
    if reading == "hms":
        return "H:MM:SS (forced)"
    if reading == "ms":
        return "MM:SS (forced; third field ignored)"
    if not has_three:
        return "MM:SS (two-field stamps)"
    if v is None:
        return "H:MM:SS"
    return f"MM:SS (three-field stamps ending in :{v:02d} read as MM:SS:{v:02d})"
