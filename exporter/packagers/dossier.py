"""Render a dossier in parts on every core, then join them into one PDF (stitch.py).

Every note starts on a new page and numbers its own footnotes, so a run of notes lays out alone
as it does inside the whole dossier. The first contents and the Sources appendix, which need none
of the notes' HTML, start rendering before it is written (pdf.ahead). The parts render in
parallel and are joined as they come, in order (_Early); then the contents, which need each
note's first page, and the footers "n / N", which need N, render (stitch.Join: the contents'
pages go first, the footers over every page at the end; if the join could not be kept, the
parts are joined again meanwhile). The first
contents, rendered with the parts for their page count, are given the page numbers of the last
build (_guessed): when those still hold, they are the contents, rendered once. Parts are cut by
size, never by the number of workers, so --jobs never changes the bytes. A part that gives no
PDF (past its budget, or an error in the renderer) is rendered again note by note, and a note
that gives none alone is left out and named.
"""

from __future__ import annotations

import bisect
import queue
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson

from exporter import cache as store
from exporter.cache import Cache
from exporter.model import ast
from exporter.packagers import stitch
from exporter.packagers.output import atomic_file
from exporter.packagers.pdf import Part, Plan, Spool, Written, ahead, rendered, rendering
from exporter.packagers.pool import Outcome, Workers
from exporter.packagers.task import Facts, PdfError, Prepared, Rendered
from exporter.writers.html import anchor_id

OVERLAY_PAGES = 50  # pages per document of footers or of backlinks' numbers (several: every core draws)
AHEAD = 128  # parts whose templates may wait for a part before them to render (~0.1 MB each)


Render = Callable[[list[Prepared]], list[Outcome[Rendered]]]


def _pdf(outcome: Outcome[Rendered], what: str, done: Written) -> bytes:
    return _made(outcome, what, done).pdf


def _made(outcome: Outcome[Rendered], what: str, done: Written, note: str = "") -> Rendered:
    """note: the path of the one note the document holds, if it holds one (Written.heard)."""
    if outcome.value is None:
        raise PdfError(f"{what}: {outcome.error}")
    done.heard(outcome.value, note)
    return outcome.value


def _parts(plan: Plan, front: Prepared, parts: list[Part], run: Render, done: Written, first_run: Render
           ) -> tuple[Outcome[Rendered], list[tuple[Part, Rendered]], set[str]]:
    """Render a first front, for its page count, and the parts (_all_parts); a part that gives
    no PDF (past its budget, or an error in the renderer) again note by note. Returns the front,
    the parts rendered, and the ids of the notes left out: those that give no PDF alone (their
    sources go with them). first_run renders the first round (the front, then the parts), run
    any other."""
    appendix = _appendix(parts)
    first, *outcomes = first_run([front, *(p.prepared for p in parts)])
    kept: list[tuple[Part, Outcome[Rendered]]] = []
    for part, outcome in zip(parts, outcomes, strict=True):
        if outcome.value is None and len(part.notes) > 1:
            alone = [plan.part([n]) for n in part.notes]
            kept += zip(alone, run([a.prepared for a in alone]), strict=True)
        else:
            kept.append((part, outcome))
    left: set[str] = set()
    for part, outcome in kept:
        if outcome.value is None and part.notes:  # a single note, here
            (done.over if outcome.over else done.failed)[part.notes[0].path] = outcome.error or "no PDF"
            left.add(part.notes[0].id)
    if left and appendix:
        kept = [k for k in kept if k[0] is not appendix]
        if again := plan.appendix(left):
            kept += zip([again], run([again.prepared]), strict=True)
    made = [(part, _made(outcome, ", ".join(n.path for n in part.notes) or "the Sources appendix", done,
                         _holder(part, outcome)))
            for part, outcome in kept if not (part.notes and part.notes[0].id in left)]
    return first, made, left


def _holder(part: Part, outcome: Outcome[Rendered]) -> str:
    """The note of a part that has the first character its render drew as a box (a part may
    hold several short notes); "" when none is found (the Sources, or a character of the theme)."""
    if len(part.notes) == 1:
        return part.notes[0].path
    missing = outcome.value.missing if outcome.value else ()
    if not missing:
        return ""
    char = chr(missing[0])
    return next((n.path for n in part.notes if char in n.title or char in ast.stringify(n.blocks)), "")


def _all_parts(plan: Plan) -> list[Part]:
    """The parts in order, the Sources appendix last (when anything is cited)."""
    appendix = plan.appendix(set())
    return plan.parts + ([appendix] if appendix else [])


def _appendix(parts: list[Part]) -> Part | None:
    """The Sources appendix among _all_parts: the last part, when it holds no note."""
    return parts[-1] if parts and not parts[-1].notes else None


