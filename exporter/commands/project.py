"""Commands around a project: build (and watch), init, list, themes."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exporter.cache import Cache
from exporter.commands.build import BuildError, Built, build, theme_for, workers_for
from exporter.commands.shared import (
    LANG,
    NO_CACHE,
    QUIET,
    Failed,
    close_cache,
    err,
    escape,
    open_cache,
    report_and_exit,
)
from exporter.config import Config, ConfigError, Defaults, Publication, load_config, with_overrides
from exporter.config.schema import describe
from exporter.theme import ThemeError, available

if TYPE_CHECKING:
    from exporter.packagers.pool import Workers

CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: exporter.toml, else [tool.exporter] in pyproject.toml).",
)


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as e:
        for line in e.problems:
            err.print(f"[red]error:[/] {escape(line)}")
        sys.exit(2)


def _run(
    config: Config,
    names: list[str],
    vault: Path | None,
    output: Path | None,
    only: set[str] | None,
    previous: dict[str, str] | None = None,
    cache: Cache | None = None,
    workers: Workers | None = None,
) -> Built:
    try:
        return build(config, names, vault, output, only, previous, cache, workers)
    except (BuildError, ThemeError) as e:
        raise Failed(str(e)) from None
    finally:
        if cache is not None:
            cache.close()  # each build keeps the store under its cap


def _summary(built: Built, quiet: bool) -> str:
    for line in built.failed:
        err.print(f"[red]error:[/] {escape(line)}")
    if built.skipped and not quiet:
        err.print(f"[dim]unchanged: {', '.join(built.skipped)}[/]")
    return (
        f"{len(built.outputs)} outputs: "
        + ", ".join(str(p) for p in built.outputs[:6])
        + (" …" if len(built.outputs) > 6 else "")
    )


@click.command(name="build")
@click.argument("names", nargs=-1)
@CONFIG
@click.option(
    "--vault",
    type=click.Path(path_type=Path, file_okay=False),
    help="Vault folder (default: the config's, else ./notes).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder (default: the config's, else ./dist).",
)
@click.option("--theme", help="Theme for every publication (overrides the config).")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["pdf", "briefs", "epub", "bundle"]),
    help="Build only these formats (repeatable).",
)
@click.option("--watch", is_flag=True, help="Rebuild what changed, until interrupted.")
@LANG
@NO_CACHE
@QUIET
def build_command(
    names: tuple[str, ...],
    config_path: Path | None,
    vault: Path | None,
    output: Path | None,
    theme: str | None,
    formats: tuple[str, ...],
    watch: bool,
    lang: str | None,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Build the named publications (all when none) into the output folder.

    Without a config, the whole vault is built into every format: a PDF dossier, PDF
    briefs, an EPUB and a markdown bundle, named after the vault folder.
    """
    def configured(loaded: Config) -> Config:
        config = with_overrides(loaded, theme=theme, language=lang)
        if lang:  # --lang wins over the publications' own too
            config = replace(config, publications={k: replace(p, language=lang) for k, p in config.publications.items()})
        return config

    config = configured(_config(config_path))
    only = set(formats) or None
    cache = open_cache(no_cache)
    if watch:
        _watch(config, list(names), vault, output, only, quiet, cache=cache,
               reload=lambda: configured(load_config(config_path)))
        return
    built = _run(config, list(names), vault, output, only, cache=cache)
    close_cache(cache, built.report)
    done = _summary(built, quiet)
    if built.failed:  # the problems, then exit 3
        report_and_exit(built.report, quiet, failed=f"{len(built.failed)} of the products failed (above)")
    if config.defaults.unresolved == "error":
        count = sum(1 for d in built.report.items if d.code == "unresolved-link")
        if count:
            where = str(config.path or "defaults")
            built.report.add("policy", where, f'{count} unresolved links (unresolved = "error")')
    report_and_exit(built.report, quiet, done)


def _watch(
    config: Config,
    names: list[str],
    vault: Path | None,
    output: Path | None,
    only: set[str] | None,
    quiet: bool,
    stop: threading.Event | None = None,
    cache: Cache | None = None,
    reload: Callable[[], Config] | None = None,
) -> None:
    """Build, then rebuild the publications whose inputs changed; a failure keeps the last
    outputs. reload reads the config again before each rebuild (an edit to it was watched,
    then built with the config as it was at the start); a config that no longer loads is
    said, and the last outputs kept. With the cache, a rebuild costs what changed: unchanged notes are not parsed
    again, unchanged chapters, files and dossier parts not written again. The render workers
    live as long as the watch: a rebuild neither starts them nor warms them again."""
    import watchfiles

    vault = vault or config.resolve(config.defaults.vault)
    previous: dict[str, str] = {}
    workers = workers_for(config)

    def once(first: bool = False) -> None:
        nonlocal previous, config
        if reload is not None and not first:
            try:
                config = reload()
            except ConfigError as e:
                for line in e.problems:
                    err.print(f"[red]error:[/] {escape(line)} [dim](keeping the last outputs)[/]")
                return
        try:
            built = _run(config, names, vault, output, only, previous, cache, workers)
        except Failed as e:
            err.print(f"[red]error:[/] {escape(e.message)} [dim](keeping the last outputs)[/]")
            return
        for line in built.failed:
            err.print(f"[red]error:[/] {escape(line)} [dim](keeping the last outputs)[/]")
        previous = {**previous, **built.fingerprints} if not built.failed else previous
        if not quiet:
            err.print(f"[green]✓[/] {_summary(built, quiet)}")

    try:
        once(first=True)
        paths = _outermost([p for p in (vault, config.path, *_styles(config)) if p and Path(p).exists()])
        err.print(f"[dim]watching {', '.join(map(str, paths))}; Ctrl+C to stop[/]")
        for _ in watchfiles.watch(*paths, debounce=400, step=100, stop_event=stop, raise_interrupt=False):
            once()
    except KeyboardInterrupt:
        pass
    finally:
        workers.close()


