"""Render a dossier in parts on every core, then join them into one PDF (stitch.py).

Every note starts on a new page and numbers its own footnotes, so a run of notes lays out alone
as it does inside the whole dossier. The parts render in parallel; then the contents, which needs
each note's first page, and the footers "n / N", which need N; then one join. Parts are cut by
size, never by the number of workers, so --jobs never changes the bytes. A part past its budget
is rendered again note by note, and a note past its own budget is left out and named.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exporter.cache import Cache
from exporter.packagers import stitch
from exporter.packagers.output import atomic_file
from exporter.packagers.pdf import Part, PdfError, Plan, Prepared, Rendered, Written, rendered, write
from exporter.packagers.pool import Outcome, Workers
from exporter.writers.html import anchor_id

FOOTER_PAGES = 200  # pages per footer document


Render = Callable[[list[Prepared]], list[Outcome[Rendered]]]


def _pdf(outcome: Outcome[Rendered], what: str, done: Written) -> bytes:
    if outcome.value is None:
        raise PdfError(f"{what}: {outcome.error}")
    done.refused += outcome.value.refused
    return outcome.value.pdf


def _parts(plan: Plan, run: Render, done: Written
           ) -> tuple[Outcome[Rendered], list[tuple[Part, bytes]], set[str]]:
    """Render the parts (and a first front, for its page count); a part past its budget again
    note by note. Returns the front, the parts rendered, and the ids of the notes left out:
    those past their own budget (their sources go with them)."""
    appendix = plan.appendix(set())
    parts = plan.parts + ([appendix] if appendix else [])
    first, *outcomes = run([plan.front({}, set()), *(p.prepared for p in parts)])
    kept: list[tuple[Part, Outcome[Rendered]]] = []
    for part, outcome in zip(parts, outcomes, strict=True):
        if outcome.value is None and outcome.over and len(part.notes) > 1:
            alone = [plan.part([n]) for n in part.notes]
            kept += zip(alone, run([a.prepared for a in alone]), strict=True)
        else:
            kept.append((part, outcome))
    left: set[str] = set()
    for part, outcome in kept:
        if outcome.value is None and outcome.over and part.notes:  # a single note, here
            done.over[part.notes[0].path] = outcome.error or "no PDF"
            left.add(part.notes[0].id)
    if left and appendix:
        kept = [k for k in kept if k[0] is not appendix]
        if again := plan.appendix(left):
            kept += zip([again], run([again.prepared]), strict=True)
    made = [(part, _pdf(outcome, ", ".join(n.path for n in part.notes) or "the Sources appendix", done))
            for part, outcome in kept if not (part.notes and part.notes[0].id in left)]
    return first, made, left


def write_dossier(plan: Plan, target: Path, workers: Workers, cache: Cache | None = None) -> Written:
    """Render and join the dossier, then write it atomically. Parts rendered before come from
    the cache: after an edit, only the parts that changed are rendered again."""
    done = Written(over={path: f"pandoc {why}" for path, why in plan.failed.items()})
    if not plan.joinable:  # a theme that numbers pages elsewhere: one document
        done.refused = write(plan.whole, target, workers, cache)
        done.paths.append(target)
        return done
    def run(docs: list[Prepared]) -> list[Outcome[Rendered]]:
        return rendered(workers, docs, cache)

    first, parts, left = _parts(plan, run, done)
    front_pages = stitch.anchors(_pdf(first, "the contents", done))[0]
    counted = [stitch.anchors(data) for _, data in parts]
    gone = {anchor_id(nid) for nid in left}
    if not any(p.notes for p, _ in parts):
        raise PdfError("every note ran past its budget")
    for _ in range(3):  # the contents' own length moves every number after it; it settles at once
        numbers: dict[str, int] = {}
        start = front_pages + 1
        for pages, found in counted:
            numbers.update({name: start + k - 1 for name, k in found.items()})
            start += pages - 1  # each part opens with the cover, which is dropped
        total = start - 1
        docs = [plan.front(numbers, gone)] + [
            plan.footers(p, min(FOOTER_PAGES, total - p + 1), total)
            for p in range(1, total + 1, FOOTER_PAGES)]
        front, *footers = run(docs)
        front_pdf = _pdf(front, "the contents", done)
        pages = stitch.anchors(front_pdf)[0]
        if pages == front_pages:
            break
        front_pages = pages
    else:
        raise PdfError("the contents page count did not settle")
    langs: list[list[tuple[int, str]]] = [[]] + [sorted((found[anchor_id(n.id)], n.lang or "en") for n in part.notes if anchor_id(n.id) in found)
                    for (part, _), (_, found) in zip(parts, counted, strict=True)]
    joined = stitch.stitch([(front_pdf, False), *((data, True) for _, data in parts)],
                           [_pdf(f, "the page numbers", done) for f in footers], langs)
    with atomic_file(target) as tmp:
        tmp.write_bytes(joined)
    done.paths.append(target)
    return done

