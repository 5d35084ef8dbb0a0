"""`exporter cache`: how big the build cache is, and emptying it."""

from __future__ import annotations

import click

from exporter.cache import Cache, folder
from exporter.commands.shared import err


@click.group()
def cache() -> None:
    """The cache every product shares ($EXPORTER_CACHE_DIR, else $XDG_CACHE_HOME/exporter,
    else ~/.cache/exporter); builds use it unless given --no-cache."""


@cache.command()
def info() -> None:
    """Where the cache is, how many entries it holds and their size."""
    store = Cache(folder())
    entries, size = store.info()
    store.close()
    click.echo(f"{folder()}: {entries} entries, {size / 2**20:.1f} MiB (cap {store.cap / 2**30:.0f} GiB)")
    for line in store.warnings:
        err.print(f"[yellow]warning:[/] {line}")


@cache.command()
def clear() -> None:
    """Remove every entry."""
    store = Cache(folder())
    entries, size = store.info()
    store.clear()
    store.close()
    err.print(f"[green]✓[/] removed {entries} entries ({size / 2**20:.1f} MiB) from {folder()}")
