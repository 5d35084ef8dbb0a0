"""Chapters for the EPUB: the shared writer's HTML5 rebuilt as well-formed, re-checked XHTML.

EPUB readers need strict, well-formed XHTML, and raw HTML from untrusted notes passes through
the writer, so each chapter gets a second allow-list pass here: only known elements and safe,
valid attributes are kept, links point only to ids that exist in the book, and images come only
from files packed from the vault.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from lxml import etree
from lxml import html as lhtml
from markupsafe import Markup

from exporter.model.document import NOT_XML

OPS, MATHML = "http://www.idpf.org/2007/ops", "http://www.w3.org/1998/Math/MathML"
EPUB_TYPE, MATH = f"{{{OPS}}}type", f"{{{MATHML}}}"
# Kept elements (what the writer emits and the sanitizer lets through), dropped ones (with
# their content), renamed obsolete ones; any other element is unwrapped, its text kept.
KEEP = frozenset((
    "a", "abbr", "article", "aside", "b", "bdi", "bdo", "blockquote", "br", "caption",
    "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl",
    "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
    "q", "rp", "rt", "ruby", "s", "samp", "section", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul", "var", "wbr"))
DROP = frozenset((
    "script", "style", "iframe", "object", "embed", "link", "meta", "base", "form",
    "button", "select", "textarea", "frame", "frameset", "applet", "noscript",
    "template", "audio", "video", "source", "track", "canvas", "svg", "title",
    "head", "portal"))
# Elements only valid under certain parents (raw HTML can leave a stray cell): else unwrapped.
PARENTS = {"li": ("ul", "ol"), "tr": ("table", "tbody", "thead", "tfoot"), "td": ("tr",),
           "th": ("tr",), "tbody": ("table",), "thead": ("table",), "tfoot": ("table",),
           "caption": ("table",), "colgroup": ("table",), "col": ("colgroup", "table"),
           "dt": ("dl", "div"), "dd": ("dl", "div"), "summary": ("details",)}
RENAME = {"strike": "s", "center": "div", "big": "span", "tt": "code", "acronym": "abbr"}
ATTRS = {"a": {"href"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"},
         "th": {"colspan", "rowspan", "scope"}, "ol": {"start", "type"}, "li": {"value"},
         "col": {"span"}, "colgroup": {"span"}}
NUMERIC = {"width", "height", "colspan", "rowspan", "span", "start", "value"}
ROLES = {"doc-noteref", "doc-footnote", "doc-backlink"}
NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
UNSAFE_STYLE = re.compile(r"url\s*\(|@|expression|\\|behavior|binding|script", re.I)
EXTERNAL = re.compile(r"^(https?://|mailto:)", re.I)


@dataclass
class Page:
    """One chapter being built; its links are settled once every chapter's ids are known."""

    file: str
    ids: set[str]
    body: etree._Element | None = None
    links: list[etree._Element] = field(default_factory=list)
    math: bool = False
    removed: set[str] = field(default_factory=set)


_HTML = lhtml.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                         default_doctype=False)
_XML = etree.XMLParser(remove_comments=True, remove_pis=True, no_network=True,
                       resolve_entities=False)


def page(note_id: str, file: str, html: str, images: set[str]) -> Page:
    """Most chapters are well-formed already: parse them as XML and check them in place; the
    others (raw HTML from notes) are parsed as HTML and rebuilt first."""
    page = Page(file, {note_id})
    if not NOT_XML.search(html):
        with contextlib.suppress(etree.XMLSyntaxError):
            page.body = etree.fromstring(f'<div xmlns:epub="{OPS}">{html}</div>', _XML)
            if _clean(page, page.body, images):
                _fit(page.body)
                return page
    body = etree.Element("div", nsmap={"epub": OPS})
    page = Page(file, {note_id}, body)
    if html.strip():
        root = lhtml.fragment_fromstring(html, create_parent="div", parser=_HTML)
        body.text = _text(root.text)
        _rebuild(root, body, False, images, page.removed)
    _fit(body)
    _clean(page, body, images)
    return page


VOID = frozenset(("br", "col", "hr", "img", "wbr"))
PHRASING = frozenset((
    "a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "del", "dfn", "em", "i", "img", "ins",
    "kbd", "mark", "q", "ruby", "rp", "rt", "s", "samp", "small", "span", "strong", "sub", "sup",
    "time", "u", "var", "wbr"))
