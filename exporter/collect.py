"""Load a vault and normalize it: files -> raw notes -> one normalized Collection.

The front half every product shares, each note in stages: read (frontmatter, byline) ->
alone (pandoc's parse, then structure, citations, safety, heading ids: transforms/local.py) ->
linked (wikilinks, links and images against the whole vault) -> embedded (transclusion).

The cache (exporter/cache.py) keeps each stage's result. 'alone' depends on the note's file;
'linked' and 'embedded' also on facts about other notes and files, which they record as they
read them (a trace). A cached result is used only when its trace, replayed against the vault as
it is now, gives the same answers: after an edit, only the notes it touches are computed again,
and a note's blocks are loaded from the cache only when a product needs them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from exporter import cache as store
from exporter.cache import Cache
from exporter.config import Options
from exporter.diagnostics import Diagnostic, Report
from exporter.model import ast
from exporter.model.document import LABEL_MAX, Block, Collection, Note, pack, unpack
from exporter.readers import RawNote, from_bytes, images, packed, read_bytes, unpacked, walk
from exporter.readers.walk import VaultFiles
from exporter.transforms import embeds, language, links, local
from exporter.transforms.citations import shorten
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
    """Each problem at its line, once, in the order of the lines (those of the whole note first)."""
    placed = {(raw.line_of(needle) if needle else None, code, message) for code, needle, message in problems}
    for line, code, message in sorted(placed, key=lambda p: (p[0] or 0, p[1], p[2])):
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


def _stat(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


@dataclass
class _Stage:
    """What linking or embedding made of one note, as the cache keeps it (blocks apart)."""

    trace: list[list[Any]]
    problems: list[tuple[str, str, str]]
    ident: str  # identity of the resulting blocks
    links: list[str] = field(default_factory=list)  # linking: ids of the notes linked to
    assets: list[str] = field(default_factory=list)  # linking: assets named
    embeds: int = 0  # linking: embed markers left for the next stage
    size: int = 0  # linking: the blocks' size, for the embed budget
    dropped: list[str] = field(default_factory=list)  # linking: unsafe files no product may carry
    notes: list[str] = field(default_factory=list)  # embedding: paths of the notes embedded
    embedded: list[str] = field(default_factory=list)  # embedding: their ids, as the blocks hold them in order
    deep: str | None = None  # embedding: why the expanded note is too deep to keep
    first: list[Any] | None = None  # the first block's type, and a heading's level and id (see _first)

    def dump(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def load(cls, data: bytes | None) -> _Stage | None:
        if data is None:
            return None
        try:
            d = orjson.loads(data)
            d["problems"] = [tuple(p) for p in d["problems"]]
            return cls(**d)
        except (ValueError, TypeError):
            return None


class _Blocks:
    """What the stages make for the cache, written at the end in one go; and blocks loaded from
    it under their identity when a product asks for them."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.made: dict[str, bytes] = {}

    def keep(self, ident: str, blocks: list[Block]) -> None:
        if self.cache.enabled:
            self.made[ident] = pack(blocks)

    def stage(self, key: str, stage: _Stage) -> None:
        if self.cache.enabled:
            self.made[key] = stage.dump()

    def loader(self, ident: str, again: Callable[[], list[Block]]) -> Callable[[], list[Block]]:
        """Load from the cache; should the entry have gone (or be damaged), compute again."""
        def load() -> list[Block]:
            found = _unpacked(self.cache, self.made.get(ident) or self.cache.get(ident))
            return found if found is not None else again()

        return load

    def flush(self) -> None:
        """Everything made, in one write to the cache."""
        self.cache.put_many(self.made)
        self.made = {}


