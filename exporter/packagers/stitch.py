"""Join PDFs rendered apart into one dossier: pages, anchors, links, outline, page numbers.

Parts are rendered in parallel (see pdf.py), each blind to the others: a link to another part
is written as an external `xref:` link, and the page numbers "n / N" are left to footer pages
rendered once the page counts are known. Here the parts' pages are joined as they come (Join),
the front (cover and contents) last, though its pages go first; every anchor goes into one sorted
name tree, as WeasyPrint writes it for a single document; `xref:` links become links to those
names (or go, when their target is not in the dossier); the outlines are joined; the footers are
laid over their pages; metadata and language come from the front.

The joined PDF is written as it is made, one part at a time (_Out): only what the end needs
(page numbers, anchors, outline, structure) is held, so joining costs the memory of one part,
not of the book. Objects are copied as qpdf writes them (unparse), their references renumbered.
A part is joined on its own first, into a Template that any place of the dossier can take and
the cache keeps: after an edit, the parts rendered before are copied, not opened again.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import unquote

import orjson
import pikepdf
from pikepdf import Array, Dictionary, Name, String

from exporter import cache as store
from exporter.cache import Cache
from exporter.packagers.task import SLOT, Facts, documents

Marks = Mapping[int, Sequence[tuple[float, float, str]]]  # dossier page (from 0) -> (x, top in pt, text)
Numbers = Sequence[tuple[bytes, Sequence[str]]]  # numbers documents: page k of each draws texts[k]

XREF = "xref:"
FOOTER = b"/ExporterFooter"
NUMBERS = b"/ExporterNumbers"
INERT = frozenset(("q", "Q", "cm", "gs"))  # operators that draw nothing by themselves
EMPTY_FORM = b"<< /Type /XObject /Subtype /Form /BBox [ 0 0 0 0 ] >>"
PACKED = 100  # objects per object stream, as qpdf packs them
# A string (qpdf escapes every parenthesis in one), a hex string, or a reference: only the last
# is renumbered, the strings are matched so that nothing inside them is.
TOKEN = re.compile(rb"\((?:[^\\()]|\\.)*\)|<[0-9A-Fa-f\s]*>|(\d+) (\d+) R", re.S)
LENGTH = re.compile(rb"/Length \d+(?: \d+ R)?")
# the keys a part gives its pages and annotations in the parent tree, strings skipped
KEYED = re.compile(rb"\((?:[^\\()]|\\.)*\)|<[0-9A-Fa-f\s]*>|(/StructParents? )(\d+)", re.S)
LOCAL = 7  # the first number of a part's own objects: the join's shared ones come before it
KEYS = 1 << 40  # a part joined on its own numbers its parent-tree keys from here (see _keyed)
PUT, STREAM, PACK = 0, 1, 2  # what a part writes (Template)
SAVED_AT_ONCE = 16  # templates written to the cache in one go
VERSION = re.compile(rb"%PDF-(\d\.\d)")


class _Out:
    """The joined PDF on its way to a file: objects get numbers when first referred to; streams
    are written at once, other objects packed into compressed object streams; a cross-reference
    stream ends it, with an /ID from everything before it."""

    def __init__(self, file: BinaryIO, version: bytes) -> None:
        self.file = file
        self.pos = 0
        self.digest = hashlib.md5(usedforsecurity=False)
        # by object number, the cross-reference entry: its type, and its two fields (as arrays: a
        # thousand-note dossier has half a million objects)
        self.kind, self.field2, self.field3 = array("B", [0]), array("Q", [0]), array("H", [65535])
        self.packed: list[tuple[int, bytes]] = []
        self.header = version
        self._write(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.digest.update(data)
        self.pos += len(data)

    def number(self) -> int:
        self.kind.append(0)
        self.field2.append(0)
        self.field3.append(0)
        return len(self.kind) - 1

    def grow(self, count: int) -> int:
        """count numbers given out at once (a part's, see Template); returns the first."""
        first = len(self.kind)
        self.kind.extend(bytes(count))
        self.field2.extend([0] * count)
        self.field3.extend([0] * count)
        return first

    @staticmethod
    def mark(number: int) -> bytes:
        """A reference to an object, as written."""
        return b"%d 0 R" % number

    def _at(self, number: int, kind: int, field2: int, field3: int) -> None:
        self.kind[number], self.field2[number], self.field3[number] = kind, field2, field3

    def put(self, number: int, body: bytes) -> None:
        self.packed.append((number, body))
        if len(self.packed) == PACKED:
            self._pack()

    def stream(self, number: int, head: bytes, data: bytes) -> None:
        """head: the stream's dictionary without /Length, which is data's."""
        self._at(number, 1, self.pos, 0)
        self._write(b"%d 0 obj\n%s /Length %d >>\nstream\n" % (number, head[:-2].rstrip(), len(data))
                    + data + b"\nendstream\nendobj\n")

    def _pack(self, number: int | None = None) -> None:
        if not self.packed:
            return
        number = self.number() if number is None else number
        heads, at = [], 0
        for k, (n, body) in enumerate(self.packed):
            heads.append(b"%d %d" % (n, at))
            at += len(body) + 1
            self._at(n, 2, number, k)
        head = b" ".join(heads) + b"\n"
        data = zlib.compress(head + b"\n".join(body for _, body in self.packed), 6)
        self.packed = []
        self.stream(number, b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode >>" % (len(heads), len(head)),
                    data)

    def close(self, root: int, info: int | None) -> None:
        self._pack()
        number = self.number()  # the cross-reference stream's own
        self._at(number, 1, self.pos, 0)
        assert all(self.kind[1:]), "an object was numbered but not written"
        wide = max(1, (max(self.field2).bit_length() + 7) // 8)
        rows = _rows(self.kind, self.field2, self.field3, wide)
        ident = self.digest.hexdigest().encode()  # the same bytes before it give the same /ID
        data = zlib.compress(rows, 6)
        start = self.pos
        self._write(b"%d 0 obj\n<< /Type /XRef /Size %d /W [ 1 %d 2 ] /Root %d 0 R%s /ID [ <%s> <%s> ] "
                    b"/Filter /FlateDecode /Length %d >>\nstream\n" % (
                        number, len(self.kind), wide, root, b" /Info %d 0 R" % info if info else b"",
                        ident, ident, len(data)) + data + b"\nendstream\nendobj\n")
        self._write(b"startxref\n%d\n%%%%EOF\n" % start)


def _rows(kind: array[int], field2: array[int], field3: array[int], wide: int) -> bytearray:
    """The cross-reference stream's rows (kind, field2 in wide bytes, field3 in 2; big-endian),
    written a column at a time: a thousand-note dossier has half a million rows, which as one
    bytes object each would cost 70 MB."""
    size = 1 + wide + 2
    rows = bytearray(size * len(kind))
    rows[0::size] = kind
    for column, width, at in ((field2, wide, 1), (field3, 2, 1 + wide)):
        big = array(column.typecode, column)
        if sys.byteorder == "little":
            big.byteswap()
        data = memoryview(big).cast("B")
        for j in range(width):  # the last width bytes of each big-endian value
            rows[at + j::size] = data[big.itemsize - width + j::big.itemsize]
    return rows


class _Source:
    """One PDF whose objects are copied into out: each gets its number there when first referred
    to, and is written when drained. Objects in cut are never copied (references to them become
    null); extra[objgen] is added to that dictionary's entries as it is written."""

    def __init__(self, pdf: pikepdf.Pdf, out: _Out | _Recorder, cut: Sequence[Any] = ()) -> None:
        self.pdf, self.out = pdf, out
        # "n" or "n g" as written in pdf -> the reference written in out (the hot path: bytes in, bytes out)
        self.refs: dict[bytes, bytes] = {_key(*c.objgen): b"null" for c in cut if c is not None and c.is_indirect}
        self.numbers: dict[bytes, int] = {}  # the same keys -> numbers in out
        self.mark = out.mark
        self.todo: deque[tuple[int, int, int]] = deque()  # (number, generation) in pdf, number in out
        self.extra: dict[tuple[int, int], bytes] = {}

    def ref(self, obj: Any) -> int:
        """obj's number in out; a direct object is made one of its own."""
        if obj.is_indirect:
            return self._number(*obj.objgen)
        number = self.out.number()
        self.out.put(number, self.value(obj))
        return number

    def place(self, obj: Any, number: int) -> None:
        """Copy obj (indirect) under a number given out before."""
        key = _key(*obj.objgen)
        self.numbers[key] = number
        self.refs[key] = self.mark(number)
        self.todo.append((*obj.objgen, number))

    def _number(self, num: int, gen: int) -> int:
        key = _key(num, gen)
        known = self.numbers.get(key)
        if known is not None:
            return known
        number = self.numbers[key] = self.out.number()
        self.refs[key] = self.mark(number)
        self.todo.append((num, gen, number))
        return number

    def value(self, obj: Any) -> bytes:
        """obj as PDF syntax, in out's numbers."""
        if isinstance(obj, pikepdf.Object) and obj.is_indirect:
            return self.mark(self.ref(obj))
        return TOKEN.sub(self._renumber, obj.unparse(resolved=True))

    def _renumber(self, m: re.Match[bytes]) -> bytes:
        num = m[1]
        if num is None:
            return m[0]  # a string
        gen = m[2]
        known = self.refs.get(num if gen == b"0" else num + b" " + gen)
        return known if known is not None else self.mark(self._number(int(num), int(gen)))

    def drain(self) -> None:
        """Write every object referred to so far, and those they refer to."""
        while self.todo:
            num, gen, number = self.todo.popleft()
            obj = self.pdf.get_object(num, gen)
            extra = self.extra.get((num, gen), b"")
            if isinstance(obj, pikepdf.Stream):
                head = LENGTH.sub(b"", TOKEN.sub(self._renumber, obj.stream_dict.unparse(resolved=True)))
                self.out.stream(number, head[:-2] + extra + b">>", obj.read_raw_bytes())
                continue
            body = TOKEN.sub(self._renumber, obj.unparse(resolved=True))
            if extra:
                assert body.endswith(b">>"), "extra entries go to a dictionary"
                body = body[:-2] + extra + b" >>"
            self.out.put(number, body)


def _key(num: int, gen: int) -> bytes:
    return b"%d" % num if gen == 0 else b"%d %d" % (num, gen)


@dataclass
class _Item:
    title: bytes  # as written, encoding kept
    dest: tuple[int, bytes, bytes] | None  # (page object in out, x, y)
    closed: bool
    children: list[_Item] = field(default_factory=list)


def _syntax(value: Any) -> bytes:
    """A number (or null) as PDF syntax: pikepdf hands them out as Python values."""
    return bytes(Array([value]).unparse()[1:-1].strip())


def _open(data: bytes) -> pikepdf.Pdf:
    return pikepdf.Pdf.open(io.BytesIO(data))


def _outline(node: Any, pages: dict[tuple[int, int], int]) -> list[_Item]:
    items: list[_Item] = []
    item = node.get("/First")
    while item is not None:
        dest = item.get("/Dest")
        where = None
        if isinstance(dest, Array) and len(dest) >= 4 and dest[0].objgen in pages:
            where = (pages[dest[0].objgen], _syntax(dest[2]), _syntax(dest[3]))
        count = int(item.get("/Count", 0))
        items.append(_Item(String(bytes(item.Title)).unparse(), where, count < 0, _outline(item, pages)))
        item = item.get("/Next")
    return items


def _write_outline(out: _Out, items: list[_Item], parent: int) -> tuple[int, int, int]:
    """WeasyPrint's outline shape: /Count is the open descendants, negative when closed.
    Returns the count, and the first and last items' numbers."""
    numbers = [out.number() for _ in items]
    count = len(items)
    for k, (it, number) in enumerate(zip(items, numbers, strict=True)):
        body = [b"/Title " + it.title, b"/Parent %d 0 R" % parent]
        if it.dest is not None:
            page, x, y = it.dest
            body.append(b"/Dest [ %d 0 R /XYZ %s %s 0 ]" % (page, x, y))
        below, first, last = _write_outline(out, it.children, number)
        body.append(b"/Count %d" % (-below if it.closed else below))
        if not it.closed:
            count += below
        if first:
            body += [b"/First %d 0 R" % first, b"/Last %d 0 R" % last]
        if k:
            body.append(b"/Prev %d 0 R" % numbers[k - 1])
        if k + 1 < len(items):
            body.append(b"/Next %d 0 R" % numbers[k + 1])
        out.put(number, b"<< " + b" ".join(body) + b" >>")
    return count, (numbers[0] if numbers else 0), (numbers[-1] if numbers else 0)


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


def version(data: bytes) -> bytes:
    found = VERSION.match(data)
    return found.group(1) if found else b"1.7"


class _Footers:
    """Footer pages "n / N", laid over the dossier's pages one for one: each becomes a form drawn
    over its page as page furniture. They are asked for in page order, so one of the documents is
    open at a time."""

    def __init__(self, out: _Out, docs: Sequence[bytes]) -> None:
        self.out = out
        self.docs = deque(docs)
        self.first = 0  # the dossier page the next document's first page goes over
        self.open: tuple[pikepdf.Pdf, _Source, dict[int, pikepdf.Page], int] | None = None  # and the last page

    def _next(self) -> bool:
        self.close()
        if not self.docs:
            return False
        pdf = _open(self.docs.popleft())
        pages = list(pdf.pages)
        drawn = {self.first + k: p for k, p in enumerate(pages) if _draws(p)}
        self.open = (pdf, _Source(pdf, self.out), drawn, self.first + len(pages) - 1)
        self.first += len(pages)
        return True

    def _take(self, page: int) -> tuple[_Source, pikepdf.Page] | None:
        """The footer page to draw over the dossier's page (0-based), if any, and its source."""
        while self.open is None or page > self.open[3]:
            if not self._next():
                return None
        over = self.open[2].pop(page, None)
        return (self.open[1], over) if over is not None else None

    def form(self, page: int) -> int | None:
        """The number in out of the form to draw over the dossier's page, if any."""
        if (found := self._take(page)) is None:
            return None
        source, over = found
        number = source.ref(over.as_form_xobject())
        source.drain()
        return number

    def place(self, page: int, number: int) -> None:
        """The form to draw over the dossier's page, under a number given out before: an empty
        one when there is nothing to draw."""
        if (found := self._take(page)) is None:
            self.out.stream(number, EMPTY_FORM, b"")
            return
        source, over = found
        source.place(over.as_form_xobject(), number)
        source.drain()

    def close(self) -> None:
        if self.open is not None:
            self.open[0].close()
            self.open = None


class _Numbers:
    """The backlinks' page numbers: each text drawn once, as a form (a page of a numbers document
    draws one at its top left corner), and laid over a page by a form of its own that moves each
    text to its slot. The same text over many pages is one object, and the documents hold texts,
    not places: they are the same from one build to the next."""

    def __init__(self, out: _Out, docs: Numbers, marks: Marks) -> None:
        self.out, self.marks = out, marks
        used = {text for placed in marks.values() for _, _, text in placed}
        self.forms: dict[str, int] = {}
        self.box = b"[ 0 0 0 0 ]"
        for data, texts in docs:
            with _open(data) as pdf:
                source = _Source(pdf, out)
                for page, text in zip(pdf.pages, texts, strict=True):
                    if text in used and text not in self.forms:
                        self.forms[text] = source.ref(page.as_form_xobject())
                        self.box = bytes(page.mediabox.unparse())
                source.drain()
        if missing := used - set(self.forms):
            raise ValueError(f"no form draws the page numbers {sorted(missing)[:5]}")

    def _write(self, page: int, number: int) -> None:
        placed = self.marks.get(page, ())
        names = {text: b"/N%d" % k for k, text in enumerate(sorted({text for _, _, text in placed}))}
        draw = b"".join(b"q 1 0 0 1 %.2f %.2f cm %s Do Q\n" % (x, -top, names[text]) for x, top, text in placed)
        objects = b" ".join(b"%s %d 0 R" % (name, self.forms[text]) for text, name in names.items())
        self.out.stream(number, b"<< /Type /XObject /Subtype /Form /BBox %s /Resources << /XObject << %s >> >> >>"
                        % (self.box, objects), draw)

    def form(self, page: int) -> int | None:
        if page not in self.marks:
            return None
        number = self.out.number()
        self._write(page, number)
        return number

    def place(self, page: int, number: int) -> None:
        self._write(page, number)


def _page(source: _Source, page: Any, parent: int, forms: list[tuple[bytes, int]], wrap: dict[bytes, int]) -> int:
    """A page of source for out: its parent the joined page tree, and forms (name, number) drawn
    over it, each inside its own q/Q so that the page's transform ends before them."""
    extra = [b"/Parent %d 0 R" % parent]
    del page["/Parent"]
    if forms:
        shared = page.get("/Resources", Dictionary())  # WeasyPrint shares one among all pages
        resources = [Name(k).unparse() + b" " + source.value(v) for k, v in shared.items() if k != "/XObject"]
        objects = [Name(k).unparse() + b" " + source.value(v)
                   for k, v in shared.get("/XObject", Dictionary()).items()]
        objects += [name + b" " + source.mark(number) for name, number in forms]
        resources.append(b"/XObject << " + b" ".join(objects) + b" >>")
        contents = page.get("/Contents")
        own = [source.value(c) for c in contents] if isinstance(contents, Array) else [source.value(contents)]
        pieces = [b"%d 0 R" % wrap[b"q\n" * len(forms)], *own,
                  *(b"%d 0 R" % wrap[b"Q\nq /Artifact BMC %s Do EMC Q\n" % name] for name, _ in forms)]
        extra += [b"/Resources << " + b" ".join(resources) + b" >>", b"/Contents [ " + b" ".join(pieces) + b" ]"]
        del page["/Resources"]
        del page["/Contents"]
    source.extra[page.objgen] = b" " + b" ".join(extra)
    return source.ref(page)


def number(data: bytes, found: Facts, marks: Marks, numbers: Numbers) -> bytes:
    """data with the backlinks' page numbers laid over its pages (see _Numbers)."""
    buffer = io.BytesIO()
    join = Join(buffer, version(data), set(found.anchors), found.pages, footed=False)
    join.finish(data, [], numbers, marks)
    return buffer.getvalue()


@dataclass
class Template:
    """A part joined on its own, ready to be copied into any dossier: the objects it writes, in
    order, numbered from LOCAL (lower numbers are the join's shared objects), and its keys in
    the parent tree from 0. In the bytes, "\\0r<n>\\0" is a reference to the part's object n and
    "\\0k<n>\\0" its key n: a copy moves both past what the dossier holds before it (NUL never
    occurs in the syntax qpdf writes). The cache keeps it: after an edit, a part rendered
    before is copied, not opened and renumbered again."""

    count: int  # numbers the part gives out
    ops: list[tuple[int, int, bytes, bytes]]  # (PUT, STREAM or PACK, number, body or head, stream data)
    reserved: list[tuple[int, bytes, int]]  # (page in the part, overlay, form number)
    kids: list[int]
    elements: list[int]
    outline: list[_Item]
    names: dict[str, tuple[int, bytes, bytes]]
    nums: list[tuple[int, bytes]]  # (key, value)
    keys: int  # keys it takes in the parent tree
    role_map: bytes | None
    targets: dict[str, bool]  # the notes its links go to, and whether each was in the dossier

    def packed(self) -> bytes:
        blobs: list[bytes] = []

        def blob(data: bytes) -> int:
            blobs.append(data)
            return len(data)

        head = {"count": self.count, "keys": self.keys, "targets": self.targets, "kids": self.kids,
                "elements": self.elements, "outline": _items_out(self.outline),
                "names": {k: [p, x.decode("latin-1"), y.decode("latin-1")] for k, (p, x, y) in self.names.items()},
                "reserved": [[at, name.decode("latin-1"), n] for at, name, n in self.reserved],
                "ops": [[kind, number, blob(body), blob(data)] for kind, number, body, data in self.ops],
                "nums": [[key, blob(value)] for key, value in self.nums],
                "role_map": None if self.role_map is None else blob(self.role_map)}
        return orjson.dumps(head) + b"\n" + b"".join(blobs)

    @classmethod
    def unpacked(cls, data: bytes) -> Template:
        """A template from packed(); ValueError (or KeyError, TypeError, IndexError) if it is not one."""
        line, _, rest = data.partition(b"\n")
        head = orjson.loads(line)
        view = memoryview(rest)
        at = 0

        def blob(size: int) -> bytes:
            nonlocal at
            if type(size) is not int or size < 0 or at + size > len(view):
                raise ValueError("a template's blobs do not add up")
            at += size
            return bytes(view[at - size:at])

        ops = [(int(kind), int(number), blob(body), blob(data)) for kind, number, body, data in head["ops"]]
        nums = [(int(key), blob(size)) for key, size in head["nums"]]
        role_map = None if head["role_map"] is None else blob(head["role_map"])
        if at != len(view) or any(kind not in (PUT, STREAM, PACK) for kind, *_ in ops):
            raise ValueError("not a template")
        return cls(int(head["count"]), ops, [(int(a), n.encode("latin-1"), int(k)) for a, n, k in head["reserved"]],
                   [int(k) for k in head["kids"]], [int(e) for e in head["elements"]], _items_in(head["outline"]),
                   {str(k): (int(p), x.encode("latin-1"), y.encode("latin-1")) for k, (p, x, y) in head["names"].items()},
                   nums, int(head["keys"]), role_map, {str(k): bool(v) for k, v in head["targets"].items()})


def _items_out(items: list[_Item]) -> list[Any]:
    return [[it.title.decode("latin-1"), None if it.dest is None else
             [it.dest[0], it.dest[1].decode("latin-1"), it.dest[2].decode("latin-1")],
             it.closed, _items_out(it.children)] for it in items]


def _items_in(items: list[Any]) -> list[_Item]:
    return [_Item(title.encode("latin-1"), None if dest is None else
                  (int(dest[0]), dest[1].encode("latin-1"), dest[2].encode("latin-1")), bool(closed), _items_in(children))
            for title, dest, closed, children in items]


def _moved(items: list[_Item], shift: int) -> list[_Item]:
    return [_Item(it.title, None if it.dest is None else (it.dest[0] + shift, *it.dest[1:]), it.closed,
                  _moved(it.children, shift)) for it in items]


class _Recorder:
    """Stands in for _Out while a part is joined on its own: numbers from LOCAL up, references
    to them marked (see Template), and what would be written kept in order."""

    def __init__(self) -> None:
        self.next = LOCAL
        self.ops: list[tuple[int, int, bytes, bytes]] = []
        self.waiting = 0  # objects put since the last object stream

    def number(self) -> int:
        self.next += 1
        return self.next - 1

    @staticmethod
    def mark(number: int) -> bytes:
        return b"\0r%d\0" % number if number >= LOCAL else b"%d 0 R" % number

    def put(self, number: int, body: bytes) -> None:
        self.ops.append((PUT, number, _keyed(body), b""))
        self.waiting += 1
        if self.waiting == PACKED:  # where _Out packs them
            self.pack()

    def stream(self, number: int, head: bytes, data: bytes) -> None:
        self.ops.append((STREAM, number, _keyed(head), data))

    def pack(self) -> None:
        if self.waiting:
            self.ops.append((PACK, self.number(), b"", b""))
            self.waiting = 0


def _keyed(body: bytes) -> bytes:
    """The parent-tree keys a part's pages and annotations were given (KEYS and up) marked."""
    if b"/StructParent" not in body:
        return body
    return KEYED.sub(lambda m: m[0] if m[2] is None or int(m[2]) < KEYS else
                     m[1] + b"\0k%d\0" % (int(m[2]) - KEYS), body)


@dataclass
class _Piece:
    """What the end of the join needs of one document's pages."""

    kids: list[int] = field(default_factory=list)  # its pages, in out
    elements: list[int] = field(default_factory=list)  # its top structure elements
    outline: list[_Item] = field(default_factory=list)
    names: dict[str, tuple[int, bytes, bytes]] = field(default_factory=dict)  # anchor -> (page, x, y)


class Join:
    """A dossier joined as its parts come, each written to the file at once; the front (cover
    and contents, which need every part's page numbers) comes last, though its pages go first.

    The footers "n / N" and the backlinks' page numbers are laid over each page as forms. A part's
    page gets the numbers of its forms when it is written, and the forms are written by finish():
    so the parts are joined while the front and the footers are still being rendered, or even
    while later parts are (targets: what the parts' links were taken to go to, to check)."""

    def __init__(self, into: BinaryIO, version: bytes, known: set[str], start: int, footed: bool = True,
                 cache: Cache | None = None) -> None:
        """known: the anchors of the dossier; start: the front's length in pages (where the
        parts' pages start); footed: whether every page gets a footer; cache: where each part's
        Template is kept for the next build."""
        self.out = out = _Out(into, version)
        self.version, self.start = version, start
        self.cache, self.unsaved = cache, dict[str, bytes]()
        self.wrap: dict[bytes, int] = {}  # shared q/Q streams around the forms
        for piece in (b"q\n", b"q\nq\n", *(b"Q\nq /Artifact BMC %s Do EMC Q\n" % name for name in (FOOTER, NUMBERS))):
            self.wrap[piece] = out.number()
            out.stream(self.wrap[piece], b"<< >>", piece)
        self.tree, self.document = out.number(), out.number()  # the page tree and the structure's Document
        assert len(out.kind) == LOCAL, "a part's own numbers start where the shared ones end"
        self._track(out, known, footed, 0)

    def _track(self, sink: _Out | _Recorder, known: set[str], footed: bool, next_key: int) -> None:
        """What joining pages writes to (sink) and keeps (a Join and a _Part alike)."""
        self.sink, self.known, self.footed, self.next_key = sink, known, footed, next_key
        self.targets: set[str] = set()
        self.parts = _Piece()
        self.reserved: list[tuple[int, bytes, int]] = []  # (page, overlay, form number in the sink)
        self.nums: list[tuple[int, bytes]] = []  # the parent tree
        self.role_map: bytes | None = None

    def place(self, template: Template) -> None:
        """A part's pages (its template()) copied into the dossier, after the parts placed before."""
        self._replay(template, self.start + len(self.parts.kids))

    def template(self, data: bytes, skip: bool, langs: Sequence[tuple[int, str]], slotted: Collection[int] = (),
                 cuts: Sequence[int] = ()) -> Template:
        """A part's pages (without its cover when skip) joined on its own (_Part), or its
        Template from the cache; langs: (page in the part, language) where each of its notes
        starts; slotted: its pages with slots for backlinks' numbers; cuts: where data holds a
        part laid out in pieces, their lengths (task.documents). It depends on the part and
        on this join's anchors, never on the parts placed before it: it can be made while an
        earlier part still renders."""
        self.version = max(self.version, version(data))
        key = template = None
        if self.cache is not None:
            key = store.key("joined part", store.code(), hashlib.blake2b(data, digest_size=24).digest(),
                            orjson.dumps([skip, langs, sorted(slotted), self.footed, LOCAL, PACKED, cuts]))
            if (kept := self.cache.get(key)) is not None:
                try:
                    template = Template.unpacked(kept)
                except (ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError):
                    self.cache.undecoded()
        if template is None or any((t in self.known) != was for t, was in template.targets.items()):
            template = _Part(self).record(documents(data, cuts), skip, langs, slotted)
            if key is not None:
                self.unsaved[key] = template.packed()
                if len(self.unsaved) >= SAVED_AT_ONCE:
                    self._save()
        return template

    def _save(self) -> None:
        if self.cache is not None and self.unsaved:
            self.cache.put_many(self.unsaved)
        self.unsaved = {}

    def _replay(self, t: Template, first: int) -> None:
        """A part's template into out: its numbers after those given out so far, its keys in the
        parent tree after those taken, its pages from the dossier's page first."""
        out = self.out
        assert not out.packed, "a part starts its own object streams"
        shift = out.grow(t.count) - LOCAL
        offset = self.next_key

        def fixed(data: bytes) -> bytes:
            if b"\0" not in data:
                return data
            bits = data.split(b"\0")
            for i in range(1, len(bits), 2):
                bit = bits[i]
                bits[i] = b"%d 0 R" % (int(bit[1:]) + shift) if bit[:1] == b"r" else b"%d" % (int(bit[1:]) + offset)
            return b"".join(bits)

        for kind, number, body, data in t.ops:
            if kind == PUT:
                out.packed.append((number + shift, fixed(body)))
            elif kind == STREAM:
                out.stream(number + shift, fixed(body), data)
            else:
                out._pack(number + shift)
        self.reserved += [(first + at, name, number + shift) for at, name, number in t.reserved]
        piece = self.parts
        piece.kids += [k + shift for k in t.kids]
        piece.elements += [e + shift for e in t.elements]
        piece.outline += _moved(t.outline, shift)
        for name, (page, x, y) in t.names.items():
            piece.names.setdefault(name, (page + shift, x, y))
        self.nums += [(key + offset, fixed(value)) for key, value in t.nums]
        self.next_key = offset + t.keys
        if self.role_map is None and t.role_map is not None:
            self.role_map = fixed(t.role_map)
        self.targets.update(t.targets)

    def finish(self, front: bytes, footers: Sequence[bytes], numbers: Numbers, marks: Marks | None = None,
               cuts: Sequence[int] = ()) -> None:
        """The front's pages, first (cuts: where it was laid out in pieces, task.documents);
        then the forms laid over every page (marks: the backlinks' page numbers on each), and
        the end of the file."""
        self._save()
        self.version = max(self.version, *(version(d) for d in [front, *footers, *(d for d, _ in numbers)]))
        feet = _Footers(self.out, footers)
        overlays: dict[bytes, _Footers | _Numbers] = {FOOTER: feet, NUMBERS: _Numbers(self.out, numbers, marks or {})}
        first = _Piece()
        info, lang = None, b""
        for k, one in enumerate(documents(front, cuts)):
            with _open(one) as src:
                source = self._pages(src, False, (), len(first.kids), lambda at: [
                    (name, f) for name, o in overlays.items() if (f := o.form(at)) is not None], first)
                if k == 0:  # the metadata and language of the first piece, which has the cover
                    info = source.ref(src.trailer.Info) if "/Info" in src.trailer else None
                    lang = source.value(src.Root.Lang) if "/Lang" in src.Root else b""
                source.drain()
        if len(first.kids) != self.start:
            raise ValueError(f"the front has {len(first.kids)} pages, not {self.start}")
        for at, name, number in self.reserved:  # in page order, as they were given out
            overlays[name].place(at, number)
        feet.close()
        self._end(first, info, lang)

    def _pages(self, src: pikepdf.Pdf, skip: bool, langs: Sequence[tuple[int, str]], at: int,
               forms: Callable[[int], list[tuple[bytes, int]]], piece: _Piece) -> _Source:
        """src's pages into the sink (the first dossier page index at), and what the end needs into piece."""
        out = self.sink
        pages = list(src.pages)
        structure = src.Root.get("/StructTreeRoot")
        top = structure.get("/K") if structure is not None else None
        doc = top[0] if isinstance(top, Array) and len(top) == 1 else top
        source = _Source(src, out, [src.Root, src.Root.get("/Pages"), structure, doc, src.Root.get("/Outlines"),
                                    *([pages[0].obj] if skip else [])])
        offset = self.next_key
        if structure is not None and isinstance(doc, Dictionary):
            piece.elements += _elements(source, doc, pages, skip, langs, self.document)
            for key, value in _number_tree(structure.get("/ParentTree")):
                if skip and key == pages[0].obj.get("/StructParents"):
                    continue
                self.nums.append((key + offset, source.value(value)))
                self.next_key = max(self.next_key, key + offset + 1)
            if self.role_map is None and "/RoleMap" in structure:
                self.role_map = source.value(structure.RoleMap)
        page_numbers: dict[tuple[int, int], int] = {}
        for k, page in enumerate(pages[skip:]):
            obj = page.obj
            for inherited in ("/Resources", "/MediaBox", "/CropBox", "/Rotate"):  # from the page tree
                if inherited not in obj and inherited in src.Root.Pages:
                    obj[inherited] = src.Root.Pages[inherited]
            if "/StructParents" in obj:
                obj.StructParents = int(obj.StructParents) + offset
            if "/Annots" in obj:
                obj.Annots = _links(obj.Annots, self.known, offset, self.targets)
            piece.kids.append(_page(source, obj, self.tree, forms(at + k), self.wrap))
            page_numbers[obj.objgen] = piece.kids[-1]
        for name, k, x, y in _dests(src):
            if k >= skip and SLOT not in name:
                piece.names.setdefault(name, (page_numbers[pages[k].obj.objgen], _syntax(x), _syntax(y)))
        if "/Outlines" in src.Root:
            piece.outline += _outline(src.Root.Outlines, page_numbers)
        source.drain()
        return source

    def _end(self, first: _Piece, info: int | None, lang: bytes) -> None:
        """The page tree, names, outline, structure tree and catalog; then the cross-references."""
        out, parts = self.out, self.parts
        kids, elements, outline = first.kids + parts.kids, first.elements + parts.elements, first.outline + parts.outline
        names = {**parts.names, **first.names}  # the first of a name wins, in page order
        catalog = [b"/Type /Catalog", b"/Pages %d 0 R" % self.tree]
        if self.version > out.header:
            catalog.append(b"/Version /" + self.version)
        if names:  # sorted by text, as WeasyPrint writes it and qpdf checks it
            flat = b" ".join(b"%s [ %d 0 R /XYZ %s %s 0 ]" % (String(n).unparse(), *names[n]) for n in sorted(names))
            catalog.append(b"/Names << /Dests << /Names [ " + flat + b" ] >> >>")
        if outline:
            root = out.number()
            count, head, last = _write_outline(out, outline, root)
            out.put(root, b"<< /Count %d /First %d 0 R /Last %d 0 R >>" % (count, head, last))
            catalog.append(b"/Outlines %d 0 R" % root)
        if elements:
            root, parents = out.number(), out.number()
            out.put(self.document, b"<< /Type /StructElem /S /Document /P %d 0 R /K [ %s ] >>" % (
                root, b" ".join(b"%d 0 R" % e for e in elements)))
            out.put(parents, b"<< /Nums [ " + b" ".join(
                b"%d %s" % kv for kv in sorted(self.nums, key=lambda kv: kv[0])) + b" ] >>")
            out.put(root, b"<< /Type /StructTreeRoot /K %d 0 R /ParentTree %d 0 R /ParentTreeNextKey %d%s >>" % (
                self.document, parents, self.next_key, b" /RoleMap " + self.role_map if self.role_map else b""))
            catalog += [b"/StructTreeRoot %d 0 R" % root, b"/MarkInfo << /Marked true >>",
                        b"/ViewerPreferences << /DisplayDocTitle true >>"]
        else:
            out.put(self.document, b"null")
        if lang:
            catalog.append(b"/Lang " + lang)
        out.put(self.tree, b"<< /Type /Pages /Kids [ %s ] /Count %d >>" % (
            b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
        catalog_number = out.number()
        out.put(catalog_number, b"<< " + b" ".join(catalog) + b" >>")
        out.close(catalog_number, info)


class _Part(Join):
    """A part joined on its own into a Template, with the shared objects of the join it goes to."""

    def __init__(self, join: Join) -> None:  # no file, and the shared objects are the join's
        self.recorder = _Recorder()
        self.wrap, self.tree, self.document = join.wrap, join.tree, join.document
        self._track(self.recorder, join.known, join.footed, KEYS)  # keys are marked where written (_keyed)

    def record(self, data: Sequence[bytes], skip: bool, langs: Sequence[tuple[int, str]], slotted: Collection[int]
               ) -> Template:
        """data: the part's PDF, or those of its pieces (the cover is the first's first page)."""
        numbered = {k - skip for k in slotted}

        def forms(at: int) -> list[tuple[bytes, int]]:
            found = []
            for name, wanted in ((FOOTER, self.footed), (NUMBERS, at in numbered)):
                if wanted:
                    found.append((name, self.recorder.number()))
                    self.reserved.append((at, name, found[-1][1]))
            return found

        for k, one in enumerate(data):
            with _open(one) as src:
                self._pages(src, skip and k == 0, langs, len(self.parts.kids), forms, self.parts)
        self.recorder.pack()
        piece = self.parts
        return Template(self.recorder.next - LOCAL, self.recorder.ops, self.reserved, piece.kids, piece.elements,
                         piece.outline, piece.names, [(key - KEYS, _keyed(value)) for key, value in self.nums],
                         self.next_key - KEYS, self.role_map, {t: t in self.known for t in self.targets})


def _elements(source: _Source, doc: Any, pages: list[Any], skip: bool, langs: Sequence[tuple[int, str]],
              document: int) -> list[int]:
    """The top structure elements of a part, without the cover's when skip, under document;
    langs: (page in the part, language) where each note starts."""
    index = {p.obj.objgen: k for k, p in enumerate(pages)}
    dropped = pages[0].obj.objgen if skip else None
    found = []
    for kid in doc.K if isinstance(doc.get("/K"), Array) else [doc.K]:
        page = kid.get("/Pg") if isinstance(kid, Dictionary) else None
        if page is None or page.objgen == dropped:
            continue
        if "/P" in kid:
            del kid["/P"]
        lang = next((lg for at, lg in reversed(langs) if at <= index.get(page.objgen, 0)), None)
        if lang:
            kid.Lang = String(lang)
        if not kid.is_indirect:
            kid = source.pdf.make_indirect(kid)
        source.extra[kid.objgen] = b" /P %d 0 R" % document
        found.append(source.ref(kid))
    return found


def _links(annots: Any, known: set[str], offset: int, targets: set[str]) -> Array:
    """A page's annotations with `xref:` links made links to names in the dossier (or gone, when
    their note is not in it), and their keys in the parent tree moved by offset."""
    kept = Array()
    for annot in annots:
        action = annot.get("/A")
        uri = str(action.get("/URI", "")) if action is not None else ""
        if uri.startswith(XREF):
            target = unquote(uri[len(XREF):])
            targets.add(target)
            if target not in known:
                continue  # its note is not in the dossier: the label stays, the link goes
            del annot["/A"]
            annot.Dest = String(target)
        if "/StructParent" in annot:
            annot.StructParent = int(annot.StructParent) + offset
        kept.append(annot)
    return kept