PHRASING_ONLY = (PHRASING - VOID) | {"p", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
STRAY: dict[str, tuple[tuple[str, ...], str]] = {
    "ul": (("li",), "li"), "ol": (("li",), "li"), "dl": (("dt", "dd", "div"), "dd"), "tr": (("td", "th"), "td")}


def _fit(root: etree._Element) -> None:
    """Mend what raw HTML in a note can hold and XHTML's content model forbids, which EPUBCheck
    reports: a block inside a phrase (<span><div>) is unwrapped, its text kept; text or other
    elements straight inside a list, a definition list or a row go into an item (li, dd, td);
    a definition list gets the term or description it lacks; a void element (<wbr>, which the
    HTML parser gives children) lets them follow it. Each element once, its children first,
    moving nodes by their neighbours (never by index): a note of 50,000 such blocks stays linear."""
    for el in reversed([el for el in root.iter() if isinstance(el.tag, str) and not el.tag.startswith("{")]):
        tag = el.tag
        if tag in VOID and (el.text or len(el)):
            _lift(el, keep=True)
        if tag in PHRASING_ONLY:
            child = el[0] if len(el) else None
            while child is not None:
                after = child.getnext()
                if isinstance(child.tag, str) and not child.tag.startswith("{") and child.tag not in PHRASING:
                    after = child[0] if len(child) else after  # what it held is checked in its turn
                    _lift(child, keep=False)
                child = after
        if tag in STRAY:
            _wrap_stray(el, *STRAY[tag])
        if tag == "dl":
            _pair_terms(el)


def _lift(el: etree._Element, keep: bool) -> None:
    """el's text and children moved into its parent: after it (keep), or in its place."""
    parent = el.getparent()
    text, tail, kids = el.text, el.tail, list(el)
    el.text = None
    if keep:  # el, its text, its children, then what followed it
        el.tail = text
        for kid in reversed(kids):
            el.addnext(kid)
        last = kids[-1] if kids else el
        last.tail = (last.tail or "") + (tail or "") if (last.tail or tail) else None
        return
    before = el.getprevious()
    for kid in kids:
        el.addprevious(kid)
    _text_after(parent, before, text)
    last = el.getprevious()
    el.tail = None
    parent.remove(el)
    _text_after(parent, last, tail)


def _wrap_stray(el: etree._Element, allowed: tuple[str, ...], wrapper: str) -> bool:
    """Text and elements el may not hold go, run by run, into new wrapper elements."""
    def stray(node: etree._Element) -> bool:
        return not isinstance(node.tag, str) or node.tag not in allowed

    if not ((el.text or "").strip() or any(stray(c) or (c.tail or "").strip() for c in el)):
        return False
    items: list[etree._Element | str] = [el.text or ""]
    for child in list(el):
        el.remove(child)
        items += [child, child.tail or ""]
        child.tail = None
    el.text = None
    run: etree._Element | None = None
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                continue
            if run is None:
                run = etree.SubElement(el, wrapper)
            _add_text(run, item)
        elif stray(item):
            if run is None:
                run = etree.SubElement(el, wrapper)
            run.append(item)
        else:
            el.append(item)
            run = None
    return True


def _pair_terms(dl: etree._Element) -> None:
    """A definition list is groups of terms then descriptions: an empty term before a
    description that has none, an empty description after a term that has none."""
    kids = [c for c in dl if c.tag in ("dt", "dd")]
    if kids and kids[0].tag == "dd":
        kids[0].addprevious(etree.Element("dt"))
    if kids and kids[-1].tag == "dt":
        kids[-1].addnext(etree.Element("dd"))


def _text(s: str | None) -> str:
    return NOT_XML.sub("", s) if s else ""


def _add_text(parent: etree._Element, s: str | None) -> None:
    if s:  # after the last child; len() would count every child: quadratic in a wide element
        _text_after(parent, next(reversed(parent), None), _text(s))


def _text_after(parent: etree._Element, node: etree._Element | None, s: str | None) -> None:
    """s right after node, a child of parent (None: at the start of parent)."""
    if not s:
        return
    if node is None:
        parent.text = (parent.text or "") + s
    else:
        node.tail = (node.tail or "") + s


def _rebuild(src: Any, parent: etree._Element, math: bool, images: set[str], removed: set[str]
             ) -> None:
    """Copy src's children under parent as XML elements: kept, renamed, unwrapped or dropped."""
    for child in src:
        if not isinstance(child.tag, str):  # comments and processing instructions
            _add_text(parent, child.tail)
            continue
        name = RENAME.get(child.tag.lower(), child.tag.lower())
        if name in DROP or (name == "img" and child.get("src") not in images):
            removed.add(f"<{name}>" if name != "img" else f"image {child.get('src', '')!r}")
            _add_text(parent, (child.get("alt") or "" if name == "img" else "") + (child.tail or ""))
            continue
        inner = math or name == "math"
        if inner:
            el = etree.SubElement(parent, f"{{{MATHML}}}{name}",
                                  nsmap={None: MATHML} if name == "math" else None)
        elif name == "input" and child.get("type", "").lower() == "checkbox":
            el = etree.SubElement(parent, "span", {"class": "task"})
            el.text = "☑" if child.get("checked") is not None else "☐"
        elif name in KEEP and parent.tag in PARENTS.get(name, (parent.tag,)):
            el = etree.SubElement(parent, name)
        else:
            _add_text(parent, child.text)
            _rebuild(child, parent, math, images, removed)
            _add_text(parent, child.tail)
            continue
        for key, value in child.attrib.items():
            if key.lower() == "epub:type":
                el.set(EPUB_TYPE, _text(value))
            elif NAME.match(key) and not key.lower().startswith("xmlns"):
                el.set(key.lower(), _text(value))
        el.text = (el.text or "") + _text(child.text)
        _rebuild(child, el, inner, images, removed)
        el.tail = _text(child.tail)


def _clean(page: Page, root: etree._Element, images: set[str]) -> bool:
    """Keep only safe, valid attributes, unique ids and in-book links, in place; False when an
    element is not allowed as it is (the page is then rebuilt). A link with nothing to say (the
    anchors pandoc puts on each line of highlighted code) goes: a screen reader could not name it."""
    silent: list[etree._Element] = []
    for el in root.iterdescendants():
        tag = el.tag
        math = isinstance(tag, str) and tag.startswith(MATH)
        if not math and (tag not in KEEP or (tag == "img" and el.get("src") not in images)
                         or el.getparent().tag not in PARENTS.get(tag, (el.getparent().tag,))):
            return False
        for key, value in el.items():
            if not _keep(page, el, key, value, tag, math):
                del el.attrib[key]
        if tag == "a" and el.get("href") is not None:
            if not len(el) and not "".join(el.itertext()).strip():
                silent.append(el)
                continue
            href = el.get("href", "").strip()
            if EXTERNAL.match(href):
                el.set("href", quote(href, safe=":/?#[]@!$&'()*+,;=%~"))
            else:
                page.links.append(el)
        elif tag == "img" and el.get("alt") is None:
            el.set("alt", "")
        page.math = page.math or math
    for el in silent:
        parent, previous = el.getparent(), el.getprevious()
        if el.tail:
            if previous is not None:
                previous.tail = (previous.tail or "") + el.tail
            else:
                parent.text = (parent.text or "") + el.tail
        parent.remove(el)
    return True


def _keep(page: Page, el: etree._Element, key: str, value: str, tag: str, math: bool) -> bool:
    """Whether an attribute is safe and valid in EPUB 3 XHTML; ids stay unique in the page."""
    if key.startswith(("on", "xmlns", "{")):
        return key == EPUB_TYPE and value in ("noteref", "footnote")
    if math:
        return key not in ("href", "src", "style")
    if key == "id":
        unique = bool(NAME.match(value)) and value not in page.ids
        page.ids.add(value)
        return unique
    if key == "align" and value.lower() in ("left", "right", "center", "justify"):
        el.set("style", f"text-align: {value.lower()};")
    return bool(key in ("class", "title", "aria-label") or (key.startswith("data-") and NAME.match(key))
                or (key == "role" and value in ROLES) or (key == "lang" and LANG.match(value))
                or (key == "dir" and value in ("ltr", "rtl", "auto"))
                or (key == "style" and not UNSAFE_STYLE.search(value))
                or (key in ATTRS.get(tag, ()) and (key not in NUMERIC or value.isdigit())))


def lands(href: str, here: str, ids: dict[str, set[str]]) -> bool:
    """Does an in-book href point at a page of the book and an id in it?"""
    file, _, frag = href.partition("#")
    target = file or here
    return target in ids and bool(file or frag) and (not frag or frag in ids[target])


def settle(pages: list[Page], more_ids: dict[str, set[str]]) -> None:
    """Every in-book href points at a page of the book and an id in it; else it becomes text."""
    ids = {p.file: p.ids for p in pages} | more_ids
    for page in pages:
        for a in page.links:
            file, _, frag = a.get("href", "").partition("#")
            if lands(a.get("href", ""), page.file, ids):
                continue
            if file in ids:
                a.set("href", file)  # the note is in the book, its heading is not: go to the note
                continue
            a.tag = "span"
            for key in ("href", EPUB_TYPE, "role"):
                a.attrib.pop(key, None)
            a.set("class", ((a.get("class") or "") + " unresolved").strip())


def serialize(body: etree._Element) -> Markup:
    xml = etree.tostring(body, encoding="unicode")
    start, end = xml.find(">") + 1, xml.rfind("</div>")
    return Markup(xml[start:end] if end > 0 else "")
