"""PDF dossier and briefs, checked on the real PDFs (pypdf, pikepdf), built once per module."""

from __future__ import annotations

import base64
import http.server
import io
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pikepdf
import pypdf
import pytest
import weasyprint
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

from exporter.cache import Cache
from exporter.cli import main
from exporter.collect import collect
from exporter.config import Options
from exporter.model import ast
from exporter.model.document import Collection, Note
from exporter.packagers import dossier as dossier_packager
from exporter.packagers import fetch, pdf, pool, weasy, weasy_patches
from exporter.packagers.dossier import one_pass, write_dossier
from exporter.packagers.pool import Workers
from exporter.select import select
from exporter.theme import STYLES, Theme
from exporter.transforms import sanitize
from exporter.writers.html import anchor_id
from tests.conftest import write_vault

VAULT = Path(__file__).resolve().parent / "vaults" / "pdf_dossier"
SAMPLE_VAULT = Path(__file__).resolve().parent.parent / "notes"
HOSTILE_VAULT = Path(__file__).resolve().parent / "vaults" / "epub_hostile"
PICKED = ["alpha", "beta", "gamma", "delta", "epsilon"]  # outside_note stays out
EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
TOKEN = re.compile(r"\b([ABGDE])(\d\d)x")  # "marker B07x" sits right before citation 7 of beta
PREFIX = {"A": "alpha", "B": "beta", "G": "gamma", "D": "delta", "E": "epsilon"}


@dataclass
class Built:
    path: Path
    reader: pypdf.PdfReader
    texts: list[str]
    collection: Collection
    notes: list[Note]
    logs: list[logging.LogRecord]


def _stem(n: Note) -> str:
    return n.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _dossier_args(out: Path) -> list[str]:
    return ["pdf", str(VAULT), *PICKED, "-o", str(out), "--title", "Test dossier",
            "--subtitle", "Five notes", "--author", "Ann Author", "-q"]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def dossier(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The dossier, built in-process (logs kept) with a fixed SOURCE_DATE_EPOCH."""
    out = tmp_path_factory.mktemp("dossier") / "dossier.pdf"
    keep = _Keep()
    logging.getLogger("weasyprint").addHandler(keep)
    try:
        r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(main, _dossier_args(out))
    finally:
        logging.getLogger("weasyprint").removeHandler(keep)
    assert r.exit_code == 0, r.output
    reader = pypdf.PdfReader(out)
    collection, _ = collect(VAULT, Options())
    by_stem = {_stem(n): n for n in collection.notes}
    return Built(out, reader, [p.extract_text() for p in reader.pages], collection,
                 [by_stem[s] for s in PICKED], keep.records)


@pytest.fixture(scope="module")
def briefs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("briefs") / "briefs"
    r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(
        main, ["pdf", str(VAULT), "--briefs", "-o", str(out), "--jobs", "2", "-q"])
    assert r.exit_code == 0, r.output
    return out


def _outline(reader: pypdf.PdfReader) -> list[tuple[int, str, int]]:
    """(depth, title, page index) for every outline entry, in order."""
    found: list[tuple[int, str, int]] = []

    def go(items: list[Any], depth: int) -> None:
        for x in items:
            if isinstance(x, list):
                go(x, depth + 1)
            else:
                page = reader.get_destination_page_number(x)
                assert page is not None
                found.append((depth, str(x.title), page))

    go(reader.outline, 0)
    return found


def _flat(text: str) -> str:
    return " ".join(text.split())


def _brief_runs(tmp_path: Path, files: dict[str, str | bytes]) -> tuple[list[tuple[float, str]], float]:
    """The one note of files as a brief: its first page's text runs (x where each starts, its
    text stripped) and the page's width."""
    vault = write_vault(tmp_path / "v", files)
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "b"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    (brief,) = (tmp_path / "b").glob("*.pdf")
    page = pypdf.PdfReader(brief).pages[0]
    runs: list[tuple[float, str]] = []
    page.extract_text(visitor_text=lambda text, cm, tm, *_: runs.append((cm[4] + tm[4] * cm[0], text.strip())))
    return runs, float(page.mediabox.width)


def _headings(n: Note) -> list[tuple[int, str]]:
    """(depth, text) the outline should show under a note: its headings, minus a title H1."""
    hs = n.headings[1:] if n.opens_with_title else n.headings
    shift = 1 if any(h.level == 1 for h in hs) else 0
    return [(h.level + shift - 1, h.text) for h in hs]


def _targets(d: Built) -> dict[str, int]:
    """Each anchor a link may point to -> the page index the outline gives for it."""
    entries = iter(_outline(d.reader))
    pages: dict[str, int] = {}
    for n in d.notes:
        pages[anchor_id(n.id)] = next(entries)[2]
        for h in n.headings[1:] if n.opens_with_title else n.headings:
            pages[anchor_id(n.id, h.id)] = next(entries)[2]
    return pages


def _links(reader: pypdf.PdfReader, page: int) -> list[dict[str, Any]]:
    annots = reader.pages[page].get("/Annots") or []
    return [a.get_object() for a in annots if a.get_object().get("/Subtype") == "/Link"]


# --- the dossier --------------------------------------------------------------------------------


def test_outline_has_one_entry_per_note_with_its_headings_nested(dossier: Built) -> None:
    expected: list[tuple[int, str]] = []
    for n in dossier.notes:
        expected += [(0, n.title), *_headings(n)]
    expected.append((0, "Sources"))
    got = [(depth, title) for depth, title, _ in _outline(dossier.reader)]
    assert got == expected
    assert (1, "Part three marker B26x") in got  # a heading with a citation: no call number


def test_text_holds_every_title_and_heading(dossier: Built) -> None:
    text = _flat(" ".join(dossier.texts))
    for n in dossier.notes:
        assert n.title in text
        for h in n.headings:
            assert h.text in text


def test_one_footnote_per_citation_on_the_page_of_its_call(dossier: Built) -> None:
    labels = {n.id: [c.moments[0].label for c in n.citations] for n in dossier.notes}
    by_stem = {_stem(n): n for n in dossier.notes}
    sources_page = _outline(dossier.reader)[-1][2]
    seen = 0
    for page, text in enumerate(dossier.texts[:sources_page]):
        flat = _flat(text)
        for letter, k in TOKEN.findall(flat):
            label = labels[by_stem[PREFIX[letter]].id][int(k) - 1]
            assert f"at {label}" in flat.lower(), f"page {page + 1}: footnote for {letter}{k}x missing"
            seen += 1
        # a footnote body names its video in full ("“Title”, channel, at") or is a repeat ("At")
        seen -= len(re.findall(r"\d+\. (?:“[^”]*”, [^“”]*?at |At )\d", flat))
    assert seen == 0  # as many footnote bodies as calls: no endnotes, no duplicates
    body = _flat(" ".join(dossier.texts[:sources_page]))
    for n in dossier.notes:  # one full citation per note (each cites one video), the rest short
        assert body.count(f"“{n.title}”") == 1, n.title
    assert sum(len(n.citations) for n in dossier.notes) == 86 + 4 + 2 + 2 + 1


def test_internal_links_jump_to_the_page_of_their_target(dossier: Built) -> None:
    targets = _targets(dossier)
    dests = dossier.reader.named_destinations
    linked: set[str] = set()
    for page in range(len(dossier.reader.pages)):
        for a in _links(dossier.reader, page):
            if "/Dest" not in a:
                assert a["/A"]["/S"] == "/URI"
                continue
            name = str(a["/Dest"])
            linked.add(name)
            at = dossier.reader.get_destination_page_number(dests[name])
            if name != "sources":
                assert at == targets[name], name
    note = {_stem(n): n for n in dossier.collection.notes}
    assert {anchor_id(note["beta"].id), anchor_id(note["beta"].id, "part-two"),
            anchor_id(note["gamma"].id), anchor_id(note["epsilon"].id)} <= linked
    assert not any(name.startswith(note["outside_note"].id) for name in dests)


def test_links_outside_the_dossier_are_plain_text(dossier: Built) -> None:
    text = _flat(" ".join(dossier.texts))
    assert "the outside note" in text and "nowhere at all" in text
    uris = [str(a["/A"]["/URI"]) for p in range(len(dossier.reader.pages))
            for a in _links(dossier.reader, p) if "/A" in a]
    assert all(u.startswith("https://www.youtube.com/watch?v=") for u in uris)


def test_cover_toc_running_header_and_page_numbers(dossier: Built) -> None:
    cover, toc = _flat(dossier.texts[0]), _flat(dossier.texts[1])
    for fact in ("Test dossier", "Five notes", "14 November 2023", "5", "Channel One", "chan_two"):
        assert fact in cover
    starts = {title: page for depth, title, page in _outline(dossier.reader) if depth == 0}
    for n in dossier.notes:
        m = re.search(re.escape(n.title) + r" ?\.*\s*(\d+)", toc)
        assert m and int(m.group(1)) == starts[n.title] + 1, n.title
    total = len(dossier.texts)
    for i, text in enumerate(dossier.texts[1:], start=2):
        assert f"{i} / {total}" in _flat(text)
    beta = starts["Beta a long note"]
    header = dossier.texts[beta + 1]
    assert "Test dossier" in header and "Beta a long note" in header


def test_a_contents_group_name_never_ends_a_page(tmp_path: Path) -> None:
    """A channel's name in the contents goes to the next page with its first note rather than
    stand alone at the foot of a page (thirty channels of three notes, over four pages)."""
    files = {f"n{k:03d}.md": f"---\ntitle: Note {k} on the lamp room\n---\n\nFrom: [[channel_{k // 3:02d}]] <br/>\n\nA line.\n"
             for k in range(90)}  # without the rule, the first and third pages end with a channel's name
    collection, _ = collect(write_vault(tmp_path / "v", files), Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Groups", epoch=1700000000))
    front = pdf.render(plan.front({}, set()))
    groups = {n.channel_name for n in collection.notes}
    pages = [[line.strip() for line in p.extract_text().splitlines() if line.strip()]
             for p in pypdf.PdfReader(io.BytesIO(front.pdf)).pages[1:]]
    assert len(pages) >= 3
    ends = [next(line for line in reversed(lines) if line in groups or line.startswith("Note ")) for lines in pages]
    assert not [end for end in ends if end in groups], ends


def _code(n: int) -> dict[str, Any]:
    return {"t": "CodeBlock", "c": [["", ["python"], []], "\n".join(f"x = {i}" for i in range(n))]}


def _table(n: int) -> dict[str, Any]:
    """A table of a head row and n body rows."""
    def row(i: int) -> list[Any]:
        return [["", [], []], [[["", [], []], {"t": "AlignDefault"}, 1, 1, [ast.Para([ast.Str(f"r{i}")])]]]]
    return {"t": "Table", "c": [["t", [], []], [None, []], [], [["", [], []], [row(-1)]],
                                [[["", [], []], 0, [], [row(i) for i in range(n)]]], [["", [], []], []]]}


def _div(classes: list[str], n: int) -> dict[str, Any]:
    return {"t": "Div", "c": [["", classes, []], [ast.Para([ast.Str("w " * 40)])] * n]}


def test_long_blocks_are_marked_to_flow_and_short_ones_are_not() -> None:
    code, table = _code, _table
    assert pdf._flowing(code(pdf.LONG_LINES)) == code(pdf.LONG_LINES)
    assert pdf._flowing(code(pdf.LONG_LINES + 1))["c"][0] == ["", ["python", "long"], []]
    assert pdf._flowing(table(pdf.LONG_LINES - 1)) == table(pdf.LONG_LINES - 1)  # with its head row: 15 lines
    assert pdf._flowing(table(pdf.LONG_LINES))["c"][0] == ["t", ["long"], []]
    assert pdf._flowing(_div(["callout", "callout-note"], 2)) == _div(["callout", "callout-note"], 2)
    assert pdf._flowing(_div(["callout", "callout-note"], 20))["c"][0][1] == ["callout", "callout-note", "long"]
    holding = {"t": "Div", "c": [["", ["callout"], []], [ast.Para([ast.Str("Look:")]), _code(30)]]}
    assert pdf._flowing(holding)["c"][0][1] == ["callout", "long"]  # its code counts
    plain = _div(["other"], 12)
    assert pdf._flowing(plain) is plain  # only callouts are kept whole by the theme
    once = pdf._flowing(code(40))
    assert pdf._flowing(once) is once


def test_a_long_table_starts_under_its_heading_and_a_short_one_stays_whole(tmp_path: Path) -> None:
    """A table taller than the room left under its heading flows from there, its head row
    repeated, instead of being pushed to the next page with its heading (which left a page
    with the heading alone); long code flows too; a short table still keeps its rows together."""
    rows = "\n".join(f"| row {i} | value {i * 7} |" for i in range(70))
    code = "\n".join(f"line {i} = compute({i})" for i in range(90))
    short = "\n".join(f"| short {i} | s{i} |" for i in range(6))
    vault = write_vault(tmp_path / "v", {"long.md": f"""\
        ---
        title: Long blocks
        ---
        {"Opening words, enough to fill a third of the page. " * 40}

        ## The table

        | a | b |
        |---|---|
        {rows}

        ## The code

        ```
        {code}
        ```

        ## The short table

        | x | y |
        |---|---|
        {short}
        """.replace("\n        ", "\n")})
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "out"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    texts = [p.extract_text() for p in pypdf.PdfReader(tmp_path / "out" / "long.pdf").pages]

    def at(word: str) -> list[int]:
        return [k for k, t in enumerate(texts) if word in t]

    assert at("The table") == at("row 0 ") == [0]
    assert at("row 69")[0] > 0 and all("a b" in texts[k].replace("\n", " ") for k in range(at("row 69")[0] + 1))
    assert at("The code")[0] == at("line 0 ")[0]
    assert len(set(at("short 0")) | set(at("short 5"))) == 1
    assert len(texts) <= 5  # the table and the code take the pages they fill, no more


def test_a_footnote_among_the_rows_names_of_a_split_table_is_set_once(tmp_path: Path) -> None:
    """A table too wide for the page is split in parts that repeat the rows' names: a footnote
    there was set under each part, and every footnote after it numbered one too high."""
    heads = [f"Heading {k}" for k in range(12)]
    rows = [f"| Row {r}{'[^a]' if r == 1 else ''} | " + " | ".join(f"value {r}.{k} words" for k in range(1, 12)) + " |"
            for r in range(3)]
    table = "\n".join(["| " + " | ".join(heads) + " |", "|" + "---|" * 12, *rows])
    vault = write_vault(tmp_path / "v", {"t.md": f"---\ntitle: Wide\n---\n\n{table}\n\nAfter the table[^b].\n\n"
                                                 "[^a]: The row's own note.\n[^b]: The note after it.\n"})
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "out"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(tmp_path / "out" / "t.pdf").pages).split())
    assert text.count("Heading 0") >= 2  # split, the rows' names repeated
    assert text.count("The row's own note.") == 1
    assert "2. The note after it." in text and "After the table2." in text and "3." not in text


