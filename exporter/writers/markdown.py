"""Write notes as portable CommonMark with [^n] footnotes, for the offline bundle."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import orjson
import yaml

from exporter import cache as store
from exporter.cache import Cache
from exporter.i18n import Words
from exporter.model import ast
from exporter.model.document import Block, Note, backlinks, file_stems
from exporter.transforms.structure import slug, unique_anchors
from exporter.writers import pandoc
from exporter.writers.links import AssetHref, Href, settle_inlines

FORMAT = "commonmark+footnotes+pipe_tables+tex_math_dollars+strikeout+task_lists+raw_html"


def bundle_paths(notes: list[Note]) -> dict[str, str]:
    """Note id -> its file in the bundle; index.md at the top is the bundle's own."""
    return {nid: stem + ".md" for nid, stem in file_stems(notes, reserved=("index",)).items()}


@lru_cache(maxsize=65536)
def relative(from_path: str, to_path: str) -> str:
    """Percent-encoded relative URL between two bundle files (asked again for every link a
    cached file holds, hence remembered)."""
    if posixpath.dirname(from_path) == posixpath.dirname(to_path):  # the common case, no os calls
        return quote(posixpath.basename(to_path), safe="/")
    rel = posixpath.relpath(to_path, posixpath.dirname(from_path) or ".")
    return quote(rel, safe="/")


def _portable(blocks: list[Block]) -> list[Block]:
    """Divs have no CommonMark form: callouts and embeds become quotes, anchors raw <a id>."""

    def visit(bs: list[Any]) -> list[Any]:
        out: list[Any] = []
        for b in bs:
            if b["t"] != "Div":
                out.append(b)
                continue
            (ident, classes, _), inner = b["c"]
            if "callout" in classes:
                kind = next(
                    (c[8:] for c in classes if c.startswith("callout-") and c != "callout-title"), "note"
                )
                title_div = inner[0] if inner and inner[0]["t"] == "Div" else None
                title = title_div["c"][1][0]["c"] if title_div else []
                # raw, so viewers that know callouts (Obsidian, GitHub alerts) still see one
                marker = {"t": "RawInline", "c": ["commonmark", f"[!{kind}]"]}
                head = ast.Para([marker, ast.SPACE, *title])
                out.append({"t": "BlockQuote", "c": [head, *inner[1 if title_div else 0 :]]})
            elif "embed" in classes:
                out.append({"t": "BlockQuote", "c": inner})
            elif "callout-title" in classes:  # kept for the callout around it (visited next)
                out.append(b)
            else:
                if ident and inner and inner[0]["t"] in ("Para", "Plain"):
                    anchor = {"t": "RawInline", "c": ["html", f'<a id="{ident.lstrip("^")}"></a>']}
                    inner = [{"t": inner[0]["t"], "c": [anchor, *inner[0]["c"]]}, *inner[1:]]
                out.extend(inner)
        return out

    return ast.map_blocks(blocks, visit)


def _plain_inlines(inlines: list[Any]) -> list[Any]:
    """CommonMark has no attributes: spans dissolve, links lose classes, sized images go raw."""
    for x in inlines:
        t = x["t"]
        if t == "Span" or ((t == "Link" or t == "Image") and x["c"][0] != ["", [], []]):
            break
    else:
        return inlines
    out: list[Any] = []
    for x in inlines:
        t = x["t"]
        if t == "Span":
            if "mark" in x["c"][0][1]:
                out += [
                    {"t": "RawInline", "c": ["html", "<mark>"]},
                    *x["c"][1],
                    {"t": "RawInline", "c": ["html", "</mark>"]},
                ]
            else:
                out.extend(x["c"][1])
            continue
        if t == "Image" and (w := ast.kv(x["c"][0]).get("width")):
            alt = ast.stringify(x["c"][1]).replace('"', "&quot;")
            src = x["c"][2][0].replace('"', "%22")
            x = {"t": "RawInline", "c": ["html", f'<img src="{src}" alt="{alt}" width="{w}" />']}
        elif (t == "Link" or t == "Image") and x["c"][0] != ["", [], []]:
            x = {"t": t, "c": [["", [], []], x["c"][1], x["c"][2]]}
        out.append(x)
    return out


_ESCAPE = re.compile(r"([\\`*_\[\]<>|!#~$&=^{}])")


