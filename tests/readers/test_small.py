"""Small text files named on the command line: read whole, so refused unless regular, small and UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.cli import main
from exporter.readers.small import Unreadable, small_text
from tests.conftest import SAMPLE


def test_a_small_utf8_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "order.txt"
    path.write_text("fresnel\n# a comment\nkeepers ✓\n", encoding="utf-8")
    assert small_text(path) == "fresnel\n# a comment\nkeepers ✓\n"


@pytest.mark.parametrize(("make", "why"), [
    (lambda p: Path("/dev/zero"), "not a regular file"),  # endless: it filled 23 GB as --order
    (lambda p: (os.mkfifo(p / "pipe"), p / "pipe")[1], "not a regular file"),  # refused, not waited on
    (lambda p: (p / "big").write_bytes(b"a" * (1024 * 1024 + 1)) and p / "big", "larger than 1 MiB"),
    (lambda p: (p / "latin").write_bytes(b"caf\xe9\n") and p / "latin", "not UTF-8 text (byte 4)"),
    (lambda p: p / "missing", "No such file or directory"),
])
def test_anything_else_is_refused_with_the_reason(tmp_path: Path, make, why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unreadable) as e:
        small_text(make(tmp_path), limit=1024 * 1024)
    assert str(e.value) == why


def test_the_commands_refuse_them_as_usage_errors_naming_file_and_option(tmp_path: Path) -> None:
    bad = tmp_path / "bad.css"
    bad.write_bytes(b"body { color: red }\n/* \xff */\n")
    runner = CliRunner()
    r = runner.invoke(main, ["pdf", str(SAMPLE), "-o", str(tmp_path / "d.pdf"), "--order", "/dev/zero"])
    assert r.exit_code == 2 and "/dev/zero: cannot read order file: not a regular file" in r.stderr
    r = runner.invoke(main, ["epub", str(SAMPLE), "-o", str(tmp_path / "b.epub"), "--css", str(bad)])
    assert r.exit_code == 2 and f"Invalid value for --css: extra CSS {bad}: not UTF-8 text (byte 24)" in r.stderr
    assert "Traceback" not in r.stderr and not list(tmp_path.glob("*.pdf")) and not list(tmp_path.glob("*.epub"))
