"""Command line: the `exporter` group; each verb lives in exporter/commands/.

The arrows point one way: this module imports the commands, the commands import
commands/shared.py (options, loading, diagnostics, exit codes), never this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

if sys.argv[1:2] == ["pdf"]:  # it renders: the renderer starts before the commands are imported
    from exporter.packagers import pool

    pool.serve_early()

import click  # noqa: E402

from exporter import __version__  # noqa: E402
from exporter.commands import bundle, cache, check, epub, pdf, project  # noqa: E402
from exporter.packagers.pool import collect_rarely  # noqa: E402

M_ARENA_MAX = -8  # mallopt's parameter for the number of heaps (glibc's malloc.h)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exporter")
def main() -> None:
    """Turn a vault of markdown notes into PDF, EPUB and offline markdown bundles."""
    # The document model is millions of small dicts and lists with no cycles among them:
    # at the default thresholds the cycle collector keeps rescanning them, a quarter of
    # the run's CPU. The render workers collect as rarely (pool._settled).
    collect_rarely()
    _one_heap()


def _one_heap() -> None:
    """glibc gives each thread that allocates a heap of its own, and memory freed in one is not
    reused by another: a dossier's join (main thread) beside the renders it waits for (another)
    grew the process by a fifth. One heap for all; nothing to do where malloc is not glibc's."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


for command in (bundle.bundle, check.check, pdf.pdf, epub.epub, project.build_command, project.init,
                project.list_command, project.themes, cache.cache):
    main.add_command(command)
