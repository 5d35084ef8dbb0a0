"""Join PDFs rendered apart into one dossier: pages, anchors, links, outline, page numbers.

Parts are rendered in parallel (see pdf.py), each blind to the others: a link to another part
is written as an external `xref:` link, and the page numbers "n / N" are left to footer pages
rendered once the page counts are known. Here the pages are joined in order; every anchor goes
into one sorted name tree, as WeasyPrint writes it for a single document; `xref:` links become
links to those names (or go, when their target is not in the dossier); the outlines are joined;
the footers are laid over their pages; metadata and language come from the first part.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pikepdf
from pikepdf import Array, Dictionary, Name, String

from exporter.packagers.pdf import Facts

XREF = "xref:"
FOOTER = Name("/ExporterFooter")
NUMBERS = Name("/ExporterNumbers")
SLOT = "--lf"  # ids of the slots where backlinks' page numbers go: <note>--lf<k>--<target>
INERT = frozenset(("q", "Q", "cm", "gs"))  # operators that draw nothing by themselves


@dataclass
class _Item:
    title: Any  # the pikepdf String as written, encoding kept
    dest: tuple[int, Any, Any] | None  # (page in the dossier, x, y)
    closed: bool
    children: list[_Item] = field(default_factory=list)


def _open(data: bytes) -> pikepdf.Pdf:
    return pikepdf.Pdf.open(io.BytesIO(data))


def _outline(node: Any, pages: dict[tuple[int, int], int]) -> list[_Item]:
    items: list[_Item] = []
    item = node.get("/First")
    while item is not None:
        dest = item.get("/Dest")
        where = None
        if isinstance(dest, Array) and len(dest) >= 4 and dest[0].objgen in pages:
            where = (pages[dest[0].objgen], dest[2], dest[3])
        count = int(item.get("/Count", 0))
        items.append(_Item(String(bytes(item.Title)), where, count < 0, _outline(item, pages)))  # its part closes
        item = item.get("/Next")
    return items


def _write_outline(out: pikepdf.Pdf, items: list[_Item], parent: Any) -> int:
    """WeasyPrint's outline shape: /Count is the open descendants, negative when closed."""
    made: list[Any] = []
    count = len(items)
    for it in items:
        node = out.make_indirect(Dictionary(Title=it.title))
        if it.dest is not None:
            page, x, y = it.dest
            node.Dest = Array([out.pages[page].obj, Name.XYZ, x, y, 0])
        below = _write_outline(out, it.children, node)
        node.Count = -below if it.closed else below
        if not it.closed:
            count += below
        node.Parent = parent
        if made:
            node.Prev = made[-1]
            made[-1].Next = node
        made.append(node)
    if made:
        parent.First, parent.Last = made[0], made[-1]
    return count


def _overlay(out: pikepdf.Pdf, page: pikepdf.Page, footer: pikepdf.Page, name: Name = FOOTER) -> None:
    """Draw footer over page, under a fixed name (pikepdf's add_overlay picks a random one)."""
    form = out.copy_foreign(footer.as_form_xobject())
    shared = page.obj.get("/Resources", Dictionary())  # WeasyPrint shares one among all pages
    resources = Dictionary({k: v for k, v in shared.items()})
    objects = Dictionary({k: v for k, v in shared.get("/XObject", Dictionary()).items()})
    objects[name] = form
    resources.XObject = objects
    page.obj.Resources = resources
    page.contents_add(b"q\n", prepend=True)  # the page's own transform ends before the footer
    page.contents_add(f"Q\nq /Artifact BMC {name} Do EMC Q\n".encode())  # page furniture, not text


Numbers = Sequence[tuple[bytes, Sequence[int]]]  # overlay PDFs, and the page each of their pages goes over


def number(data: bytes, numbers: Numbers) -> bytes:
    """data with the pages of numbers laid over its pages (a PDF's k-th page over pages[k])."""
    with _open(data) as out:
        opened = _numbered(out, numbers)
        try:
            return _save(out)
        finally:
            for src in opened:
                src.close()


def _numbered(out: pikepdf.Pdf, numbers: Numbers) -> list[pikepdf.Pdf]:
    opened = []
    for data, pages in numbers:
        src = _open(data)
        opened.append(src)
        for k, at in enumerate(pages):
            _overlay(out, out.pages[at], src.pages[k], NUMBERS)
    return opened


