"""Write notes as HTML fragments for the PDF and EPUB packagers (one batched pandoc call).

Footnotes are settled here, per target: for print they become inline ``span.footnote``
(WeasyPrint floats them to the page bottom), except those too long for a page's foot, which
become endnotes; for EPUB they become ``noteref`` links to ``aside`` pop-ups at the end of the
chapter, each with a link back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal
from unicodedata import east_asian_width

import orjson

from exporter import cache as store
from exporter.cache import Cache
from exporter.model import ast
from exporter.model.document import Block, Inline, Note
from exporter.writers import pandoc
from exporter.writers.links import AssetHref, Href, settle

Target = Literal["pdf", "epub"]


def anchor_id(note_id: str, anchor: str = "") -> str:
    """The one naming rule for ids in HTML products: unique across notes, starts with a letter."""
    if not anchor:
        return note_id
    return f"{note_id}--{anchor.lstrip('^').replace('^', '')}"


@dataclass(frozen=True)
class Fragment:
    note: Note
    html: str
    failed: str | None = None  # why the body could not be written (html is then a notice)
    # what the note's links and images were settled to: [note id, anchor, href] and
    # [asset, href], so a cache can tell whether the same note would come out the same
    links: list[list[Any]] = field(default_factory=list)
    images: list[list[Any]] = field(default_factory=list)


def _prefix_ids(blocks: list[Block], note_id: str) -> list[Block]:
    def visit(b: Block) -> Block:
        at = 1 if b["t"] == "Header" else 0 if b["t"] == "Div" else None
        if at is None or not b["c"][at][0]:
            return b
        c = list(b["c"])
        a = c[at]
        c[at] = [anchor_id(note_id, a[0]), a[1], a[2]]
        return {"t": b["t"], "c": c}

    return ast.map_each_block(blocks, visit)


def _raw(html: str) -> dict[str, Any]:
    return {"t": "RawInline", "c": ["html", html]}


def _simple_html(inlines: list[Any]) -> str | None:
    """HTML for the plain inlines a citation is made of (text, spaces, links, spans).

    Citations are most of a note's footnotes; writing them here keeps them out of the
    pandoc batch. Anything richer returns None and goes through pandoc.
    """
    out: list[str] = []
    for x in inlines:
        t = x["t"]
        if t == "Str":
            out.append(escape(x["c"], quote=False))
        elif t in ("Space", "SoftBreak"):
            out.append(" ")
        elif t in ("Link", "Span"):
            inner = _simple_html(x["c"][1])
            if inner is None:
                return None
            (ident, classes, kv) = x["c"][0]
            if ident or (kv and t == "Link"):
                return None
            cls = f' class="{escape(" ".join(classes))}"' if classes else ""
            if "citation" not in classes:  # what a citation span carries is for the transforms
                cls += "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in kv)
            if t == "Link":
                out.append(f'<a href="{escape(x["c"][2][0])}"{cls}>{inner}</a>')
            else:
                out.append(f"<span{cls}>{inner}</span>")
        else:
            return None
    return "".join(out)


def footnote_size(body: list[Block]) -> int:
    """How much of a page's foot a footnote takes, in characters of its text (a wide character,
    as in Chinese or Japanese, counts as two)."""
    text = ast.stringify(body)
    return len(text) + sum(1 for c in text if east_asian_width(c) in "WF")


def _footnotes(blocks: list[Block], note_id: str, target: Target, back_label: str,
               endnotes: int | None = None) -> list[Block]:
    """endnotes (print): a footnote that would take this many characters (footnote_size) of a
    page's foot, alone or with the footnotes before it in the same block, goes to the end of
    the note instead. WeasyPrint cannot split a footnote over pages: one taller than the page
    lost its first lines off the top, and a long one left pages all but empty before it."""
    asides: list[Block] = []
    count = 0
    ends: list[Block] = []
    held = 0  # characters of footnotes in the block being visited
    numbers: dict[int, int] = {}  # each footnote's number (as the counter gives it), made for an endnote

    def one(x: Inline) -> list[Inline]:
        nonlocal count, held
        body = x["c"]
        flat = ast.flatten_note(body)
        simple = _simple_html(flat)
        if target == "pdf":
            size = footnote_size(body)
            if endnotes is not None and held + size >= endnotes:
                if not numbers:  # the notes are visited inner lists first, not in their order
                    numbers.update({id(n): k for k, n in enumerate(ast.iter_nodes(blocks, "Note"), 1)})
                return _endnote(body, note_id, len(ends) + 1, ends, numbers.get(id(x)))
            held += size
            if simple is not None:
                return [_raw(f'<span class="footnote">{simple}</span>')]
            return [ast.Span(flat, ast.attr("", ["footnote"]))]
        count += 1
        k = count
        fn, ref = f"{note_id}--fn{k}", f"{note_id}--fnref{k}"
        back = (f' <a class="backlink" role="doc-backlink" href="#{ref}" aria-label="{escape(back_label)}"'
                f' title="{escape(back_label)}">↩</a>')
        aside = f'<aside epub:type="footnote" role="doc-footnote" class="footnote" id="{fn}">'
        if simple is not None:
            asides.append({"t": "RawBlock", "c": ["html", f"{aside}<p>{simple}{back}</p></aside>"]})
        else:
            paras = [dict(b) for b in body]
            if paras and paras[-1]["t"] in ("Para", "Plain"):
                paras[-1] = {"t": paras[-1]["t"], "c": [*paras[-1]["c"], _raw(back)]}
            asides.extend(
                [
                    {"t": "RawBlock", "c": ["html", aside]},
                    *paras,
                    {"t": "RawBlock", "c": ["html", "</aside>"]},
                ]
            )
        return [
            _raw(f'<a epub:type="noteref" role="doc-noteref" class="noteref" id="{ref}" href="#{fn}">{k}</a>')
        ]

    new = []
    for b in blocks:
        held = 0
        new += ast.map_notes([b], one)
    if asides:
        new.append({"t": "Div", "c": [ast.attr("", ["footnotes"]), asides]})
    if ends:
        new.append({"t": "Div", "c": [ast.attr("", ["endnotes"]), ends]})
    return new


def _endnote(body: list[Block], note_id: str, k: int, ends: list[Block], number: int | None) -> list[Inline]:
    """A call that counts as a footnote (number: its place among them), and its note, kept whole
    (paragraphs, lists), at the end. The numbers are text: a ::before of the footnote counter
    was a box inside the link, and WeasyPrint wrote each such link twice (print.css keeps that
    way for a number not known here: a note inside a note's text, which has changed)."""
    call, mark = f"{note_id}--enref{k}", f"{note_id}--en{k}"
    shown = "" if number is None else str(number)
    back = _raw(f'<a class="endnote-number" href="#{call}">{shown and shown + "."}</a>')
    paras = [dict(b) for b in body] or [{"t": "Para", "c": []}]
    if paras[0]["t"] in ("Para", "Plain"):
        paras[0] = {"t": paras[0]["t"], "c": [back, ast.SPACE, *paras[0]["c"]]}
    else:
        paras.insert(0, {"t": "Plain", "c": [back]})
    ends.append({"t": "Div", "c": [ast.attr(mark, ["endnote"]), paras]})
    # counted in its own style, not print.css: a stylesheet with a counter-increment would keep
    # the contents and the Sources from being laid out in pieces (pdf._pieces)
    return [_raw(f'<a class="endnote-call" id="{call}" href="#{mark}" style="counter-increment: footnote">{shown}</a>')]


def render(
    notes: list[Note],
    target: Target,
    href: Href,
    asset: AssetHref,
    transform: Callable[[Note, list[Block]], list[Block]] | None = None,
    unresolved: str = "text",
    cache: Cache | None = None,
    back_label: str = "Back to the text",
    shaped: str | None = None,
    endnotes: int | None = None,
    prepare: Callable[[list[Block]], list[Block]] | None = None,
) -> list[Fragment]:
    """HTML body fragments (no title or byline: templates add those), one per note.

    href(note_id, anchor) gives the link for a note in the product, or None for plain text.
    prepare changes the blocks before their footnotes are set (and flattened), so that what it
    does shows in them too; transform comes after. shaped names everything both depend on
    besides the note (None: unknown, and then no fragment comes from the cache). A fragment the
    cache keeps is used when its note is the same (its blocks' identity, id and title) and every
    link and image it asked about is settled as before: the note is then neither loaded nor
    written again. endnotes: see _footnotes (shaped must name it).
    """
    cache = cache or Cache.off()
    keys = [_fragment_key(n, target, unresolved, back_label, shaped)
            if cache.enabled and shaped is not None and n.ident else "" for n in notes]
    kept = cache.get_many([k for k in keys if k])
    out: list[Fragment | None] = [_kept(n, kept.get(k), href, asset, cache) if k else None
                                  for n, k in zip(notes, keys, strict=True)]
    todo = [i for i, f in enumerate(out) if f is None]
    asked: list[tuple[list[list[Any]], list[list[Any]]]] = []

    def docs() -> Iterator[list[Block]]:
        for note in (notes[i] for i in todo):
            links: list[list[Any]] = []
            images: list[list[Any]] = []
            asked.append((links, images))

            def link(nid: str, anchor: str, links: list[list[Any]] = links) -> str | None:
                answer = href(nid, anchor)
                links.append([nid, anchor, answer])
                return answer

            def image(path: str, images: list[list[Any]] = images) -> str | None:
                answer = asset(path)
                images.append([path, answer])
                return answer

            blocks = settle(note.blocks, link, image, unresolved)
            blocks = _prefix_ids(prepare(blocks) if prepare else blocks, note.id)
            blocks = _footnotes(blocks, note.id, target, back_label, endnotes)
            yield transform(note, blocks) if transform else blocks

    extra = ["--mathml"] if target == "epub" else []
    failed: dict[int, str] = {}
    htmls = pandoc.write(docs(), "html5", extra, chunk=pandoc.chunk_size(len(todo)), failed=failed,
                         cache=cache) if todo else []
    made: dict[str, bytes] = {}
    for k, (i, h) in enumerate(zip(todo, htmls, strict=True)):
        links, images = asked[k]
        if k in failed:
            h = f'<p class="missing-embed">{escape(pandoc.notice(failed[k]))}</p>\n'
        elif keys[i]:
            made[keys[i]] = orjson.dumps({"html": h, "links": links, "images": images})
        out[i] = Fragment(notes[i], h, failed.get(k), links, images)
    cache.put_many(made)
    return [f for f in out if f is not None]


def settled_alike(links: list[list[Any]], images: list[list[Any]], href: Href, asset: AssetHref) -> bool:
    """Whether each link and image a note asked about (Fragment.links, .images) is settled as it
    was: then what was made of the note then is what would be made of it now."""
    return all(href(nid, anchor) == answer for nid, anchor, answer in links) and all(
        asset(path) == answer for path, answer in images)


def _fragment_key(note: Note, target: str, unresolved: str, back_label: str, shaped: str) -> str:
    return store.key("html fragment", store.code(), pandoc.fingerprint(), target, unresolved, back_label, shaped,
                     note.id, note.title, note.ident)


def _kept(note: Note, data: bytes | None, href: Href, asset: AssetHref, cache: Cache) -> Fragment | None:
    """The fragment the cache keeps for note, if its links and images still go where they went."""
    if data is None:
        return None
    try:
        found = orjson.loads(data)
        html, links, images = found["html"], found["links"], found["images"]
        same = isinstance(html, str) and settled_alike(links, images, href, asset)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        cache.undecoded()
        return None
    return Fragment(note, html, None, links, images) if same else None
