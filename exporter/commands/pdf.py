"""`exporter pdf`: a dossier of many notes in one PDF, or one PDF brief per note."""

from __future__ import annotations

import os
from pathlib import Path

import click

from exporter.cli import CSS, ORDER, QUIET, READING, THEME, VAULT, Failed, load, pick, report_and_exit
from exporter.diagnostics import Report


def _refused(report: Report, where: Path, urls: list[str]) -> None:
    for url in dict.fromkeys(urls):
        report.add("unsafe-content", str(where), f"PDF renderer refused to fetch {url}")


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
              help="Briefs rendered at once (default: number of cores).")
@click.option("--dump-html", type=click.Path(path_type=Path, dir_okay=False), hidden=True,
              help="Also write the final dossier HTML here (for debugging and the benchmark).")
@READING
@QUIET
def pdf(vault: Path, notes: tuple[str, ...], output: Path | None, briefs: bool,
        title: str | None, subtitle: str | None, author: str | None, order: Path | None,
        theme: str, css: Path | None, jobs: int | None, dump_html: Path | None, reading: str,
        quiet: bool) -> None:
    """Write a PDF dossier of VAULT, or with --briefs one PDF per note.

    NOTE selects notes by path, file stem or title; none means the whole vault, ordered by
    channel, then title. Briefs mirror the vault's folders (keepers/watch.md ->
    OUTPUT/keepers/watch.pdf) and list their headings up front when they have six or more.
    """
    from exporter.packagers import pdf as packager
    from exporter.theme import Theme, ThemeError

    try:
        look = Theme.load(theme, extra_css=css)
    except ThemeError as e:
        raise click.BadParameter(str(e), param_hint="--theme") from None
    collection, report = load(vault, quiet, reading, look.wording)
    chosen = pick(collection, notes, order)

    if briefs:
        out = output or Path("dist/briefs")
        if out.exists() and not out.is_dir():
            raise Failed(f"cannot write briefs into {out}: it is a file")
        try:
            written, refused, failed = packager.write_briefs(
                collection, chosen, out, jobs or os.cpu_count() or 1, look, author)
        except ThemeError as e:
            raise Failed(str(e)) from None
        except OSError as e:
            raise Failed(f"cannot write {out}: {e.strerror or e}") from None
        _refused(report, out, refused)
        if failed:
            first, why = next(iter(failed.items()))
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise Failed(f"{len(failed)} of {len(chosen)} briefs could not be written: "
                         f"{first}: {why}{more}")
        report_and_exit(report, quiet, f"{len(written)} briefs → {out}/")
        return

    out = output or Path("dist/dossier.pdf")
    if out.is_dir():
        raise Failed(f"cannot write {out}: it is a folder (give a .pdf file name)")
    meta = packager.Meta(title or vault.resolve().name, subtitle, author)
    try:
        prepared = packager.prepare_dossier(collection, chosen, meta, look)
        if dump_html:
            dump_html.parent.mkdir(parents=True, exist_ok=True)
            dump_html.write_text(prepared.html, encoding="utf-8")
        refused = packager.write(prepared, out)
    except (packager.PdfError, ThemeError) as e:
        raise Failed(f"cannot write {out}: {e}") from None
    except OSError as e:
        raise Failed(f"cannot write {out}: {e.strerror or e}") from None
    _refused(report, out, refused)
    report_and_exit(report, quiet, f"{len(chosen)} notes → {out}")
