"""Choose and order the notes of a product: by path, stem or title; --order files; default order."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path

from exporter.config.schema import Publication
from exporter.model.document import Collection, Note, short
from exporter.readers.small import Unreadable, small_text
from exporter.vault.keys import link_key, path_key


class SelectionError(ValueError):
    pass


def default_order(notes: list[Note]) -> list[Note]:
    """By channel, then title (notes without a channel last)."""
    return sorted(
        notes, key=lambda n: (n.channel is None, (n.channel or "").casefold(), n.title.casefold(), n.path)
    )


def find(collection: Collection, ref: str) -> Note:
    """A note by vault path (with or without suffix), file stem or title."""
    ref = ref.strip()
    pk = path_key(ref.rsplit(".", 1)[0] if ref.lower().endswith((".md", ".markdown", ".txt")) else ref)
    for n in collection.notes:
        if path_key(n.path.rsplit(".", 1)[0]) == pk:
            return n
    key = link_key(ref.rsplit("/", 1)[-1])
    for attr in ("stem", "title"):
        hits = [
            n
            for n in collection.notes
            if link_key(n.path.rsplit("/", 1)[-1] if attr == "stem" else n.title) == key
        ]
        if len(hits) >= 1:
            return sorted(hits, key=lambda n: (n.path.count("/"), n.path))[0]
    raise SelectionError(f"no note matches {ref!r} (give a path, a file stem or a title)")


def read_order(path: Path) -> list[str]:
    """One note reference per line; blank lines and '#' comments ignored."""
    try:
        text = small_text(path)
    except Unreadable as e:
        raise SelectionError(f"{path}: cannot read order file: {e}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def select(collection: Collection, refs: list[str], order: Path | None = None) -> list[Note]:
    """Notes named (in the order given), else the whole vault; an order file sorts the result."""
    if refs:
        chosen: list[Note] = []
        for r in refs:
            n = find(collection, r)
            if n not in chosen:
                chosen.append(n)
    else:
        chosen = default_order(collection.notes)
    if order is not None:
        ranked: list[Note] = []
        for i, r in enumerate(read_order(order), 1):
            try:
                n = find(collection, r)
            except SelectionError as e:
                raise SelectionError(f"{order}:{i}: {e}") from None
            if n in chosen and n not in ranked:
                ranked.append(n)
        chosen = ranked + [n for n in chosen if n not in ranked]
    return chosen


def _tags(note: Note) -> list[str]:
    raw = note.meta.get("tags") or []
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    return [str(t).lstrip("#").casefold() for t in items]


def for_publication(collection: Collection, pub: Publication) -> list[Note]:
    """The notes a publication asks for: explicit list, or filters; then its order."""
    chosen = select(collection, list(pub.notes)) if pub.notes else list(collection.notes)
    if pub.include:
        chosen = [n for n in chosen if any(fnmatch.fnmatchcase(n.path, g) for g in pub.include)]
    if pub.exclude:
        chosen = [n for n in chosen if not any(fnmatch.fnmatchcase(n.path, g) for g in pub.exclude)]
    if pub.tags:
        want = {t.lstrip("#").casefold() for t in pub.tags}
        chosen = [n for n in chosen if want & set(_tags(n))]
    if pub.channels:
        want = {link_key(c) for c in pub.channels}
        chosen = [n for n in chosen if n.channel and link_key(n.channel) in want]
    order = "list" if pub.notes and pub.order == "channel" else pub.order
    if order == "channel":
        chosen = default_order(chosen)
    elif order == "title":
        chosen.sort(key=lambda n: (n.title.casefold(), n.path))
    elif order == "path":
        chosen.sort(key=lambda n: n.path)
    elif order == "date":
        chosen.sort(key=lambda n: (str(n.meta.get("date") or "9999"), n.title.casefold()))
    return chosen


def part_of(note: Note, parts: str, names: dict[str, str], t: Callable[[str], str] = str) -> str | None:
    """The part a note is grouped under in a product (None: no parts); names from channel_names,
    t says the fixed labels in the product's language (exporter.i18n.Words)."""
    if parts == "channel":
        return names.get(note.channel or "", t("Other notes"))
    if parts == "folder":
        return note.folder or t("Top level")
    if parts == "tag":
        tags = _tags(note)
        return short(tags[0], 100) if tags else t("Untagged")
    return None
