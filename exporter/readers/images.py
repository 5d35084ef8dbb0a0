"""Look at the images notes embed before any product draws them: small files can expand.

An SVG is drawn by following its references (`<use>`, `url(#...)`, markers), so a few KB can
name millions of shapes, pull in files, or carry entities; it is used only when a bounded check
finds none of that. A raster image is kept under a pixel budget (a 2 MB PNG can hold 1.6
gigapixels); only its header is read.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # imported where used: most vaults have no image, every command starts faster
    from lxml import etree

MAX_PIXELS = 50_000_000
MAX_SVG_BYTES = 4 << 20
MAX_SVG_NODES = 50_000  # elements drawn once every reference is followed
SVG_NS = "{http://www.w3.org/2000/svg}"
HREFS = ("href", "{http://www.w3.org/1999/xlink}href")
URL = re.compile(r"url\(\s*['\"]?([^'\")]*)['\"]?\s*\)", re.I)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
MARKERS = ("marker-start", "marker-mid", "marker-end", "marker")
MARKER_STYLE = re.compile(r"marker(?:-start|-mid|-end)?\s*:", re.I)
RULE = re.compile(r"([^{}]*)\{([^{}]*)\}")  # a CSS rule, read loosely (see _rules)
ACTIVE = frozenset(("script", "foreignObject", "iframe", "object", "embed", "handler", "listener"))


@dataclass(frozen=True)
class Verdict:
    """Why an image is not drawn. "unsafe": it runs or fetches something; "expands": drawing
    it would not end; "unreadable": the file cannot be read (all three are left out of every
    product); "large": a raster image over the pixel budget (a link to the file instead)."""

    kind: Literal["unsafe", "expands", "unreadable", "large"]
    reason: str


def is_svg(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in (".svg", ".svgz") or b"<svg" in head[:4096]


def inspect(path: Path) -> Verdict | None:
    """None when the image may be drawn; else why not. Never decodes pixels."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError as e:  # a file that is not there is reported where it is linked
        # one that cannot be read failed a whole bundle or EPUB, which named the output
        return Verdict("unreadable", f"image {path.name} cannot be read ({e.strerror or e})") if path.exists() else None
    if is_svg(path, head):
        return _svg(path)
    return _raster(path)


def _raster(path: Path) -> Verdict | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we judge size ourselves
            with Image.open(path) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:
        return Verdict("large", f"image {path.name} is far over {MAX_PIXELS // 1_000_000} megapixels ({e})"[:200])
    except Exception:  # not an image Pillow knows: the products decide (they skip it)
        return None
    if w * h > MAX_PIXELS:
        return Verdict("large", f"image {path.name} is {w:,} x {h:,} pixels, over "
                       f"{MAX_PIXELS // 1_000_000} megapixels")
    return None


@cache
def _parser() -> etree.XMLParser:
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True)


def _svg(path: Path) -> Verdict | None:
    from lxml import etree

    name = path.name
    if path.suffix.lower() == ".svgz":
        return Verdict("expands", f"image {name}: compressed SVG is not drawn")
    try:
        size = path.stat().st_size
        if size > MAX_SVG_BYTES:
            return Verdict("expands", f"image {name} is an SVG of {size / 2**20:.1f} MiB, over "
                           f"{MAX_SVG_BYTES >> 20} MiB")
        tree = etree.parse(str(path), _parser())
    except (OSError, etree.XMLSyntaxError) as e:
        return Verdict("expands", f"image {name} is not well-formed SVG ({str(e)[:80]})")
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        return Verdict("expands", f"image {name}: an SVG with a DOCTYPE (entities) is not drawn")
    root = tree.getroot()
    if root.tag != SVG_NS + "svg":
        return Verdict("expands", f"image {name} is not an SVG document")
    ids: dict[str, etree._Element] = {}
    sheet: list[_Rule] = []  # <style> rules that paint with references
    for el in root.iter():
        if not isinstance(el.tag, str):  # entity references left unresolved
            return Verdict("expands", f"image {name}: an SVG with entities is not drawn")
        local = etree.QName(el).localname
        if local in ACTIVE:
            return Verdict("unsafe", f"image {name}: an SVG with <{local}> is not drawn")
        for key, value in el.attrib.items():
            if etree.QName(key).localname.lower().startswith("on"):
                return Verdict("unsafe", f"image {name}: an SVG with event handlers is not drawn")
            if (key in HREFS and not value.strip().startswith("#")) or any(
                not u.strip().startswith("#") for u in URL.findall(value)
            ):
                return Verdict("unsafe", f"image {name}: an SVG that refers to other files or URLs "
                               f"({value.strip()[:60]!r}) is not drawn")
        if local == "style" and el.text:
            urls = URL.findall(el.text)
            if "@import" in el.text or any(not u.strip().startswith("#") for u in urls):
                return Verdict("unsafe", f"image {name}: an SVG whose style loads other files is not drawn")
            sheet += _rules(el.text)
        if el.get("id"):
            ids.setdefault(el.get("id", ""), el)
    return _expansion(root, ids, name, sheet)