@dataclass
class _Tree:
    """The structure trees of the parts, joined: their top elements under one Document, their
    parent trees renumbered one after the other."""

    kids: list[Any] = field(default_factory=list)
    nums: list[tuple[int, Any]] = field(default_factory=list)
    next_key: int = 0
    role_map: Any = None  # the first part's, if any

    def add(self, out: pikepdf.Pdf, src: pikepdf.Pdf, skip: bool, first: int, langs: Sequence[tuple[int, str]]) -> None:
        """src's tree, without its first page's elements when skip (the cover, dropped);
        first: src's page 1 in out; langs: (page in src, language) where each note starts."""
        tree = src.Root.get("/StructTreeRoot")
        if tree is None:
            return
        top = tree.get("/K")
        doc = top[0] if isinstance(top, Array) and len(top) == 1 else top
        if not isinstance(doc, Dictionary):
            return
        index = {p.obj.objgen: k for k, p in enumerate(src.pages)}
        kids = doc.K if isinstance(doc.get("/K"), Array) else [doc.K]
        dropped = src.pages[0].obj.objgen if skip else None
        offset = self.next_key
        for kid in kids:
            page = kid.get("/Pg") if isinstance(kid, Dictionary) else None
            if page is None or page.objgen == dropped:
                continue
            if "/P" in kid:
                del kid["/P"]  # copied alone: the old Document would pull in the cover
            lang = next((lg for at, lg in reversed(langs) if at <= index.get(page.objgen, 0)), None)
            copy = out.copy_foreign(kid)
            if lang:
                copy.Lang = String(lang)
            self.kids.append(copy)
        for key, value in _number_tree(tree.get("/ParentTree")):
            if dropped is not None and key == src.pages[0].obj.get("/StructParents"):
                continue
            if isinstance(value, Array):
                value = Array([out.copy_foreign(v) if v.is_indirect else v for v in value])
            elif value.is_indirect:
                value = out.copy_foreign(value)
            self.nums.append((key + offset, value))
            self.next_key = max(self.next_key, key + offset + 1)
        for k in range(int(skip), len(src.pages)):
            target = out.pages[first + k - skip].obj
            if "/StructParents" in target:
                target.StructParents = int(target.StructParents) + offset
            for annot in target.get("/Annots", Array()):
                if "/StructParent" in annot:
                    annot.StructParent = int(annot.StructParent) + offset
        if self.role_map is None and "/RoleMap" in tree:
            value = tree.RoleMap
            self.role_map = out.copy_foreign(value) if value.is_indirect else value

    def write(self, out: pikepdf.Pdf) -> None:
        if not self.kids:
            return
        root = out.make_indirect(Dictionary(Type=Name.StructTreeRoot))
        doc = out.make_indirect(Dictionary(Type=Name.StructElem, S=Name.Document, P=root, K=Array(self.kids)))
        for kid in self.kids:
            kid.P = doc
        flat = Array()
        for key, value in sorted(self.nums, key=lambda kv: kv[0]):
            flat.append(key)
            flat.append(value)
        root.K = doc
        root.ParentTree = out.make_indirect(Dictionary(Nums=flat))
        root.ParentTreeNextKey = self.next_key
        if self.role_map is not None:
            root.RoleMap = self.role_map
        out.Root.StructTreeRoot = root
        out.Root.MarkInfo = Dictionary(Marked=True)
        out.Root.ViewerPreferences = Dictionary(DisplayDocTitle=True)


def _number_tree(tree: Any) -> list[tuple[int, Any]]:
    """The (key, value) pairs of a number tree, its kids walked."""
    if not isinstance(tree, Dictionary):
        return []
    found: list[tuple[int, Any]] = []
    nums = tree.get("/Nums", Array())
    found += [(int(nums[k]), nums[k + 1]) for k in range(0, len(nums) - 1, 2)]
    for kid in tree.get("/Kids", Array()):
        found += _number_tree(kid)
    return found


def _draws(page: pikepdf.Page) -> bool:
    """Does a page draw anything? (A footer page of the cover carries no number.)"""
    return any(str(op.operator) not in INERT for op in pikepdf.parse_content_stream(page))


def _dests(src: pikepdf.Pdf) -> list[tuple[str, int, Any, Any]]:
    """The named destinations on src's pages: (name, page index, x, y as written)."""
    pages = {p.obj.objgen: k for k, p in enumerate(src.pages)}
    tree = src.Root.get("/Names", Dictionary()).get("/Dests", Dictionary()).get("/Names", Array())
    return [(str(tree[k]), pages[dest[0].objgen], dest[2], dest[3]) for k in range(0, len(tree) - 1, 2)
            if isinstance(dest := tree[k + 1], Array) and dest[0].objgen in pages]


def facts(data: bytes) -> Facts:
    """A rendered document's Facts, read in one opening (by the worker that rendered it)."""
    with _open(data) as src:
        heights = [float(p.mediabox[3]) - float(p.mediabox[1]) for p in src.pages]
        anchors: dict[str, int] = {}
        slots = []
        for name, page, x, y in _dests(src):
            if SLOT in name:
                slots.append((page, float(x), heights[page] - float(y), name.rsplit("--", 1)[1]))
            else:
                anchors[name] = page
        return Facts(len(src.pages), anchors, sorted(slots))


