"""Small notes that expand enormously: every command finishes, bounded, names the bad notes and
exports the ordinary ones (a generated vault per kind of attack, see hostile.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import pypdf
import pytest

from tests import hostile
from tests.conftest import write_vault

LIMIT_MB = 1024  # peak resident memory of the command, its largest process
TIMEOUT = 60  # seconds: a hang guard, not a measurement

COMMANDS = {
    "check": [],
    "bundle": ["-o", "{out}/bundle"],
    "epub": ["-o", "{out}/book.epub"],
    "pdf": ["-o", "{out}/dossier.pdf"],
    "briefs": ["--briefs", "-o", "{out}/briefs"],
}


def _run(command: str, vault: Path, out: Path) -> tuple[int, str, float]:
    """Exit code, output and peak RSS (MB) of the command (wait4: the largest of the process
    and the children it waited for; render workers are held under pool.MEMORY by RLIMIT_AS)."""
    verb = "pdf" if command == "briefs" else command
    args = [a.format(out=out) for a in COMMANDS[command]]
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "EXPORTER_CACHE_DIR": str(out / "cache")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", verb, str(vault), *args, "-q"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        guard = threading.Timer(TIMEOUT, proc.kill)
        guard.start()
        _, status, usage = os.wait4(proc.pid, 0)
        stopped = not guard.is_alive()
        guard.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    assert not stopped, f"{command} still running after {TIMEOUT} s"
    return proc.returncode, output, usage.ru_maxrss / 1024


def _product_text(command: str, out: Path) -> str:
    if command == "bundle":
        return "".join(p.read_text("utf-8") for p in (out / "bundle").rglob("*.md"))
    if command == "epub":
        with zipfile.ZipFile(out / "book.epub") as z:
            return "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xhtml"))
    if command == "pdf":  # the ordinary notes come first (channel, then title)
        return "".join(p.extract_text() for p in pypdf.PdfReader(out / "dossier.pdf").pages[:6])
    if command == "briefs":
        return "".join(p.extract_text() for p in pypdf.PdfReader(out / "briefs" / "ordinary.pdf").pages)
    return ""


@pytest.fixture(scope="module", params=sorted(hostile.KINDS))
def kind_vault(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    kind = request.param
    return kind, write_vault(tmp_path_factory.mktemp(kind), hostile.KINDS[kind]())


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_is_bounded_names_bad_notes_and_exports_the_rest(
        kind_vault: tuple[str, Path], command: str, tmp_path: Path) -> None:
    kind, vault = kind_vault
    code, output, peak = _run(command, vault, tmp_path)
    assert code == 1, output
    assert "Traceback" not in output
    for bad in hostile.BAD[kind]:
        assert f"{bad}:" in output, f"{bad} not named:\n{output}"
    assert 0 < peak < LIMIT_MB, f"{peak:.0f} MB"
    if command != "check":
        assert hostile.ORDINARY in _product_text(command, tmp_path)
