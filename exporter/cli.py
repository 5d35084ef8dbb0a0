"""Command line: the `exporter` group; each verb lives in exporter/commands/.

The arrows point one way: this module imports the commands, the commands import
commands/shared.py (options, loading, diagnostics, exit codes), never this module.
"""

from __future__ import annotations

import gc

import click

from exporter import __version__
from exporter.commands import bundle, cache, check, epub, pdf, project


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exporter")
def main() -> None:
    """Turn a vault of markdown notes into PDF, EPUB and offline markdown bundles."""
    # The document model is millions of small dicts and lists with no cycles among them:
    # at the default thresholds the cycle collector keeps rescanning them, a quarter of
    # the run's CPU. Rarer young-generation passes still free the cycles layout makes.
    gc.set_threshold(50_000, 20, 100)


for command in (bundle.bundle, check.check, pdf.pdf, epub.epub, project.build_command, project.init,
                project.list_command, project.themes, cache.cache):
    main.add_command(command)