def collect(
    root: Path, options: Options | None = None, progress: Progress | None = None,
    cache: Cache | None = None,
) -> tuple[Collection, Report]:
    options = options or Options()
    cache = cache or Cache.off()
    report = Report()
    root = root.resolve()
    files = walk(root, report)

    # read: files -> raw notes (frontmatter, byline, title)
    raws: list[RawNote] = []
    for got in _read(root, files.notes, cache):
        if isinstance(got, RawNote):
            raws.append(got)
            report.extend(got.warnings)
        else:
            report.extend([got])
        if progress:
            progress("read", len(raws), len(files.notes))

    ids = note_ids([r.path for r in raws])
    index = Index.build(raws)
    blocks = _Blocks(cache)
    keys = [local.key(r, options) for r in raws]

    # alone: each note parsed and normalized on its own; unchanged notes come from the cache
    alone = _alone(raws, keys, options, cache, progress)
    notes: list[Note] = []
    kept: list[int] = []
    parsed: dict[str, Callable[[], list[Block]]] = {}  # note path -> its blocks as parsed
    per = [Report() for _ in raws]  # what each note's stages found, reported in note order
    for i, (raw, (a, load)) in enumerate(zip(raws, alone, strict=True)):
        if a.error is not None:  # a note past pandoc's budget keeps its text (local.normalize)
            per[i].add("unreadable", raw.path, a.error)
            continue
        notes.append(_note(raw, a, ids[raw.path], per[i]))
        kept.append(i)
        parsed[raw.path] = load
    targets = {n.path: links.Target(n.id, n.label, tuple(n.headings), frozenset(alone[i][0].block_ids))
               for i, n in zip(kept, notes, strict=True)}
    unusable = {r.path for r, (a, _) in zip(raws, alone, strict=True) if a.error is not None}

    # linked: against the whole vault, each result checked by replaying what it read
    verdicts: dict[str, images.Verdict | None] = {}
    found = cache.get_many([store.key("linked", keys[i]) for i in kept])
    staged: list[_Stage] = []
    linked: dict[str, Callable[[], list[Block]]] = {}  # note path -> its blocks as linked
    for i, note in zip(kept, notes, strict=True):
        raw, k = raws[i], store.key("linked", keys[i])
        ctx = links.Context(raw.path, index, targets, files.assets)
        stage = _Stage.load(found.get(k))

        def relink(ctx: links.Context = ctx, i: int = i) -> tuple[_Stage, list[Block]]:
            return _link(parsed[raws[i].path](), ctx, files, verdicts, keys[i], blocks)

        if stage is None or not _replay(stage.trace, ctx, files):
            stage, result = relink()
            blocks.stage(k, stage)
            linked[raw.path] = _given(result)
        else:
            linked[raw.path] = _once(blocks.loader(stage.ident, _second(relink)))
        _problems(per[i], raw, stage.problems)
        note.assets = sorted(set(stage.assets))
        note.ident = stage.ident
        note.load_later(linked[raw.path], _first(stage))
        staged.append(stage)
        if progress:
            progress("link", len(staged), len(notes))
    for found_here in per:
        report.extend(found_here.items)
    linked_from: dict[str, set[str]] = {}  # note id -> paths of the notes linking to it
    by_id = {n.id: n for n in notes}
    for note, stage in zip(notes, staged, strict=True):
        for target_id in stage.links:
            linked_from.setdefault(target_id, set()).add(note.path)
            if target_id in by_id:  # for the backlinks
                by_id[target_id].linked_from.append(note.id)
    for path in sorted(unusable):  # a note that could not be read is no link target
        for source in sorted(linked_from.get(ids[path], ())):
            report.add("unresolved-link", source, f"links to {path}, which could not be parsed, stay text")

    # embedded: transclusion, each note on a budget; a result checked by replaying its trace
    sources = {n.path: embeds.Source(n.path, targets[n.path], linked[n.path], n.ident) for n in notes}
    embedding = [j for j, s in enumerate(staged) if s.embeds]
    share = embeds.Budget.share(sum(len(raws[i].body) for i in kept) * 6, len(embedding))  # ~6 JSON bytes a char
    found = cache.get_many([store.key("embedded", staged[j].ident) for j in embedding])
    by_path = {n.path: n for n in notes}
    too_deep: set[str] = set()
    expanded: dict[int, Report] = {}  # what transclusion found, per note
    for j in embedding:
        note, raw = notes[j], raws[kept[j]]
        k = store.key("embedded", staged[j].ident)
        budget = embeds.Budget.for_note(staged[j].size, share)
        stage = _Stage.load(found.get(k))

        def embed(note: Note = note, budget: embeds.Budget = budget) -> tuple[_Stage, list[Block]]:
            return _embed(note, linked[note.path](), index, sources, budget, blocks, options)

        if stage is None or not _replay_embeds(stage.trace, raw.path, index, sources, budget):
            stage, result = embed()
            blocks.stage(k, stage)
            note.blocks = result
        else:
            note.load_later(_once(blocks.loader(stage.ident, _second(embed))), _first(stage))
        after = expanded[kept[j]] = Report()
        _problems(after, raw, stage.problems)
        note.ident = stage.ident
        note.embedded = stage.embedded
        note.assets = sorted(set(note.assets).union(*(by_path[p].assets for p in stage.notes if p in by_path)))
        for p in stage.notes:  # an embed is a link too, for the backlinks
            if p in by_path and p != note.path:
                by_path[p].linked_from.append(note.id)
        if stage.deep:  # embeds nest notes in notes: only now is the whole depth known
            after.add("unreadable", raw.path, stage.deep)
            too_deep.add(note.path)
    for i, note in zip(kept, notes, strict=True):
        report.extend(expanded[i].items if i in expanded else [])
        report.add("reading", raws[i].path, f"timestamp reading: {note.reading}")
    if progress:
        progress("normalize", len(notes), len(notes))
    if too_deep:  # left out after linking: links to them become text in every product
        notes = [n for n in notes if n.path not in too_deep]
        for path in sorted(too_deep):
            for source in sorted(linked_from.get(ids[path], set()) - too_deep):
                report.add("unresolved-link", source, f"links to {path}, which nests too deeply, stay text")

    blocks.flush()
    dropped = {a for stage in staged for a in stage.dropped}
    for n in notes:  # an unsafe file is carried by no product, not even as a link
        n.assets = [a for a in n.assets if a in files.assets and a not in dropped]
    assets = {a: str(files.assets[a]) for n in notes for a in n.assets}
    return Collection(root=str(root), notes=notes, assets=assets), report


