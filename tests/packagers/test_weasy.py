"""The render task: the Facts it reads from the layout are what its PDF's destinations say."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pikepdf
import pypdf

from exporter.packagers import weasy
from exporter.packagers.task import SLOT, Prepared

# Anchors on several pages, one id twice (its first place is its destination), slots for
# backlinks' numbers at odd offsets, and a bleed that moves the MediaBox off the page box.
PAGES = """<!DOCTYPE html><html lang="en"><head><style>
@page { size: 150mm 120mm; margin: 17mm 13mm; bleed: 3mm; }
section { break-before: page; }
span.slot { display: inline-block; width: 1.3em; }
</style></head><body>
<h1 id="first">First</h1><p>Lamp <span class="slot" id="first@SLOT@1--second"></span> and lens.</p>
<section><h2 id="second">Second</h2>@FILLER@<p id="twice">Here first.</p>
<p style="margin-left: 23.7px">Keeper <span class="slot" id="second@SLOT@1--first"></span></p></section>
<section><h2 id="third">Third</h2><p id="twice">Here again.</p>
<p style="text-align: right">Beam <span class="slot" id="third@SLOT@2--second"></span></p></section>
</body></html>""".replace("@SLOT@", SLOT).replace("@FILLER@", "<p>Fog signal.</p>" * 7)


def _destinations(data: bytes) -> tuple[int, dict[str, int], list[tuple[int, float, float, str]]]:
    """What the PDF itself says, read by pypdf: pages, each anchor's page, and the slots."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    anchors, slots = {}, []
    for name, dest in reader.named_destinations.items():
        page = reader.get_destination_page_number(dest)
        if SLOT in name:
            box = reader.pages[page].mediabox
            slots.append((page, float(dest.left), float(box.top) - float(box.bottom) - float(dest.top),
                          name.rsplit("--", 1)[1]))
        else:
            anchors[name] = page
    return len(reader.pages), anchors, sorted(slots)


def test_facts_from_the_layout_are_what_the_pdf_says() -> None:
    rendered = weasy.render(Prepared.of(PAGES, "file:///nonexistent/", (), 1700000000))
    pages, anchors, slots = _destinations(rendered.pdf)
    assert (rendered.facts.pages, rendered.facts.anchors, rendered.facts.slots) == (pages, anchors, slots)
    assert anchors["twice"] < anchors["third"]  # the first place of an id is its destination
    assert len(slots) == 3 and {page for page, *_ in slots} == {0, anchors["twice"], anchors["third"]}


def test_a_render_worker_imports_neither_the_templates_nor_the_joining() -> None:
    """What the render server preloads (pool.PRELOAD) leaves out pikepdf, jinja2 and pdf.py:
    every PDF command waits for that server before its first render."""
    probe = ("import sys; from exporter.packagers import pool\n"
             "for name in pool.PRELOAD: __import__(name)\n"
             "print(sorted(m for m in ('pikepdf', 'jinja2', 'exporter.packagers.pdf', 'exporter.packagers.stitch')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# A paragraph that runs over a page break, a link among its words, a list and a footnote.
TAGGED = """<!DOCTYPE html><html lang="en"><head><style>
@page { size: 110mm 80mm; margin: 10mm; }
.fn { float: footnote; }
</style></head><body><h1>Keepers</h1>
<p>@LONG@ The <a href="https://example.org/">lamp room</a> stays lit<span class="fn">At 3:30.</span>.</p>
<ul><li>Lens</li><li><em>Clockwork</em> weight</li></ul></body></html>""".replace(
    "@LONG@", "Fog signal, tower and beam, kept by night. " * 14)


def test_each_run_of_text_is_marked_content_of_its_own_element() -> None:
    """No /Span is made for a run of text alone (text_tagged_in_its_element): each marked-content
    id in a page's content is a kid of the element the parent tree names for it, on that page."""
    data = weasy.render(Prepared.of(TAGGED, "file:///nonexistent/", (), 1700000000)).pdf
    with pikepdf.open(io.BytesIO(data)) as doc:
        nums = doc.Root.StructTreeRoot.ParentTree.Nums
        tree = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}
        elements = [o for o in doc.objects if isinstance(o, pikepdf.Dictionary) and o.get("/Type") == "/StructElem"]
        alone = [e for e in elements if e.S == "/Span" and isinstance(e.get("/K"), pikepdf.Array)
                 and len(e.K) == 1 and isinstance(e.K[0], int)]
        assert not alone
        seen = 0
        for page in doc.pages:
            content = b"".join(c.read_bytes() for c in (page.obj.Contents if isinstance(page.obj.Contents, pikepdf.Array)
                                                        else [page.obj.Contents]))
            ids = [int(m) for m in re.findall(rb"/MCID (\d+)", content)]
            mapped = tree[int(page.obj.StructParents)]
            assert len(ids) == len(mapped) == len(set(ids))
            for mcid in ids:
                element = mapped[mcid]
                assert element.Pg.objgen == page.obj.objgen and mcid in [int(x) for x in element.K if isinstance(x, int)]
                seen += 1
        assert seen > 10 and len({e.Pg.objgen for e in elements if e.S == "/P"}) >= 2  # the paragraph runs over
        kinds = {str(e.S) for e in elements}
        assert {"/H1", "/P", "/Link", "/L", "/LI", "/Note"} <= kinds
        # the footnote's call and marker (each a /NonStruct of one run) gave their runs to their parents
        assert not [e for e in elements if e.S == "/NonStruct" and all(isinstance(k, int) for k in e.K)]
    untagged = weasy.render(Prepared.of(TAGGED, "file:///nonexistent/", (), 1700000000, tagged=False)).pdf
    texts = [[p.extract_text() for p in pypdf.PdfReader(io.BytesIO(d)).pages] for d in (data, untagged)]
    assert texts[0] == texts[1]


