"""Command line: verbs -> options -> commands; prints diagnostics; owns the exit codes.

Exit codes: 0 done; 1 done, but errors were reported (some input could not be used, or
`check` found errors); 2 wrong usage (unknown option, missing vault...); 3 a product could
not be written (nothing half-written is left behind).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from exporter import __version__
from exporter.collect import collect
from exporter.config import Options
from exporter.diagnostics import KINDS, Report, Severity
from exporter.model.document import Collection
from exporter.select import SelectionError, select
from exporter.transforms.citations import Wording

err = Console(stderr=True, highlight=False, soft_wrap=True)
SHOWN_PER_KIND = 20


class Failed(click.ClickException):
    """A product could not be made: one clear line, exit 3."""

    exit_code = 3

    def show(self, file: Any = None) -> None:
        err.print(f"[bold red]error:[/] {self.message}")


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    if quiet or not err.is_terminal:
        yield lambda stage, done, total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def load(
    vault: Path, quiet: bool, reading: str = "auto", wording: Wording | None = None
) -> tuple[Collection, Report]:
    if not vault.is_dir():
        raise click.BadParameter(f"{vault} is not a folder", param_hint="VAULT")
    with _progress(quiet) as progress:
        try:
            options = Options(reading=reading, wording=wording or Wording())  # type: ignore[arg-type]
            return collect(vault, options, progress)
        except RuntimeError as e:
            raise Failed(f"cannot convert {vault}: {e}") from None


def left_out(report: Report, failed: dict[str, str]) -> None:
    """Notes a writer could not convert within their budget: named, and the run exits 1."""
    for path, why in failed.items():
        report.add("over-budget", path, f"pandoc {why}; the note is left out of the product")


def report_and_exit(report: Report, quiet: bool, done: str | None = None) -> None:
    """Print problems (folded past SHOWN_PER_KIND per kind), a summary, and exit 0 or 1."""
    shown: dict[str, int] = {}
    for d in report.items:
        if d.severity is Severity.INFO:
            continue
        shown[d.code] = shown.get(d.code, 0) + 1
        if d.severity is Severity.ERROR or (not quiet and shown[d.code] <= SHOWN_PER_KIND):
            colour = "red" if d.severity is Severity.ERROR else "yellow"
            err.print(
                f"{escape(d.where())}: [{colour}]{d.severity.value}[/]: {escape(d.message)} [dim]\\[{d.code}][/]"
            )
    for code, n in shown.items():
        if n > SHOWN_PER_KIND and not quiet and KINDS[code][0] is not Severity.ERROR:
            err.print(f"[dim]… and {n - SHOWN_PER_KIND} more {code}; `exporter check` lists all[/]")
    if not quiet:
        counts = ", ".join(f"{n} {c}" for c, n in report.counts().items() if c != "reading")
        if done:
            err.print(f"[green]✓[/] {done}" + (f" [dim]({counts})[/]" if counts else ""))
    sys.exit(1 if report.errors else 0)


VAULT = click.argument("vault", type=click.Path(path_type=Path, file_okay=False))
QUIET = click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
READING = click.option(
    "--reading",
    type=click.Choice(["auto", "hms", "ms"]),
    default="auto",
    show_default=True,
    help="Timestamp reading: auto (per note, SPEC rule), hms (H:MM:SS) or "
    "ms (MM:SS, third field ignored) for every note.",
)


ORDER = click.option(
    "--order",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with one note reference per line, in reading order.",
)
THEME = click.option(
    "--theme",
    default="serif",
    show_default=True,
    help="Built-in theme (see `exporter themes`) or a path to a theme folder.",
)
CSS = click.option(
    "--css",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Extra CSS file added on top of the theme.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exporter")
def main() -> None:
    """Turn a vault of markdown notes into PDF, EPUB and offline markdown bundles."""
    # The document model is millions of small dicts and lists with no cycles among them:
    # at the default thresholds the cycle collector keeps rescanning them, a quarter of
    # the run's CPU. Rarer young-generation passes still free the cycles layout makes.
    gc.set_threshold(50_000, 20, 100)


@main.command()
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
@READING
@QUIET
def bundle(vault: Path, output: Path, title: str | None, theme: str, reading: str, quiet: bool) -> None:
    """Write an offline markdown archive of VAULT: a folder and a reproducible zip."""
    from exporter.packagers.bundle import package
    from exporter.packagers.output import OutputError, check_replaceable
    from exporter.theme import Theme, ThemeError

    try:
        look = Theme.load(theme)
    except ThemeError as e:
        raise click.BadParameter(str(e), param_hint="--theme") from None
    try:
        check_replaceable(output, vault)  # before the work: the folder is replaced whole
    except OutputError as e:
        raise click.BadParameter(str(e), param_hint="-o/--output") from None
    collection, report = load(vault, quiet, reading, look.wording)
    notes = select(collection, [])
    failed: dict[str, str] = {}
    try:
        zip_path = package(collection, notes, output, title or vault.resolve().name, failed=failed)
    except OSError as e:
        raise Failed(f"cannot write {output}: {e.strerror or e}") from None
    left_out(report, failed)
    report_and_exit(report, quiet, f"{len(notes)} notes → {output}/ and {zip_path}")


@main.command()
@VAULT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
@READING
@QUIET
def check(vault: Path, as_json: bool, reading: str, quiet: bool) -> None:
    """List every problem in VAULT with file:line, the timestamp reading per note, and counts.

    Exits 1 when there are errors (files that cannot be read), else 0.
    """
    collection, report = load(vault, True, reading)
    if as_json:
        doc = {
            "vault": str(vault.resolve()),
            "notes": len(collection.notes),
            "counts": report.counts(),
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "readings": {n.path: n.reading for n in collection.notes},
            "diagnostics": [d.to_json() for d in report.items if d.code != "reading"],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        sys.exit(1 if report.errors else 0)
    out = Console(highlight=False, soft_wrap=True)
    for d in report.items:
        if d.code == "reading":
            if not quiet:
                out.print(f"{escape(d.where())}: [dim]{escape(d.message)}[/]")
            continue
        if quiet and d.severity is not Severity.ERROR:
            continue
        colour = "red" if d.severity is Severity.ERROR else "yellow"
        out.print(
            f"{escape(d.where())}: [{colour}]{d.severity.value}[/]: {escape(d.message)} [dim]\\[{d.code}][/]"
        )
    counts = report.counts()
    counts.pop("reading", None)
    out.print(
        f"{len(collection.notes)} notes; {len(report.errors)} errors, {len(report.warnings)} warnings"
        + (": " + ", ".join(f"{n} {c}" for c, n in counts.items()) if counts else "")
    )
    sys.exit(1 if report.errors else 0)


def pick(collection: Collection, notes: tuple[str, ...], order: Path | None) -> list[Any]:
    try:
        chosen = select(collection, list(notes), order)
    except SelectionError as e:
        raise click.UsageError(str(e)) from None
    if not chosen:
        raise click.UsageError("no notes to export")
    return chosen


def _register() -> None:
    """Commands live in exporter/commands/ and use the helpers above."""
    from exporter.commands import epub, pdf, project

    main.add_command(pdf.pdf)
    main.add_command(epub.epub)
    for command in (project.build_command, project.init, project.list_command, project.themes):
        main.add_command(command)


_register()