def _given(blocks: list[Block]) -> Callable[[], list[Block]]:
    try:
        return _packed(pack(blocks))
    except TypeError:  # too deep for orjson: left out later (_too_deep), kept as it is meanwhile
        return lambda: blocks


def _packed(data: bytes) -> Callable[[], list[Block]]:
    """Blocks kept packed (a two-hundredth of the dicts' memory), a fresh copy at each call."""
    return lambda: unpack(data)


def _second(make: Callable[[], tuple[_Stage, list[Block]]]) -> Callable[[], list[Block]]:
    return lambda: make()[1]


def _once(load: Callable[[], list[Block]]) -> Callable[[], list[Block]]:
    """A loader that loads once (a note and those embedding it share its blocks), and keeps
    them as their JSON."""
    box: list[Callable[[], list[Block]]] = []

    def get() -> list[Block]:
        if box:
            return box[0]()
        blocks = load()
        box.append(_given(blocks))
        return blocks  # packed just now: the caller's copy

    return get


def _read(root: Path, rels: list[str], cache: Cache) -> list[RawNote | Diagnostic]:
    """Each file read into a raw note. What reading makes of a file depends on its path and
    bytes alone: the cache keeps it under a hash of both, and a file with the same bytes is not
    parsed again (its frontmatter's YAML, byline and title were two thirds of reading a vault)."""
    datas = [read_bytes(root, rel) for rel in rels]
    keys = [store.key("read", store.code(), rel, data) if isinstance(data, bytes) and cache.enabled else ""
            for rel, data in zip(rels, datas, strict=True)]
    found = cache.get_many([k for k in keys if k])
    made: dict[str, bytes] = {}
    out: list[RawNote | Diagnostic] = []
    for rel, data, k in zip(rels, datas, keys, strict=True):
        if isinstance(data, Diagnostic):
            out.append(data)
            continue
        if k in found:
            try:
                out.append(unpacked(rel, data, found[k]))
                continue
            except (ValueError, KeyError, TypeError, IndexError):
                cache.undecoded()
        got = from_bytes(rel, data)
        if k and isinstance(got, RawNote) and (kept := packed(got)) is not None:
            made[k] = kept
        out.append(got)
    cache.put_many(made)
    return out


