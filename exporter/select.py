"""Choose and order the notes of a product: by path, stem or title; --order files; default order."""

from __future__ import annotations

from pathlib import Path

from exporter.model.document import Collection, Note
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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SelectionError(f"{path}: cannot read order file: {e}") from e
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
