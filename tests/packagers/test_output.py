"""Outputs: a rerun removes only what an earlier run wrote and no longer belongs; zips are the
same bytes whether their streams came from the cache or not."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path

from exporter.cache import Cache
from exporter.packagers.output import RECORD, Deflate, Zip, atomic_file, made_here, prune


def test_prune_removes_only_recorded_files_that_left_the_output(tmp_path: Path) -> None:
    out = tmp_path / "briefs"
    for rel in ("a.pdf", "gone/b.pdf", "gone/deeper/c.pdf", "mine.pdf"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"%PDF")
    (tmp_path / "outside.pdf").write_bytes(b"keep me")
    assert prune(out, ["a.pdf", "gone/b.pdf", "gone/deeper/c.pdf"]) == []  # first run: no record yet
    record = json.loads((out / RECORD).read_text("utf-8"))
    (out / RECORD).write_text(json.dumps([*record, "../outside.pdf", "mine-not-recorded.pdf"]), "utf-8")
    assert prune(out, ["a.pdf"]) == ["gone/b.pdf", "gone/deeper/c.pdf"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [RECORD, "a.pdf", "mine.pdf"]
    assert (tmp_path / "outside.pdf").read_bytes() == b"keep me"  # a tampered record cannot reach out
    assert json.loads((out / RECORD).read_text("utf-8")) == ["a.pdf"]


def test_a_zip_is_the_bytes_zipfile_writes_whether_its_streams_come_from_the_cache_or_not(tmp_path: Path) -> None:
    """Zip writes entries itself (given their streams), with zipfile's private parts: this says
    they still do what zipfile's own writestr does."""
    blobs = {"mimetype": b"application/epub+zip", "a/b.md": "Déjà vu. ".encode() * 500, "empty.txt": b"",
             "c.xhtml": bytes(range(256)) * 40}
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        for name, data in blobs.items():
            info = zipfile.ZipInfo(name, time.gmtime(1_700_000_000)[:6])
            info.external_attr, info.create_system = 0o644 << 16, 3
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=6)
    cache = Cache(tmp_path / "cache")
    for _ in range(2):  # the streams compressed, then from the cache
        deflate = Deflate(6, cache, blobs.values())
        out = io.BytesIO()
        with Zip(out, 1_700_000_000, deflate) as z:
            for name, data in blobs.items():
                z.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else None)
        deflate.keep()
        assert out.getvalue() == plain.getvalue()
    assert cache.hits == len(blobs) - 1  # the second time, every deflated entry (mimetype is stored)
    cache.close()
    off = io.BytesIO()
    with Zip(off, 1_700_000_000, Deflate(6)) as z:
        for name, data in blobs.items():
            z.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else None)
    assert off.getvalue() == plain.getvalue()


def test_a_file_whose_name_is_as_long_as_the_system_allows_is_written_atomically(tmp_path: Path) -> None:
    # a brief of a note with a 250-character stem: its temporary name had 14 characters more
    target = tmp_path / ("é" * 125 + ".pdf")  # 254 bytes
    with atomic_file(target) as tmp:
        assert len(tmp.name.encode()) <= 255
        tmp.write_bytes(b"%PDF-")
    assert target.read_bytes() == b"%PDF-" and os.listdir(tmp_path) == [target.name]


def _epub(path: Path, generator: bytes, opf_size: int = 0) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="EPUB/content.opf"/>'
                                             "</rootfiles></container>")
        z.writestr("EPUB/content.opf", b'<package><metadata><meta name="generator" content="' + generator
                   + b'"/></metadata></package>' + b" " * opf_size)
    return path


def test_made_here_knows_exporter_s_own_pdfs_and_epubs_and_nothing_else(tmp_path: Path) -> None:
    import pikepdf

    def pdf(name: str, creator: str | None) -> Path:
        with pikepdf.new() as doc:
            doc.add_blank_page()
            if creator is not None:
                doc.docinfo["/Creator"] = creator
            doc.save(tmp_path / name)
        return tmp_path / name

    assert made_here(pdf("ours.pdf", "exporter 0.1.0")) and made_here(pdf("later.pdf", "exporter 9.9"))
    assert not made_here(pdf("latex.pdf", "LaTeX with hyperref")) and not made_here(pdf("bare.pdf", None))
    assert not made_here(pdf("like.pdf", "exporterX 1"))
    assert made_here(_epub(tmp_path / "ours.epub", b"exporter 0.1.0"))
    assert not made_here(_epub(tmp_path / "other.epub", b"Ebook-lib 0.20.0"))
    assert not made_here(_epub(tmp_path / "big.epub", b"exporter 0.1.0", opf_size=5 << 20))  # not read past 4 MiB
    for name, data in (("junk.pdf", b"%PDF-1.7 junk"), ("junk.epub", b"PK junk"), ("empty.pdf", b"")):
        (tmp_path / name).write_bytes(data)
        assert not made_here(tmp_path / name)
    assert not made_here(tmp_path / "missing.pdf")


def test_a_source_date_past_what_a_zip_can_hold_is_its_latest(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SOURCE_DATE_EPOCH in 2108 ended the bundle and the EPUB in a traceback (a zip's date
    holds years up to 2107), in the year 10000 the PDF too: such a date is the latest a zip holds."""
    from click.testing import CliRunner

    from exporter.cli import main
    from exporter.packagers.output import LATEST_EPOCH, source_date_epoch
    from tests.conftest import write_vault

    vault = write_vault(tmp_path / "v", {"n.md": "---\ntitle: N\n---\n\nText.\n"})
    for value in ("4354819200", "253402300800", "99999999999999999"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
        assert source_date_epoch() == LATEST_EPOCH
        for command, out in (("bundle", "b"), ("epub", "b.epub"), ("pdf", "b.pdf")):
            r = CliRunner().invoke(main, [command, str(vault), "-o", str(tmp_path / value / out), "-q", "--no-cache"])
            assert r.exit_code == 0 and r.exception is None, (value, command, r.output)
    assert zipfile.ZipFile(tmp_path / "4354819200" / "b.zip").infolist()[0].date_time[0] == 2107