def _styles(config: Config) -> list[Path]:
    """The built-in styles, plus every theme folder and extra CSS file a publication uses."""
    from exporter.theme import STYLES

    found = [STYLES]
    for pub in list(config.publications.values()) or [Publication()]:
        with contextlib.suppress(ThemeError):  # reported by the build itself
            theme = theme_for(config, pub)
            found += [*theme.folders, *([theme.extra_css] if theme.extra_css else [])]
    return found


def _outermost(paths: list[Path]) -> list[Path]:
    """Each path once, and none inside another: every change is then seen exactly once."""
    resolved = sorted({Path(p).resolve() for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in resolved:
        if not any(p.is_relative_to(k) for k in kept):
            kept.append(p)
    return kept


@click.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default=Path("exporter.toml"))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter config (default: ./exporter.toml)."""
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; use --force to overwrite it")
    lines = [
        "# exporter configuration. Every key is optional; the values shown are the defaults.",
        "# `exporter build` builds every publication below; `exporter build NAME` builds one.",
        "",
        "[defaults]",
    ]
    for name, default, doc in describe(Defaults):
        lines.append(f"# {doc}")
        lines.append(_toml(name, default, commented=default is None))
    lines += [
        "",
        "# A publication: which notes, in which order, in which formats and look.",
        "[publications.lighthouses]",
    ]
    example = {
        "title": "Lighthouses and their keepers",
        "subtitle": "A dossier from video notes",
        "author": "The keepers' archive",
        "formats": ("pdf", "epub", "bundle"),
    }
    for name, default, doc in describe(Publication):
        lines.append(f"# {doc}")
        value = example.get(name, default)
        lines.append(_toml(name, value, commented=name not in example))
    lines += [
        "",
        "[publications.keepers]",
        'title = "Life on the rock"',
        'formats = ["briefs", "epub"]',
        'include = ["keepers/*"]',
        'theme = "sans"',
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    err.print(f"[green]✓[/] wrote {path}")


def _toml(name: str, value: object, commented: bool) -> str:
    if value is None:
        text = f'{name} = ""'
    elif isinstance(value, tuple | list):
        text = f"{name} = [" + ", ".join(f'"{v}"' for v in value) + "]"
    elif isinstance(value, bool):
        text = f"{name} = {'true' if value else 'false'}"
    elif isinstance(value, int):
        text = f"{name} = {value}"
    else:
        text = f'{name} = "{value}"'
    return ("# " if commented else "") + text


@click.command(name="list")
@CONFIG
@click.option("--vault", type=click.Path(path_type=Path, file_okay=False), help="Vault folder.")
def list_command(config_path: Path | None, vault: Path | None) -> None:
    """Show the notes, channels and publications of the project."""
    from exporter.collect import collect
    from exporter.select import for_publication

    config = _config(config_path)
    root = vault or config.resolve(config.defaults.vault)
    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a folder", param_hint="--vault")
    collection, report = collect(root)
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    table = Table("note", "title", "channel", "videoId", "citations", title=f"{len(collection.notes)} notes")
    for n in sorted(collection.notes, key=lambda n: n.path):
        table.add_row(
            escape(n.path),
            escape(n.title),
            escape(n.channel_name or "–"),
            n.video_id or "–",
            str(len(n.citations)),
        )
    out.print(table)
    channels: dict[str, int] = {}
    for n in collection.notes:
        channels[n.channel_name or "(none)"] = channels.get(n.channel_name or "(none)", 0) + 1
    out.print("channels: " + ", ".join(f"{escape(c)} ({k})" for c, k in sorted(channels.items())))
    pubs = config.publications
    if not pubs:
        out.print(
            "publications: none configured (`exporter build` builds the whole vault; `exporter init` writes a config)"
        )
    for name, pub in pubs.items():
        try:
            count = str(len(for_publication(collection, pub)))
        except ValueError as e:
            count = f"error: {e}"
        out.print(
            f"publication [bold]{escape(name)}[/]: {escape(pub.title or name)}; "
            f"{', '.join(pub.formats)}; {count} notes; theme {pub.theme or config.defaults.theme}"
        )
    if report.errors:
        out.print(f"[red]{len(report.errors)} files cannot be read; `exporter check` lists them[/]")


@click.command()
def themes() -> None:
    """List the built-in themes."""
    from rich.console import Console

    out = Console(highlight=False)
    for name, description in available().items():
        out.print(f"[bold]{name}[/]  {escape(description)}")
