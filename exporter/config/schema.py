"""The one typed schema for exporter.toml (or [tool.exporter] in pyproject.toml).

Every field has a type, allowed values where they are closed, and a doc string that
`exporter init` writes into the starter config. Validation collects every problem, names
the file, the line and the key, and suggests the nearest valid key.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

Format = Literal["pdf", "briefs", "epub", "bundle"]
FORMATS: tuple[str, ...] = get_args(Format)


def doc(text: str, default: Any = MISSING, factory: Any = MISSING) -> Any:
    if factory is not MISSING:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class Defaults:
    """Settings every publication starts from."""

    vault: str = doc("Folder of notes, relative to this file.", "notes")
    output: str = doc("Folder the products are written to.", "dist")
    theme: str = doc("Built-in theme name (see `exporter themes`) or a theme folder.", "serif")
    css: str | None = doc("Extra CSS file added on top of the theme, for PDF and EPUB.", None)
    reading: Literal["auto", "hms", "ms"] = doc(
        "How timestamps read: auto (per note), hms (H:MM:SS) or ms (MM:SS, third field ignored).", "auto"
    )
    unresolved: Literal["text", "plain", "error"] = doc(
        "Links to notes outside a product: text (styled label), plain (bare label) or error "
        "(label, and the build fails).",
        "text",
    )
    citation: str | None = doc(
        'Citation wording, overriding the theme\'s; placeholders {title}, {channel}, {moments}. Example: "{title} ({channel}), {moments}."',
        None,
    )
    jobs: int = doc("Documents rendered at once for PDFs (dossier parts, briefs); 0 means one per core.", 0)
    language: str | None = doc(
        "Language of the fixed strings for every publication that names none (de, pt-BR...; also `lang`); "
        "default: the most common note language.", None)


@dataclass(frozen=True)
class Publication:
    """One named product set: which notes, in what order, in which formats and look."""

    title: str | None = doc("Title on the cover and in metadata; default: the publication name.", None)
    subtitle: str | None = doc("Subtitle on the cover.", None)
    author: str | None = doc("Author or editor in metadata and on the cover.", None)
    language: str | None = doc(
        "Language of the fixed strings and metadata (en, de, el, pt-BR...; also `lang`); default: the "
        "most common note language.", None)
    formats: tuple[Format, ...] = doc(
        "Products to build: pdf, briefs, epub, bundle.", ("pdf", "epub", "bundle")
    )
    include: tuple[str, ...] = doc("Glob patterns of note paths to include (empty: all).", ())
    exclude: tuple[str, ...] = doc("Glob patterns of note paths to leave out.", ())
    tags: tuple[str, ...] = doc("Keep notes with any of these frontmatter tags.", ())
    channels: tuple[str, ...] = doc("Keep notes from any of these channels.", ())
    notes: tuple[str, ...] = doc("An explicit, ordered list of notes (path, stem or title).", ())
    parts: Literal["channel", "folder", "tag", "none"] = doc("Group notes into parts by.", "channel")
    order: Literal["channel", "title", "path", "date", "list"] = doc(
        "Order of notes: by channel then title, title, path, frontmatter date, or the `notes` list.",
        "channel",
    )
    theme: str | None = doc("Theme for this publication; default: the defaults' theme.", None)
    css: str | None = doc("Extra CSS file for this publication.", None)


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def key_line(text: str, key: str, section: str | None) -> int | None:
    """Line of `key =` (under [section] when given) in the TOML text, for messages."""
    lines = text.splitlines()
    start = 0
    if section:
        for i, line in enumerate(lines):
            if re.match(rf"^\s*\[\s*{re.escape(section)}\s*\]", line):
                start = i + 1
                break
    for i in range(start, len(lines)):
        if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", lines[i]):
            return i + 1
        if i > start and section and lines[i].lstrip().startswith("["):
            break
    return None


def _check(value: Any, hint: Any) -> tuple[Any, str | None]:
    """Coerce a TOML value to a field type; returns (value, problem)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        if value in args:
            return value, None
        return value, "must be one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value, "must be a list"
        out = []
        for v in value:
            v2, err = _check(v, args[0])
            if err:
                return value, f"item {v!r} {err}"
            out.append(v2)
        return tuple(out), None
    if args and type(None) in args:  # X | None
        if value is None:
            return None, None
        return _check(value, next(a for a in args if a is not type(None)))
    if hint is bool:
        return value, None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return value, None if ok else "must be a whole number, 0 or more"
    if hint is str:
        return value, None if isinstance(value, str) else "must be a string"
    return value, None


ALIASES = {"lang": "language"}  # the same word as the --lang option


def build(
    cls: type,
    data: dict[str, Any],
    where: str,
    file: str,
    text: str,
    section: str | None,
    problems: list[str],
) -> Any:
    """An instance of the dataclass cls from a TOML table; problems are appended, not raised."""
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values: dict[str, Any] = {}
    for written, value in data.items():
        line = key_line(text, written, section)
        at = f"{file}:{line}" if line else file
        key = ALIASES[written] if written not in names and ALIASES.get(written) in names else written
        if key not in names:
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            problems.append(f"{at}: {where}{key}: unknown key; {hint}allowed: {', '.join(names)}")
            continue
        v, err = _check(value, hints[key])
        if err:
            problems.append(f"{at}: {where}{key}: {err} (got {value!r})")
        else:
            values[key] = v
    return cls(**values)


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(name, default, doc) of each field, for the starter config."""
    out = []
    for f in fields(cls):
        factory: Any = f.default_factory
        default = f.default if f.default is not MISSING else factory()
        out.append((f.name, default, f.metadata.get("doc", "")))
    return out