def test_byline_names_the_channel_and_links_the_video(dossier: Built) -> None:
    page = _outline(dossier.reader)[0][2]
    assert "From Channel One · Watch the video" in _flat(dossier.texts[page])
    uris = {str(a["/A"]["/URI"]) for a in _links(dossier.reader, page) if "/A" in a}
    assert "https://www.youtube.com/watch?v=AlphaVid001" in uris


def test_sources_appendix_lists_every_cited_video(dossier: Built) -> None:
    last = _flat(" ".join(dossier.texts[_outline(dossier.reader)[-1][2]:]))
    for vid in ("AlphaVid001", "BetaVideo01", "GammaVid001"):
        assert f"https://www.youtube.com/watch?v={vid}" in last
    assert "OutsideVid1" not in last


def test_sources_follow_what_each_note_embeds_in_order_cached_or_not(tmp_path: Path) -> None:
    """A note's embeds, nested ones too, bring their videos into Sources after its own, in the
    order the note holds them (known from collecting: no note's blocks are read for it); a
    fenced div that merely names a note is no embed."""
    def note(title: str, vid: str, body: str) -> str:
        return f"---\ntitle: {title}\nvideoId: {vid}\n---\n\n{body} <a class=\"yt-timestamp\" data-t=\"00:01:00\">[00:01:00]</a>.\n"

    vault = write_vault(tmp_path / "v", {
        "a.md": note("Alpha", "VideoAlpha1", "Alpha text.\n\n![[c]]\n\n![[b]]\n\n::: {note=d}\nNamed only.\n:::\n\nEnd"),
        "b.md": note("Beta", "VideoBeta01", "Beta text.\n\n![[e]]\n\nMore"),
        "c.md": note("Gamma", "VideoGamma1", "Gamma text"),
        "d.md": note("Delta", "VideoDelta1", "Delta text"),
        "e.md": note("Epsilon", "VideoEpsil1", "Epsilon text"),
    })
    cache = Cache(tmp_path / "cache")
    for store in (None, cache, cache):  # without the cache, filling it, from it
        collection, _ = collect(vault, Options(), cache=store)
        alpha = [n for n in collection.notes if n.title == "Alpha"]
        assert [s.video_id for s in pdf._sources(collection, alpha)] == [
            "VideoAlpha1", "VideoGamma1", "VideoBeta01", "VideoEpsil1"]


def test_fonts_are_embedded_and_cover_greek_and_cyrillic(dossier: Built) -> None:
    names = set()
    with pikepdf.open(dossier.path) as doc:
        for page in doc.pages:
            for font in page.Resources.Font.values():
                names.add(str(font.BaseFont))
                glyphs = font.DescendantFonts[0] if "/DescendantFonts" in font else font
                descriptor = glyphs.FontDescriptor
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    assert names and all("DejaVu" in n for n in names)
    text = " ".join(dossier.texts)
    assert "Γάμμα και το φως" in text and "Дельта и маяки" in text and "Радиоизотопные" in text


def test_metadata_and_dates_come_from_source_date_epoch(dossier: Built) -> None:
    info = dossier.reader.metadata
    assert info is not None
    assert (info.title, info.author, info.subject) == ("Test dossier", "Ann Author", "Five notes")
    assert "Channel One" in str(info.get("/Keywords"))
    assert info["/CreationDate"] == info["/ModDate"] == "D:20231114221320Z"


