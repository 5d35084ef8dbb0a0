"""The command line: help everywhere, exit codes, one clear line per problem, no tracebacks."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.cli import main
from tests.conftest import SAMPLE, write_vault


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("cmd", [[], ["bundle"], ["check"]] + [[c] for c in main.commands])
def test_help_on_every_command(cmd: list[str]) -> None:
    code, out, _ = run(*cmd, "--help")
    assert code == 0 and "Usage:" in out


def test_python_dash_m_works() -> None:
    r = subprocess.run([sys.executable, "-m", "exporter", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "exporter" in r.stdout


def test_the_script_exits_fast_with_its_code_its_output_flushed_and_its_files_whole(tmp_path: Path) -> None:
    """run() leaves without taking the interpreter apart: the exit code, everything printed to a
    pipe and every file written must still be there."""
    ok = subprocess.run([sys.executable, "-m", "exporter", "check", str(SAMPLE), "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and json.loads(ok.stdout)["notes"] == 16
    out = tmp_path / "b"
    made = subprocess.run([sys.executable, "-m", "exporter", "bundle", str(SAMPLE), "-o", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EXPORTER_CACHE_DIR": str(tmp_path / "cache")})
    assert made.returncode == 0 and "✓" in made.stderr
    with zipfile.ZipFile(out.with_name("b.zip")) as z:
        assert z.testzip() is None and len(z.namelist()) >= 16
    from exporter.cache import Cache

    entries, _ = Cache(tmp_path / "cache").info()
    assert entries > 0  # the cache was written and closed before the exit
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.md").write_bytes(b"---\ntitle: [unclosed\n---\nbody\n")
    bad = subprocess.run([sys.executable, "-m", "exporter", "check", str(tmp_path / "broken")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "x.md" in bad.stdout and "broken YAML" in bad.stdout


def test_a_quiet_run_with_nothing_to_say_does_not_import_rich(tmp_path: Path) -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom exporter.cli import main\n"
            f"r = CliRunner().invoke(main, ['bundle', {str(SAMPLE)!r}, '-o', {str(tmp_path / 'b')!r}, '-q', '--no-cache'])\n"
            "print(r.exit_code, repr(r.output), any(m == 'rich' or m.startswith('rich.') for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.split() == ["0", "''", "False"], r.stderr


def test_check_json_on_sample() -> None:
    code, out, _ = run("check", str(SAMPLE), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["notes"] == 16 and doc["errors"] == 0
    assert doc["counts"]["unresolved-link"] == 2
    assert doc["readings"]["keepers/daily_watch_routine.md"].startswith("MM:SS")
    assert all({"code", "path", "line", "message", "severity"} <= set(d) for d in doc["diagnostics"])


def test_check_text_names_file_and_line_and_exits_1_on_errors(tmp_path: Path) -> None:
    write_vault(tmp_path, {"ok.md": "see [[nothing]]\n", "bad.md": "---\ntitle: [x\n---\n"})
    code, out, _ = run("check", str(tmp_path))
    assert code == 1
    assert "ok.md:1: warning: no note matches [[nothing]] [unresolved-link]" in out
    assert "bad.md:2: error: broken YAML frontmatter" in out
    assert "ok.md: warning: note has no videoId [no-video-id]" in out
    assert "1 notes; 1 errors, 2 warnings" in out


def test_bundle_exits_1_but_exports_the_rest(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {"ok.md": "fine\n", "bad.md": b"\xff\xfe\x00"})
    code, _, err = run("bundle", str(vault), "-o", str(tmp_path / "out"))
    assert code == 1
    assert "bad.md" in err and "Traceback" not in err
    assert (tmp_path / "out" / "ok.md").is_file() and (tmp_path / "out.zip").is_file()


def test_missing_vault_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("bundle", str(tmp_path / "nope"))
    assert code == 2 and "is not a folder" in err and "Traceback" not in err


def test_unwritable_output_is_one_line_exit_3(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, _, err = run("bundle", str(SAMPLE), "-o", str(tmp_path / "file" / "out"), "-q")
    assert code == 3 and err.strip().startswith("error: cannot write")
    assert len(err.strip().splitlines()) == 1


def test_quiet_bundle_prints_nothing_on_success(tmp_path: Path) -> None:
    code, out, err = run("bundle", str(SAMPLE), "-o", str(tmp_path / "a"), "--quiet")
    assert code == 0 and out == "" and err == ""


def test_default_titles_read_as_titles(tmp_path: Path) -> None:
    from exporter.commands.shared import folder_title

    for name, title in [("notes", "Notes"), ("my_lighthouse-notes", "My Lighthouse Notes"),
                        ("keeper's log", "Keeper's Log"), ("ΦΆΡΟΙ", "ΦΆΡΟΙ"), ("___", "Notes")]:
        (tmp_path / name).mkdir()
        assert folder_title(tmp_path / name) == title


@pytest.mark.parametrize("command", ["pdf", "epub"])
def test_a_product_is_never_written_over_a_note_of_its_vault(tmp_path: Path, command: str) -> None:
    vault = write_vault(tmp_path / "v", {"n.md": "---\ntitle: N\n---\n\nPrecious text.\n", "m.md": "Other.\n"})
    before = (vault / "n.md").read_bytes()
    (vault / "link.out").symlink_to(vault / "m.md")  # through a symlink too
    for target in (vault / "n.md", vault / "link.out"):
        r = CliRunner().invoke(main, [command, str(vault), "-o", str(target), "-q", "--no-cache"])
        assert r.exit_code == 2 and f"{target} is a file of the vault" in r.stderr, r.output
    assert (vault / "n.md").read_bytes() == before and (vault / "m.md").read_text(encoding="utf-8") == "Other.\n"
    # a product of the same kind in the vault, written before, is replaced as anywhere else
    out = vault / f"book.{command}"
    for _ in range(2):
        r = CliRunner().invoke(main, [command, str(vault), "-o", str(out), "-q", "--no-cache"])
        assert r.exit_code == 0, r.output


@pytest.mark.parametrize("command", ["pdf", "epub"])
def test_a_product_is_never_written_over_a_file_of_its_kind_that_exporter_did_not_write(
        tmp_path: Path, command: str) -> None:
    """`-o vault/paper.pdf` replaced a paper the notes cite: a PDF or EPUB in the vault is
    replaced only when exporter wrote it (its /Creator, or its package's generator, says so)."""
    vault = write_vault(tmp_path / "v", {"n.md": "---\ntitle: N\n---\n\nSee ![[paper.pdf]].\n"})
    theirs = vault / f"paper.{command}"
    theirs.write_bytes(b"%PDF-1.4 someone else's\n" if command == "pdf" else b"PK someone else's")
    r = CliRunner().invoke(main, [command, str(vault), "-o", str(theirs), "-q", "--no-cache"])
    assert r.exit_code == 2 and "that exporter did not write" in r.stderr, r.output
    assert theirs.read_bytes().endswith(b"someone else's" + (b"\n" if command == "pdf" else b""))


def test_briefs_written_into_the_vault_leave_its_own_pdfs_alone(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {"keepers/watch.md": "---\ntitle: Watch\n---\n\nThe watch.\n",
                                         "tide.md": "---\ntitle: Tide\n---\n\nThe tide.\n"})
    theirs = vault / "keepers" / "watch.pdf"
    theirs.write_bytes(b"%PDF-1.4 the keeper's own scan\n")
    for _ in range(2):  # the second run replaces the brief it wrote, and still not the scan
        r = CliRunner().invoke(main, ["pdf", str(vault), "--briefs", "-o", str(vault), "-q", "--no-cache"])
        assert r.exit_code == 3 and "keepers/watch.md" in r.stderr and "did not write" in r.stderr, r.output
        assert theirs.read_bytes() == b"%PDF-1.4 the keeper's own scan\n"
        assert (vault / "tide.pdf").read_bytes().startswith(b"%PDF")


def test_control_characters_in_file_names_are_printed_as_escapes(tmp_path: Path) -> None:
    """A file name holding a newline printed a line that read as a diagnostic of its own, and
    one holding a terminal escape coloured the terminal: both are written as escapes."""
    vault = write_vault(tmp_path / "v", {"a\nfake.md: error: injected [unreadable].md": "---\ntitle: N\n---\n[[nothing]]\n",
                                         "\x1b[31mred\x1b[0m.md": "---\ntitle: E\n---\nx\n"})
    for args in (["check", str(vault)], ["bundle", str(vault), "-o", str(tmp_path / "out"), "--no-cache"]):
        r = CliRunner().invoke(main, args)
        text = r.output
        assert "\x1b" not in text and "\\x1b[31mred\\x1b[0m.md: warning" in text, text
        assert not any(line.startswith("fake.md") for line in text.splitlines()), text
        assert "a\\nfake.md: error: injected [unreadable].md:4: warning: no note matches [[nothing]]" in text, text


@pytest.mark.parametrize("signum", [15, 1])  # SIGTERM (kill), SIGHUP (a closed terminal)
def test_a_pdf_stopped_by_a_signal_leaves_no_process_and_no_temporary_file(tmp_path: Path, signum: int) -> None:
    """`kill` ended the command at once: its render workers, fork server and resource tracker
    stayed up (about 220 MB), and a temporary PDF stayed beside the target."""
    import signal
    import time
    import uuid

    para = " ".join(f"Sentence {k} of the keeper's log, about the lamp and the tide." for k in range(12))
    vault = write_vault(tmp_path / "v", {f"n{i:02d}.md": f"---\ntitle: Note {i}\n---\n\n" + "\n\n".join([para] * 30)
                                         for i in range(48)})  # about 10 s of rendering: stopped long before
    mark = uuid.uuid4().hex
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "EXPORTER_TEST_MARK": mark}
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "pdf", str(vault), "-o", str(out / "d.pdf"), "-q",
                             "--no-cache"], env=env, stderr=subprocess.PIPE)

    def ours() -> list[str]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if f"EXPORTER_TEST_MARK={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                    found.append(pid)
            except OSError:
                pass
        return found

    end = time.monotonic() + 60
    while len(ours()) < 4 and time.monotonic() < end and proc.poll() is None:  # rendering: workers are up
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "the dossier was done before it could be stopped"
    proc.send_signal(signal.Signals(signum))
    try:  # a process left behind would hold stderr open: the read ends at the timeout
        _, err = proc.communicate(timeout=30)
        end = time.monotonic() + 10
        while ours() and time.monotonic() < end:
            time.sleep(0.2)
        left = ours()
    finally:
        for pid in ours():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    assert proc.returncode != 0 and b"Traceback" not in err and left == []
    assert list(out.iterdir()) == []