def _simple_markdown(inlines: list[Any]) -> str | None:
    """CommonMark for the plain inlines a citation is made of; None for anything richer."""
    out: list[str] = []
    for x in inlines:
        t = x["t"]
        if t == "Str":
            out.append(_ESCAPE.sub(r"\\\1", x["c"]))
        elif t in ("Space", "SoftBreak"):
            out.append(" ")
        elif t == "Span":
            inner = _simple_markdown(x["c"][1])
            if inner is None:
                return None
            out.append(inner)
        elif t == "Link" and re.fullmatch(r"https?://[^\s()<>]+", x["c"][2][0]):
            label = _simple_markdown(x["c"][1])
            if label is None:
                return None
            out.append(f"[{label}]({x['c'][2][0]})")
        else:
            return None
    return "".join(out)


def _footnotes(blocks: list[Block]) -> list[Block]:
    """[^n] calls in place and definitions at the end, numbered per note."""
    defs: list[Block] = []

    def one(x: Any) -> list[Any]:
        k = len(defs) + 1
        flat = ast.flatten_note(x["c"])
        simple = _simple_markdown(flat)
        if simple is not None:  # citations: written here, which keeps them out of the pandoc batch
            defs.append({"t": "RawBlock", "c": ["commonmark", f"[^{k}]: {simple}"]})
        else:
            defs.append(ast.Para([{"t": "RawInline", "c": ["commonmark", f"[^{k}]: "]}, *flat]))
        return [{"t": "RawInline", "c": ["commonmark", f"[^{k}]"]}]

    return ast.map_notes(blocks, one) + defs


def front(note: Note) -> str:
    """The source's frontmatter, byte for byte, so tools reading it line by line see the same."""
    if note.front:
        return note.front + ("" if note.front.endswith(("\n", "\r")) else "\n") + "\n"
    if not note.meta:
        return ""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: many times faster
    return "---\n" + yaml.dump(note.meta, Dumper=dumper, sort_keys=False, allow_unicode=True) + "---\n\n"


def header(note: Note, words: Words) -> list[Block]:
    """The title as H1 (unless the body opens with it), the byline as a line under it."""
    blocks: list[Block] = [] if note.opens_with_title else [
        {"t": "Header", "c": [1, ["", [], []], ast.text_inlines(note.title)]}
    ]
    byline: list[Any] = []
    if note.channel_name:
        byline += [*ast.text_inlines(words("From:")), ast.SPACE, {"t": "Emph", "c": ast.text_inlines(note.channel_name)}]
    if note.video_id:
        sep = [ast.SPACE, ast.Str("·"), ast.SPACE] if byline else []
        byline += sep + [
            ast.Link(ast.text_inlines(words("Watch the video")), f"https://www.youtube.com/watch?v={note.video_id}")
        ]
    if byline:
        blocks.append(ast.Para(byline))
    return blocks


def _with_header(note: Note, blocks: list[Block], words: Words) -> list[Block]:
    head = header(note, words)
    if note.opens_with_title:  # the byline goes under the note's own H1
        return blocks[:1] + head + blocks[1:]
    return head + blocks


def viewer_anchors(note: Note) -> dict[str, str]:
    """Heading id in the model -> the anchor a markdown viewer gives that heading.

    Viewers make anchors from heading text, numbering repeats in document order (GitHub's
    rule), over the whole file: the title line and embedded notes' headings count too. So
    links aim at what the viewer will have, not at the model's ids.
    """
    unique = unique_anchors()
    if not note.opens_with_title:
        unique(slug(note.title))
    return {h["c"][1][0]: unique(slug(ast.stringify(h["c"][2]))) for h in ast.iter_nodes(note.blocks, "Header")}