def _alone(raws: list[RawNote], keys: list[str], options: Options, cache: Cache, progress: Progress | None
           ) -> list[tuple[local.Local, Callable[[], list[Block]]]]:
    """Each note parsed and normalized on its own, and a way to its blocks. The cache gives back
    what earlier runs made of unchanged notes (their blocks stay there until needed); pandoc
    parses the rest, in a few processes."""
    faces = cache.get_many([store.key("face", k) for k in keys])
    out: list[tuple[local.Local, Callable[[], list[Block]]] | None] = [None] * len(raws)
    for i, k in enumerate(keys):
        data = faces.get(store.key("face", k))
        if data is not None:
            try:
                out[i] = (local.load_face(data), _once(_parsed_later(cache, k, raws[i], options)))
            except (ValueError, KeyError, TypeError):
                cache.undecoded()
    missed = [i for i, a in enumerate(out) if a is None]
    made: dict[str, bytes] = {}
    detect = _remembered(cache, made)

    def parsed(n: int, result: pandoc.Parsed) -> None:
        i = missed[n]
        a = local.normalize(raws[i], result, options, detect)
        face, body = local.dump(a)
        out[i] = (replace(a, blocks=[]), _packed(body))  # held packed until used
        if cache.enabled and not local.over_budget(a):  # a run past its budget may pass later
            made[store.key("face", keys[i])] = face
            made[store.key("blocks", keys[i])] = body
        if progress:
            progress("parse", len(raws) - len(missed) + n + 1, len(raws))

    pandoc.parse([raws[i].markdown for i in missed], parsed, MAX_DEPTH)
    cache.put_many(made)
    return [a for a in out if a is not None]


def _parsed_later(cache: Cache, key: str, raw: RawNote, options: Options) -> Callable[[], list[Block]]:
    """A note's blocks as parsed, from the cache; parsed again should the entry have gone."""
    def load() -> list[Block]:
        if (found := _unpacked(cache, cache.get(store.key("blocks", key)))) is not None:
            return found
        (result,) = pandoc.parse([raw.markdown], max_depth=MAX_DEPTH)
        return local.normalize(raw, result, options, _unasked).blocks  # the note's language is known

    return load


def _unasked(text: str) -> str | None:
    """No guess: for blocks parsed again, whose note's language was settled with its face."""
    return None


def _remembered(cache: Cache, made: dict[str, bytes]) -> language.Detect:
    """language.detect, its answers kept in the cache under the text it read (a note's first
    MAX_CHARS characters of prose): after an edit further on, lingua does not load its models
    (0.1 s) for an answer it gave before. New answers go into made, for the caller to write."""
    if not cache.enabled:
        return language.detect

    def detect(text: str) -> str | None:
        k = store.key("language", store.code(), language.lingua_version(), text)
        if (found := made.get(k)) is not None or (found := cache.get(k)) is not None:
            code = found.decode("ascii", "replace")
            if code == "" or code in language.LANGUAGES:
                return code or None
            cache.undecoded()
        answer = language.detect(text)
        made[k] = (answer or "").encode("ascii")
        return answer

    return detect


def _unpacked(cache: Cache, data: bytes | None) -> list[Block] | None:
    """Blocks from a cache entry; None when there is none, or it is damaged (said in warnings)."""
    if data is None:
        return None
    try:
        return unpack(data)
    except ValueError:
        cache.undecoded()
        return None


def _note(raw: RawNote, a: local.Local, ident: str, report: Report) -> Note:
    """The note as the rest of the pipeline sees it, and what reading it found."""
    vid = raw.meta.get("videoId")
    if vid is not None and raw.video_id is None:
        report.add("no-video-id", raw.path, f"videoId {str(vid)!r} is not an 11-character YouTube id",
                   raw.line_of("videoId"))
    if len(raw.title) > LABEL_MAX:
        report.add("too-large", raw.path, f"title of {len(raw.title):,} characters cut to {LABEL_MAX} "
                   "in contents, headers, outline, links and citations", raw.line_of("title"))
    note = Note(id=ident, path=raw.path, title=raw.title, meta=raw.meta, channel=raw.channel,
                channel_name=raw.channel_name, video_id=raw.video_id,
                lang=raw.lang or a.lang,
                headings=a.headings, citations=a.citations, reading=a.reading, front=raw.front)
    _problems(report, raw, a.problems)
    if vid is None and not a.citations:
        report.add("no-video-id", raw.path, "note has no videoId")
    return note