def _add(join: stitch.Join, spool: Spool, part: Part, made: Rendered) -> None:
    """A part's pages into the join (see _template)."""
    join.place(_template(join, spool, part, made))


def _template(join: stitch.Join, spool: Spool, part: Part, made: Rendered) -> stitch.Template:
    """A part joined on its own, without a cover: with where each of its notes starts (and its
    language), and which of its pages have slots for backlinks' numbers."""
    found = made.facts
    langs = sorted((found.anchors[anchor_id(n.id)], n.lang or "en") for n in part.notes if anchor_id(n.id) in found.anchors)
    return join.template(spool.read(made), bool(part.cover), langs, {k for k, *_ in found.slots}, found.cuts)


class _Early:
    """The first round's parts joined as they come, in order, while later ones still render
    (after an edit most come from the cache at once, and the join is done by the time the
    workers are). The join takes a part's links to go where the HTML says; it is kept only if
    every part rendered, none was left out, and the links went where the rendered parts say."""

    def __init__(self, workers: Workers, cache: Cache | None, spool: Spool, into: BinaryIO, parts: list[Part],
                 plan: Plan) -> None:
        self.workers, self.cache, self.spool, self.into, self.parts, self.plan = workers, cache, spool, into, parts, plan
        self.start = 0  # the dossier page the next part's first page is (a cover dropped)
        self.placed: dict[str, int] = {}  # anchors of the parts added -> their page in the dossier
        self.targets: set[str] = set()  # the notes backlinks number, in the parts added
        self.asked: set[int] = set()  # numbers documents started (_texts)
        self.join: stitch.Join | None = None
        self.added = 0
        self.broken = False
        self.got: dict[int, Outcome[Rendered]] = {}
        self.ready: dict[int, stitch.Template] = {}  # templates of parts heard before a part ahead of them

    def run(self, docs: list[Prepared]) -> list[Outcome[Rendered]]:
        heard: queue.SimpleQueue[tuple[int, Outcome[Rendered]]] = queue.SimpleQueue()
        # the contents first (the join starts from it), the appendix (joined last, but it can be
        # long), then the notes in order, as the join takes them
        order = [0, len(docs) - 1, *range(1, len(docs) - 1)] if _appendix(self.parts) else list(range(len(docs)))
        wait = rendering(self.workers, docs, self.cache, self.spool, lambda i, o: heard.put((i, o)), order)
        for _ in docs:
            i, outcome = heard.get()
            self.got[i] = outcome
            if not self.broken:
                self._advance()
        return wait()

    def _advance(self) -> None:
        if self.join is None:
            if (front := self.got.get(0)) is None:
                return
            if front.value is None:
                self.broken = True
                return
            written = set(front.value.facts.anchors).union(*(p.ids for p in self.parts))
            self.join = stitch.Join(self.into, stitch.version(self.spool.read(front.value)), written,
                                    front.value.facts.pages, cache=self.cache)
            self.start = front.value.facts.pages + 1
        while (outcome := self.got.get(self.added + 1)) is not None:
            if (made := outcome.value) is None:
                self.broken = True
                return
            ready = self.ready.pop(self.added + 1, None)
            self.join.place(ready or _template(self.join, self.spool, self.parts[self.added], made))
            self.added += 1
            self._numbered(made.facts, self.parts[self.added - 1].cover)
        # while a part still renders, the templates of those heard after it are made (from the
        # cache, after an edit): then only their copy waits for it
        for i in range(self.added + 2, min(self.added + 2 + AHEAD, len(self.parts) + 1)):
            if i not in self.ready and (outcome := self.got.get(i)) is not None and (made := outcome.value) is not None:
                self.ready[i] = _template(self.join, self.spool, self.parts[i - 1], made)

    def _numbered(self, found: Facts, cover: int) -> None:
        """After a part is added: the documents that draw the backlinks' page numbers of a range
        start rendering once a note that a backlink numbers is known to start in it (as the
        end will number it, unless the contents change length), not after the last part."""
        at, self.start = _placed(found, self.start, cover)
        self.placed.update(at)
        self.targets.update(anchor_id(target) for *_, target in found.slots)
        wanted = {(self.placed[t] - 1) // OVERLAY_PAGES for t in self.targets if t in self.placed} - self.asked
        if wanted:
            self.asked |= wanted
            ahead(self.workers, [self.plan.numbers(_texts(r)) for r in sorted(wanted)], self.cache)

    def kept(self, front: Rendered, parts: list[tuple[Part, Rendered]], known: set[str]) -> stitch.Join | None:
        """The join, if it holds: every part added, as rendered, its links where they go."""
        join = self.join
        if (self.broken or join is None or self.added != len(self.parts) or join.start != front.facts.pages
                or len(parts) != len(self.parts) or any(p is not q for (p, _), q in zip(parts, self.parts, strict=True))):
            return None
        return join if all((t in known) == (t in join.known) for t in join.targets) else None


def _numbers(plan: Plan, slots: list[tuple[int, float, float, str]], numbers: dict[str, int]
             ) -> tuple[stitch.Marks, list[tuple[Prepared, list[str]]]]:
    """The backlinks' page numbers: where each goes (page in the dossier -> x, top, text), and
    the documents that draw them (stitch._Numbers). A document draws every number of its range,
    used or not, so it is the same after an edit that moves slots or backlinks: the cache has it."""
    marks: dict[int, list[tuple[float, float, str]]] = {}
    for page, x, top, target in slots:
        if anchor_id(target) in numbers:
            marks.setdefault(page, []).append((x, top, str(numbers[anchor_id(target)])))
    ranges = sorted({(int(text) - 1) // OVERLAY_PAGES for placed in marks.values() for _, _, text in placed})
    return marks, [(plan.numbers(texts), list(texts)) for texts in map(_texts, ranges)]


def _placed(found: Facts, start: int, cover: int) -> tuple[dict[str, int], int]:
    """A part's anchors at their pages in the dossier, the part's first page after its cover
    (Part.cover: dropped) being start; and the page after the part."""
    return {name: start + k - cover for name, k in found.anchors.items()}, start + found.pages - cover


def _texts(r: int) -> tuple[str, ...]:
    """What the numbers document of range r draws: every page number in it, used or not."""
    return tuple(str(n) for n in range(r * OVERLAY_PAGES + 1, (r + 1) * OVERLAY_PAGES + 1))


def _numbers_key(plan: Plan) -> str:
    """The same notes in any order (a new title moves its note in the contents); the entry, unlike
    the one of plain numbers before it, holds their order too."""
    return store.key("dossier page numbers and order", *sorted(n.id for n in plan.notes))


def _guessed(cache: Cache | None, plan: Plan) -> dict[str, int]:
    """The page numbers the last build of these notes gave their anchors, in this plan's order
    (_reordered). The first contents are rendered with them: when they still hold (most edits
    move no note to another page), those are the contents, rendered once instead of twice.
    Only a guess: wrong, it costs what no guess costs, the contents rendered again."""
    if cache is None or (data := cache.get(_numbers_key(plan))) is None:
        return {}
    try:
        found = orjson.loads(data)
        order, numbers, end = found["order"], found["numbers"], found["end"]
        if not (isinstance(order, list) and all(type(n) is str for n in order) and isinstance(numbers, dict)
                and all(type(v) is int for v in numbers.values()) and type(end) is int):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        cache.undecoded()
        return {}
    return _reordered(order, numbers, end, [n.id for n in plan.notes])


def _reordered(order: list[str], numbers: dict[str, int], end: int, now: list[str]) -> dict[str, int]:
    """numbers, given to notes in order (each note's pages running up to the next's first,
    the last's up to end), moved as the same notes in the order now take the same pages: a
    retitled note moved in the contents, and the notes between its places moved by its length."""
    if now == order:
        return numbers
    if sorted(now) != sorted(order) or not all(anchor_id(n) in numbers for n in order):
        return {}
    bounds = [*(numbers[anchor_id(n)] for n in order), end]
    if bounds != sorted(bounds):
        return {}
    place = {n: k for k, n in enumerate(order)}
    shift: dict[int, int] = {}  # a note's place in order -> how far its pages move
    start = bounds[0]
    for n in now:
        k = place[n]
        shift[k] = start - bounds[k]
        start += bounds[k + 1] - bounds[k]
    moved: dict[str, int] = {}
    for name, page in numbers.items():
        k = bisect.bisect_right(bounds, page) - 1  # the note whose pages hold it (past end: none)
        moved[name] = page + shift.get(k, 0) if 0 <= k < len(order) else page
    return moved


def one_pass(plan: Plan, run: Render, done: Written) -> bytes:
    """The whole dossier rendered as one document, its backlinks numbered as in the joined one."""
    whole = _made(run([plan.whole])[0], "the dossier", done)
    data, found = whole.pdf, whole.facts
    marks, overlays = _numbers(plan, found.slots, {name: k + 1 for name, k in found.anchors.items()})
    if not marks:
        return data
    drawn = run([doc for doc, _ in overlays])
    return stitch.number(data, found, marks, [(_pdf(o, "the backlinks' page numbers", done), texts)
                                              for o, (_, texts) in zip(drawn, overlays, strict=True)])


def write_dossier(plan: Plan, target: Path, workers: Workers, cache: Cache | None = None) -> Written:
    """Render and join the dossier, then write it atomically. Parts rendered before come from
    the cache: after an edit, only the parts that changed are rendered again."""
    done = Written()
    def run(docs: list[Prepared]) -> list[Outcome[Rendered]]:
        return rendered(workers, docs, cache)

    if not plan.joinable:  # a theme that numbers pages elsewhere: one document
        _failed(plan, done)
        with atomic_file(target) as tmp:
            tmp.write_bytes(one_pass(plan, run, done))
        done.paths.append(target)
        return done

    with Spool() as spool:  # the parts' PDFs wait there for the join, not in memory
        return _joined(plan, target, workers, cache, spool, done)


def _failed(plan: Plan, done: Written) -> None:
    """The notes pandoc could not write, the first of those left out (once the notes' HTML is
    written, before any render is heard of)."""
    done.over.update({path: f"pandoc {why}" for path, why in plan.failed.items()})


def _joined(plan: Plan, target: Path, workers: Workers, cache: Cache | None, spool: Spool, done: Written) -> Written:
    with atomic_file(target) as tmp, tmp.open("wb") as into:  # written as it is joined
        guess = _guessed(cache, plan)
        first_front = plan.front(guess, set())
        # the front and the appendix need none of the notes' HTML: they render while it is written
        ahead(workers, [first_front, *(a.prepared for a in [plan.appendix(set())] if a)], cache)
        early = _Early(workers, cache, spool, into, _all_parts(plan), plan)
        _failed(plan, done)
        first, parts, left = _parts(plan, first_front, early.parts, lambda docs: rendered(workers, docs, cache, spool),
                                    done, early.run)
        front_pages = (opening := _made(first, "the contents", done)).facts.pages
        counted = [made.facts for _, made in parts]
        gone = {anchor_id(nid) for nid in left}
        if not any(p.notes for p, _ in parts):
            path, why = next(iter({**done.failed, **done.over}.items()))
            raise PdfError(f"no note could be rendered ({path}: {why})")
        known = set(opening.facts.anchors).union(*({name for name, k in found.anchors.items() if k >= part.cover}
                                                     for (part, _), found in zip(parts, counted, strict=True)))
        join = early.kept(opening, parts, known)
        for _ in range(3):  # the contents' own length moves every number after it; it settles at once
            numbers: dict[str, int] = {}
            slots: list[tuple[int, float, float, str]] = []  # (page in the dossier, x, top, target)
            start = front_pages + 1
            notes_end = 0  # where the notes' pages end: the appendix's first page, or past the last
            for (part, _), found in zip(parts, counted, strict=True):
                if not part.notes:
                    notes_end = start
                at, after = _placed(found, start, part.cover)
                numbers.update(at)
                slots += [(start + k - 1 - part.cover, x, top, target) for k, x, top, target in found.slots]
                start = after
            total = start - 1
            notes_end = notes_end or start
            footers = [plan.footers(p, min(OVERLAY_PAGES, total - p + 1), total)
                       for p in range(1, total + 1, OVERLAY_PAGES)]
            marks, overlays = _numbers(plan, slots, numbers)
            # the front and the overlays render while the parts are joined (unless they were);
            # the first front is the front when it was given these numbers
            front_doc = plan.front(numbers, gone)
            again = front_doc != first_front
            waiting = rendering(workers, [front_doc] * again + [*footers, *(doc for doc, _ in overlays)], cache)
            if join is None:
                into.seek(0)
                into.truncate()
                join = stitch.Join(into, stitch.version(spool.read(opening)), known, front_pages, cache=cache)
                for part, made in parts:
                    _add(join, spool, part, made)
            drawn = waiting()
            contents = _made(drawn.pop(0), "the contents", done) if again else opening
            if contents.facts.pages == front_pages:
                break
            front_pages, join = contents.facts.pages, None
            first_front, opening = front_doc, contents  # the contents of any later round with these numbers
        else:
            raise PdfError("the contents page count did not settle")
        if cache is not None and numbers != guess:
            cache.put(_numbers_key(plan), orjson.dumps({"order": [n.id for n in plan.notes], "numbers": numbers,
                                                        "end": notes_end}))
        join.finish(spool.read(contents), [_pdf(f, "the page numbers", done) for f in drawn[:len(footers)]],
                    [(_pdf(o, "the backlinks' page numbers", done), texts)
                     for o, (_, texts) in zip(drawn[len(footers):], overlays, strict=True)], marks,
                    contents.facts.cuts)
    done.paths.append(target)
    return done