def test_structure_is_valid_and_nothing_is_attached(dossier: Built) -> None:
    with pikepdf.open(dossier.path) as doc:
        assert doc.check_pdf_syntax() == []
        assert all(o is not None for o in doc.objects)  # every object read: its cross-reference entry is right
        assert doc.get_warnings() == []  # nothing qpdf had to repair
        assert "/EmbeddedFiles" not in doc.Root.get("/Names", {})
    if shutil.which("qpdf"):
        r = subprocess.run(["qpdf", "--check", str(dossier.path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_weasyprint_logs_nothing_about_the_theme(dossier: Built) -> None:
    messages = [r.getMessage() for r in dossier.logs]
    assert [m for m in messages if "HarfBuzz" not in m] == []


def test_language_reaches_the_html_for_hyphenation(dossier: Built) -> None:
    prepared = pdf.prepare_dossier(dossier.collection, dossier.notes, pdf.Meta("t"))
    for stem, lang in (("alpha", "en"), ("gamma", "el"), ("delta", "ru")):
        note = next(n for n in dossier.notes if _stem(n) == stem)
        assert f'<article class="note" id="{anchor_id(note.id)}" lang="{lang}">' in prepared.html
    beta = {t: p for d, t, p in _outline(dossier.reader) if d == 0}["Beta a long note"]
    assert re.search(r"\w[\u2010-]\n", dossier.texts[beta + 1])  # hyphens: auto at work


def test_contents_groups_and_unresolved_policy_shape_the_html(dossier: Built) -> None:
    def html(**kw: Any) -> str:
        return pdf.prepare_dossier(dossier.collection, dossier.notes, pdf.Meta("t"), **kw).html

    assert html().count('class="toc-group"') == 2 + 1  # Channel One, chan_two, Appendix
    assert '<li class="toc-group">folder</li>' in html(parts="folder")
    assert html(parts="none").count('class="toc-group"') == 1
    assert 'class="unresolved"' in html() and 'class="unresolved"' not in html(unresolved="plain")


def test_same_input_gives_the_same_bytes_across_processes(dossier: Built, tmp_path: Path) -> None:
    out = tmp_path / "again.pdf"
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONHASHSEED": "12345"}
    r = subprocess.run([sys.executable, "-m", "exporter", *_dossier_args(out)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == dossier.path.read_bytes()


def test_the_same_vault_in_another_folder_gives_the_same_bytes(dossier: Built, briefs: Path, tmp_path: Path) -> None:
    """Nothing of where the vault lies goes into the PDFs: its image (images/dot.png) was named
    after its absolute URL, and a brief's /ID hashed that URL, so a checkout elsewhere gave other
    bytes."""
    elsewhere = tmp_path / "another place é" / VAULT.name
    shutil.copytree(VAULT, elsewhere)
    out = tmp_path / "moved.pdf"
    args = _dossier_args(out)
    args[args.index(str(VAULT))] = str(elsewhere)
    r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(main, [*args, "--no-cache"])
    assert r.exit_code == 0, r.output
    with pikepdf.open(dossier.path) as doc:
        assert any(isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image" for o in doc.objects)
    assert out.read_bytes() == dossier.path.read_bytes()
    moved = tmp_path / "briefs"
    r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(
        main, ["pdf", str(elsewhere), "--briefs", "-o", str(moved), "--jobs", "2", "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    assert _same_briefs(moved, briefs) >= 1


def _same_briefs(made: Path, expected: Path) -> int:
    """How many briefs made holds, once it is known to hold the same files as expected, byte for byte."""
    names = sorted(p.relative_to(expected) for p in expected.rglob("*.pdf"))
    assert names == sorted(p.relative_to(made) for p in made.rglob("*.pdf"))
    assert all((made / p).read_bytes() == (expected / p).read_bytes() for p in names)
    return len(names)


def _calls_and_footnotes(html: str) -> list[tuple[int, int]]:
    """(footnote calls, footnote bodies) per page of the laid-out document."""
    css = [weasyprint.CSS(string=t) for t in Theme.load().css("pdf").values()]
    found = []
    for page in weasyprint.HTML(string=html).render(stylesheets=css).pages:
        counts = [0, 0]

        def walk(box: Any, counts: list[int] = counts) -> None:
            if (getattr(box, "element_tag", "") or "").endswith("::footnote-call") \
                    and type(box).__name__ != "TextBox":
                counts[0] += 1
            if type(box).__name__ == "FootnoteAreaBox":
                counts[1] += len(box.children)
            for child in getattr(box, "children", []):
                walk(child)

        walk(page._page_box)
        found.append((counts[0], counts[1]))
    return found


def test_footnotes_stay_with_their_calls_where_weasyprint_would_move_or_lose_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A paragraph whose second line reaches the page bottom: WeasyPrint 70 alone moves earlier
    footnotes to the next page and loses the ones that line calls (see weasy.py)."""
    text = "the keepers logged the weather every four hours and noted each change in the light "
    words = (text + "while relief boats waited for calm seas").split() * 4

    def fn(i: int) -> str:
        return f'<span class="footnote">“Note”, chan, at {i}:07.</span>'

    def page(spacer: int) -> str:
        paras = "".join("<p>" + " ".join(words[:8] + ["call" + fn(i)] + words[8:19]
                                         + ["again" + fn(100 + i)] + words[19:68]) + ".</p>"
                        for i in range(1, 7))
        return (f'<article class="note"><h1 class="note-title">T</h1><p>Intro{fn(0)}</p>'
                f'<div style="height:{spacer}mm"></div>{paras}</article>')

    from weasyprint.layout import block

    triggered = 0
    for spacer in range(125, 137, 2):
        for calls, bodies in _calls_and_footnotes(page(spacer)):
            assert calls == bodies, f"spacer {spacer} mm"
        with monkeypatch.context() as m:
            m.setattr(block, "_linebox_layout", block._linebox_layout.original)
            triggered += any(c != b for c, b in _calls_and_footnotes(page(spacer)))
    assert triggered  # the case really happens without the workaround


# --- briefs -------------------------------------------------------------------------------------


def test_briefs_mirror_the_vault_one_pdf_per_note(briefs: Path) -> None:
    found = sorted(p.relative_to(briefs).as_posix() for p in briefs.rglob("*.pdf"))
    assert found == ["alpha.pdf", "beta.pdf", "delta.pdf", "folder/epsilon.pdf", "gamma.pdf",
                     "outside_note.pdf"]


def test_brief_outline_links_and_contents(briefs: Path) -> None:
    collection, _ = collect(VAULT, Options())
    paths = pdf.brief_paths(collection.notes)
    for n in collection.notes:
        reader = pypdf.PdfReader(briefs / paths[n.id])
        got = [(d, t) for d, t, _ in _outline(reader)]
        assert got[:1 + len(_headings(n))] == [(0, n.title), *_headings(n)]
        for page in range(len(reader.pages)):
            for a in _links(reader, page):  # only links inside the note itself remain
                assert "/A" in a or str(a["/Dest"]).startswith(n.id)
        text = _flat(" ".join(p.extract_text() for p in reader.pages))
        assert ("Contents" in text) == (len(_headings(n)) >= pdf.BRIEF_TOC_MIN)


def test_briefs_in_parallel_equal_briefs_in_series(briefs: Path, tmp_path: Path) -> None:
    r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(
        main, ["pdf", str(VAULT), "alpha", "epsilon", "--briefs", "-o", str(tmp_path), "-j", "1"])
    assert r.exit_code == 0, r.output
    for rel in ("alpha.pdf", "folder/epsilon.pdf"):
        assert (tmp_path / rel).read_bytes() == (briefs / rel).read_bytes()


def test_the_first_briefs_render_while_the_others_are_written_and_come_out_the_same(
        briefs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first FIRST_BRIEFS a worker start rendering before the other notes' HTML is written:
    the briefs are those written all at once."""
    started: list[int] = []
    ahead = pdf.ahead
    monkeypatch.setattr(pdf, "FIRST_BRIEFS", 1)
    monkeypatch.setattr(pdf, "ahead", lambda workers, docs, cache=None: started.append(len(docs)) or ahead(workers, docs, cache))
    r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(
        main, ["pdf", str(VAULT), "--briefs", "-o", str(tmp_path), "-j", "2", "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    assert started == [2]
    assert _same_briefs(tmp_path, briefs) > 2


# --- failures -----------------------------------------------------------------------------------


def test_a_weasyprint_failure_is_one_line_exit_3_and_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __init__(self, **_: object) -> None:
            raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(weasy, "HTML", Broken)
    monkeypatch.setattr(pool, "_context", lambda: multiprocessing.get_context("fork"))  # workers see it
    out = tmp_path / "d.pdf"
    out.write_bytes(b"old")
    r = CliRunner().invoke(main, ["pdf", str(VAULT), "alpha", "-o", str(out), "-q", "--no-cache"])
    assert r.exit_code == 3
    assert r.stderr.strip() == (
        f"error: cannot write {out}: the contents: WeasyPrint could not render the PDF: boom second line")
    assert out.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["d.pdf"]
    out.unlink()
    r = CliRunner().invoke(main, ["pdf", str(VAULT), "--briefs", "-o", str(tmp_path / "b"), "-q", "--no-cache"])
    assert r.exit_code == 3 and "6 of 6 briefs could not be written" in r.stderr
    assert not list(tmp_path.rglob("*.pdf")) and not list(tmp_path.rglob("*.tmp"))


def test_a_theme_template_that_opens_every_part_with_a_cover_still_joins_right(dossier: Built, tmp_path: Path) -> None:
    """A theme's own dossier template written when every part opened with a cover (cover_dropped)
    still gives the same dossier: a part whose HTML opens with a cover has it dropped (Part.cover),
    and its pages match the page rules as they did."""
    theme = tmp_path / "older"
    (theme / "templates").mkdir(parents=True)
    (theme / "theme.toml").write_text((STYLES / "serif" / "theme.toml").read_text("utf-8"), "utf-8")
    shared = (STYLES / "common" / "templates" / "dossier.html.j2").read_text("utf-8")
    now = '<body class="dossier"{% if cover == "none" %} data-running="{{ doc.running }}"{% endif %}>\n{% if cover == "title" -%}'
    assert now in shared
    (theme / "templates" / "dossier.html.j2").write_text(
        shared.replace(now, '<body class="dossier">\n{% if cover_dropped -%}'), "utf-8")
    plan = pdf.plan_dossier(dossier.collection, dossier.notes, pdf.Meta("t"), Theme.load(str(theme)))
    assert [(p.cover, p.prepared.after) for p in plan.parts] == [(1, 0)] * len(plan.parts)
    out = tmp_path / "older.pdf"
    r = CliRunner(env={"SOURCE_DATE_EPOCH": EPOCH}).invoke(main, [*_dossier_args(out), "--theme", str(theme)])
    assert r.exit_code == 0, r.output
    reader = pypdf.PdfReader(out)
    assert [p.extract_text() for p in reader.pages] == dossier.texts
    assert _outline(reader) == _outline(dossier.reader)


def test_bad_theme_is_a_usage_error_and_a_broken_template_fails_cleanly(tmp_path: Path) -> None:
    out = ["-o", str(tmp_path / "x.pdf")]
    r = CliRunner().invoke(main, ["pdf", str(VAULT), "--theme", "nope", *out])
    assert r.exit_code == 2 and "no theme 'nope'" in r.stderr
    theme = tmp_path / "broken"
    (theme / "templates").mkdir(parents=True)
    (theme / "theme.toml").write_text((STYLES / "serif" / "theme.toml").read_text("utf-8"), "utf-8")
    (theme / "templates" / "dossier.html.j2").write_text("{{ nothing.here }}")
    r = CliRunner().invoke(main, ["pdf", str(VAULT), "--theme", str(theme), *out])
    assert r.exit_code == 3 and "template dossier.html.j2" in r.stderr
    assert "Traceback" not in r.output and not (tmp_path / "x.pdf").exists()


# --- safety (SPEC 7) ----------------------------------------------------------------------------

SECRET = b"SECRET-7f3a9c-DO-NOT-EMBED"


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 (ephemeral port) that records requests; it stops by itself."""
    hits: list[str] = []
    handler = type("Handler", (_Recorder,), {"hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    guard = threading.Timer(120, httpd.shutdown)
    guard.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        guard.cancel()
        httpd.shutdown()
        httpd.server_close()


def _png(colour: tuple[int, int, int], text: bytes = b"") -> bytes:
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("secret", text.decode())
    Image.new("RGB", (8, 8), colour).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _hostile(url: str, secret_dir: Path) -> str:
    return f"""<img src="{url}/img.png">
<link rel="stylesheet" href="{url}/link.css">
<style>@import url("{url}/import.css"); body {{ background: url({url}/bg.png) }}
@font-face {{ font-family: evil; src: url({url}/font.woff) }}</style>
<iframe src="{url}/frame.html"></iframe>
<object data="{url}/object.png"></object>
<embed src="{url}/embed.png">
<video poster="{url}/poster.png"></video>
<svg><image href="{url}/svg.png" width="5" height="5"/></svg>
<div style="background-image: url({url}/style.png)">styled</div>
<a rel="attachment" href="{secret_dir.as_uri()}/secret.txt">attach</a>
<link rel="attachment" href="{secret_dir.as_uri()}/secret.txt">
<img src="{secret_dir.as_uri()}/secret.png">
<img src="../secret.png">
<img src="escape.png">
<img src="file://localhost{secret_dir}/secret.png">
"""


def _assert_nothing_leaked(data: bytes, images: int) -> None:
    assert SECRET not in data
    with pikepdf.open(io.BytesIO(data)) as doc:
        for obj in doc.objects:
            if isinstance(obj, pikepdf.Stream):
                assert SECRET not in obj.read_bytes()
        assert "/EmbeddedFiles" not in doc.Root.get("/Names", {})
        found = [o for o in doc.objects
                 if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"]
        assert len(found) == images
        for page in doc.pages:
            for a in page.get("/Annots", []):
                assert a.get("/Subtype") != "/FileAttachment"


@pytest.fixture
def hostile_vault(tmp_path: Path, server: tuple[str, list[str]]) -> Path:
    url, _ = server
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "secret.png").write_bytes(_png((255, 0, 0), SECRET))
    vault = tmp_path / "vault"
    (vault / "images").mkdir(parents=True)
    (vault / "images" / "ok.png").write_bytes(_png((0, 0, 255)))
    (vault / "escape.png").symlink_to(tmp_path / "secret.png")
    (vault / "hostile.md").write_text(f"""---
title: Hostile
videoId: HostileVid1
---

From: [[evil]] <br/>

{_hostile(url, tmp_path)}

![remote]({url}/md.png) and ![up](../secret.png) and ![[../secret.txt]] and ![[escape.png]]
and [a file](file://{tmp_path}/secret.txt) and ![[images/ok.png]]
<a class="yt-timestamp" data-t="00:01:00">[00:01:00]</a>.
""", encoding="utf-8")
    return vault


def test_hostile_notes_fetch_nothing_and_embed_no_outside_file(
        hostile_vault: Path, server: tuple[str, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "out"
    for args in (["-o", str(out / "d.pdf")], ["--briefs", "-o", str(out / "b"), "-j", "1"]):
        r = CliRunner().invoke(main, ["pdf", str(hostile_vault), *args])
        assert r.exit_code == 0, r.output
        assert "Traceback" not in r.output
    assert server[1] == []
    for path in (out / "d.pdf", out / "b" / "hostile.pdf"):
        _assert_nothing_leaked(path.read_bytes(), images=1)  # only images/ok.png


def test_the_fetcher_alone_refuses_what_the_sanitizer_would_catch(
        hostile_vault: Path, server: tuple[str, list[str]], tmp_path: Path) -> None:
    """Raw hostile HTML straight to WeasyPrint: the fetcher is the hard guarantee."""
    url, hits = server
    ok = "data:image/png;base64," + base64.b64encode(_png((0, 255, 0))).decode()
    html = (f'<html><head><base href="{url}/"></head><body>{_hostile(url, tmp_path)}'
            f'<img src="{ok}"><img src="{hostile_vault.as_uri()}/images/ok.png"></body></html>')
    theme = Theme.load()
    prepared = pdf.Prepared.of(html, hostile_vault.as_uri() + "/",
                            (str(hostile_vault), *map(str, theme.folders)), 0)
    rendered = pdf.render(prepared)
    assert hits == []
    _assert_nothing_leaked(rendered.pdf, images=2)  # the data: image and the vault image
    assert any(u.startswith(url) for u in rendered.refused)
    assert any(u.startswith("file:") and "secret" in u for u in rendered.refused)


@pytest.mark.parametrize("url, ok", [
    ("{vault}/images/ok.png", True),
    ("{vault}/images/../images/ok.png", True),
    ("{vault}/../secret.txt", False),
    ("{vault}/escape.png", False),  # a symlink leading out
    ("{vault}/images", False),  # a folder
    ("{vault}/missing.png", False),
    ("file://example.org{vault_path}/images/ok.png", False),
])
def test_fetcher_serves_only_files_inside_the_roots(hostile_vault: Path, url: str,
                                                    ok: bool) -> None:
    fetcher = fetch.SafeFetcher([str(hostile_vault)])
    full = url.format(vault=hostile_vault.as_uri(), vault_path=hostile_vault)
    assert (fetcher.allowed(full) is not None) is ok
    if not ok:
        with pytest.raises(ValueError):
            fetcher.fetch(full)
    for refused in ("http://127.0.0.1:1/x", "https://example.org/x", "ftp://x/y"):
        with pytest.raises(ValueError):
            fetcher.fetch(refused)


# --- note by note: parts rendered apart and joined ------------------------------------------------


def _facts(data: bytes) -> tuple[int, list[str], list[tuple[int, str, int]], list[tuple[Any, ...]]]:
    """Page count, text of each page, outline, and every link with the page it lands on."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    dests = reader.named_destinations
    links: list[tuple[Any, ...]] = []
    for page in range(len(reader.pages)):
        for a in _links(reader, page):
            rect = tuple(round(float(v)) for v in a["/Rect"])
            if "/Dest" in a:
                name = str(a["/Dest"])
                links.append((page, rect, reader.get_destination_page_number(dests[name])))
            else:
                links.append((page, rect, str(a["/A"]["/URI"])))
    return len(reader.pages), [p.extract_text() for p in reader.pages], _outline(reader), links


@pytest.mark.parametrize("vault", [SAMPLE_VAULT, HOSTILE_VAULT], ids=["sample", "hostile"])
def test_parts_joined_match_one_pass_over_the_same_html(vault: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "STRIDE", 1)  # a part per note: as many joins as can be
    monkeypatch.setattr("exporter.packagers.dossier.OVERLAY_PAGES", 3)  # footers and numbers in many documents
    collection, _ = collect(vault, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Joined", "sub", "me", 1700000000))
    assert len(plan.parts) >= 4
    with Workers(2) as workers:
        write_dossier(plan, tmp_path / "joined.pdf", workers)
        whole = one_pass(plan, lambda docs: pdf.rendered(workers, docs), pdf.Written())  # numbered alike
    joined = (tmp_path / "joined.pdf").read_bytes()
    pages, texts, outline, links = _facts(joined)
    assert (pages, outline, links) == _facts(whole)[0:1] + _facts(whole)[2:]
    assert texts == _facts(whole)[1]
    total = pages
    assert all(f"{i} / {total}" in _flat(t) for i, t in enumerate(texts[1:], start=2))
    assert _structure(joined)[:2] == _structure(whole)[:2]  # the same tags, headings on the same pages


def test_a_long_contents_and_sources_laid_out_in_pieces_match_one_pass(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The contents and the Sources of a long dossier are laid out a few pages at a time in a
    worker (task.Pieces): joined, they give the pages, text, link rectangles, outline and tags
    of the same dossier rendered in one pass, from the cache as well."""
    monkeypatch.setattr(pdf, "PIECE_BYTES", 7_000)  # two to three pages of entries a piece
    files = {}
    for k in range(130):
        title = f"Note {k} on the lamp room" + (" and the long watch of the keepers through the winter storms" * (k % 9 == 0))
        stamp = f"00:01:{k % 60:02d}"
        files[f"n{k:03d}.md"] = (f"---\ntitle: {title}\nvideoId: v{k:010d}\n---\n\nFrom: [[channel_{k % 7}]] <br/>\n\n"
                                 f'A line <a class="yt-timestamp" data-t="{stamp}">[{stamp}]</a>.\n')
    collection, _ = collect(write_vault(tmp_path / "v", files), Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Pieces", "sub", "me", 1700000000))
    cache = Cache(tmp_path / "cache")
    appendix = plan.appendix(set())
    assert appendix is not None
    with Workers(2) as workers:
        front, sources = (o.value for o in pdf.rendered(workers, [plan.front({}, set()), appendix.prepared]))
        assert front and sources and len(front.facts.cuts) >= 2 and len(sources.facts.cuts) >= 3
        write_dossier(plan, tmp_path / "joined.pdf", workers)
        whole = one_pass(plan, lambda docs: pdf.rendered(workers, docs), pdf.Written())
        for k in (1, 2):  # the pieces kept in the cache, then read back
            write_dossier(plan, tmp_path / f"cached{k}.pdf", workers, cache)
    joined = (tmp_path / "joined.pdf").read_bytes()
    assert joined == (tmp_path / "cached1.pdf").read_bytes() == (tmp_path / "cached2.pdf").read_bytes()
    pages, texts, outline, links = _facts(joined)
    assert (pages, texts, outline, links) == _facts(whole)
    assert sum("Note 1 on the lamp room" in t for t in texts) == 3  # the contents, the note, the Sources
    assert _structure(joined)[:2] == _structure(whole)[:2]


def test_pieces_of_a_list_laid_out_before_serve_again_with_the_same_bytes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """After a note is retitled, the contents' and the Sources' pieces that the new title does
    not touch come from the cache (task.Piece): a piece is known by its HTML, and gives the
    bytes it gives laid out anew; the rebuilt dossier is the --no-cache one, byte for byte."""
    monkeypatch.setattr(pdf, "PIECE_BYTES", 7_000)
    glyph = " \U00013000"  # in one late title: a character no font here may have, which a piece taken again says again
    files = {f"n{k:03d}.md": (f"---\ntitle: Note {k} on the lamp room{glyph * (k == 120)}\n"
                              f"videoId: v{k:010d}\n---\n\n"
                              f'A line <a class="yt-timestamp" data-t="00:01:{k % 60:02d}">[00:01:{k % 60:02d}]</a>.\n')
             for k in range(130)}
    vault = write_vault(tmp_path / "v", files)
    cache = Cache(tmp_path / "cache")

    def plan() -> pdf.Plan:
        collection, _ = collect(vault, Options())
        return pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Pieces", epoch=1700000000), cache=cache)

    with Workers(2) as workers:
        first = plan()
        pieces = first.front({}, set()).pieces
        assert pieces is not None and pieces.kept == ()  # nothing laid out yet
        write_dossier(first, tmp_path / "before.pdf", workers, cache)
        (vault / "n003.md").write_text(files["n003.md"].replace("Note 3 on", "Note 3, retitled, on"), "utf-8")
        again = plan()
        write_dossier(again, tmp_path / "cached.pdf", workers, cache)
        write_dossier(plan(), tmp_path / "fresh.pdf", workers)
    assert (tmp_path / "cached.pdf").read_bytes() == (tmp_path / "fresh.pdf").read_bytes()
    assert (tmp_path / "before.pdf").read_bytes() != (tmp_path / "fresh.pdf").read_bytes()
    appendix = again.appendix(set())
    assert appendix is not None
    for doc in (again.front({}, set()), appendix.prepared):
        assert doc.pieces is not None and doc.pieces.kept  # offered: pieces that start where they did
        with_kept = weasy.render(doc)
        alone = weasy.render(replace(doc, pieces=replace(doc.pieces, kept=())))
        assert with_kept.pdf == alone.pdf and with_kept.facts == alone.facts and with_kept.starts == alone.starts
        assert with_kept.missing == alone.missing and with_kept.refused == alone.refused
        assert len(alone.pieces) == len(alone.starts) >= 3
        assert 1 <= len(with_kept.pieces) < len(alone.pieces)  # the retitled entry's piece, laid out again


def test_the_contents_and_sources_split_into_their_entries_and_a_head_for_later_pieces(tmp_path: Path) -> None:
    files = {f"n{k}.md": f"---\ntitle: Note {k} & co\nvideoId: v{k:010d}\n---\n\n"
                         f'A line <a class="yt-timestamp" data-t="00:00:0{k}">[00:00:0{k}]</a>.\n' for k in range(6)}
    collection, _ = collect(write_vault(tmp_path / "v", files), Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Split", epoch=1700000000))
    appendix = plan.appendix(set())
    assert appendix is not None
    for doc, title in ((plan.front({}, set()), "<h1>Contents</h1>"), (appendix.prepared, ">Sources</h1>")):
        p = doc.pieces
        assert p is not None and p.size == pdf.PIECE_BYTES
        head, entries, tail = p.split(doc.html)
        assert head + "<ol>\n" + "".join(entries) + tail == doc.html
        assert len(entries) >= 6 and all(e.startswith("<li") and e.count("<li") == 1 for e in entries)
        assert title in head and title not in p.more and "margin-break: discard" in p.more
        assert "Note 1 &amp; co" in "".join(entries)
    assert pdf._pieces("<html><nav class=\"toc\"><ul><li>x</li></ul></nav></html>", "contents") is None  # a theme's own
    front = plan.front({}, set()).html
    counted = front.replace("</style>", "nav.toc li { counter-increment: entry; }</style>", 1)
    assert pdf._pieces(front, "contents") is not None and pdf._pieces(counted, "contents") is None


def test_a_list_no_page_of_which_starts_with_an_entry_is_laid_out_whole(tmp_path: Path) -> None:
    """Pieces shorter than a page leave no page to start the next piece at: the document is then
    laid out at once, the same PDF as without pieces."""
    files = {f"n{k:02d}.md": f"---\ntitle: Note {k}\n---\n\nA line.\n" for k in range(60)}
    collection, _ = collect(write_vault(tmp_path / "v", files), Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Whole", epoch=1700000000))
    front = plan.front({}, set())
    assert front.pieces is not None
    tiny = replace(front, pieces=replace(front.pieces, size=1_000))
    alone = replace(front, pieces=None)
    made = pdf.render(tiny)
    assert made.facts.cuts == () and made.pdf == pdf.render(alone).pdf


def test_a_page_whose_footer_draws_nothing_gets_an_empty_form(tmp_path: Path) -> None:
    """A part's page takes the numbers of its overlay forms as it is joined, before the footers
    are drawn: where a footer page turns out to draw nothing, its form is empty (not missing)."""
    from exporter.packagers import stitch

    collection, _ = collect(SAMPLE_VAULT, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Empty", epoch=1700000000))
    with Workers(2) as workers:
        front, *made = [o.value for o in pdf.rendered(workers, [plan.front({}, set()), *(p.prepared for p in plan.parts[:2])])]
    assert front and all(made)
    # a part of notes renders no cover to drop: its pages are the notes' (Prepared.after)
    assert [(p.cover, p.prepared.after) for p in plan.parts] == [(0, 1)] * len(plan.parts)
    buffer = io.BytesIO()
    join = stitch.Join(buffer, b"1.7", set(), front.facts.pages)
    for p, m in zip(plan.parts[:2], made, strict=True):
        join.place(join.template(m.pdf if m else b"", bool(p.cover), []))
    join.finish(front.pdf, [], [])  # no footer drawn at all
    data = buffer.getvalue()
    with pikepdf.open(io.BytesIO(data)) as doc:
        assert len(doc.pages) == front.facts.pages + sum(
            m.facts.pages - p.cover for p, m in zip(plan.parts[:2], made, strict=True) if m)
        list(doc.objects)
        assert doc.get_warnings() == []
        part_page = doc.pages[front.facts.pages]
        footer = part_page.Resources.XObject[stitch.FOOTER.decode()]
        assert footer.Subtype == "/Form" and footer.read_bytes() == b""
    assert not any(re.search(r"\d+ / \d+", t) for t in _facts(data)[1])


def test_parts_are_copied_from_templates_the_cache_keeps_wherever_they_go(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A part is joined on its own into a template, which the cache keeps: the next join copies
    it without opening the part, into any place of the dossier, and writes what a join made
    afresh writes. A template whose links were decided with other notes in the dossier is
    made again."""
    from exporter.packagers import stitch

    collection, _ = collect(SAMPLE_VAULT, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Moved", epoch=1700000000))
    parts = plan.parts[:3]
    with Workers(2) as workers:
        front, *made = [o.value for o in pdf.rendered(workers, [plan.front({}, set()), *(p.prepared for p in parts)])]
    assert front and all(made)
    recorded: list[Sequence[bytes]] = []
    record = stitch._Part.record
    monkeypatch.setattr(stitch._Part, "record", lambda self, data, *a: recorded.append(data) or record(self, data, *a))
    everything = set(front.facts.anchors).union(*(p.ids for p in plan.parts))

    def joined(order: list[int], known: set[str], cache: Cache | None) -> tuple[bytes, int]:
        recorded.clear()
        buffer = io.BytesIO()
        join = stitch.Join(buffer, b"1.7", known, front.facts.pages, cache=cache)
        for k in order:
            got = made[k]
            assert got is not None
            join.place(join.template(got.pdf, bool(parts[k].cover), [(0, "en")]))
        join.finish(front.pdf, [], [])
        return buffer.getvalue(), len(recorded)

    cache = Cache(tmp_path / "cache")
    fresh = joined([0, 1, 2], everything, None)[0]
    assert joined([0, 1, 2], everything, cache) == (fresh, 3)
    assert joined([0, 1, 2], everything, cache) == (fresh, 0)  # every part from its template
    moved = joined([2, 0, 1], everything, None)[0]
    assert moved != fresh and joined([2, 0, 1], everything, cache) == (moved, 0)
    base = stitch.Join(io.BytesIO(), b"1.7", everything, front.facts.pages)
    own = [set(stitch._Part(base).record([m.pdf], bool(p.cover), [(0, "en")], ()).targets)
           for p, m in zip(parts, made, strict=True) if m]
    gone = sorted(own[0] - own[1] or own[0])[0]  # a note part 0 links to leaves the dossier
    fewer = joined([0, 1, 2], everything - {gone}, None)[0]
    again = joined([0, 1, 2], everything - {gone}, cache)
    assert fewer != fresh and again[0] == fewer and again[1] == sum(gone in o for o in own) >= 1
    with pikepdf.open(io.BytesIO(moved)) as doc:
        assert doc.check_pdf_syntax() == [] and len(doc.pages) == front.facts.pages + sum(
            m.facts.pages - p.cover for p, m in zip(parts, made, strict=True) if m)

    join = stitch.Join(io.BytesIO(), b"1.7", everything, front.facts.pages)
    assert made[0] is not None
    template = stitch._Part(join).record([made[0].pdf], bool(parts[0].cover), [(0, "en")], {0})
    assert template.ops and template.kids and stitch.Template.unpacked(template.packed()) == template
    with pytest.raises(ValueError):
        stitch.Template.unpacked(template.packed()[:-1])


def _structure(data: bytes) -> tuple[Counter[str], list[tuple[str, int]], dict[str, Any]]:
    """Tags by kind, the headings (tag, page) in order, and the document's accessibility keys."""
    with pikepdf.open(io.BytesIO(data)) as doc:
        pages = {p.obj.objgen: k for k, p in enumerate(doc.pages)}
        kinds: Counter[str] = Counter()
        headings: list[tuple[str, int]] = []
        langs: list[tuple[int, str]] = []
        stack = [doc.Root.StructTreeRoot.K]
        while stack:
            e = stack.pop()
            if isinstance(e, pikepdf.Array):
                stack += reversed(list(e))
                continue
            if not isinstance(e, pikepdf.Dictionary) or "/S" not in e:
                continue
            kind = str(e.S)
            kinds[kind] += 1
            if re.fullmatch(r"/H\d", kind):
                headings.append((kind, pages[e.Pg.objgen]))
            if "/Lang" in e:
                langs.append((pages[e.Pg.objgen], str(e.Lang)))
            kids = e.get("/K")
            stack += reversed(list(kids)) if isinstance(kids, pikepdf.Array) else [kids]
        assert all(e.Pg.objgen in pages for e in doc.objects if isinstance(e, pikepdf.Dictionary) and "/Pg" in e)
        keys = {"marked": bool(doc.Root.MarkInfo.Marked), "title": bool(doc.Root.ViewerPreferences.DisplayDocTitle),
                "lang": str(doc.Root.Lang), "langs": langs,
                "artifact": all(b"/Artifact BMC" in p.obj.Contents.read_bytes() if isinstance(p.obj.Contents, pikepdf.Stream)
                                else any(b"/Artifact BMC" in c.read_bytes() for c in p.obj.Contents) for p in doc.pages[1:])}
        return kinds, headings, keys


def test_the_backlinks_numbers_render_while_the_parts_do_and_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The document that draws a range's backlink page numbers starts once an added part holds
    a note a backlink numbers in that range, while the parts render (it waited for the last
    part, then rendered with the footers); the end takes it and renders it no more, and the
    dossier is the one --jobs 1 makes, which starts nothing ahead."""
    submitted: list[str] = []  # what workers were given
    asked: list[str] = []  # what was started ahead (submitted by a thread of its own), and when
    real, ahead = pool.Workers._submit, pool.Workers.ahead
    monkeypatch.setattr(pool.Workers, "_submit", lambda self, fn, arg, seconds: (
        submitted.append(arg.html), real(self, fn, arg, seconds))[1])
    monkeypatch.setattr(pool.Workers, "ahead", lambda self, fn, tasks: ahead(
        self, fn, [asked.append(task[0].html) or task for task in tasks]))
    rendered = dossier_packager._parts  # returns once every part is rendered
    monkeypatch.setattr(dossier_packager, "_parts", lambda *a: (rendered(*a), asked.append("parts done"))[0])
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    out, alone = tmp_path / "d.pdf", tmp_path / "alone.pdf"
    r = CliRunner(env=env).invoke(main, [*_dossier_args(out), "-j", "2", "--no-cache"])
    assert r.exit_code == 0, r.output
    numbers = [html for html in submitted if 'class="numbers-page"' in html]
    assert numbers and len(set(numbers)) == len(numbers)  # each range once
    assert all(asked.index(html) < asked.index("parts done") for html in numbers)
    r = CliRunner(env=env).invoke(main, [*_dossier_args(alone), "-j", "1", "--no-cache"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == alone.read_bytes()


def test_backlinks_carry_the_page_where_each_linking_note_starts(dossier: Built) -> None:
    from exporter.model.document import backlinks

    starts = {t: p for d, t, p in _outline(dossier.reader) if d == 0}
    expected = sorted(starts[x.title] + 1 for linked in backlinks(dossier.notes).values() for x in linked)
    assert expected  # the test dossier's notes link to each other
    shown = []  # the numbers laid over a page come after its own "n / N"
    for k, text in enumerate(dossier.texts):
        lines = text.splitlines()
        footer = next((i for i, line in enumerate(lines) if line.strip() == f"{k + 1} / {len(dossier.texts)}"), None)
        if footer is not None:
            shown += [int(x) for x in lines[footer + 1:] if x.strip().isdigit()]
    assert sorted(shown) == expected


def test_the_dossier_is_tagged_with_its_titles_as_headings_and_each_note_s_language(dossier: Built) -> None:
    kinds, headings, keys = _structure(dossier.path.read_bytes())
    assert keys["marked"] and keys["title"] and keys["lang"] == "en" and keys["artifact"]
    starts = {t: p for d, t, p in _outline(dossier.reader) if d == 0}
    h1 = [p for kind, p in headings if kind == "/H1"]
    assert all(starts[n.title] in h1 for n in dossier.notes)  # every note title is a heading, where it starts
    assert kinds["/P"] > 20 and kinds["/L"] and kinds["/Link"] > 20
    assert kinds["/Note"] >= sum(len(n.citations) for n in dossier.notes)  # every footnote is a Note
    note = {_stem(n): n for n in dossier.notes}
    assert (starts[note["gamma"].title], "el") in keys["langs"] and (starts[note["delta"].title], "ru") in keys["langs"]
    assert (starts[note["alpha"].title], "en") in keys["langs"]


def test_a_long_note_is_a_part_of_its_own_and_short_notes_share_parts(tmp_path: Path) -> None:
    """After an edit, only the parts holding the notes it changed are rendered again: a note of
    some length is a part alone; short notes share one, cut where their ids say."""
    long = " ".join(f"Sentence {k} about the lamp room and its clockwork." for k in range(120))
    files = {f"long{i}.md": f"---\ntitle: Long {i}\n---\n\n{long}\n" for i in range(3)}
    files.update({f"short{i}.md": f"---\ntitle: Short {i}\n---\n\nA line.\n" for i in range(12)})
    vault = write_vault(tmp_path / "v", files)

    def parts() -> list[tuple[str, ...]]:
        collection, _ = collect(vault, Options())
        plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Parts", epoch=1700000000))
        return [tuple(n.title for n in p.notes) for p in plan.parts]

    before = parts()
    assert [p for p in before if any(t.startswith("Long") for t in p)] == [("Long 0",), ("Long 1",), ("Long 2",)]
    assert len(before) < 15 and {t for p in before for t in p} == {f"Long {i}" for i in range(3)} | {
        f"Short {i}" for i in range(12)}
    (vault / "long1.md").write_text(f"---\ntitle: Long 1\n---\n\n{long} One more.\n", encoding="utf-8")
    (vault / "short5.md").write_text("---\ntitle: Short 5\n---\n\nA longer line than before.\n", encoding="utf-8")
    assert parts() == before  # the same cuts: each note's part depends on the notes before it in its run


def test_parts_never_depend_on_the_number_of_workers(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "STRIDE", 2)
    collection, _ = collect(SAMPLE_VAULT, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Jobs", epoch=1700000000))
    for jobs in (1, 2):
        with Workers(jobs) as workers:
            write_dossier(plan, tmp_path / f"{jobs}.pdf", workers)
    assert (tmp_path / "1.pdf").read_bytes() == (tmp_path / "2.pdf").read_bytes()


def test_the_front_and_appendix_render_while_the_notes_html_is_written_and_change_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With two workers the contents and the Sources start before the notes' HTML is written
    (a dossier's longest single-threaded step); the dossier is the one --jobs 1 makes, which
    starts nothing ahead. With a cache, what it holds is not started again."""

    stamp = '<a class="yt-timestamp" data-t="00:01:{0:02d}">[00:01:{0:02d}]</a>'
    vault = write_vault(tmp_path / "v", {f"{n}.md": f"---\ntitle: Note {n}\nvideoId: Bv00000000{k}\n---\n\n"
                                         f"The lamp {n} turns {stamp.format(k)}. See [[b]].\n" for k, n in enumerate("abc")})
    collection, _ = collect(vault, Options())
    chosen = select(collection, [])
    meta = pdf.Meta("Ahead", epoch=1700000000)
    started: list[tuple[int, bool]] = []
    real = Workers.ahead
    plans: list[pdf.Plan] = []

    def ahead(self: Workers, fn: Any, tasks: Any) -> None:
        tasks = list(tasks)
        started.append((len(tasks), "_written" in plans[-1].__dict__))
        real(self, fn, tasks)

    monkeypatch.setattr(Workers, "ahead", ahead)
    cache = Cache(tmp_path / "cache")
    for name, jobs, store in [("one", 1, None), ("two", 2, None), ("cached", 2, cache), ("again", 2, cache)]:
        plans.append(pdf.plan_dossier(collection, chosen, meta))
        with Workers(jobs) as workers:
            write_dossier(plans[-1], tmp_path / f"{name}.pdf", workers, store)
    # contents and Sources before the notes' HTML (the backlinks' numbers start later, as parts come)
    assert [s for s in started if not s[1]] == [(2, False), (2, False), (2, False), (0, False)]  # nothing cached
    one = (tmp_path / "one.pdf").read_bytes()
    assert all((tmp_path / f"{name}.pdf").read_bytes() == one for name in ("two", "cached", "again"))


def test_parts_joined_as_they_come_give_the_bytes_of_a_join_after_them(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first round's parts are joined as they come, taking links to go where the HTML says;
    the join is kept only when the rendered parts agree. Kept, thrown away, or wrong about the
    links (ids the HTML seems not to have), the dossier is the same."""
    from exporter.packagers import dossier

    linked = "See [[b]] and [[c#Lamp room]] for more.\n\n## Lamp room\n\nThe lens turns.\n"
    vault = write_vault(tmp_path / "v", {f"{n}.md": f"---\ntitle: Note {n}\n---\n\n{linked}" for n in "abc"})
    collection, _ = collect(vault, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Early", epoch=1700000000))
    kept: list[bool] = []
    decide = dossier._Early.kept
    monkeypatch.setattr(dossier._Early, "kept", lambda self, *a: kept.append(bool(j := decide(self, *a))) or j)
    with Workers(2) as workers:
        write_dossier(plan, tmp_path / "early.pdf", workers)
        with monkeypatch.context() as m:
            m.setattr(dossier._Early, "kept", lambda self, *a: kept.append(False))
            write_dossier(plan, tmp_path / "after.pdf", workers)
        with monkeypatch.context() as m:  # no ids in the HTML: every link dropped at first
            parts = dossier._all_parts
            m.setattr(dossier, "_all_parts", lambda plan: [replace(p, ids=frozenset()) for p in parts(plan)])
            write_dossier(plan, tmp_path / "wrong.pdf", workers)
    assert kept == [True, False, False]
    early = (tmp_path / "early.pdf").read_bytes()
    assert early == (tmp_path / "after.pdf").read_bytes() == (tmp_path / "wrong.pdf").read_bytes()
    assert len([link for link in _facts(early)[3] if isinstance(link[2], int)]) >= 6  # the links are there


def test_parts_heard_before_one_ahead_of_them_are_joined_on_their_own_first_and_change_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a part still renders, the parts heard after it are joined on their own (their
    templates), and only copied once it comes: the dossier is the one joined in order."""
    from exporter.packagers import dossier

    body = "".join(f"Paragraph {k} about the lamp, the lens and the keeper on watch. " * 6 + "\n\n" for k in range(12))
    vault = write_vault(tmp_path / "v", {f"{n}.md": f"---\ntitle: Note {n}\n---\n\n{body}See [[a]].\n" for n in "abcde"})
    collection, _ = collect(vault, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Late", epoch=1700000000))
    assert len(plan.parts) == 5  # a part each
    with Workers(2) as workers:
        write_dossier(plan, tmp_path / "in_order.pdf", workers)
        real, made = dossier.rendering, []

        def first_part_last(workers: Workers, docs: list[pdf.Prepared], cache: Any = None, spool: Any = None,
                            each: Any = None, order: Any = None) -> Any:
            if each is None:
                return real(workers, docs, cache, spool, each, order)
            held: list[Any] = []
            told = [0]
            lock = threading.Lock()

            def late(i: int, outcome: Any) -> None:
                with lock:
                    if i == 1:  # the first note's part: heard after every other
                        held.append(outcome)
                    else:
                        each(i, outcome)
                        told[0] += 1
                    if told[0] == len(docs) - 1 and held:
                        each(1, held.pop())
            return real(workers, docs, cache, spool, late, order)

        template = dossier._template
        monkeypatch.setattr(dossier, "rendering", first_part_last)
        monkeypatch.setattr(dossier, "_template", lambda join, spool, part, done: made.append(part) or template(
            join, spool, part, done))
        write_dossier(plan, tmp_path / "late.pdf", workers)
    notes = [p for p in made if p.notes]
    assert notes[-1] is plan.parts[0] and len(notes) == 5  # the others were joined on their own first
    assert (tmp_path / "late.pdf").read_bytes() == (tmp_path / "in_order.pdf").read_bytes()


def test_a_spool_gives_back_the_bytes_rendered_and_the_cache_keeps_them(tmp_path: Path) -> None:
    """Parts wait for the join in a spool, not in memory: read back, from a render or from
    the cache, they are the bytes a plain render gives; the cache filled from the spool too."""

    collection, _ = collect(SAMPLE_VAULT, Options())
    plan = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Spool", epoch=1700000000))
    docs = [p.prepared for p in plan.parts[:3]]
    cache = Cache(tmp_path / "cache")
    with Workers(2) as workers, pdf.Spool() as spool:
        plain = [o.value.pdf for o in pdf.rendered(workers, docs) if o.value]
        made = [o.value for o in pdf.rendered(workers, docs, cache, spool) if o.value]
        found = [o.value for o in pdf.rendered(workers, docs, cache, spool) if o.value]
        cached = [o.value.pdf for o in pdf.rendered(workers, docs, cache) if o.value]
        assert all(v.pdf == b"" and v.spooled for v in made + found)
        assert [spool.read(v) for v in made] == [spool.read(v) for v in found] == plain == cached
    assert len(plain) == 3 and all(p.startswith(b"%PDF-") for p in plain)
    cache.close()


def test_a_note_the_renderer_fails_on_is_left_out_and_named_and_the_rest_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raw HTML nested 300 deep runs WeasyPrint's box building past Python's recursion limit:
    an error, not a budget. Short notes share a part: the part is rendered again note by note,
    so the note beside it is not blamed, and the dossier is written without the one (exit 3).
    (Notes lose raw tags nested that deep before they are rendered: here they keep them, so
    that the renderer fails as it would on whatever else it cannot lay out.)"""
    monkeypatch.setattr(sanitize, "RAW_LEVELS", 10_000)
    vault = write_vault(tmp_path / "v", {
        "deep.md": "---\ntitle: Deep\n---\n\n" + "<div>" * 300 + "Inside." + "</div>" * 300 + "\n",
        "light.md": "---\ntitle: Light\n---\n\nSee [[other]].\n",
        "other.md": "---\ntitle: Other\n---\n\nBack to [[light]].\n",
    })
    out = tmp_path / "d.pdf"
    r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(out), "-q", "--no-cache"])
    assert r.exit_code == 3, r.output
    assert r.stderr.strip().startswith(
        f"error: 1 of 3 notes could not be rendered and were left out of {out}: deep.md: WeasyPrint could not "
        "render the PDF: maximum recursion depth exceeded")
    assert len(r.stderr.strip().splitlines()) == 1 and "light.md" not in r.stderr
    pages, texts, outline, _ = _facts(out.read_bytes())
    assert [t for d, t, _ in outline if d == 0] == ["Light", "Other"]
    assert "Deep" not in texts[1] and "Light" in texts[1]  # the contents
    assert all(f"{i} / {pages}" in _flat(t) for i, t in enumerate(texts[1:], start=2))


def test_raw_html_nested_too_deep_to_lay_out_is_flattened_and_the_note_is_in_the_dossier(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {
        "deep.md": "---\ntitle: Deep\n---\n\n" + "> " * 8 + "<div>" * 300 + "Inside." + "</div>" * 300 + "\n",
        "light.md": "---\ntitle: Light\n---\n\nSee [[deep]].\n",
    })
    r = CliRunner().invoke(main, ["check", str(vault), "--no-cache"])
    assert "deep.md: warning: removed raw HTML tags nested too deeply to export" in r.output, r.output
    out = tmp_path / "d.pdf"
    r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(out), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    _, texts, outline, _ = _facts(out.read_bytes())
    assert [t for d, t, _ in outline if d == 0] == ["Deep", "Light"] and any("Inside." in t for t in texts)


def test_a_note_past_its_render_budget_is_left_out_and_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget is lowered so that a note with 1,200 footnotes runs past it; its neighbours,
    the contents and the page numbers come out without it. (With 400 it rendered in about
    1.5 s once parts got faster, and came in under the budget one run in three.)"""
    para = " ".join(f'Sentence {k} of the log <a class="yt-timestamp" data-t="00:{k:02d}:00">[00:{k:02d}:00]</a>.'
                    for k in range(20))
    vault = write_vault(tmp_path / "v", {
        "heavy.md": "---\ntitle: Heavy\nvideoId: HeavyVideo1\n---\n\n" + "\n\n".join([para] * 60),
        "light.md": "---\ntitle: Light\n---\n\nSee [[heavy]] and [[other]].\n",  # cites nothing
        "other.md": "---\ntitle: Other\n---\n\nBack to [[light]].\n",
    })
    monkeypatch.setattr(pdf, "SECONDS", 1.5)
    monkeypatch.setattr(pdf, "SECONDS_PER_MB", 0.0)
    out = tmp_path / "d.pdf"
    r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(out), "-q", "--no-cache"])
    assert r.exit_code == 1, r.output
    assert f"heavy.md: error: took over 2 s to render; left out of {out} [over-budget]" in r.stderr
    pages, texts, outline, links = _facts(out.read_bytes())
    assert [t for d, t, _ in outline if d == 0] == ["Light", "Other"]  # no Sources: none are cited
    assert "Heavy" not in texts[1] and "Light" in texts[1]  # the contents
    assert all(f"{i} / {pages}" in _flat(t) for i, t in enumerate(texts[1:], start=2))
    light = next(p for d, t, p in outline if t == "Light")
    other = next(p for d, t, p in outline if t == "Other")
    # the link to Heavy is gone, its label stays; Other's two: the text's, and "Linked from"
    assert [target for page, _, target in links if page == light] == [other, other]
    assert "See Heavy and Other" in _flat(texts[light])


def test_footnotes_laid_out_once_give_the_same_bytes(dossier: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed patch remembers each footnote's layout on its page; without it, WeasyPrint
    lays out every footnote again for each one added. The PDF must not change by a byte."""
    from weasyprint.layout import LayoutContext, block
    from weasyprint.layout import page as page_layout

    plan = pdf.plan_dossier(dossier.collection, dossier.notes, pdf.Meta("t", epoch=1700000000))
    fast = pdf.render(plan.whole).pdf
    with monkeypatch.context() as m:
        m.setattr(LayoutContext, "_update_footnote_area", LayoutContext._update_footnote_area.original)
        m.setattr(block, "block_level_layout", block.block_level_layout.original)
        m.setattr(page_layout, "block_level_layout", page_layout.block_level_layout.original)
        m.delattr(LayoutContext, "footnotes")
        slow = pdf.render(plan.whole).pdf
    assert fast == slow



FOOTNOTED = """<!DOCTYPE html><html lang="en"><head><style>
@page { size: A6; margin: 15mm 10mm; @footnote { border-top: 0.5pt solid; margin-top: 2mm; } }
body { font: 10pt/1.4 "DejaVu Serif", serif; hyphens: auto; }
.fn { float: footnote; footnote-policy: line; font-size: 8pt; }
.fn .boxed { float: right; width: 8mm; }
.fn .moved { position: relative; top: 1pt; }
.rtl { direction: rtl; }
</style></head><body>%s</body></html>"""


def _footnote(k: int) -> str:
    inner = ('<span class="boxed">x</span>' if k % 13 == 3 else '<span class="moved">y</span>' if k % 17 == 5
             else f'<a href="https://example.org/{k}">link {k}</a> <i>in <b>italics</b></i>')
    lang = ("en", "de", "el", "ar")[k % 4]
    return f'<span class="fn{" rtl" if lang == "ar" else ""}" lang="{lang}">Note {k}: {inner}.</span>'


def _footnoted(paragraphs: int) -> str:
    return "".join(f"<p>Sentence {k} of the keeper's log, the lamp trimmed at dusk{_footnote(k)} and the "
                   f"weather noted{_footnote(k + 1000)}.</p>" for k in range(paragraphs))


def test_footnote_areas_made_of_shaped_copies_give_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The footnote patch lays out copies of each footnote shaped once instead of shaping the
    whole area again for each footnote added. Pages full of footnotes that spill onto the next
    page, footnotes in several languages and directions, with links and nested inlines, and
    some the patch leaves to WeasyPrint (a float or a positioned box inside) on the same pages,
    must come out as WeasyPrint makes them."""
    from weasyprint.formatting_structure import build
    from weasyprint.layout import LayoutContext, block
    from weasyprint.layout import page as page_layout

    doc = pdf.Prepared.of(FOOTNOTED % _footnoted(60), "file:///nonexistent/", (), 1700000000)
    shaped = {"n": 0}  # boxes shaped (anonymous_table_boxes recurses through the module)
    original_shape = build.anonymous_table_boxes

    def counting(box: object) -> object:
        shaped["n"] += 1
        return original_shape(box)

    with monkeypatch.context() as m:
        m.setattr(build, "anonymous_table_boxes", counting)
        quick = pdf.render(doc)
        quick_shaped, shaped["n"] = shaped["n"], 0
        m.setattr(LayoutContext, "_update_footnote_area", LayoutContext._update_footnote_area.original)
        m.setattr(block, "block_level_layout", block.block_level_layout.original)
        m.setattr(page_layout, "block_level_layout", page_layout.block_level_layout.original)
        m.delattr(LayoutContext, "footnotes")
        slow = pdf.render(doc)
    assert quick.facts.pages > 4
    assert quick_shaped < shaped["n"] * 0.8  # the quick path was taken
    assert quick.pdf == slow.pdf


@pytest.mark.parametrize("area", ["border-top: 0.5pt solid; margin-top: 2mm;", "margin-top: 2mm;"])
def test_footnote_areas_resumed_after_the_footnotes_laid_out_before_give_the_same_bytes(
        area: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each footnote added to a page lays out the area again from the footnotes already laid
    out at the last update, not from the first. The same pages as laying it all out again,
    where the area is resumed (a border on top), where it is not (its top margin collapses with
    the first footnote's), and where a footnote forces a page break between footnotes (that
    update goes the usual way)."""
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import block

    html = FOOTNOTED.replace("border-top: 0.5pt solid; margin-top: 2mm;", area).replace(
        "</style>", ".fn.apart { break-before: page; }</style>")
    body = _footnoted(40).replace('class="fn" lang="en">Note 24:', 'class="fn apart" lang="en">Note 24:')
    doc = pdf.Prepared.of(html % body, "file:///nonexistent/", (), 1700000000)
    visits = {"n": 0}  # footnotes laid out in an area, as remembered layouts or not
    original_child = block._in_flow_layout

    def counting(context: object, box: object, *args: object) -> object:
        visits["n"] += type(box) is boxes.FootnoteAreaBox
        return original_child(context, box, *args)

    with monkeypatch.context() as m:
        m.setattr(block, "_in_flow_layout", counting)
        resumed = pdf.render(doc)
        resumed_visits, visits["n"] = visits["n"], 0
        m.setattr(block, "block_container_layout", block.block_container_layout.original)
        again = pdf.render(doc)
    assert resumed.facts.pages > 4
    if "border" in area:
        assert resumed_visits < visits["n"] * 0.7  # resumed (pages of A6 hold few footnotes)
    else:
        assert resumed_visits == visits["n"]  # not resumed
    assert resumed.pdf == again.pdf


PAGED = """<!DOCTYPE html><html><head><style>
@page { size: A6; margin: 20mm 10mm; @bottom-center { content: counter(page) " / " counter(pages); }
        @top-left { content: string(chapter); } }
@page :first { @bottom-center { content: none; } }
@page :left { @top-right { content: "left " counter(page); } }
@page :right { margin-right: 14mm; }
@page :nth(3) { @top-center { content: "third"; } }
@page :blank { @top-left { content: "blank"; } }
@page wide { size: A6 landscape; @bottom-left { content: "wide " counter(page); } }
@page wide:nth(2 of wide) { @bottom-right { content: "second wide"; } }
h1 { string-set: chapter content(); break-before: right; }
.wide { page: wide; }
</style></head><body>%s</body></html>"""


def test_pages_that_share_styles_give_the_same_bytes(dossier: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed patches give a page the computed styles of an earlier page whose @page rules
    match alike, keep the pages' references, and write each object's bytes once: first, left
    and right, blank, :nth() and named pages (nth within their group) must come out as
    WeasyPrint makes them, as must a dossier's part, footers and numbers."""
    import pydyf
    from weasyprint.layout import page as page_layout

    body = "".join(f"<h1>Chapter {k}</h1>" + "<p>Words of the lamp room and its keeper.</p>" * 12
                   + ('<div class="wide">' + "<p>A wide page of tables.</p>" * 16 + "</div>" if k % 2 else "")
                   for k in range(4))
    plan = pdf.plan_dossier(dossier.collection, dossier.notes, pdf.Meta("t", epoch=1700000000))
    part = plan.parts[0].prepared
    docs = [pdf.Prepared.of(PAGED % body, part.base_url, part.roots, 1700000000), part,
            plan.footers(1, 12, 40), plan.numbers(tuple(str(n) for n in range(1, 13)))]
    assert getattr(page_layout.set_page_type_computed_styles, "patched", False)
    shared = [pdf.render(d) for d in docs]
    assert shared[0].facts.pages > 12
    with monkeypatch.context() as m:
        m.setattr(page_layout, "set_page_type_computed_styles", page_layout.set_page_type_computed_styles.original)
        m.setattr(pydyf.PDF, "page_references", property(pydyf.PDF.page_references.fget.original))
        assert getattr(pydyf.PDF.write, "patched", False)
        m.setattr(pydyf.PDF, "write", pydyf.PDF.write.original)
        for kind in (pydyf.Dictionary, pydyf.Array, pydyf.String, pydyf.Stream):
            m.setattr(kind, "data", property(kind.data.fget.original))
        computed = [pdf.render(d) for d in docs]
    assert [r.pdf for r in shared] == [r.pdf for r in computed]


STYLED = """<!DOCTYPE html><html lang="en"><head><style>
:root { --gap: 3mm; --ink: #224466; }
body { font: 11pt/1.4 "DejaVu Serif", serif; word-spacing: calc(0.1em + 1px); color: var(--ink);
       text-indent: calc(5% + 1mm); }
p { margin-block: var(--gap) 1mm; padding-inline-start: 4mm; padding-right: 1ex; border-inline-end: 2px solid red; }
.rtl { direction: rtl; margin-inline-start: 9mm; }
.deco { text-decoration: underline wavy blue; letter-spacing: calc(0.05em - 0.5px); }
.deco span { text-decoration-line: line-through; }
blockquote { inline-size: 60%; max-block-size: 80mm; border-block-start: 3px dashed; }
li::marker { color: green; }
p::first-letter { font-size: 1.6em; }
.boxed { display: inline-block; float: right; position: relative; top: 1mm; width: 20mm; }
table { border-collapse: collapse; } td { border: 1px solid; padding: 1mm calc(1mm + 2%); }
.page { page: other; }
.aside { display: block; float: left; width: 15mm; }
.run { position: running(head); } @page { @top-center { content: element(head); } }
a { text-decoration: underline; font-size: 0.9em; padding-left: 0.5ex; } h1, .deco a { text-decoration: overline underline; }
.smcp { margin-left: 2ch; font-variant: small-caps; font-feature-settings: "liga" 0; font-size: 13pt; }
.tr { font-language-override: "TRK"; font-variation-settings: "wght" 600; font-stretch: condensed;
      color: rgb(10 20 30 / 80%); outline: 1px dotted #a0a; background: hsl(40 60% 90%); }
@page other { size: A6 landscape; }
pre { white-space: pre-wrap; } .cut { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; width: 25mm; }
</style></head><body>{body}</body></html>"""


def test_styles_and_text_on_short_paths_give_the_same_bytes(dossier: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed patches compute a property no rule sets on the short path, give text layouts
    the Pango contexts, fonts and metrics made before, keep a style's font key and the used
    lengths of a box with the same style in a containing block of the same size, find page
    names from the ends of a box's children, read flow from the style in one call and parse
    a colour once, and draw text from the layout that laid it out, its glyphs read at once:
    logical and physical names, inherited math and var(), right-to-left text, preformatted text
    of several paragraphs, text cut with an ellipsis, stacked marks, glyphs no font has, several
    languages, propagated decorations at several sizes, font features and variations, ex and
    ch units, pseudo-elements, colours as words, hex and functions, floats and named pages, and
    a dossier's part, must come out as WeasyPrint makes them without each patch."""
    from weasyprint.css import ComputedStyle, computed_values
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import absolute, block, column, grid, inline, page, percent, table
    from weasyprint.layout import float as floats
    from weasyprint.text import line_break

    body = "".join(
        f'<p class="{"rtl" if k % 3 == 0 else "deco"}" lang="{("en", "de", "el", "ru")[k % 4]}">Keeper {k} '
        f'<span>trimmed the wick</span><span class="boxed">lamp</span> and logged the weather '
        f'<a href="#x{k}" id="x{k}">ᾅδης, ёлка</a>.</p>'
        f'<blockquote><p class="{"smcp" if k % 2 else "tr"}">Quoted {k}, ffi fl 1/2.</p></blockquote>'
        f'<p lang="{("sr", "ru")[k % 2]}"><i>бгдпт</i></p>'
        f"<ol><li>one</li><li>two</li></ol><table><tr><td>cell {k}</td><td>cell</td></tr></table>"
        + f"<pre>log {k}\n  wind NW\r\nlamp lit\u2029trimmed\u2028twice</pre><p class=\"cut\">A line cut short {k}</p>"
        + f"<p>Marks q\u0301\u0323 x\u0306\u0330, none \ue000 {k}, wide ２ ｋ, ☃</p>"
        + ('<div class="page"><p>On a named page.</p></div>' if k % 4 == 1 else "")
        + ('<div><p>Ends on a named page.</p><div class="page"><p>Named.</p></div></div>'
           '<p>Back on the first kind of page.<span class="aside">aside</span></p><p class="run">Log {k}</p>'
           if k % 4 == 2 else "")
        for k in range(12))
    plan = pdf.plan_dossier(dossier.collection, dossier.notes, pdf.Meta("t", epoch=1700000000))
    part = plan.parts[0].prepared
    docs = [pdf.Prepared.of(STYLED.replace("{body}", body), part.base_url, part.roots, 1700000000), part]
    short = [pdf.render(d).pdf for d in docs]
    assert pypdf.PdfReader(io.BytesIO(short[0])).get_num_pages() > 2
    resolving = [m for m in (percent, absolute, block, column, floats, grid, inline, page, table)
                 if hasattr(m, "resolve_percentages")]  # each module that imported it by name
    for owners, name in (([ComputedStyle], "__missing__"), ([line_break.Layout], "setup"),
                         ([line_break], "_font_style_cache_key"), (resolving, "resolve_percentages"),
                         ([boxes.ParentBox], "page_values"), ([boxes.Box], "is_in_normal_flow"),
                         ([computed_values], "parse_color")):
        assert all(getattr(getattr(owner, name), "patched", False) for owner in owners)
        with monkeypatch.context() as m:
            for owner in owners:
                m.setattr(owner, name, getattr(owner, name).original)
            general = [pdf.render(d).pdf for d in docs]
        assert short == general, name
    from weasyprint.draw import text

    with monkeypatch.context() as m:  # glyphs_read_at_once
        m.setattr(text, "draw_first_line", text.draw_first_line.original)
        assert short == [pdf.render(d).pdf for d in docs]
    made = {"n": 0}  # Pango layouts set up
    original_setup = line_break.Layout.setup

    def counting(self: object, style: object) -> None:
        made["n"] += 1
        original_setup(self, style)

    with monkeypatch.context() as m:
        m.setattr(line_break.Layout, "setup", counting)
        assert short == [pdf.render(d).pdf for d in docs]
        kept, made["n"] = made["n"], 0
        for name in ("set_text", "deactivate", "reactivate"):  # text_shaped_once
            m.setattr(line_break.Layout, name, getattr(line_break.Layout, name).original)
        assert short == [pdf.render(d).pdf for d in docs]
    assert kept < made["n"] * 0.9  # the runs drawn from their layouts were not set up again


def test_stylesheets_and_fonts_kept_by_a_worker_give_the_same_bytes(
        dossier: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker keeps the stylesheets it parsed and one font configuration for the next
    document: the whole dossier and a part with its own @page rule, each rendered after the
    other and twice, must come out as WeasyPrint makes them, parsing every sheet and making a
    font configuration per document. A document that adds fonts of its own gets its own."""
    from weasyprint.text.fonts import FontConfiguration

    plan = pdf.plan_dossier(dossier.collection, dossier.notes[3:], pdf.Meta("t", epoch=1700000000))  # short: rendered thrice
    docs = [plan.whole, plan.parts[0].prepared, plan.whole, plan.parts[0].prepared]
    kept = [pdf.render(d).pdf for d in docs]
    assert getattr(weasyprint.CSS.__init__, "patched", False)
    with monkeypatch.context() as m:
        m.setattr(weasyprint.CSS, "__init__", weasyprint.CSS.__init__.original)
        m.setattr(weasy, "_system_fonts", FontConfiguration)  # a new one each time
        parsed = [pdf.render(d).pdf for d in docs[:2]]
    assert kept == parsed * 2

    shared = weasy._system_fonts()
    used: list[FontConfiguration] = []
    render = weasyprint.HTML.render
    monkeypatch.setattr(weasyprint.HTML, "render", lambda self, **kw: used.append(kw["font_config"]) or render(self, **kw))
    part = plan.parts[0].prepared
    own = pdf.Prepared.of(part.html.replace("<style>", "<style>@font-face { font-family: Own; src: local(DejaVu Sans); }", 1),
                          part.base_url, part.roots, part.epoch)
    pdf.render(plan.parts[0].prepared)
    pdf.render(own)
    assert used[0] is shared and used[1] is not shared


def test_font_arrays_made_from_one_c_type_give_the_same_bytes(dossier: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fonts subset by the system's HarfBuzz get their glyph arrays typed `hb_codepoint_t[]`
    instead of one type per length: the same arrays, the same PDF."""
    from weasyprint.pdf import fonts

    arrays = fonts.ffi
    assert isinstance(arrays, weasy_patches._OpenArrays)
    made = arrays.new("hb_codepoint_t[3]", [7, 1, 9])
    assert arrays.ffi.typeof(made) is arrays.ffi.typeof("hb_codepoint_t[]") and list(made) == [7, 1, 9]
    padded = arrays.new("hb_codepoint_t[4]", [7, 1])  # fewer items than its length: as asked
    assert arrays.ffi.typeof(padded) is arrays.ffi.typeof("hb_codepoint_t[4]") and list(padded) == [7, 1, 0, 0]
    plan = pdf.plan_dossier(dossier.collection, dossier.notes, pdf.Meta("t", epoch=1700000000))
    part = plan.parts[0].prepared
    one_type = pdf.render(part).pdf
    monkeypatch.setattr(fonts, "ffi", arrays.ffi)
    assert pdf.render(part).pdf == one_type


LIBRARIES = """
import ctypes.util, sys
asked = []
for name in ("_findLib_gcc", "_findLib_ld"):
    def looked(lib, original=getattr(ctypes.util, name)):
        asked.append(lib)
        return original(lib)
    setattr(ctypes.util, name, looked)
from exporter.packagers import weasy
from weasyprint.text import ffi
print(len(asked), ctypes.util.find_library.__name__, ffi.pango is not None, ffi.fontconfig is not None)
"""


def test_weasyprint_finds_its_libraries_without_gcc_or_ld() -> None:
    """WeasyPrint is imported with ldconfig's cache alone (gcc and ld ran for each name it
    tries that does not exist here), and find_library is itself again afterwards."""
    out = subprocess.run([sys.executable, "-c", LIBRARIES], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["0", "find_library", "True", "True"], out.stderr


def test_fonts_are_subset_without_the_system_harfbuzz(dossier: Built) -> None:
    from weasyprint.pdf import fonts

    if fonts.harfbuzz_subset is None:  # this machine: WeasyPrint would use fontTools
        assert getattr(fonts.Font.subset, "patched", False)
    with pikepdf.open(dossier.path) as doc:
        files = [o for o in doc.objects if isinstance(o, pikepdf.Stream) and "/Length1" in o]
        assert files and all(len(f.read_bytes()) < 150_000 for f in files)  # subsets, not whole fonts


def test_text_extractors_read_every_script_even_with_glyphs_no_font_has(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A character missing from every font once made WeasyPrint encode the whole font with a
    custom CMap, and pypdf read every word in it as byte garbage."""
    vault = write_vault(tmp_path / "v", {"a.md": "---\ntitle: Φάρος και маяк 𓀀\n---\n"
                                         "Greek Φάρος της Αλεξάνδρειας, Russian Радиоизотопные маяки, "
                                         "and glyphs no font has: 𓀀 🜂 ꙮ ⟁.\n"})
    out = tmp_path / "a.pdf"
    result = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(out), "-q", "--no-cache"])
    assert result.exit_code == 0, result.output
    with pikepdf.open(out) as doc:
        encodings = {str(f.get("/Encoding")) for p in doc.pages for f in p.Resources.Font.values()}
    assert encodings == {"/Identity-H"}
    with caplog.at_level(logging.WARNING, logger="pypdf"):
        text = " ".join(p.extract_text() for p in pypdf.PdfReader(out).pages)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert "Φάρος της Αλεξάνδρειας" in text and "Радиоизотопные маяки" in text and "Φάρος και маяк" in text


def test_html_scanned_by_kept_patterns_gives_the_same_trees() -> None:
    """tinyhtml5 looks its scanning patterns up by (characters, opposite): the dict that makes
    a missing one keeps it under that key, and a page parses to the same tree as with a fresh
    dict of tinyhtml5's own (which never finds what it stored)."""
    import xml.etree.ElementTree as ET

    import tinyhtml5
    from tinyhtml5 import inputstream

    page = ('<!DOCTYPE html><html><head><style>p > a { color: red }</style><title>t &amp; u</title></head>'
            '<body><p class="x" title=\'q "r"\'>Lamp &lt; lens<br>wick<!-- log --><a href="#a">a</a>'
            '<table><tr><td>1<td>2</table><pre>\tcode\x00</pre><script>if (a < b) {}</script></body></html>')
    kept = inputstream.characters_until_regex
    assert isinstance(kept, weasy_patches._Patterns)
    trees = [ET.tostring(tinyhtml5.parse(page, namespace_html_elements=False))]
    assert (("&", "<", "\u0000"), False) in kept and kept[("<", "\u0000"), False].pattern == "[^\\x3c\\x00]+"
    try:
        inputstream.characters_until_regex = {}
        trees.append(ET.tostring(tinyhtml5.parse(page, namespace_html_elements=False)))
    finally:
        inputstream.characters_until_regex = kept
    assert trees[0] == trees[1] and b"t &amp; u" in trees[0]


FLOATS = """<!DOCTYPE html><html lang="en"><head><style>
body { font: 11pt/1.4 "DejaVu Serif", serif; }
.f { width: 22mm; border: 1px solid; padding: 1mm; }
%s
</style></head><body>%s</body></html>"""


def test_floats_in_a_line_to_inline_start_or_end_lay_out_as_their_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint 70 fails on `float: inline-start` or `inline-end` inside a line (a KeyError):
    each now lays out as the physical side it means, left or right as the line's direction
    says, drawing what the physical float draws."""
    from weasyprint.layout import inline

    line = "The lamp room log <span class=\"f\">an aside</span> runs on, watch after watch, " * 6
    body = f"<p>{line}</p><p dir=\"rtl\">{line}</p>" + "".join(
        f'<p><span class="f {side}">{side}</span> {line}</p>' for side in ("start", "end"))
    logical = ".f, .start { float: inline-start; } .end { float: inline-end; }"
    physical = ".f, .start { float: left; } [dir=rtl] .f { float: right; } .end { float: right; }"
    all_left = ".f { float: left; }"

    def drawn(rules: str) -> list[bytes]:
        made = pdf.render(pdf.Prepared.of(FLOATS % (rules, body), "file:///nonexistent/", (), 1700000000))
        with pikepdf.open(io.BytesIO(made.pdf)) as doc:
            return [p.Contents.read_bytes() for p in doc.pages]

    assert drawn(logical) == drawn(physical) != drawn(all_left)
    monkeypatch.setattr(inline, "_out_of_flow_layout", inline._out_of_flow_layout.original)
    with pytest.raises(pdf.PdfError, match="inline-start"):
        drawn(logical)


def test_css_that_would_keep_the_body_or_a_note_from_flowing_across_pages_does_not(tmp_path: Path) -> None:
    """A grid body (WeasyPrint does not split a grid across pages), a floated or positioned note:
    the dossier came out as one page, or the page-number overlays failed to join. The body and
    each note flow as block boxes whatever the CSS says; the pages, their text, the outline and
    the links are those of the dossier without that CSS."""
    long = "\n\n".join(f"Paragraph {k} of the long note, with enough words to fill its lines." for k in range(60))
    vault = write_vault(tmp_path / "v", {
        "long.md": f"---\ntitle: Long\n---\n\nSee [[short]].\n\n{long}\n",
        "short.md": "---\ntitle: Short\n---\n\nBack to [[long]].\n",
    })
    css = tmp_path / "hostile.css"
    css.write_text("html, body { display: grid; height: 10cm; overflow: hidden } article.note { float: left; "
                   "position: absolute } nav.toc { display: flex } .footer-page, .numbers-page { display: none }\n",
                   encoding="utf-8")
    made = {}
    for name, extra in (("plain", []), ("hostile", ["--css", str(css)])):
        out = tmp_path / f"{name}.pdf"
        r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(out), "-q", "--no-cache", *extra])
        assert r.exit_code == 0, r.output
        made[name] = _facts(out.read_bytes())
    assert made["plain"][0] >= 4 and made["hostile"] == made["plain"]


def test_a_long_word_breaks_inside_the_page_in_a_paragraph_and_in_a_table(tmp_path: Path) -> None:
    """A word longer than its line (a hash, an id) ran off the right edge; in a table it pushed
    the columns after it off the page. It breaks across lines inside the page, and a table's
    short words keep their columns: "Elev." is not broken."""
    word, other = "x" * 300, "y" * 300
    runs, width = _brief_runs(tmp_path, {"t.md": "---\ntitle: Table\n---\n\n| name | hash | Elev. |\n|---|---|---|\n"
                                         f"| a | {word} | 25m |\n\nAfter the table {other} end.\n"})
    for letter, length in (("x", 300), ("y", 300)):
        lines = [(x, t) for x, t in runs if letter in t]
        assert sum(t.count(letter) for _, t in lines) == length and len(lines) >= 4
        assert all(x > 0 and x + len(t) * 4 < width for x, t in lines)  # each line starts and ends inside
    assert any(t.strip() == "Elev." for _, t in runs)


def test_a_table_too_wide_for_the_page_is_split_and_every_cell_is_drawn_inside_the_page(tmp_path: Path) -> None:
    """A table of twelve columns of ordinary words lost its last two at the page's edge. It is
    split into tables that fit, each opening with the rows' names, and every cell is on the page."""
    heads = ["Lighthouse", "Established", "Elevation", "Characteristic", "Range", "Keeper", "Automated",
             "Construction", "Optic", "Fog signal", "Status", "Coordinates"]
    rows = [[f"{h[:4]}{r}x{k}" if k else f"Station{r}" for k, h in enumerate(heads)] for r in range(4)]
    table = "\n".join(["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads),
                       *("| " + " | ".join(r) + " |" for r in rows)])
    runs, width = _brief_runs(tmp_path, {"t.md": f"---\ntitle: Table\n---\n\n{table}\n\nAfter the table.\n"})
    runs = [(x, t) for x, t in runs if t]
    for text in [*heads, *(c for row in rows for c in row)]:
        assert any(t == text for _, t in runs), text
    assert all(x > 0 and x + len(t) * 5 < width for x, t in runs)  # each run starts and ends inside
    assert 2 <= sum(t == "Lighthouse" for _, t in runs) <= 4  # the rows' names open each part


def test_a_footnote_taller_than_the_page_is_an_endnote_and_every_word_is_on_a_page(tmp_path: Path) -> None:
    """WeasyPrint cannot split a footnote over pages: a 1,200-word one was drawn from above the
    page's top (its first 164 words lost) after two pages left all but empty. It is now set at
    the note's end, numbered in the footnotes' sequence: the next footnote is 2 at the page's foot.
    Its call is a link once, with room to click."""
    words = " ".join(f"w{k:04d}" for k in range(1200))
    around = " ".join(f"line{k:02d}" for k in range(60))
    vault = write_vault(tmp_path / "v", {"long.md": f"---\ntitle: Long\n---\n\n{around} A claim[^a]. More *text[^c]* {around}"
                                                    f"\n\nNext paragraph[^b].\n\n[^a]: {words}\n[^b]: Short one.\n"
                                                    "[^c]: Inner one.\n"})
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "b"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    reader = pypdf.PdfReader(tmp_path / "b" / "long.pdf")
    seen: set[str] = set()
    for page in reader.pages:
        height = float(page.mediabox.height)

        def visit(text: str, cm: list[float], tm: list[float], *_: object, height: float = height) -> None:
            if 0 < cm[5] + tm[5] * cm[3] < height:  # drawn inside the page
                seen.update(re.findall(r"w\d{4}", text))

        page.extract_text(visitor_text=visit)
    assert seen == {f"w{k:04d}" for k in range(1200)}
    text = "\n".join(p.extract_text() for p in reader.pages)
    # numbered in the text's order (the footnote in the emphasis is reached first otherwise)
    assert re.search(r"A claim1\. More text2", text) and re.search(r"^1\. w0000", text, re.M)
    assert re.search(r"^2\. Inner one", text, re.M) and re.search(r"^3\. Short one", text, re.M)
    assert len(reader.pages) <= 3
    # the call is a link with room to click (at line-height 0 it was 0 pt high), and the lines
    # around it keep their spacing
    calls = [a.get_object() for a in reader.pages[0].get("/Annots", []) if "--en1" in str(a.get_object().get("/Dest", ""))]
    assert len(calls) == 1 and abs(float(calls[0]["/Rect"][3]) - float(calls[0]["/Rect"][1])) >= 4  # once
    ys: list[float] = []
    reader.pages[0].extract_text(visitor_text=lambda t, cm, tm, *_: ys.append(round(cm[5] + tm[5] * cm[3], 2))
                                 if t.strip().startswith("line") else None)
    lines = sorted(set(ys), reverse=True)
    assert len(lines) >= 4 and len({round(a - b, 1) for a, b in zip(lines, lines[1:], strict=False)}) == 1


def test_the_endnote_threshold_follows_the_page_and_agrees_with_the_stylesheets() -> None:
    css = (STYLES / "common" / "print.css.j2").read_text("utf-8")
    foot = re.search(r"\n\.footnote \{.*?\n\}", css, re.S)
    assert foot is not None and f"font-size: {pdf.FOOTNOTE_PT}pt;" in foot[0]
    assert f"line-height: {pdf.FOOTNOTE_LEADING};" in foot[0]
    theme = Theme.load()

    def room(size: str) -> int:
        return pdf.endnote_from(replace(theme, tokens={**theme.tokens, "page": {"size": size}}))

    assert 2000 < room("A4") < 2400 and room("A4 landscape") != room("A4")
    assert room("A5") < room("A4") / 1.5 and room("105mm 148mm") < room("A4") / 3
    assert room("20mm 20mm") == 200  # never below 200 characters


def test_the_room_for_tables_follows_the_theme_and_agrees_with_the_stylesheets() -> None:
    common = STYLES / "common"
    margin = re.search(r"@page \{\s*size: [^;]+;\s*margin: (\d+)mm (\d+)mm (\d+)mm (\d+)mm;",
                       (common / "print.css.j2").read_text("utf-8"))
    assert margin is not None and int(margin[4]) + int(margin[2]) == pdf.MARGINS_MM
    assert int(margin[1]) + int(margin[3]) == pdf.MARGINS_V_MM
    assert re.search(r"table \{[^}]*font-size: " + str(pdf.TABLE_FONT) + "em;",
                     (common / "base.css.j2").read_text("utf-8"))
    theme = Theme.load()

    def room(size: str, base: str = "10pt") -> float:
        tokens = {**theme.tokens, "page": {"size": size}, "sizes": {"print_base": base}}
        return pdf.table_room(replace(theme, tokens=tokens))

    a4 = (210 - 42) * 72 / 25.4 / 9  # 168 mm at 9pt (0.9 x 10pt)
    assert abs(room("A4") - a4) < 1e-9 and room("nonsense") == room("A4")
    assert abs(room("A4", "20pt") - a4 / 2) < 1e-9 and room("A4", "big") == room("A4", "10.5pt")
    assert abs(room("A4 landscape") - (297 - 42) * 72 / 25.4 / 9) < 1e-9
    assert abs(room("letter") - (215.9 - 42) * 72 / 25.4 / 9) < 1e-9
    assert abs(room("6in 9in") - (6 * 72 - 42 * 72 / 25.4) / 9) < 1e-9


def test_lists_and_quotes_nested_dozens_deep_keep_their_text_on_the_page(tmp_path: Path) -> None:
    """At their full indents, 40 nested quotes pushed the text past the page's right edge: past
    six levels each indents a little, past twelve a hairline."""
    lists = "".join("  " * k + f"- item{k}\n" for k in range(36))
    vault = write_vault(tmp_path / "v", {"quotes.md": "---\ntitle: Q\n---\n\n" + "> " * 70 + "Innermost quote.\n",
                                         "lists.md": "---\ntitle: L\n---\n\n" + lists})
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "b"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    for name, words in (("quotes", ["Innermost", "quote."]), ("lists", [f"item{k}" for k in range(36)])):
        runs: list[tuple[float, str]] = []

        def seen(text: str, cm: list[float], tm: list[float], *_: object, into: list[tuple[float, str]] = runs) -> None:
            into.append((cm[4] + tm[4] * cm[0], text.strip()))

        for page in pypdf.PdfReader(tmp_path / "b" / f"{name}.pdf").pages:
            page.extract_text(visitor_text=seen)
            assert all(x + len(t) * 6 < float(page.mediabox.width) for x, t in runs if t)
        assert all(any(w in t for _, t in runs) for w in words), name


def test_an_image_taller_than_the_page_and_a_formula_wider_than_it_are_drawn_inside_the_page(tmp_path: Path) -> None:
    """A 4,000-pixel tall image ran off the page's foot (and at 90% of the page's height, over
    the page number), a formula of 120 terms off its right edge (a typeset formula is one image:
    it cannot break); both are drawn smaller to fit the text area."""
    vault = write_vault(tmp_path / "v", {"n.md": "---\ntitle: Tall\n---\n\nBefore.\n\n![[tall.png]]\n\n"
                                         "A long formula:\n\n$$ " + " + ".join(f"x_{{{k}}}^{{2}}" for k in range(120))
                                         + " $$\n\nA short one: $a^2 + b^2$, and the end.\n"})
    Image.new("RGB", (300, 4000), (200, 50, 50)).save(vault / "tall.png")
    html = tmp_path / "d.html"
    r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(tmp_path / "d.pdf"), "-q", "--no-cache",
                                  "--dump-html", str(html)])
    assert r.exit_code == 0, r.output
    document = weasyprint.HTML(filename=str(html)).render()
    drawn = []
    for page in document.pages:
        width, height = page.width, page.height
        for box in page._page_box.descendants():
            if box.element_tag == "img" and box.element is not None:
                x, y = box.position_x, box.position_y
                foot = height - 24 * 72 / 25.4  # the bottom margin, where the page number is
                drawn.append((box.element.get("class"), x + box.border_width() <= width - 20 and x >= 0
                              and y + box.border_height() <= foot))
    assert len(drawn) == 3 and [c for c, _ in drawn].count("math") == 2 and all(inside for _, inside in drawn)


def test_long_words_in_inline_code_and_raw_html_break_inside_the_page(tmp_path: Path) -> None:
    """Inline code and a raw HTML block's text are not words of the text: a 200-character token
    in either ran off the page, and in a table cell pushed the next column off. So did a long
    word or URL in a footnote, which is set apart from the text."""
    runs, width = _brief_runs(tmp_path, {"c.md": "---\ntitle: Code\n---\n\nInline code: `" + "z" * 200 + "` after.\n\n"
                                         '<div class="x">Raw ' + "r" * 200 + " raw.</div>\n\n"
                                         "| a | b |\n|---|---|\n| `" + "c" * 120 + "` | next |\n\n"
                                         "A note.[^w] And a link.[^u]\n\n[^w]: Word " + "w" * 180 + " ends.\n"
                                         "[^u]: See <https://example.org/" + "u" * 150 + ">.\n"})
    for letter, length in (("z", 200), ("r", 200), ("c", 120), ("w", 180)):
        lines = [(x, t) for x, t in runs if t and set(t) == {letter}]
        assert sum(map(len, (t for _, t in lines))) == length and len(lines) >= 2, letter
    assert all(x + len(t) * 4.5 < width for x, t in runs if t)
    assert any(t == "next" and x + 20 < width for x, t in runs)
    assert len([t for _, t in runs if "u" * 20 in t]) >= 2  # the URL broken, on the page


def test_ordered_lists_keep_their_start_numbers(tmp_path: Path) -> None:
    """WeasyPrint ignores `start`: a list resumed after a code block ("7. seventh step") was
    numbered from 1 again, and so was raw HTML's <ol start>."""
    vault = write_vault(tmp_path / "v", {"s.md": "---\ntitle: Steps\n---\n\n1. first\n2. second\n\n```\ncode\n```\n\n"
                                         "7. seventh step\n8. eighth step\n\n<ol start=\"5\"><li>raw five</li></ol>\n"})
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "b"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    text = _flat(pypdf.PdfReader(tmp_path / "b" / "s.pdf").pages[0].extract_text())
    assert re.findall(r"\b(\d)\.", text) == ["1", "2", "7", "8", "5"], text  # the markers, in order


def test_a_formula_in_a_heading_reads_as_text_in_the_outline_and_a_brief_s_contents(tmp_path: Path) -> None:
    """The page shows the formula as an image; the outline (and a brief's list of headings)
    can show none, and showed its TeX: "E = mc^2"."""
    heads = ["## The law $E = mc^2$ here", "## Ratio $\\frac{a+b}{c} \\leq \\alpha_0$", "## Plain"]
    heads += [f"## More {k}" for k in range(4)]
    vault = write_vault(tmp_path / "v", {"m.md": "---\ntitle: Formulas\n---\n\n" + "\n\ntext\n\n".join(heads) + "\n"})
    for args, out in ((["-o", str(tmp_path / "d.pdf")], tmp_path / "d.pdf"), (["--briefs", "-o", str(tmp_path / "b")],
                                                                            tmp_path / "b" / "m.pdf")):
        r = CliRunner().invoke(main, ["pdf", str(vault), "-q", "--no-cache", *args])
        assert r.exit_code == 0, r.output
        reader = pypdf.PdfReader(out)
        titles = [title for _, title, _ in _outline(reader)]
        assert "The law E = mc² here" in titles and "Ratio (a + b)/c ≤ α₀ here" not in titles
        assert "Ratio (a + b)/c ≤ α₀" in titles and not any("^" in t or "\\" in t for t in titles)
    contents = _flat(reader.pages[0].extract_text())  # the brief's list of headings
    assert "The law E = mc² here" in contents and "Ratio (a + b)/c ≤ α₀" in contents


def test_the_running_header_of_a_long_title_stays_inside_the_page(tmp_path: Path) -> None:
    """A 200-character title in capitals took six lines of the running header's box, the first
    above the page's top edge; a long --title did so on every page. The header shows titles cut
    to pdf.RUNNING characters; the note's own title stays whole."""
    title = ("THE LOST KEEPERS OF FLANNAN ISLES: WHAT REALLY HAPPENED IN DECEMBER 1900? FULL DOCUMENTARY WITH "
             "NEW EVIDENCE, INTERVIEWS, ARCHIVE FOOTAGE AND A VISIT TO THE ISLAND TODAY (PART ONE OF THREE)")
    body = "\n\n".join(f"Paragraph {k} of a long note about the keepers and the lamp." for k in range(80))
    vault = write_vault(tmp_path / "v", {"n.md": f"---\ntitle: \"{title}\"\n---\n\n{body}\n"})
    out = tmp_path / "d.pdf"
    for args in (["--briefs", "-o", str(tmp_path / "b")], ["-o", str(out), "--title", "MWMW " * 60]):
        r = CliRunner().invoke(main, ["pdf", str(vault), "-q", "--no-cache", *args])
        assert r.exit_code == 0, r.output
    for pdf_file in (tmp_path / "b" / "n.pdf", out):
        pages = pypdf.PdfReader(pdf_file).pages
        assert len(pages) >= 3
        for page in pages:
            ys: list[float] = []

            def seen(text: str, cm: list[float], tm: list[float], *_: object, into: list[float] = ys) -> None:
                if text.strip():
                    into.append(cm[5] + tm[5] * cm[3])

            page.extract_text(visitor_text=seen)
            assert all(0 < y < float(page.mediabox.height) - 8 for y in ys), (pdf_file.name, max(ys))
        assert title.split(":")[0] in _flat(pages[-1].extract_text())  # the header still names the note


def test_a_character_no_font_has_is_named_with_its_note_in_dossiers_briefs_and_from_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader found boxes and the writer heard nothing; now the note is named with the
    characters (two short notes share a part: the one that has the character is found)."""
    monkeypatch.setenv("EXPORTER_CACHE_DIR", str(tmp_path / "cache"))
    vault = write_vault(tmp_path / "v", {"a.md": "---\ntitle: Plain\n---\n\nAll Latin.\n",
                                         "g.md": "---\ntitle: Glyphs\n---\n\nA sign \u0378 unknown.\n"})
    told = ("g.md: warning: no font on this machine has \u0378 (U+0378): drawn as boxes in {}; "
            "install a font that covers them [missing-glyph]")
    for k in (1, 2):  # the second from the cache
        r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(tmp_path / "d.pdf")])
        assert r.exit_code == 0 and told.format("d.pdf") in r.output, (k, r.output)
        assert r.output.count("missing-glyph]") == 1
    r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(tmp_path / "b"), "--no-cache"])
    assert r.exit_code == 0 and told.format("b") in r.output and r.output.count("missing-glyph]") == 1, r.output
