"""`exporter pdf`: a dossier of many notes in one PDF, or one PDF brief per note."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

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
    pdf_outcome,
    pick,
    report_and_exit,
)
from exporter.i18n import localize

if TYPE_CHECKING:
    from exporter.packagers.pdf import Written


@click.command()
@VAULT
@click.argument("notes", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="PDF file (default dist/dossier.pdf), or with --briefs a folder "
                   "(default dist/briefs).")
@click.option("--briefs", is_flag=True, help="One PDF per note instead of one dossier.")
@click.option("--title", help="Dossier title (default: the vault folder name).")
@click.option("--subtitle", help="Dossier subtitle, on the cover and as the PDF subject.")
@click.option("--author", help="Author in the PDF metadata (briefs default to the channel).")
@ORDER
@THEME
@CSS
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Documents rendered at once, dossier parts or briefs (default: number of cores).")
@click.option("--dump-html", type=click.Path(path_type=Path, dir_okay=False), hidden=True,
              help="Also write the final dossier HTML here (for debugging and the benchmark).")
@LANG
@READING
@NO_CACHE
@QUIET
def pdf(vault: Path, notes: tuple[str, ...], output: Path | None, briefs: bool,
        title: str | None, subtitle: str | None, author: str | None, order: Path | None,
        theme: str, css: Path | None, jobs: int | None, dump_html: Path | None, lang: str | None,
        reading: str, no_cache: bool, quiet: bool) -> None:
    """Write a PDF dossier of VAULT, or with --briefs one PDF per note.

    NOTE selects notes by path, file stem or title; none means the whole vault, ordered by
    channel, then title. Briefs mirror the vault's folders (keepers/watch.md ->
    OUTPUT/keepers/watch.pdf) and list their headings up front when they have six or more.
    """
    from exporter.packagers import pdf as packager
    from exporter.packagers.dossier import write_dossier
    from exporter.packagers.output import OutputError, check_file_target
    from exporter.packagers.pool import Workers
    from exporter.theme import Theme, ThemeError

    try:
        look = Theme.load(theme, extra_css=css)
    except ThemeError as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    with Workers(jobs or os.cpu_count() or 1) as workers:
        workers.start()  # they import WeasyPrint while the notes are read
        cache = open_cache(no_cache)
        collection, report = load(vault, quiet, reading, look.wording, cache)
        chosen = pick(collection, notes, order)
        collection, chosen, book_lang = localize(collection, chosen, look.wording, lang, per_note=briefs)

        if briefs:
            out = output or Path("dist/briefs")
            if out.exists() and not out.is_dir():
                raise Failed(f"cannot write briefs into {out}: it is a file")
            try:
                written = packager.write_briefs(collection, chosen, out, workers, look, author, cache=cache,
                                                lang=lang)
            except ThemeError as e:
                raise Failed(str(e)) from None
            except OSError as e:
                raise Failed(f"cannot write {out}: {e.strerror or e}") from None
            pdf_outcome(report, out, written)
            report_and_exit(report, quiet, f"{len(written.paths)} briefs → {out}/", cache,
                            _failed(written, f"{len(written.failed)} of {len(chosen)} briefs could not be written"))
            return

        out = output or Path("dist/dossier.pdf")
        if out.is_dir():
            raise Failed(f"cannot write {out}: it is a folder (give a .pdf file name)")
        try:
            check_file_target(out, vault, (".pdf",))
        except OutputError as e:
            raise click.BadParameter(str(e), param_hint="-o/--output") from None
        meta = packager.Meta(title or folder_title(vault), subtitle, author, lang=book_lang)
        try:
            plan = packager.plan_dossier(collection, chosen, meta, look, cache=cache)
            written = write_dossier(plan, out, workers, cache)
            if dump_html:  # after: the dossier's parts start rendering before its notes' HTML is written
                dump_html.parent.mkdir(parents=True, exist_ok=True)
                dump_html.write_text(plan.whole.html, encoding="utf-8")
        except (packager.PdfError, ThemeError) as e:
            raise Failed(f"cannot write {out}: {e}") from None
        except OSError as e:
            raise Failed(f"cannot write {out}: {e.strerror or e}") from None
    pdf_outcome(report, out, written)
    report_and_exit(report, quiet, f"{len(chosen) - len(written.over)} notes → {out}", cache,
                    _failed(written, f"{len(written.failed)} of {len(chosen)} notes could not be rendered "
                                     f"and were left out of {out}"))


def _failed(written: Written, what: str) -> str | None:
    """The line that says which notes the renderer failed on, if any: the first, and a count."""
    if not written.failed:
        return None
    first, why = next(iter(written.failed.items()))
    more = f" (and {len(written.failed) - 1} more)" if len(written.failed) > 1 else ""
    return f"{what}: {first}: {why}{more}"
