"""`exporter epub`: a collection of notes as one EPUB 3 book."""

from __future__ import annotations

from pathlib import Path

import click

from exporter.commands.shared import (
    CSS,
    LANG,
    NO_CACHE,
    ORDER,
    QUIET,
    READING,
    THEME,
    VAULT,
    Failed,
    folder_title,
    load,
    open_cache,
    pick,
    report_and_exit,
)
from exporter.i18n import localize


@click.command()
@VAULT
@click.argument("notes", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              default=Path("dist/collection.epub"), show_default=True, help="EPUB file to write.")
@click.option("--title", help="Book title (default: the vault folder name).")
@click.option("--subtitle", help="Subtitle, on the cover and the title page.")
@click.option("--author",
              help="dc:creator (default: the channel when there is only one, else 'Various').")
@LANG
@click.option("--parts", type=click.Choice(["channel", "folder", "none"]), default="channel",
              show_default=True, help="Group chapters into parts, one per channel or folder.")
@ORDER
@THEME
@CSS
@READING
@NO_CACHE
@QUIET
def epub(vault: Path, notes: tuple[str, ...], output: Path, title: str | None,
         subtitle: str | None, author: str | None, lang: str | None, parts: str,
         order: Path | None, theme: str, css: Path | None, reading: str, no_cache: bool,
         quiet: bool) -> None:
    """Write an EPUB 3 book of VAULT: cover, contents, one chapter per note, Sources.

    NOTE selects notes by path, file stem or title; none means the whole vault, ordered by
    channel, then title.
    """
    from exporter.packagers import epub as packager
    from exporter.packagers.output import OutputError, check_file_target
    from exporter.theme import Theme, ThemeError

    try:
        look = Theme.load(theme, extra_css=css)
    except ThemeError as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    if output.is_dir():
        raise Failed(f"cannot write {output}: it is a folder (give an .epub file name)")
    try:
        check_file_target(output, vault, (".epub",))
    except OutputError as e:
        raise click.BadParameter(str(e), param_hint="-o/--output") from None
    cache = open_cache(no_cache)
    collection, report = load(vault, quiet, reading, look.wording, cache)
    chosen = pick(collection, notes, order)
    collection, chosen, lang = localize(collection, chosen, look.wording, lang)
    meta = packager.BookMeta(
        title=(title or folder_title(vault)).strip() or "Notes", subtitle=subtitle,
        author=author, lang=lang, parts=parts)
    try:
        built = packager.package(collection, chosen, output, meta, look, cache=cache)
    except (packager.EpubError, ThemeError) as e:
        raise Failed(str(e)) from None
    except OSError as e:
        raise Failed(f"cannot write {output}: {e.strerror or e}") from None
    for code, path, message in built.problems:
        report.add(code, path, message)
    report_and_exit(report, quiet, f"{built.chapters} notes → {output}", cache)
