"""Shared helpers: a vault from a dict of files, and the collected result."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from exporter.collect import collect
from exporter.config import Options
from exporter.diagnostics import Report
from exporter.model.document import Collection, Note

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "notes"
# one cache for the whole run, never the user's: tests that need a cold one set their own
os.environ["EXPORTER_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="exporter-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
# the tests run on every core beside each other's renders (pytest-xdist): an example's time
# says nothing about the code, so no example fails for being slow
settings.register_profile("shared-machine", deadline=None)
settings.load_profile("shared-machine")


def write_vault(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def vault(tmp_path: Path) -> Callable[..., tuple[Collection, Report]]:
    """vault({'a.md': '...'}) -> (collection, report) for a fresh vault."""

    def make(files: dict[str, str | bytes], **options: object) -> tuple[Collection, Report]:
        root = write_vault(tmp_path / "vault", files)
        return collect(root, Options(**options))  # type: ignore[arg-type]

    return make


def note(collection: Collection, stem: str) -> Note:
    return next(n for n in collection.notes if n.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] == stem)
