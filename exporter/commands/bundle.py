"""`exporter bundle`: an offline markdown archive of a vault, a folder and a reproducible zip."""

from __future__ import annotations

from pathlib import Path

import click

from exporter.commands.shared import (
    LANG,
    NO_CACHE,
    QUIET,
    READING,
    VAULT,
    Failed,
    folder_title,
    left_out,
    load,
    open_cache,
    report_and_exit,
)
from exporter.i18n import localize
from exporter.select import select


@click.command()
@VAULT
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("dist/archive"),
    show_default=True,
    help="Bundle folder; the zip is written beside it as OUTPUT.zip.",
)
@click.option("--title", help="Title of index.md (default: the vault folder name).")
@click.option(
    "--theme",
    default="serif",
    show_default=True,
    help="Theme whose citation wording the notes use (see `exporter themes`).",
)
@LANG
@READING
@NO_CACHE
@QUIET
def bundle(vault: Path, output: Path, title: str | None, theme: str, lang: str | None, reading: str,
           no_cache: bool, quiet: bool) -> None:
    """Write an offline markdown archive of VAULT: a folder and a reproducible zip."""
    from exporter.packagers.bundle import package
    from exporter.packagers.output import OutputError, check_replaceable
    from exporter.theme import Theme, ThemeError

    try:
        look = Theme.load(theme)
    except ThemeError as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    try:
        check_replaceable(output, vault)  # before the work: the folder is replaced whole
    except OutputError as e:
        raise click.BadParameter(str(e), param_hint="-o/--output") from None
    cache = open_cache(no_cache)
    collection, report = load(vault, quiet, reading, look.wording, cache)
    notes = select(collection, [])
    collection, notes, lang = localize(collection, notes, look.wording, lang)
    failed: dict[str, str] = {}
    problems: list[tuple[str, str, str]] = []
    try:
        zip_path = package(collection, notes, output, title or folder_title(vault), failed=failed, cache=cache,
                           backlinks=look.backlinks, lang=lang, problems=problems)
    except OSError as e:
        raise Failed(f"cannot write {output}: {e.strerror or e}") from None
    left_out(report, failed)
    for code, path, message in problems:
        report.add(code, path, message)
    report_and_exit(report, quiet, f"{len(notes)} notes → {output}/ and {zip_path}", cache)