def _mark(out: pikepdf.Pdf) -> int:
    """The number the next object copied into out will get (out.objects would list them all,
    at a cost that grows with the book). The mark itself is an empty object nothing refers to,
    which is not written."""
    return int(out.make_indirect(Dictionary()).objgen[0]) + 1


def _detach(out: pikepdf.Pdf, known: int) -> None:
    """Give the streams copied into out from `known` on their data, which qpdf otherwise reads
    from the source when saving (so the source must stay open until then)."""
    for number in range(known, _mark(out)):  # copies are numbered after what was there
        obj = out.get_object(number, 0)
        if isinstance(obj, pikepdf.Stream):
            how: Any = (obj.get("/Filter"), obj.get("/DecodeParms"))  # as the bytes are: still encoded
            obj.write(obj.read_raw_bytes(), filter=how[0], decode_parms=how[1], type_check=False)


def _save(pdf: pikepdf.Pdf, min_version: str = "") -> bytes:
    """Deterministic bytes, as compact as WeasyPrint writes them."""
    buffer = io.BytesIO()
    pdf.save(buffer, deterministic_id=True, fix_metadata_version=False, min_version=min_version,
             object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return buffer.getvalue()


def stitch(parts: Sequence[tuple[bytes, bool]], footers: Sequence[bytes],
           langs: Sequence[Sequence[tuple[int, str]]] = (), numbers: Numbers = ()) -> bytes:
    """One PDF from parts (in order; True: without its first page) with the pages of footers
    laid over its pages, one each. langs[i]: (page in part i, language) where each of its notes
    starts, set on their elements of the joined structure tree. numbers: the backlinks' page
    numbers, and the page each of its pages goes over (see number())."""
    out = pikepdf.new()
    structure = _Tree()
    names: dict[str, tuple[int, Any, Any]] = {}
    outline: list[_Item] = []
    first: pikepdf.Pdf | None = None
    opened = []
    versions = []
    for i, (data, skip) in enumerate(parts):
        src = _open(data)
        versions.append(src.pdf_version)
        known = _mark(out)
        offset = len(out.pages) - skip
        pages = {p.obj.objgen: offset + k for k, p in enumerate(src.pages) if k >= skip}
        with warnings.catch_warnings():  # named destinations are joined below
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            out.pages.extend(src.pages[1:] if skip else src.pages)
        structure.add(out, src, skip, offset + skip, langs[i] if i < len(langs) else ())
        for name, k, x, y in _dests(src):
            if k >= skip and SLOT not in name:
                names.setdefault(name, (offset + k, x, y))
        if "/Outlines" in src.Root:
            outline += _outline(src.Root.Outlines, pages)
        if first is None:
            first = src
            opened.append(src)
        else:  # the copies' streams take their bytes now: the part can go, and the book is not held twice
            _detach(out, known)
            src.close()

    for page in out.pages:
        annots = page.obj.get("/Annots")
        if annots is None:
            continue
        kept = Array()
        for annot in annots:
            action = annot.get("/A")
            uri = str(action.get("/URI", "")) if action is not None else ""
            if uri.startswith(XREF):
                target = unquote(uri[len(XREF):])
                if target not in names:
                    continue  # its note is not in the dossier: the label stays, the link goes
                del annot["/A"]
                annot.Dest = String(target)
            kept.append(annot)
        page.obj.Annots = kept

    if names:
        flat = Array()  # sorted by text, as WeasyPrint writes it and qpdf checks it
        for name in sorted(names):
            at, x, y = names[name]
            flat.append(String(name))
            flat.append(Array([out.pages[at].obj, Name.XYZ, x, y, 0]))
        out.Root.Names = Dictionary(Dests=Dictionary(Names=flat))
    if outline:
        root = out.make_indirect(Dictionary())
        root.Count = _write_outline(out, outline, root)
        out.Root.Outlines = root

    n = 0
    for data in footers:
        src = _open(data)
        opened.append(src)
        for footer in src.pages:
            if n < len(out.pages) and _draws(footer):
                _overlay(out, out.pages[n], footer)
            n += 1
    opened += _numbered(out, numbers)
    structure.write(out)
    if first is not None:
        out.docinfo = out.copy_foreign(first.docinfo)  # type: ignore[assignment]
        if "/Lang" in first.Root:
            out.Root.Lang = first.Root.Lang
    data = _save(out, max([*versions, *(src.pdf_version for src in opened)], default="1.7"))
    for src in opened:
        src.close()
    return data
