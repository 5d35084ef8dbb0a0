"""What every command shares: options, loading a vault, printing diagnostics, exit codes.

Exit codes: 0 done; 1 done, but errors were reported (some input could not be used, or
`check` found errors); 2 wrong usage (unknown option, missing vault...); 3 a product could
not be written (nothing half-written is left behind).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from exporter.cache import Cache
from exporter.cache import folder as cache_folder
from exporter.collect import collect
from exporter.config import Options
from exporter.diagnostics import KINDS, Diagnostic, Report, Severity, visible
from exporter.model.document import LANG as TAG
from exporter.model.document import Collection
from exporter.select import SelectionError, select
from exporter.transforms.citations import Wording

if TYPE_CHECKING:
    from rich.console import Console

    from exporter.packagers.pdf import Written


class _Stderr:
    """The console messages go to, made on first use: a quiet run with nothing to say does not
    import rich (0.045 s of every such run, a rebuild's included)."""

    def __init__(self) -> None:
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.console.print(*objects, **kwargs)

    @property
    def is_terminal(self) -> bool:
        return self.console.is_terminal


def escape(text: str) -> str:
    """Text shown as it is in rich's markup."""
    from rich.markup import escape as escaped

    return escaped(text)


err = _Stderr()
SHOWN_PER_KIND = 20


class Failed(click.ClickException):
    """A product could not be made: one clear line, exit 3."""

    exit_code = 3

    def show(self, file: Any = None) -> None:
        err.print(f"[bold red]error:[/] {escape(visible(self.message))}")


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    if quiet or not err.is_terminal:
        yield lambda stage, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err.console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def folder_title(vault: Path) -> str:
    """A title that reads as one from the vault folder's name: my_lighthouse-notes -> My Lighthouse Notes."""
    words = re.sub(r"[_\-.]+", " ", vault.resolve().name).split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or "Notes"


def open_cache(no_cache: bool) -> Cache:
    """The shared cache, or none with --no-cache (everything is computed afresh)."""
    return Cache.off() if no_cache else Cache(cache_folder())


def load(
    vault: Path, quiet: bool, reading: str = "auto", wording: Wording | None = None,
    cache: Cache | None = None,
) -> tuple[Collection, Report]:
    if not vault.is_dir():
        raise click.BadParameter(f"{vault} is not a folder", param_hint="VAULT")
    with _progress(quiet) as progress:
        try:
            options = Options(reading=reading, wording=wording or Wording())  # type: ignore[arg-type]
            return collect(vault, options, progress, cache)
        except RuntimeError as e:
            raise Failed(f"cannot convert {vault}: {e}") from None


SHOWN_GLYPHS = 6  # characters a missing-glyph warning shows (it counts them all)


def pdf_outcome(report: Report, where: Path, written: Written) -> None:
    """What a PDF product came to, as diagnostics: refused URLs, characters drawn as boxes (in
    the note that has them, when a document held one note), notes left out."""
    for url in dict.fromkeys(written.refused):
        report.add("unsafe-content", str(where), f"PDF renderer refused to fetch {url}")
    in_notes = {c for note, chars in written.missing.items() if note for c in chars}
    for note, chars in written.missing.items():
        if not note:  # the contents or the Sources, say: those of a title are named in its note
            chars = {c: None for c in chars if c not in in_notes}
            if not chars:
                continue
        shown = ", ".join(f"{chr(c)} (U+{c:04X})" for c in list(chars)[:SHOWN_GLYPHS])
        more = f" and {len(chars) - SHOWN_GLYPHS} more" if len(chars) > SHOWN_GLYPHS else ""
        report.add("missing-glyph", note or str(where), f"no font on this machine has {shown}{more}: drawn as "
                   f"boxes in {where.name}; install a font that covers them")
    for path, why in written.over.items():
        report.add("over-budget", path, f"{why}; left out of {where}")


def left_out(report: Report, failed: dict[str, str]) -> None:
    """Notes a writer could not convert within their budget: named, and the run exits 1."""
    for path, why in failed.items():
        report.add("over-budget", path, f"pandoc {why}; the note is left out of the product")


def close_cache(cache: Cache | None, report: Report) -> None:
    """Keep the cache under its cap; what it found damaged becomes a warning."""
    if cache is not None:
        cache.close()
        for line in cache.warnings:
            report.add("cache", str(cache_folder()), line)


def styled(d: Diagnostic) -> str:
    """A problem as one line of console markup: path:line, severity in its colour, message, kind."""
    colour = "red" if d.severity is Severity.ERROR else "yellow"
    return f"{escape(d.where())}: [{colour}]{d.severity.value}[/]: {escape(visible(d.message))} [dim]\\[{d.code}][/]"


def report_and_exit(report: Report, quiet: bool, done: str | None = None, cache: Cache | None = None,
                    failed: str | None = None) -> None:
    """Print problems (folded past SHOWN_PER_KIND per kind), a summary, and exit 0 or 1; or,
    given what failed (a product written without some of its notes), that line, and exit 3."""
    close_cache(cache, report)
    shown: dict[str, int] = {}
    for d in report.items:
        if d.severity is Severity.INFO:
            continue
        shown[d.code] = shown.get(d.code, 0) + 1
        if d.severity is Severity.ERROR or (not quiet and shown[d.code] <= SHOWN_PER_KIND):
            err.print(styled(d))
    for code, n in shown.items():
        if n > SHOWN_PER_KIND and not quiet and KINDS[code][0] is not Severity.ERROR:
            err.print(f"[dim]… and {n - SHOWN_PER_KIND} more {code}; `exporter check` lists all[/]")
    if failed:
        raise Failed(failed)
    if not quiet:
        counts = ", ".join(f"{n} {c}" for c, n in report.counts().items() if c != "reading")
        if done:
            err.print(f"[green]✓[/] {done}" + (f" [dim]({counts})[/]" if counts else ""))
    sys.exit(1 if report.errors else 0)


VAULT = click.argument("vault", type=click.Path(path_type=Path, file_okay=False))
QUIET = click.option("--quiet", "-q", is_flag=True, help="Print errors only.")


def _lang(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not TAG.match(value):
        raise click.BadParameter(f"{value!r} is not a language tag such as en, el or pt-BR")
    return value


LANG = click.option("--lang", callback=_lang,
                    help="Language of the fixed strings (contents, sources, bylines, citations, dates), "
                         "a BCP 47 tag such as de or pt-BR; default: the most common note language. "
                         "Catalogs: en, de, fr, es, it, pt, ru, el, zh, ja.")
NO_CACHE = click.option("--no-cache", is_flag=True,
                        help="Compute everything afresh, without reading or writing the cache.")
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


def pick(collection: Collection, notes: tuple[str, ...], order: Path | None) -> list[Any]:
    try:
        chosen = select(collection, list(notes), order)
    except SelectionError as e:
        raise click.UsageError(str(e)) from None
    if not chosen:
        raise click.UsageError("no notes to export")
    return chosen
