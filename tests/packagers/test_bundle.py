"""End to end: bundle the sample vault, then follow every link and check every citation."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner

from exporter.cli import main
from exporter.collect import collect
from exporter.model.ast import iter_nodes, stringify
from exporter.packagers.bundle import package
from exporter.transforms.structure import slug
from exporter.writers import pandoc
from tests.conftest import SAMPLE, write_vault


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("b") / "archive"
    coll, _ = collect(SAMPLE)
    zip_path = package(coll, coll.notes, out, "Sample", epoch=1700000000)
    return out, zip_path


def md_files(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in out.rglob("*.md")}


def anchors(text: str) -> set[str]:
    """Anchors a markdown viewer offers: GitHub heading slugs and explicit <a id>."""
    found = set(re.findall(r'<a id="([^"]+)"', text))
    seen: dict[str, int] = {}
    for line in text.splitlines():
        if m := re.match(r"^(?:>\s?)*#{1,6}\s+(.*?)\s*#*$", line):  # headings in quotes count too
            heading = re.sub(r"\[\^\d+\]", "", m.group(1))
            heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("\\", "")
            base = slug(heading)
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def test_every_note_is_present(built: tuple[Path, Path]) -> None:
    out, _ = built
    files = md_files(out)
    sources = [
        p
        for p in SAMPLE.rglob("*")
        if p.suffix in (".md", ".txt")
        and not any(part.startswith(".") or part == "drafts" for part in p.relative_to(SAMPLE).parts)
    ]
    assert len(files) == len(sources) + 1  # + index.md
    assert "index.md" in files and "drafts/unfinished.md" not in files


def test_no_wikilink_or_stamp_markup_left_outside_code(built: tuple[Path, Path]) -> None:
    out, _ = built
    files = md_files(out)
    parsed = pandoc.parse(list(files.values()))
    for name, blocks in zip(files, parsed, strict=True):
        assert not isinstance(blocks, str)
        text = " ".join(s["c"] for s in iter_nodes(blocks, "Str"))
        raws = " ".join(r["c"][1] for r in iter_nodes(blocks, "RawInline") + iter_nodes(blocks, "RawBlock"))
        assert "[[" not in text, name
        assert "yt-timestamp" not in raws and "yt-timestamp" not in text, name


def test_every_relative_link_resolves_inside_the_bundle(built: tuple[Path, Path]) -> None:
    out, _ = built
    files = md_files(out)
    parsed = pandoc.parse(list(files.values()))
    checked = 0
    for name, blocks in zip(files, parsed, strict=True):
        assert not isinstance(blocks, str)
        urls = [x["c"][2][0] for x in iter_nodes(blocks, "Link") + iter_nodes(blocks, "Image")]
        urls += re.findall(r'<img src="([^"]+)"', files[name])
        for url in urls:
            if urlsplit(url).scheme:
                continue
            path, _, frag = url.partition("#")
            target = (
                posixpath.normpath(posixpath.join(posixpath.dirname(name), unquote(path))) if path else name
            )
            assert not target.startswith(".."), (name, url)
            assert (out / target).is_file(), (name, url)
            if frag:
                assert unquote(frag) in anchors(files[target]), (name, url)
            checked += 1
    assert checked > 20


def test_deep_links_carry_the_right_seconds(built: tuple[Path, Path]) -> None:
    out, _ = built
    files = md_files(out)
    everything = "\n".join(files.values())
    for t in re.findall(r"watch\?v=[\w-]{11}&t=([^)\s>]*)", everything):
        assert re.fullmatch(r"\d+s", t), t
    fresnel = files["fresnel_lenses_and_the_range_of_a_light.md"]
    assert "[1:04:14](https://www.youtube.com/watch?v=Hb7qLm2xR4e&t=3854s)" in fresnel
    lights = files["light_characteristics_and_signatures.md"]  # every stamp is MM:SS:00 here
    assert re.search(r"\[6:41\]\(https://www\.youtube\.com/watch\?v=-Tw9kPz3Qa1&t=401s\)", lights)
    routine = files["keepers/daily_watch_routine.md"]  # every stamp ends in :07
    assert ":07]" not in routine and "&t=" in routine


def test_footnote_calls_match_definitions(built: tuple[Path, Path]) -> None:
    out, _ = built
    for name, text in md_files(out).items():
        defs = re.findall(r"^\[\^(\d+)\]:", text, re.M)
        calls = set(re.findall(r"\[\^(\d+)\]", re.sub(r"^\[\^\d+\]:", "", text, flags=re.M)))
        assert set(defs) == calls, name


def test_frontmatter_kept_byline_under_title(built: tuple[Path, Path]) -> None:
    out, _ = built
    text = (out / "fresnel_lenses_and_the_range_of_a_light.md").read_text("utf-8")
    assert text.startswith("---\ntitle: Fresnel lenses and the range of a light\nvideoId: Hb7qLm2xR4e\n")
    assert (
        "\n# Fresnel lenses and the range of a light\n\nFrom: *harbour\\_lights*" in text
        or "\n# Fresnel lenses and the range of a light\n\nFrom: *harbour_lights*" in text
    )


def test_index_groups_by_channel_and_lists_sources(built: tuple[Path, Path]) -> None:
    out, _ = built
    index = (out / "index.md").read_text("utf-8")
    assert "## keeper-notes" in index and "## Sources" in index
    assert index.count("](") == 16
    assert "https://www.youtube.com/watch?v=Hb7qLm2xR4e" in index


def test_manifest_and_assets(built: tuple[Path, Path]) -> None:
    out, _ = built
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert len(manifest["notes"]) == 16
    for entry in manifest["notes"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert set(entry) >= {"path", "title", "videoId", "channel", "url", "sha256"}
    assert manifest["assets"] == ["images/lens.png", "images/lighthouse.png"]
    assert (out / "images/lens.png").read_bytes() == (SAMPLE / "images/lens.png").read_bytes()


def test_zip_is_reproducible_and_matches_folder(built: tuple[Path, Path], tmp_path: Path) -> None:
    out, zip_path = built
    coll, _ = collect(SAMPLE)
    again = package(coll, coll.notes, tmp_path / "archive", "Sample", epoch=1700000000)
    assert again.read_bytes() == zip_path.read_bytes()
    with zipfile.ZipFile(zip_path) as z:
        names = sorted(z.namelist())
        assert names == sorted(
            f"archive/{p.relative_to(out).as_posix()}" for p in out.rglob("*") if p.is_file()
        )
        assert all(i.date_time == (2023, 11, 14, 22, 13, 20) for i in z.infolist())


def test_every_note_starts_with_its_frontmatter_byte_for_byte(built: tuple[Path, Path]) -> None:
    out, _ = built
    for src in SAMPLE.rglob("*.md"):
        if "drafts" in src.parts:  # not in the sample's archive
            continue
        raw = src.read_bytes()
        end = raw.find(b"\n---\n", 4)
        if raw.startswith(b"---\n") and end > 0:
            assert (out / src.relative_to(SAMPLE)).read_bytes().startswith(raw[: end + 5]), src


def test_odd_frontmatter_is_kept_as_written(tmp_path: Path) -> None:
    long = "A title long enough that a YAML dumper folds it onto two lines " * 3
    notes = {
        "crlf.md": f"---\r\ntitle: '{long}'\r\n# a comment\r\ntags: [b,   a]\r\n---\r\nbody\r\n",
        "cr.md": "---\rtitle: Old Mac\r---\rbody\r",
        "nfd.md": "---\ntitle: Cafe\u0301\nquoted: \"x\"\ndate: 2024-01-02\n---   \nbody",
        "spaced.md": "\n\n---\ntitle: Spaced\n---\nbody\n",
        "only.md": "---\ntitle: Only\n---",
        "none.md": "no frontmatter here\n",
    }
    root = tmp_path / "v"
    root.mkdir()
    for name, text in notes.items():
        (root / name).write_bytes(b"\xef\xbb\xbf" * (name == "crlf.md") + text.encode())
    coll, _ = collect(root)
    out = tmp_path / "out" / "b"
    package(coll, coll.notes, out, "T")
    got = {p.name: p.read_bytes() for p in out.glob("*.md") if p.name != "index.md"}
    expect = {
        "crlf.md": notes["crlf.md"].split("---\r\n")[1].join(["---\r\n", "---\r\n"]),
        "cr.md": "---\rtitle: Old Mac\r---\r",
        "nfd.md": "---\ntitle: Cafe\u0301\nquoted: \"x\"\ndate: 2024-01-02\n---   \n",
        "spaced.md": "---\ntitle: Spaced\n---\n",
        "only.md": "---\ntitle: Only\n---\n",
    }
    for name, front in expect.items():
        assert got[name].startswith(front.encode() + b"\n#"), (name, got[name][:200])
    assert got["none.md"].startswith(b"# none")


def test_outputs_are_atomic_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    coll, _ = collect(SAMPLE)
    out = tmp_path / "archive"
    package(coll, coll.notes, out, "Sample")
    before = sorted(p.name for p in tmp_path.iterdir())

    def boom(*a: object, **k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("exporter.packagers.bundle.shutil.copyfile", boom)
    with pytest.raises(OSError):
        package(coll, coll.notes, out, "Sample")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # old output intact, no temp left
    assert (out / "index.md").is_file()


def test_labels_survive(built: tuple[Path, Path]) -> None:
    out, _ = built
    text = (out / "eddystone_rock_lighthouses.md").read_text("utf-8")
    assert "[Fresnel](fresnel_lenses_and_the_range_of_a_light.md)" in text
    assert stringify([]) == ""


def _bundle(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    coll, _ = collect(write_vault(tmp_path / "v", files))
    out = tmp_path / "out" / "b"
    package(coll, coll.notes, out, "T")
    return md_files(out)


def test_notes_sharing_a_stem_and_a_note_called_index_keep_their_own_files(tmp_path: Path) -> None:
    files = _bundle(tmp_path, {
        "a.md": "alpha md", "a.txt": "alpha txt", "A.markdown": "alpha markdown",
        "index.md": "---\ntitle: My Index\n---\nuser index body\n", "l.md": "[[a.txt]] [[index]]",
    })
    assert sorted(files) == ["A.md", "a-md.md", "a-txt.md", "index-md.md", "index.md", "l.md"]
    bodies = "\n".join(files.values())
    for text in ("alpha md", "alpha txt", "alpha markdown", "user index body"):
        assert bodies.count(text) == 1
    assert "](a-txt.md)" in files["l.md"] and "](index-md.md)" in files["l.md"]
    manifest = json.loads((tmp_path / "out" / "b" / "manifest.json").read_text("utf-8"))
    assert len({e["path"] for e in manifest["notes"]}) == 5


def test_heading_links_aim_at_the_anchor_viewers_give_after_embeds(tmp_path: Path) -> None:
    files = _bundle(tmp_path, {
        "g.md": "# G\n\n## Local\n\nguest\n",
        "e.md": "# E\n\n![[g]]\n\n## Local\n\nhost\n\n[[#Local]]\n",
        "l.md": "[[e#Local]]\n",
    })
    lines = files["e.md"].splitlines()
    host = next(i for i, line in enumerate(lines) if line == "## Local")
    assert any(line.startswith(">") and "Local" in line for line in lines[:host])  # the embedded one
    # the anchor of the host heading, as a viewer numbers repeats in document order
    repeats = sum(1 for line in lines[:host] if re.match(r"^(?:>\s?)*#{1,6}\s+Local$", line))
    want = "local" if repeats == 0 else f"local-{repeats}"
    assert f"(e.md#{want})" in files["l.md"] and f"(#{want})" in files["e.md"]
    assert files["e.md"].count("# E") == 1  # an opening H1 equal to the title is not repeated


def test_outputs_that_would_destroy_something_are_refused(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {"note.md": "my note", "paper.pdf": "%PDF"})
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "keep.txt").write_text("keep", encoding="utf-8")
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    for target in (vault, tmp_path, tmp_path / "theirs", tmp_path / "afile"):
        r = CliRunner().invoke(main, ["bundle", str(vault), "-o", str(target)])
        assert r.exit_code == 2 and "Traceback" not in r.output, (target, r.output)
    assert sorted(p.name for p in vault.iterdir()) == ["note.md", "paper.pdf"]
    assert (tmp_path / "theirs" / "keep.txt").read_text("utf-8") == "keep"
    assert (tmp_path / "afile").read_text("utf-8") == "x"
    inside = vault / "out"  # a bundle inside the vault is replaced on rebuild, never read as notes
    for _ in range(2):
        r = CliRunner().invoke(main, ["bundle", str(vault), "-o", str(inside)])
        assert r.exit_code == 0, r.output
    assert json.loads((inside / "manifest.json").read_text("utf-8"))["notes"][0]["path"] == "note.md"
    assert len(json.loads((inside / "manifest.json").read_text("utf-8"))["notes"]) == 1


def test_callouts_stay_callouts_for_viewers_that_know_them(built: tuple[Path, Path]) -> None:
    out, _ = built
    text = (out / "keepers" / "daily_watch_routine.md").read_text("utf-8")
    assert re.search(r"^> \[!note\] Handing over the watch\[\^\d+\]$", text, re.M)
    assert "\\[!" not in text


def test_index_counts_read_right_without_channels(tmp_path: Path) -> None:
    files = _bundle(tmp_path, {"a.md": "alpha", "b.md": "beta"})
    assert "\n2 notes\n" in files["index.md"]
    files = _bundle(tmp_path / "one", {"a.md": "From: [[chan]] <br/>\n\nalpha"})
    assert "\n1 note · 1 channel\n" in files["index.md"]


def test_a_rebuild_reuses_unchanged_files_but_never_what_a_link_in_the_old_output_names(tmp_path: Path) -> None:
    """Files the last bundle already holds are linked into the new one, not written again; a
    symlink planted in the old bundle is never followed, and its target stays untouched."""
    coll, _ = collect(SAMPLE)
    out = tmp_path / "archive"
    package(coll, coll.notes, out, "Sample", epoch=1700000000)
    first = {p: p.read_bytes() for p in sorted(out.rglob("*.md"))}
    inode = {p: p.stat().st_ino for p in first}
    outside = tmp_path / "outside.md"
    planted = sorted(p for p in first if p.name != "index.md")[0]
    outside.write_bytes(first[planted])
    planted.unlink()
    planted.symlink_to(outside)

    package(coll, coll.notes, out, "Sample", epoch=1700000000)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*.md"))} == first
    assert not planted.is_symlink() and planted.stat().st_ino != outside.stat().st_ino
    assert outside.stat().st_nlink == 1 and outside.read_bytes() == first[planted]
    notes = [p for p in first if p.name != "index.md" and p != planted]
    assert all(p.stat().st_ino == inode[p] for p in notes)  # linked, not written


def test_names_that_differ_only_in_unicode_form_keep_their_own_files(tmp_path: Path) -> None:
    """"café" with é as one character and as e and an accent are two files here, and one on a
    disk that normalizes names (macOS): unpacked there, one note overwrote the other."""
    composed, decomposed = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    files = _bundle(tmp_path, {f"{composed}.md": "composed body", f"{decomposed}.md": "decomposed body"})
    names = [name for name in files if name != "index.md"]
    assert len(names) == len({unicodedata.normalize("NFC", name).casefold() for name in names}) == 2
    bodies = list(files.values())
    assert sum("decomposed body" in t for t in bodies) == 1
    assert sum("composed body" in t and "decomposed body" not in t for t in bodies) == 1


def test_a_long_name_and_its_namesake_both_fit_the_file_system(tmp_path: Path) -> None:
    """A 251-byte note beside a namesake of another suffix became a 258-byte "-txt" name: the
    whole bundle failed with "File name too long" (and the brief of that note)."""
    from click.testing import CliRunner

    from exporter.cli import main
    from tests.conftest import write_vault

    stem = "M" * 251
    vault = write_vault(tmp_path / "v", {f"{stem}.md": "---\ntitle: A\n---\na\n", f"{stem}.txt": "---\ntitle: B\n---\nb\n"})
    r = CliRunner().invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "b"), "-q", "--no-cache"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "b").iterdir() if p.name.startswith("M"))
    assert set(names) == {f"{stem}.md", "M" * 247 + "-txt.md"} and all(len(n.encode()) <= 255 for n in names)
    assert {(tmp_path / "b" / n).read_text("utf-8").split("\n# ")[1][0] for n in names} == {"A", "B"}


def test_an_asset_gone_since_it_was_collected_is_left_out_and_named(tmp_path: Path) -> None:
    """What collecting found may be stale (a file removed, or made unreadable: a permission
    change moves neither size nor time, and the cache kept the note as it was): the bundle is
    written without the file, which is named, instead of failing whole."""
    from PIL import Image

    vault = write_vault(tmp_path / "v", {"a.md": "---\ntitle: A\n---\nSee ![the lamp](lamp.png).\n"})
    Image.new("RGB", (4, 4), "red").save(vault / "lamp.png")
    coll, _ = collect(vault)
    (vault / "lamp.png").unlink()
    problems: list[tuple[str, str, str]] = []
    package(coll, coll.notes, tmp_path / "out", "A", epoch=1700000000, problems=problems)
    assert [(c, p) for c, p, _ in problems] == [("missing-embed", "lamp.png")]
    assert "cannot be read (No such file or directory)" in problems[0][2]
    assert (tmp_path / "out" / "a.md").is_file() and not (tmp_path / "out" / "lamp.png").exists()
    assert json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))["assets"] == []