def test_characters_no_font_has_are_told_not_only_drawn_as_boxes() -> None:
    """WeasyPrint logs a character it draws as a box (.notdef) to a logger no one hears: the
    render says which (U+0378 is unassigned, so no font anywhere has it)."""
    from weasyprint.logger import LOGGER

    handlers = list(LOGGER.handlers)
    drawn = weasy.render(Prepared.of("<p>a\u0378b\u0378 and \U0010fffd</p>", ".", (), 1700000000))
    assert drawn.missing == (0x378, 0x10FFFD)
    assert weasy.render(Prepared.of("<p>plain words</p>", ".", (), 1700000000)).missing == ()
    assert LOGGER.handlers == handlers  # the render's own listener is gone after it


# First, left and right pages each say which they are in their header; the document's own
# first page has a running title set on the body, as a dossier part's has.
SIDES = """<!DOCTYPE html><html lang="en"><head><style>
@page { size: 110mm 80mm; margin: 15mm 10mm; @top-left { content: "plain " string(doctitle); } }
@page :left { @top-right { content: "left"; } }
@page :right { @top-right { content: "right"; } }
@page :first { @top-left { content: "first"; } }
@page :nth(2) { @bottom-center { content: "second"; } }
body { string-set: doctitle attr(data-running); }
section { break-before: page; }
</style></head><body data-running="Keepers"><p>One</p><section>Two</section><section>Three</section></body></html>"""


def _headers(after: int) -> list[list[str]]:
    data = weasy.render(Prepared.of(SIDES, "file:///nonexistent/", (), 1700000000, after=after)).pdf
    return [sorted(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(data)).pages]


def test_a_document_laid_out_after_a_page_matches_page_rules_as_the_pages_after_it() -> None:
    """A dossier part of notes renders no cover to drop (Prepared.after, pages_continued): its
    pages match `@page :first`, `:left`, `:right` and `:nth()` as the pages after one would,
    and the running title set on its body shows from its first page."""
    assert _headers(0) == [["One", "first", "right"], ["Keepers", "Two", "left", "plain", "second"],
                           ["Keepers", "Three", "plain", "right"]]
    assert _headers(1) == [["Keepers", "One", "left", "plain", "second"], ["Keepers", "Two", "plain", "right"],
                           ["Keepers", "Three", "left", "plain"]]
    # and the next document is its own first page again
    assert _headers(0) == [["One", "first", "right"], ["Keepers", "Two", "left", "plain", "second"],
                           ["Keepers", "Three", "plain", "right"]]