def _link(blocks_in: list[Block], ctx: links.Context, files: VaultFiles,
          verdicts: dict[str, images.Verdict | None], key: str, blocks: _Blocks) -> tuple[_Stage, list[Block]]:
    """Link one note, recording every fact it reads; images that must not be drawn are
    refused here, before embeds copy the note."""
    trace: list[list[Any]] = []
    ctx = links.Context(ctx.path, ctx.index, ctx.targets, ctx.assets, trace)
    linked = links.link(blocks_in, ctx)
    problems = list(linked.problems)
    for a in sorted(set(linked.assets)):
        if a not in verdicts:
            verdicts[a] = images.inspect(files.assets[a])
        trace.append(["file", a, _stat(files.assets[a])])
    result = linked.blocks
    dropped: set[str] = set()
    bad = {a: v for a in linked.assets if (v := verdicts[a])}
    if bad:
        refused = refuse(result, bad)
        problems += refused.problems
        result, dropped = refused.blocks, refused.dropped
    ident = store.key("linked-blocks", key, orjson.dumps(trace))
    blocks.keep(ident, result)
    stage = _Stage(trace, problems, ident, linked.links, linked.assets, linked.embeds,
                   embeds.size_of(result), sorted(dropped), first=_first_of(result))
    return stage, result


def _replay(trace: list[list[Any]], ctx: links.Context, files: VaultFiles) -> bool:
    """Do the facts a cached link result read still hold?"""
    notes = [f for f in trace if f[0] != "file"]
    if not ctx.facts(notes):
        return False
    for _, path, answer in (f for f in trace if f[0] == "file"):
        if path not in files.assets or _stat(files.assets[path]) != answer:
            return False
    return True


def _embed(note: Note, linked: list[Block], index: Index, sources: dict[str, embeds.Source],
           budget: embeds.Budget, blocks: _Blocks, options: Options) -> tuple[_Stage, list[Block]]:
    trace: list[list[Any]] = []
    done = embeds.transclude(note.path, linked, index, sources, budget, trace)
    ident = store.key("embedded-blocks", note.ident, orjson.dumps(trace))
    deep = _too_deep(done.blocks, MAX_EXPANDED, " once its embeds are expanded")
    result = done.blocks if deep else shorten(done.blocks, options.wording)  # embeds moved citations
    if deep is None:  # a note too deep is left out; its blocks could not even be stored
        blocks.keep(ident, result)
    held = [k for d in ast.iter_nodes(result, "Div") if (k := ast.kv(d["c"][0]).get("note", "")) and "embed" in d["c"][0][1]]
    return _Stage(trace, list(done.problems), ident, notes=sorted(done.notes), embedded=held, deep=deep,
                  first=_first_of(result)), result


def _first_of(blocks: list[Block]) -> list[Any]:
    """What Note.opens_with_title reads of the first block: its type, and a heading's level and id."""
    if not blocks:
        return ["Null"]
    b = blocks[0]
    return [b["t"], b["c"][0], b["c"][1][0]] if b["t"] == "Header" else [b["t"]]


def _first(stage: _Stage) -> Block | None:
    """A stand-in for the first block that a stage recorded (_first_of), or None (not recorded)."""
    f = stage.first
    if not f:
        return None
    return {"t": "Header", "c": [f[1], [f[2], [], []], []]} if f[0] == "Header" else {"t": f[0]}


def _replay_embeds(trace: list[list[Any]], path: str, index: Index, sources: dict[str, embeds.Source],
                   budget: embeds.Budget) -> bool:
    """Do the facts a cached transclusion read still hold?"""
    for kind, query, answer in trace:
        if kind == "budget":
            now: Any = budget.left
        elif kind == "resolve":
            res = index.resolve(query[1], query[0])
            now = [res.path, list(res.candidates), res.outside]
        elif kind == "source":
            src = sources.get(query)
            now = [src.ident, links.face(src.target)] if src else None
        else:
            return False
        if now != answer:
            return False
    return True

