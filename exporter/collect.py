"""Load a vault and normalize it: files -> raw notes -> one normalized Collection.

This is the front half shared by every product: walk, read, parse (pandoc, batched),
then the transforms in order, each a pure function returning blocks and problems.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from exporter.cache import Cache
from exporter.config import Options
from exporter.diagnostics import Report
from exporter.model import ast
from exporter.model.document import LABEL_MAX, Block, Collection, Note, short
from exporter.readers import RawNote, images, read_note, walk
from exporter.transforms import embeds, links, local
from exporter.transforms.images import refuse
from exporter.vault import Index
from exporter.writers import pandoc

Progress = Callable[[str, int, int], None]

# How deep a note may nest (ast.depth: levels of pandoc's JSON). Every product fails past 253
# (orjson writes 254 levels at most, the document wrapper is one), the walkers recurse and the
# HTML and PDF stages nest with it. A note as parsed gets room to be normalized and embedded
# (pandoc.parse refuses it past MAX_DEPTH); a note with its embeds expanded (up to 10 deep,
# each adding levels) gets room for the writers. Real notes stay under 20.
MAX_DEPTH = 160
MAX_EXPANDED = 200
ORJSON_MAX = 254  # the deepest JSON orjson.dumps writes
LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")  # BCP 47, loosely


def note_ids(paths: list[str]) -> dict[str, str]:
    """Stable ASCII ids from file stems, unique in the vault, starting with a letter."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for p in paths:
        stem = p.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        ascii_ = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
        base = "n-" + (re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "note")
        ident, k = base, 1
        while ident in used:
            k += 1
            ident = f"{base}-{k}"
        used.add(ident)
        ids[p] = ident
    return ids


def _problems(report: Report, raw: RawNote, problems: list[tuple[str, str, str]]) -> None:
    for code, needle, message in problems:
        line = raw.line_of(needle) if needle else None
        report.add(code, raw.path, message, line)


def _too_deep(blocks: list[Block], limit: int, when: str = "") -> str | None:
    """Why a note nesting deeper than limit is left out (later stages would crash), else None.

    orjson answers first, in C: it writes at most ORJSON_MAX levels, so wrapped in enough
    lists the note fails exactly when it is deeper than limit; only then is it measured.
    """
    wrapped: Any = blocks
    for _ in range(ORJSON_MAX - limit):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
        return None
    except TypeError:  # "Recursion limit reached" (blocks hold only JSON types)
        deep = ast.depth(blocks)
    if deep <= limit:
        return None
    return f"{pandoc.TOO_DEEP}{when} ({deep} levels, over {limit})"


def _unsafe(verdict: images.Verdict | None) -> bool:
    return verdict is not None and verdict.kind != "large"


