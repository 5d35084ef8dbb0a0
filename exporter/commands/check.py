"""`exporter check`: every problem of a vault, with file and line, without building anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from exporter.commands.shared import (
    NO_CACHE,
    QUIET,
    READING,
    VAULT,
    close_cache,
    escape,
    load,
    open_cache,
    styled,
)
from exporter.diagnostics import Severity, visible


@click.command()
@VAULT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
@READING
@NO_CACHE
@QUIET
def check(vault: Path, as_json: bool, reading: str, no_cache: bool, quiet: bool) -> None:
    """List every problem in VAULT with file:line, the timestamp reading per note, and counts.

    Exits 1 when there are errors (files that cannot be read), else 0.
    """
    cache = open_cache(no_cache)
    collection, report = load(vault, True, reading, cache=cache)
    close_cache(cache, report)
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
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    for d in report.items:
        if d.code == "reading":
            if not quiet:
                out.print(f"{escape(d.where())}: [dim]{escape(visible(d.message))}[/]")
            continue
        if quiet and d.severity is not Severity.ERROR:
            continue
        out.print(styled(d))
    counts = report.counts()
    counts.pop("reading", None)
    out.print(
        f"{len(collection.notes)} notes; {len(report.errors)} errors, {len(report.warnings)} warnings"
        + (": " + ", ".join(f"{n} {c}" for c, n in counts.items()) if counts else "")
    )
    sys.exit(1 if report.errors else 0)
