"""build, init, list, themes and watch, driven through the command line."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.cli import main
from exporter.commands import project
from exporter.config import load_config
from tests.conftest import ROOT, SAMPLE, write_vault


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        r = CliRunner().invoke(main, list(args))
    finally:
        os.chdir(old)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLE, tmp_path / "notes")
    return tmp_path


def test_init_writes_a_config_that_loads_and_builds(project_dir: Path) -> None:
    code, _, err = run("init", cwd=project_dir)
    assert code == 0 and "wrote exporter.toml" in err
    text = (project_dir / "exporter.toml").read_text("utf-8")
    assert "# Built-in theme name" in text and "[publications.lighthouses]" in text
    cfg = load_config(project_dir / "exporter.toml")
    assert set(cfg.publications) == {"lighthouses", "keepers"}
    assert run("init", cwd=project_dir)[0] == 2  # no silent overwrite


def test_build_named_publications_with_selection_and_order(project_dir: Path) -> None:
    (project_dir / "exporter.toml").write_text(
        """
[defaults]
output = "out"

[publications.keepers]
title = "Keepers"
formats = ["bundle"]
include = ["keepers/*"]
order = "title"

[publications.greek]
formats = ["bundle"]
notes = ["o_faros_tis_alexandreias", "Reading a light list"]

