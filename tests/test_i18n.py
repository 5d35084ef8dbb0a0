"""Fixed strings in the book's language: catalogs, --lang, the notes' own language by default."""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import pypdf
import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner
from lxml import etree

from exporter.cli import main
from exporter.i18n import Words, base
from exporter.transforms.language import LANGUAGES
from tests.conftest import write_vault

VID, OTHER = "abcdefghijk", "bcdefghijkl"


def ts(t: str) -> str:
    return f'<a class="yt-timestamp" data-t="{t}">[{t}]</a>'


# German notes: any English word in the products is chrome that was not translated
NOTES = {
    "leuchtturm.md": f"---\ntitle: Der Leuchtturm\nvideoId: {VID}\n---\nFrom: [[kanal_eins]] <br/>\n\n"
                     f"Der Turm steht seit hundert Jahren auf dem Felsen und warnt die Schiffe {ts('00:01:02')}. "
                     f"Die Wärter lebten dort oben mit ihren Familien {ts('00:02:03')}.\n\n"
                     "## Die Linse\n\nDie Linse bündelt das Licht der Lampe zu einem Strahl, der weit über das "
                     f"Meer reicht {ts('00:03:04')}.\n",
    "waerter.md": f"---\ntitle: Die Wärter\nvideoId: {OTHER}\n---\nFrom: [[kanal_zwei]] <br/>\n\n"
                  "Die Wärter wohnten im [[leuchtturm | Leuchtturm]] und schrieben jeden Abend in das "
                  f"Tagebuch der Station, was sie gesehen hatten {ts('00:04:05')}.\n\n![[leuchtturm#Die Linse]]\n",
    "ohne.md": "---\ntitle: Ohne Kanal\n---\nEine Notiz ohne Kanal und ohne Video, die nur auf den "
               "[[leuchtturm | Turm]] verweist und sonst nichts über die Schifffahrt erzählt.\n",
}
CHROME = ["Contents", "Sources", "Source", "Appendix", "DATE", "Date", "NOTES", "CHANNELS", "Channels",
          "Watch the video", "Linked from", "From", "Other notes", "Cited in", "Landmarks", "Cover", "Start",
          "notes", "channel", " at ", "At ", "Untitled", "Various", "“Der"]  # German closes with “


def test_every_catalog_translates_every_message_and_keeps_its_placeholders() -> None:
    ids: set[str] | None = None
    for lang in LANGUAGES[1:]:
        with (files("exporter") / "locale" / f"{lang}.po").open("rb") as f:
            catalog = read_po(f, locale=lang)
        messages = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
        ids = set(messages) if ids is None else ids
        assert set(messages) == ids, lang
        for key, m in messages.items():
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            assert all(strings), (lang, key)
            assert len(strings) == catalog.num_plurals if isinstance(m.id, tuple) else 1
            for s in strings:
                assert sorted(re.findall(r"\{\w+\}|%\(\w+\)[sd]", s)) == sorted(re.findall(r"\{\w+\}|%\(\w+\)[sd]", key)), \
                    (lang, key, s)


def test_words_count_date_and_fall_back_to_english() -> None:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    assert [Words("ru").notes(n) for n in (1, 3, 5, 21)] == ["1 заметка", "3 заметки", "5 заметок", "21 заметка"]
    assert Words("de").date(when) == "1. Dezember 2026" and Words("en").date(when) == "1 December 2026"
    assert Words("ja").date(when) == "2026年12月1日"
    assert Words("nl")("Contents") == "Contents" and Words("nl").date(when) == "1 december 2026"
    assert Words("pt-BR")("Contents") == "Sumário" and base("zz-?") == "en"


def _texts(tmp_path: Path, *extra: str) -> tuple[str, str, str]:
    vault = write_vault(tmp_path / "v", NOTES)
    runner = CliRunner(env={"SOURCE_DATE_EPOCH": "1764547200"})  # 2025-12-01
    for args in (["pdf", str(vault), "-o", str(tmp_path / "d.pdf")], ["epub", str(vault), "-o", str(tmp_path / "b.epub")],
                 ["bundle", str(vault), "-o", str(tmp_path / "a")]):
        result = runner.invoke(main, [*args, *extra, "-q", "--no-cache"])
        assert result.exit_code == 0, result.output
    pdf = " ".join(p.extract_text() for p in pypdf.PdfReader(tmp_path / "d.pdf").pages)
    with zipfile.ZipFile(tmp_path / "b.epub") as z:
        pages = [etree.fromstring(z.read(n)) for n in z.namelist() if n.endswith((".xhtml", ".ncx"))]
        opf = z.read("EPUB/content.opf").decode()
    epub = " ".join("".join(p.itertext()) for p in pages) + " " + " ".join(re.findall(r'title="([^"]*)"', opf))
    bundle = " ".join(p.read_text("utf-8") for p in (tmp_path / "a").rglob("*.md"))
    return " ".join(pdf.split()), " ".join(epub.split()), bundle


@pytest.mark.parametrize("extra", [(), ("--lang", "de")], ids=["notes-language", "--lang"])
def test_a_german_book_has_no_english_fixed_string(tmp_path: Path, extra: tuple[str, ...]) -> None:
    pdf, epub, bundle = _texts(tmp_path, *extra)
    for chrome in CHROME:
        assert chrome not in pdf, chrome
        assert chrome not in epub, chrome
    for said in ("Inhalt", "Quellen", "DATUM", "1. Dezember 2025", "Video ansehen", "Verlinkt von",
                 "„Der Leuchtturm“, kanal_eins, bei 1:02.", "Bei 2:03."):
        assert said in pdf, said
    for said in ("Inhalt", "Quellen", "Datum", "1. Dezember 2025", "Verlinkt von", "Zitiert in", "Bei 2:03."):
        assert said in epub, said
    assert "Von: *kanal\\_eins*" in bundle or "Von: *kanal_eins*" in bundle
    assert "## Verlinkt von" in bundle and "Bei [2:03]" in bundle and "3 Notizen · 2 Kanäle" in bundle


def test_lang_picks_the_catalog_whatever_the_notes(tmp_path: Path) -> None:
    pdf, epub, _ = _texts(tmp_path, "--lang", "el")
    assert "Περιεχόμενα" in pdf and "Πηγές" in pdf and "«Der Leuchtturm», kanal_eins, στο 1:02." in pdf
    assert "Περιεχόμενα" in epub and "Συνδέσεις προς εδώ" in epub
    result = CliRunner().invoke(main, ["epub", str(tmp_path / "v"), "--lang", "not a tag", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "is not a language tag" in result.output


def test_build_speaks_lang_from_the_command_line_or_the_config(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", NOTES)
    runner = CliRunner()
    result = runner.invoke(main, ["build", "--vault", str(vault), "-o", str(tmp_path / "out"), "--format", "bundle",
                                  "--lang", "fr", "-q", "--no-cache"])
    assert result.exit_code == 0, result.output
    index = next((tmp_path / "out").glob("*/index.md")).read_text("utf-8")
    assert "3 notes · 2 chaînes" in index and "Autres notes" in index
    (tmp_path / "exporter.toml").write_text('[defaults]\nvault = "v"\noutput = "cfg"\nlang = "es"\n'
                                            '[publications.libro]\nformats = ["bundle"]\n', encoding="utf-8")
    result = runner.invoke(main, ["build", "--config", str(tmp_path / "exporter.toml"), "-q", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "3 notas · 2 canales" in (tmp_path / "cfg" / "libro" / "index.md").read_text("utf-8")
