"""Outputs: a rerun removes only what an earlier run wrote and no longer belongs."""

from __future__ import annotations

import json
from pathlib import Path

from exporter.packagers.output import RECORD, prune


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