[publications.tagged]
formats = ["bundle"]
tags = ["optics"]
""",
        encoding="utf-8",
    )
    code, _, err = run("build", "keepers", "greek", cwd=project_dir)
    assert code == 0, err
    out = project_dir / "out"
    assert sorted(p.name for p in out.iterdir()) == ["greek", "greek.zip", "keepers", "keepers.zip"]
    import json

    keepers = json.loads((out / "keepers" / "manifest.json").read_text("utf-8"))
    assert [n["title"] for n in keepers["notes"]] == [
        "A keeper's daily watch routine",
        "Life on a rock station",
        "Relief and supply boats",
    ]
    greek = json.loads((out / "greek" / "manifest.json").read_text("utf-8"))
    assert [n["path"] for n in greek["notes"]] == ["o_faros_tis_alexandreias.md", "reading_a_light_list.md"]
    code, _, err = run("build", "nope", cwd=project_dir)
    assert code == 3 and "no publication 'nope'" in err


def test_wrong_config_gets_clear_messages_and_exit_2(project_dir: Path) -> None:
    (project_dir / "exporter.toml").write_text('[publications.a]\nformat = ["pdf"]\n', encoding="utf-8")
    code, _, err = run("build", cwd=project_dir)
    assert code == 2
    assert "exporter.toml:2: publications.a.format: unknown key; did you mean 'formats'?" in err
    assert "Traceback" not in err


def test_unknown_theme_is_one_line(project_dir: Path) -> None:
    (project_dir / "exporter.toml").write_text('[defaults]\ntheme = "gothic"\n', encoding="utf-8")
    code, _, err = run("build", cwd=project_dir)
    assert code == 2 and "exporter.toml:2: defaults.theme: no theme 'gothic' (built-in themes: sans, serif)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_theme_or_css_in_the_config_is_a_config_problem_with_its_line(project_dir: Path) -> None:
    """They failed the build later (exit 3) naming neither the file nor the key; as options
    they were usage errors (exit 2)."""
    (project_dir / "exporter.toml").write_text(
        '[defaults]\ncss = "/dev/zero"\n[publications.p]\nformats = ["bundle"]\ncss = "missing.css"\n', encoding="utf-8")
    code, _, err = run("build", cwd=project_dir)
    assert code == 2, err
    assert "exporter.toml:2: defaults.css: extra CSS /dev/zero: not a regular file" in err
    assert "exporter.toml:5: publications.p.css: extra CSS" in err and "missing.css does not exist" in err


def test_list_and_themes(project_dir: Path) -> None:
    code, out, _ = run("list", "--vault", str(project_dir / "notes"), cwd=project_dir)
    assert code == 0 and "16 notes" in out and "Tidewatch TV" in out and "publications: none" in out
    code, out, _ = run("themes")
    assert code == 0 and "serif" in out and "sans" in out


def test_unresolved_error_policy_fails_the_build(project_dir: Path) -> None:
    (project_dir / "exporter.toml").write_text(
        '[defaults]\nunresolved = "error"\noutput = "out"\n[publications.a]\nformats = ["bundle"]\n',
        encoding="utf-8",
    )
    code, _, err = run("build", cwd=project_dir)
    assert code == 1 and "2 unresolved links" in err
    assert (project_dir / "out" / "a.zip").is_file()


def test_watch_rebuilds_what_changed_and_keeps_last_good_outputs(tmp_path: Path) -> None:
    vault = write_vault(
        tmp_path / "v", {"a.md": "---\ntitle: A\n---\nfirst\n", "b/b.md": "---\ntitle: B\n---\nbee\n"}
    )
    (tmp_path / "exporter.toml").write_text(
        '[defaults]\nvault = "v"\noutput = "out"\n'
        '[publications.a]\nformats = ["bundle"]\nnotes = ["a"]\n'
        '[publications.b]\nformats = ["bundle"]\ninclude = ["b/*"]\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "exporter.toml")
    stop = threading.Event()
    t = threading.Thread(target=project._watch, args=(config, [], None, None, None, True, stop), daemon=True)
    t.start()
    out = tmp_path / "out"

    assert _wait_for(lambda: (out / "a" / "a.md").is_file() and (out / "b.zip").is_file())
    b_zip = (out / "b.zip").stat().st_mtime_ns
    time.sleep(0.3)
    (vault / "a.md").write_text("---\ntitle: A\n---\nsecond\n", encoding="utf-8")
    assert _wait_for(lambda: "second" in (out / "a" / "a.md").read_text("utf-8"))
    assert (out / "b.zip").stat().st_mtime_ns == b_zip  # b's inputs did not change: not rebuilt
    (tmp_path / "exporter.toml").write_text("[defaults\n", encoding="utf-8")  # still the old config object
    (vault / "a.md").write_bytes(b"\xff\xfe broken")  # a rebuild that loses the note fails...
    time.sleep(2.5)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    assert "second" in (out / "a" / "a.md").read_text("utf-8")  # ...and the last good output stays


def test_watch_reads_its_config_again_and_keeps_the_last_outputs_while_it_is_broken(tmp_path: Path) -> None:
    """An edit to exporter.toml was seen and rebuilt with the config as it was at the start: a
    new title or publication never came, and a broken config went unsaid."""
    write_vault(tmp_path / "v", {"a.md": "---\ntitle: A\n---\nfirst\n"})
    path = tmp_path / "exporter.toml"
    head = '[defaults]\nvault = "v"\noutput = "out"\n[publications.p]\nformats = ["bundle"]\n'
    path.write_text(head, encoding="utf-8")
    stop = threading.Event()
    t = threading.Thread(target=project._watch, args=(load_config(path), [], None, None, None, True, stop),
                         kwargs={"reload": lambda: load_config(path)}, daemon=True)
    t.start()
    out = tmp_path / "out"
    assert _wait_for(lambda: (out / "p" / "index.md").is_file())
    time.sleep(0.3)
    path.write_text(head + 'title = "Changed Title"\n[publications.q]\nformats = ["bundle"]\n', encoding="utf-8")
    assert _wait_for(lambda: (out / "q.zip").is_file() and "Changed Title" in (out / "p" / "index.md").read_text("utf-8"))
    time.sleep(0.3)
    path.write_text("this is [not toml\n", encoding="utf-8")  # said, and the outputs kept
    time.sleep(2.0)
    (tmp_path / "v" / "a.md").write_text("---\ntitle: A\n---\nsecond\n", encoding="utf-8")
    time.sleep(2.0)
    assert "first" in (out / "p" / "a.md").read_text("utf-8")  # no build with a config that does not load
    path.write_text(head, encoding="utf-8")
    assert _wait_for(lambda: "second" in (out / "p" / "a.md").read_text("utf-8"))
    stop.set()
    t.join(10)
    assert not t.is_alive()


@pytest.mark.parametrize(("formats", "started"), [('["pdf", "bundle"]', True), ('["bundle", "epub"]', False)])
def test_build_starts_the_renderer_before_it_reads_the_notes_when_it_renders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, formats: str, started: bool) -> None:
    """The render workers (and the fork server's import of WeasyPrint) start while the notes
    are read, as `exporter pdf` starts them; a build with nothing to render starts none."""
    from exporter.commands import build as build_module
    from exporter.packagers import pool

    write_vault(tmp_path / "v", {"a.md": "---\ntitle: Alpha\n---\nA.\n"})
    (tmp_path / "exporter.toml").write_text(
        f'[defaults]\nvault = "v"\noutput = "out"\n[publications.d]\nformats = {formats}\n', encoding="utf-8")
    events: list[str] = []
    start, collect = pool.Workers.start, build_module.collect
    monkeypatch.setattr(pool.Workers, "start", lambda self: (events.append("start"), start(self))[1])
    monkeypatch.setattr(build_module, "collect", lambda *a, **k: (events.append("collect"), collect(*a, **k))[1])
    built = build_module.build(load_config(tmp_path / "exporter.toml"))
    assert not built.failed
    assert events == (["start", "collect"] if started else ["collect"])


def test_watch_keeps_its_render_workers_and_rebuilds_the_bytes_of_a_fresh_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under --watch the render workers outlive a build: a rebuilt dossier is rendered by the
    processes that rendered the first one, and comes out as a fresh --no-cache build does."""
    from exporter.packagers import pool

    vault = write_vault(tmp_path / "v", {"a.md": "---\ntitle: Alpha\n---\nSee [[b]].\n",
                                         "b.md": "---\ntitle: Beta\n---\nBee.\n"})
    (tmp_path / "exporter.toml").write_text(
        '[defaults]\nvault = "v"\noutput = "out"\n[publications.d]\nformats = ["pdf"]\n', encoding="utf-8")
    made: list[pool.Workers] = []

    class Counted(pool.Workers):
        def __init__(self, jobs: int, memory: int | None = None) -> None:
            super().__init__(jobs, memory)
            made.append(self)

    monkeypatch.setattr(pool, "Workers", Counted)
    config = load_config(tmp_path / "exporter.toml")
    stop = threading.Event()
    t = threading.Thread(target=project._watch, args=(config, [], None, None, None, True, stop), daemon=True)
    t.start()
    dossier = tmp_path / "out" / "d.pdf"
    try:
        assert _wait_for(dossier.is_file, 120)
        first = dossier.stat().st_mtime_ns
        assert len(made) == 1 and made[0]._pool is not None
        pids = {p.pid for p in made[0]._pool._processes.values()}
        time.sleep(0.3)
        (vault / "b.md").write_text("---\ntitle: Beta, renamed\n---\nBee.\n", encoding="utf-8")
        assert _wait_for(lambda: dossier.stat().st_mtime_ns != first, 120)
        assert len(made) == 1 and {p.pid for p in made[0]._pool._processes.values()} == pids
        watched = dossier.read_bytes()
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive() and made[0]._pool is None  # the watch's end stops them
    code, _, err = run("build", "--no-cache", "-o", str(tmp_path / "fresh"), cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "fresh" / "d.pdf").read_bytes() == watched


def test_watch_sees_a_custom_theme_folder_and_extra_css(tmp_path: Path) -> None:
    write_vault(tmp_path / "v", {"a.md": "---\ntitle: A\nvideoId: abcdefghijk\n---\nx "
                                 '<a class="yt-timestamp" data-t="00:01:00">[00:01:00]</a>\n'})
    mine = tmp_path / "looks" / "mine"
    mine.mkdir(parents=True)
    toml = (ROOT / "styles" / "sans" / "theme.toml").read_text("utf-8")
    (mine / "theme.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "more.css").write_text("p { color: black }\n", encoding="utf-8")
    (tmp_path / "exporter.toml").write_text(
        '[defaults]\nvault = "v"\noutput = "out"\ntheme = "looks/mine"\ncss = "extra/more.css"\n'
        '[publications.a]\nformats = ["bundle"]\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "exporter.toml")
    watched = project._outermost(project._styles(config))
    assert mine.resolve() in watched and (tmp_path / "extra" / "more.css").resolve() in watched
    stop = threading.Event()
    t = threading.Thread(target=project._watch, args=(config, [], None, None, None, True, stop), daemon=True)
    t.start()
    note = tmp_path / "out" / "a" / "a.md"
    try:
        assert _wait_for(lambda: note.is_file() and (tmp_path / "out" / "a.zip").is_file())  # folder, then zip
        zip_time = (tmp_path / "out" / "a.zip").stat().st_mtime_ns
        time.sleep(0.3)
        head = toml.split("[citation]")[0]
        (mine / "theme.toml").write_text(
            head + '[citation]\nwith_channel = "Seen in “{title}” at {moments}."\n'
            'without_channel = "Seen in “{title}” at {moments}."\n',
            encoding="utf-8",
        )
        assert _wait_for(lambda: "Seen in “A” at" in note.read_text("utf-8"))
        zip_time = (tmp_path / "out" / "a.zip").stat().st_mtime_ns
        time.sleep(0.3)
        (tmp_path / "extra" / "more.css").write_text("p { color: navy }\n", encoding="utf-8")
        assert _wait_for(lambda: (tmp_path / "out" / "a.zip").stat().st_mtime_ns != zip_time)
    finally:
        stop.set()
        t.join(10)


def test_rebuilt_briefs_drop_notes_that_left_and_keep_other_files(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {"a.md": "# A\n\none\n", "sub/b.md": "# B\n\ntwo\n"})
    (tmp_path / "exporter.toml").write_text(
        '[defaults]\nvault = "v"\noutput = "out"\n[publications.p]\nformats = ["briefs"]\n', encoding="utf-8"
    )
    briefs = tmp_path / "out" / "p-briefs"
    assert run("build", cwd=tmp_path)[0] == 0
    assert (briefs / "a.pdf").is_file() and (briefs / "sub" / "b.pdf").is_file()
    (briefs / "notes-of-mine.txt").write_text("mine", encoding="utf-8")
    (vault / "sub" / "b.md").unlink()
    code, _, err = run("build", cwd=tmp_path)
    assert code == 0, err
    left = sorted(p.relative_to(briefs).as_posix() for p in briefs.rglob("*") if not p.name.startswith("."))
    assert left == ["a.pdf", "notes-of-mine.txt"]


def _wait_for(cond, timeout: float = 30) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_build_without_config_makes_every_format(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "shelf", {
        "a.md": "---\ntitle: Alpha\nvideoId: abcdefghijk\n---\nFrom: [[ch]] <br/>\n\nSee [[b]] "
                '<a class="yt-timestamp" data-t="00:01:00">[00:01:00]</a>.\n',
        "b.md": "---\ntitle: Beta\n---\n## Part\nbody\n",
    })
    code, _, err = run("build", "--vault", str(vault), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert code == 0, err
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["shelf", "shelf-briefs", "shelf.epub", "shelf.pdf", "shelf.zip"]
    assert sorted(p.name for p in (out / "shelf-briefs").iterdir()) == [".exporter-files.json", "a.pdf", "b.pdf"]
    assert (out / "shelf.pdf").read_bytes().startswith(b"%PDF")


def test_user_css_adds_on_top_of_the_theme(project_dir: Path) -> None:
    (project_dir / "extra.css").write_text(".byline { color: #ff00aa; }\n", encoding="utf-8")
    (project_dir / "exporter.toml").write_text(
        '[defaults]\noutput = "out"\ncss = "extra.css"\n[publications.a]\nformats = ["epub"]\n'
        'notes = ["fresnel_lenses_and_the_range_of_a_light"]\n', encoding="utf-8")
    code, _, err = run("build", cwd=project_dir)
    assert code == 0, err
    import zipfile

    with zipfile.ZipFile(project_dir / "out" / "a.epub") as z:
        names = z.namelist()
        user = next(n for n in names if n.endswith("user.css"))
        assert "#ff00aa" in z.read(user).decode()
        chapter = next(n for n in names if n.endswith(".xhtml") and b"Fresnel" in z.read(n) and b"user.css" in z.read(n))
        assert chapter


def test_a_build_with_a_product_that_failed_exits_3(tmp_path: Path) -> None:
    """The product refused (its folder holds someone else's file) is named, the others are
    built, and the exit code says so: it was 0, so a script took a failed build for a good one."""
    vault = write_vault(tmp_path / "notes", {"a.md": "---\ntitle: Alpha\n---\n\nText.\n"})
    (tmp_path / "exporter.toml").write_text(
        '[defaults]\nvault = "notes"\noutput = "out"\n[publications.ok]\nformats = ["bundle"]\n'
        '[publications.fine]\nformats = ["epub"]\n', encoding="utf-8")
    (tmp_path / "out" / "ok").mkdir(parents=True)
    (tmp_path / "out" / "ok" / "mine.txt").write_text("mine", encoding="utf-8")
    code, _, err = run("build", "-q", cwd=tmp_path)
    assert code == 3, err
    assert "exists and is not a bundle written by exporter" in err and "1 of the products failed" in err
    assert (tmp_path / "out" / "ok" / "mine.txt").read_text(encoding="utf-8") == "mine"
    assert (tmp_path / "out" / "fine.epub").is_file() and vault.is_dir()


def test_build_into_the_vault_leaves_a_file_of_the_same_name_that_it_did_not_write(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {"n.md": "---\ntitle: N\n---\n\nText.\n", "paper.pdf": "%PDF-1.4 mine\n"})
    (vault / "exporter.toml").write_text('[defaults]\nvault = "."\noutput = "."\n\n'
                                         '[publications.paper]\nformats = ["pdf", "epub"]\n', encoding="utf-8")
    code, _, err = run("build", "--no-cache", "-q", cwd=vault)
    assert code == 3 and "paper (pdf)" in err and "did not write" in err, err
    assert (vault / "paper.pdf").read_text(encoding="utf-8") == "%PDF-1.4 mine\n"
    assert (vault / "paper.epub").is_file()  # the other product is written


def test_two_publications_that_would_write_the_same_output_are_a_config_problem(project_dir: Path) -> None:
    """A bundle named "a-briefs" beside the briefs of "a" mixed both in one folder (exit 0); a
    bundle "b.zip" beside a bundle "b" failed half-way, its zip missing."""
    (project_dir / "exporter.toml").write_text(
        '[publications.a-briefs]\nformats = ["bundle"]\n[publications.a]\nformats = ["briefs"]\n'
        '[publications."b.zip"]\nformats = ["bundle"]\n[publications.B]\nformats = ["bundle"]\n', encoding="utf-8")
    code, _, err = run("build", cwd=project_dir)
    assert code == 2, err
    assert "publications.a: its briefs would be written where publications.a-briefs writes a-briefs" in err
    assert "publications.B: its bundle would be written where publications.b.zip writes B.zip" in err
    assert not (project_dir / "dist").exists()