def collect(
    root: Path, options: Options | None = None, progress: Progress | None = None,
    cache: Cache | None = None,
) -> tuple[Collection, Report]:
    options = options or Options()
    cache = cache or Cache.off()
    report = Report()
    root = root.resolve()
    files = walk(root, report)

    # load: files -> raw notes (frontmatter, byline, title)
    raws: list[RawNote] = []
    for rel in files.notes:
        got = read_note(root, rel)
        if isinstance(got, RawNote):
            raws.append(got)
            report.extend(got.warnings)
        else:
            report.extend([got])
        if progress:
            progress("read", len(raws), len(files.notes))

    # parse: every body in a handful of pandoc processes; per-note work starts as chunks arrive
    ids = note_ids([r.path for r in raws])
    notes: list[Note] = []
    kept: list[RawNote] = []

    # the link index needs only paths, titles and aliases: it is ready before parsing, so
    # each note is linked as soon as it is parsed; links to headings of notes not parsed
    # yet wait for a second pass
    index = Index.build(raws)
    targets = {r.path: links.Target(ids[r.path], short(r.title), (), complete=False) for r in raws}
    sources: dict[str, embeds.Source] = {}
    with_embeds: set[str] = set()
    deferred: list[tuple[RawNote, Note]] = []
    linked_from: dict[str, set[str]] = {}  # note id -> paths of the notes linking to it
    verdicts: dict[str, images.Verdict | None] = {}  # asset -> why it must not be drawn

    def link(raw: RawNote, note: Note) -> None:
        linked = links.link(note.blocks, links.Context(raw.path, index, targets, files.assets))
        _problems(report, raw, linked.problems)
        for target_id in linked.links:
            linked_from.setdefault(target_id, set()).add(raw.path)
        note.blocks = linked.blocks
        for a in linked.assets:
            if a not in verdicts:
                verdicts[a] = images.inspect(files.assets[a])
        bad = {a: v for a in linked.assets if (v := verdicts[a])}
        if bad:  # before embeds copy the note: the copies are safe too
            refused = refuse(note.blocks, bad)
            _problems(report, raw, refused.problems)
            note.blocks = refused.blocks
        note.assets = sorted(set(note.assets) | set(linked.assets))
        sources[note.path] = embeds.Source(note.path, targets[note.path], note.blocks)
        if linked.embeds:
            with_embeds.add(note.path)
        if linked.deferred:
            deferred.append((raw, note))

    def first_pass(i: int, alone: local.Local) -> None:
        raw = raws[i]
        if alone.error is not None:
            if alone.error.startswith(pandoc.OVER):
                report.add("over-budget", raw.path, f"{alone.error.removeprefix(pandoc.OVER)}; the note is left out")
            else:
                report.add("unreadable", raw.path, alone.error)
            return
        vid = raw.meta.get("videoId")
        if vid is not None and raw.video_id is None:
            report.add(
                "no-video-id",
                raw.path,
                f"videoId {str(vid)!r} is not an 11-character YouTube id",
                raw.line_of("videoId"),
            )
        if len(raw.title) > LABEL_MAX:
            report.add("too-large", raw.path, f"title of {len(raw.title):,} characters cut to {LABEL_MAX} "
                       "in contents, headers, outline, links and citations", raw.line_of("title"))
        lang = raw.meta.get("lang") or raw.meta.get("language")
        note = Note(
            id=ids[raw.path],
            path=raw.path,
            title=raw.title,
            meta=raw.meta,
            channel=raw.channel,
            channel_name=raw.channel_name,
            video_id=raw.video_id,
            lang=lang.strip() if isinstance(lang, str) and LANG.match(lang.strip()) else None,
        )
        _problems(report, raw, alone.problems)
        for what in alone.removed:
            report.add("unsafe-content", raw.path, f"removed {what}")
        if vid is None and not alone.citations:
            report.add("no-video-id", raw.path, "note has no videoId")
        note.blocks, note.headings = alone.blocks, alone.headings
        note.citations, note.reading = alone.citations, alone.reading
        targets[raw.path] = links.Target(note.id, note.label, tuple(note.headings), frozenset(alone.block_ids))
        link(raw, note)
        notes.append(note)
        kept.append(raw)
        if progress:
            progress("parse", i + 1, len(raws))

    # parse and normalize each note alone; the cache holds what earlier runs made of unchanged
    # notes, and the others are parsed in order around them (the report stays in note order)
    keys = [local.key(r, options) for r in raws]
    hits = local.load(cache.get_many(keys), keys, cache)
    missed = [i for i in range(len(raws)) if i not in hits]
    made: dict[str, bytes] = {}
    cursor = 0

    def drain(limit: int) -> None:
        nonlocal cursor
        for i in range(cursor, limit):
            if i in hits:
                first_pass(i, hits[i])
        cursor = max(cursor, limit)

    def parsed(k: int, blocks: pandoc.Parsed) -> None:
        nonlocal cursor
        i = missed[k]
        drain(i)
        made_here = local.normalize(raws[i], blocks, options)
        if made_here.error is None or not made_here.error.startswith(pandoc.OVER):
            made[keys[i]] = local.dump(made_here)  # a run past its budget may pass another time
        first_pass(i, made_here)
        cursor = i + 1

    pandoc.parse([raws[i].body for i in missed], parsed, MAX_DEPTH)
    drain(len(raws))
    cache.put_many(made)

    for raw in raws:  # a note pandoc could not parse is no link target
        if raw.path in targets and not targets[raw.path].complete:
            del targets[raw.path]
            for source in sorted(linked_from.get(ids[raw.path], ())):
                report.add("unresolved-link", source, f"links to {raw.path}, which could not be parsed, stay text")
    for raw, note in deferred:
        link(raw, note)

    by_path = {n.path: n for n in notes}
    too_deep: set[str] = set()
    # embeds, each note and the vault on a budget
    share = embeds.Budget.share(sum(len(r.body) for r in kept) * 6, len(with_embeds))  # ~6 JSON bytes a char
    for raw, note in zip(kept, notes, strict=True):
        if note.path in with_embeds:
            budget = embeds.Budget.for_note(embeds.size_of(note.blocks), share)
            done = embeds.transclude(note.path, note.blocks, index, sources, budget)
            _problems(report, raw, done.problems)
            note.blocks = done.blocks
            note.assets = sorted(set(note.assets).union(*(by_path[p].assets for p in done.notes)))
            # embeds nest notes in notes: only now is the whole depth known
            if deep := _too_deep(note.blocks, MAX_EXPANDED, " once its embeds are expanded"):
                report.add("unreadable", raw.path, deep)
                too_deep.add(note.path)

        report.add("reading", raw.path, f"timestamp reading: {note.reading}")
        if progress:
            progress("normalize", len(notes), len(notes))
    if too_deep:  # left out after linking: links to them become text in every product
        notes = [n for n in notes if n.path not in too_deep]
        for path in sorted(too_deep):
            for source in sorted(linked_from.get(ids[path], set()) - too_deep):
                report.add("unresolved-link", source, f"links to {path}, which nests too deeply, stay text")

    for n in notes:  # an unsafe file is carried by no product, not even as a link
        n.assets = [a for a in n.assets if a in files.assets and not _unsafe(verdicts.get(a))]
    assets = {a: str(files.assets[a]) for n in notes for a in n.assets}
    return Collection(root=str(root), notes=notes, assets=assets), report