def _vertices(el: etree._Element) -> int:
    return max(2, len(NUMBER.findall(el.get("d", "") + " " + el.get("points", ""))) // 2)


@dataclass(frozen=True)
class _Rule:
    """A <style> rule that paints with references: which elements it may reach, what it names."""

    classes: frozenset[str]
    ids: frozenset[str]
    tags: frozenset[str]
    universal: bool
    refs: tuple[str, ...]
    markers: bool

    def reaches(self, tag: str, ident: str | None, classes: list[str]) -> bool:
        return (self.universal or tag in self.tags or ident in self.ids
                or not self.classes.isdisjoint(classes))


def _rules(css: str) -> list[_Rule]:
    """Rules naming url(#...), read loosely: a selector reaches any element whose class, id or
    tag it mentions, which can only overcount what a real selector matches."""
    out = []
    for selector, body in RULE.findall(css):
        refs = tuple(u.strip()[1:] for u in URL.findall(body))
        if refs:
            out.append(_Rule(frozenset(re.findall(r"\.([\w-]+)", selector)),
                             frozenset(re.findall(r"#([\w-]+)", selector)),
                             frozenset(re.findall(r"(?:^|[\s>+~,(])([A-Za-z][\w-]*)", selector)),
                             "*" in selector, refs, bool(MARKER_STYLE.search(body))))
    return out


def _refs(el: etree._Element, sheet: list[_Rule]) -> tuple[list[str], list[str], int]:
    """Ids an element draws by reference, from its attributes and from the <style> rules that
    reach it, and how many times: a marker is drawn at every vertex."""
    from lxml import etree

    own: list[str] = []
    repeat = 1
    for key, value in el.attrib.items():
        if key in HREFS:
            own.append(value.strip()[1:])
        urls = URL.findall(value)
        own += [u.strip()[1:] for u in urls]
        if urls and (etree.QName(key).localname in MARKERS or (key == "style" and MARKER_STYLE.search(value))):
            repeat = _vertices(el)
    styled: list[str] = []
    tag, ident, classes = etree.QName(el).localname, el.get("id"), (el.get("class") or "").split()
    for rule in sheet:
        if rule.reaches(tag, ident, classes):
            styled += rule.refs
            if rule.markers:
                repeat = max(repeat, _vertices(el))
    return own, styled, repeat


def _expansion(root: etree._Element, ids: dict[str, etree._Element], name: str,
               sheet: list[_Rule]) -> Verdict | None:
    """Count what drawing would visit, following references (shared ones measured once);
    a reference cycle or more than MAX_SVG_NODES elements refuses the image."""
    done: dict[etree._Element, int] = {}
    open_: set[etree._Element] = set()
    drawing: dict[etree._Element, tuple[list[etree._Element], int]] = {}
    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack:
        el, closing = stack.pop()
        if closing:
            targets, repeat = drawing.pop(el)
            open_.discard(el)
            inner = sum(done[k] for k in el)
            drawn = sum(done[t] for t in targets) * max(1, repeat)
            done[el] = total = 1 + inner + drawn
            if total > MAX_SVG_NODES:
                return Verdict("expands", f"image {name}: its SVG references expand to over "
                               f"{MAX_SVG_NODES:,} shapes")
            continue
        if el in done:
            continue
        if el in open_:
            return Verdict("expands", f"image {name}: an SVG whose references form a cycle is not drawn")
        own, styled, repeat = _refs(el, sheet)
        # a sheet's rule does not reach back into what it paints with (a gradient's own stops)
        targets = [ids[r] for r in own if r in ids] + [
            ids[r] for r in styled if r in ids and ids[r] not in open_ and ids[r] is not el]
        drawing[el] = (targets, repeat)
        open_.add(el)
        stack.append((el, True))
        stack.extend((k, False) for k in [*el, *targets] if k not in done)
    return None