def write_notes(notes: list[Note], paths: dict[str, str], failed: dict[str, str] | None = None,
                cache: Cache | None = None, show_backlinks: bool = True, words: Words | None = None,
                ) -> dict[str, str]:
    """Bundle path -> markdown text, for every note, in one pandoc call.

    paths maps the id of every note in the bundle to its file (see bundle_paths). A note pandoc
    could not write within its budget gets a notice for a body, and failed[note path] says why.

    A note's file depends on its blocks (note.ident), its own fields and path, and, for each
    link in it, where the linked note's file and heading are: the cache keeps the file with
    the links it wrote, and gives it back while those links still come out the same.
    """
    cache = cache or Cache.off()
    words = words or Words()
    by_id = {n.id: n for n in notes}
    anchors: dict[str, dict[str, str]] = {}

    keep: dict[str, bytes] = {}  # what goes into the cache, in one write at the end

    def anchors_of(nid: str) -> dict[str, str]:
        if nid not in anchors:
            anchors[nid] = _anchors(by_id[nid], cache, keep)
        return anchors[nid]

    def href_from(here: str, nid: str, anchor: str) -> str | None:
        if nid not in paths:
            return None
        url = relative(here, paths[nid]) if paths[nid] != here else ""
        if anchor and not anchor.startswith("^"):
            anchor = anchors_of(nid).get(anchor, anchor) if nid in by_id else anchor
        return url + (f"#{quote(anchor.lstrip('^'))}" if anchor else "") or "#"

    # "Linked from": the notes of the bundle linking here, as relative links at the end
    back = {n.id: [[x.label, relative(paths[n.id], paths[x.id])] for x in linked]
            for n, linked in ((by_id[k], v) for k, v in backlinks(notes).items())} if show_backlinks else {}
    keys = {n.id: _key(n, paths[n.id], back.get(n.id, []), words.lang) for n in notes}
    found = cache.get_many(list(keys.values())) if cache.enabled else {}
    texts: dict[str, str] = {}
    todo: list[Note] = []
    for note in notes:
        entry = _entry(found.get(keys[note.id]))
        here = paths[note.id]
        if entry is not None and all(href_from(here, nid, a) == answer for nid, a, answer in entry[0]):
            texts[here] = entry[1]
        else:
            todo.append(note)
    written: dict[str, list[list[Any]]] = {n.id: [] for n in todo}

    def docs() -> Iterator[list[Block]]:
        for note in todo:
            here = paths[note.id]

            def href(nid: str, anchor: str, here: str = here, seen: list[list[Any]] = written[note.id]) -> str | None:
                answer = href_from(here, nid, anchor)
                seen.append([nid, anchor, answer])
                return answer

            def asset(path: str, here: str = here) -> str:
                return relative(here, path)

            def plain(xs: list[Any], h: Href = href, a: AssetHref = asset) -> list[Any]:
                return _plain_inlines(settle_inlines(xs, h, a))

            blocks = ast.map_inlines(_portable(note.blocks), plain)
            yield _with_header(note, _footnotes(blocks) + _linked_from(back.get(note.id, []), words), words)

    problems: dict[int, str] = {}
    made = pandoc.write(docs(), FORMAT, chunk=pandoc.chunk_size(len(todo)), failed=problems, cache=cache)
    for i, (note, text) in enumerate(zip(todo, made, strict=True)):
        if i in problems:
            text = pandoc.notice(problems[i]) + "\n"
            if failed is not None:
                failed[note.path] = problems[i]
        texts[paths[note.id]] = front(note) + text
        if i not in problems and cache.enabled:
            keep[keys[note.id]] = orjson.dumps([written[note.id], texts[paths[note.id]]])
    cache.put_many(keep)
    return {paths[n.id]: texts[paths[n.id]] for n in notes}


def _key(note: Note, path: str, linked: list[list[str]], lang: str) -> str:
    """What a note's file depends on besides its links (recorded with it, see write_notes)."""
    return store.key("bundle-note", store.code(), note.ident, note.title, note.channel_name or "",
                     note.video_id or "", orjson.dumps(note.meta), note.front, path, orjson.dumps(linked), lang)


def _linked_from(linked: list[list[str]], words: Words) -> list[Block]:
    """A section at the end: the notes linking here, each a relative link."""
    if not linked:
        return []
    items = [[{"t": "Plain", "c": [ast.Link(ast.text_inlines(label), href)]}] for label, href in linked]
    return [{"t": "Header", "c": [2, ["", [], []], ast.text_inlines(words("Linked from"))]},
            {"t": "BulletList", "c": items}]


def _entry(data: bytes | None) -> tuple[list[list[Any]], str] | None:
    if data is None:
        return None
    try:
        links, text = orjson.loads(data)
        return links, text
    except (ValueError, TypeError):
        return None


def _anchors(note: Note, cache: Cache, keep: dict[str, bytes]) -> dict[str, str]:
    """viewer_anchors, kept in the cache by the note's blocks and title."""
    key = store.key("viewer-anchors", store.code(), note.ident, note.title)
    data = cache.get(key) if cache.enabled else None
    if data is not None:
        try:
            return dict(orjson.loads(data))
        except (ValueError, TypeError):
            pass
    found = viewer_anchors(note)
    if cache.enabled:
        keep[key] = orjson.dumps(found)
    return found
