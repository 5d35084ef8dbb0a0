"""`exporter build`: every publication of the config (or the whole vault) in every format.

The pipeline in order, once per vault: collect (load, vault, normalize) -> select each
publication's notes -> the packagers for its formats. Outputs are written atomically;
a failed product leaves the last good one in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.cache import Cache
from exporter.collect import collect
from exporter.commands.shared import folder_title, pdf_outcome
from exporter.config import Config, Options, Publication
from exporter.diagnostics import Report
from exporter.i18n import localize
from exporter.model.document import Collection, Note
from exporter.select import SelectionError, for_publication
from exporter.theme import Theme

if TYPE_CHECKING:
    from exporter.packagers.pool import Workers


class BuildError(RuntimeError):
    """A product could not be written (the message says which and why)."""


@dataclass
class Built:
    outputs: list[Path] = field(default_factory=list)
    report: Report = field(default_factory=Report)
    failed: list[str] = field(default_factory=list)  # one line per product that failed
    fingerprints: dict[str, str] = field(default_factory=dict)  # publication -> inputs' hash
    skipped: list[str] = field(default_factory=list)  # publications whose inputs did not change


def implicit(config: Config, vault: Path) -> dict[str, Publication]:
    """Without publications: the whole vault, every format, named after its folder."""
    name = re.sub(r"[^\w.-]+", "-", vault.resolve().name).strip("-") or "vault"
    return {name: Publication(title=folder_title(vault), formats=("pdf", "briefs", "epub", "bundle"))}


def theme_for(config: Config, pub: Publication) -> Theme:
    css = pub.css or config.defaults.css
    return Theme.load(
        pub.theme or config.defaults.theme,
        base=config.base,
        extra_css=config.resolve(css) if css else None,
        wording=config.defaults.citation,
    )


def build(
    config: Config,
    names: list[str] | None = None,
    vault: Path | None = None,
    output: Path | None = None,
    only: set[str] | None = None,
    previous: dict[str, str] | None = None,
    cache: Cache | None = None,
    workers: Workers | None = None,
) -> Built:
    """Build the named publications (all when none): collect once, then each product. What
    the cache holds from earlier builds is not computed again. workers: render workers kept by
    the caller across builds (--watch); else the build starts its own, and only if it renders."""
    vault = vault or config.resolve(config.defaults.vault)
    if not vault.is_dir():
        raise BuildError(f"vault {vault} is not a folder")
    out_dir = output or config.resolve(config.defaults.output)
    pubs = config.publications or implicit(config, vault)
    unknown = [n for n in names or [] if n not in pubs]
    if unknown:
        raise BuildError(f"no publication {', '.join(map(repr, unknown))} (known: {', '.join(pubs)})")
    chosen = {n: p for n, p in pubs.items() if not names or n in names}
    built = Built()
    themes = {n: theme_for(config, p) for n, p in chosen.items()}  # bad themes fail before any work
    collected: dict[str, tuple[Collection, Report]] = {}
    with contextlib.ExitStack() as stack:
        if workers is None:
            workers = stack.enter_context(workers_for(config))
        if renders(chosen, only):
            workers.start()  # they import WeasyPrint while the notes are read
        _build_all(chosen, themes, collected, built, config, vault, out_dir, only, previous, workers, cache)
    return built


def workers_for(config: Config) -> Workers:
    """Render workers on the config's jobs (all cores by default); no process starts until used."""
    from exporter.packagers.pool import Workers  # multiprocessing: only where something renders

    return Workers(config.defaults.jobs or os.cpu_count() or 1)


def renders(chosen: dict[str, Publication], only: set[str] | None) -> bool:
    """Whether any of these publications has a PDF product to make."""
    return any(fmt in ("pdf", "briefs") and (not only or fmt in only) for pub in chosen.values() for fmt in pub.formats)


def _build_all(chosen: dict[str, Publication], themes: dict[str, Theme],
               collected: dict[str, tuple[Collection, Report]], built: Built, config: Config, vault: Path,
               out_dir: Path, only: set[str] | None, previous: dict[str, str] | None,
               workers: Workers, cache: Cache | None) -> None:
    for name, pub in chosen.items():
        theme = themes[name]
        key = theme.name + "|" + str(theme.wording)
        if key not in collected:
            options = Options(reading=config.defaults.reading, wording=theme.wording)
            collected[key] = collect(vault, options, cache=cache)
        collection, report = collected[key]
        built.report.extend(report.items)
        try:
            notes = for_publication(collection, pub)
        except SelectionError as e:
            built.failed.append(f"{name}: {e}")
            continue
        if not notes:
            built.failed.append(f"{name}: no notes match its selection")
            continue
        built.fingerprints[name] = fingerprint(collection, notes, theme, config)
        if previous and previous.get(name) == built.fingerprints[name]:
            built.skipped.append(name)
            continue
        for fmt in pub.formats:
            if only and fmt not in only:
                continue
            try:
                built.outputs += _product(fmt, name, pub, collection, notes, out_dir, theme, config, built,
                                          workers, cache)
            except BuildError as e:
                built.failed.append(f"{name} ({fmt}): {e}")
            except OSError as e:
                built.failed.append(f"{name} ({fmt}): cannot write: {e.strerror or e}")


def _product(
    fmt: str,
    name: str,
    pub: Publication,
    collection: Collection,
    notes: list[Note],
    out_dir: Path,
    theme: Theme,
    config: Config,
    built: Built,
    workers: Workers,
    cache: Cache | None = None,
) -> list[Path]:
    title = pub.title or name
    asked = pub.language or config.defaults.language
    collection, notes, lang = localize(collection, notes, theme.wording, asked, per_note=fmt == "briefs")
    if fmt == "bundle":
        from exporter.packagers.bundle import package
        from exporter.packagers.output import OutputError

        failed: dict[str, str] = {}
        problems: list[tuple[str, str, str]] = []
        try:
            zip_path = package(collection, notes, out_dir / name, title, failed=failed, cache=cache,
                               backlinks=theme.backlinks, lang=lang, problems=problems)
        except OutputError as e:
            raise BuildError(str(e)) from None
        _left_out(built, failed)
        for code, path, message in problems:
            built.report.add(code, path, message)
        return [out_dir / name, zip_path]
    if fmt == "pdf":
        from exporter.packagers import pdf
        from exporter.packagers.dossier import write_dossier

        meta = pdf.Meta(title, pub.subtitle, pub.author, lang=lang)
        target = _target(out_dir / f"{name}.pdf", collection)
        try:
            plan = pdf.plan_dossier(
                collection, notes, meta, theme, parts=pub.parts, unresolved=config.defaults.unresolved,
                cache=cache,
            )
            written = write_dossier(plan, target, workers, cache)
        except pdf.PdfError as e:
            raise BuildError(str(e)) from None
        pdf_outcome(built.report, target, written)
        for path, why in written.failed.items():
            built.failed.append(f"{name} (pdf): {path}: {why}; left out of the dossier")
        return written.paths
    if fmt == "briefs":
        from exporter.packagers import pdf
        from exporter.packagers.output import prune

        folder = out_dir / f"{name}-briefs"
        written = pdf.write_briefs(
            collection, notes, folder, workers, theme, pub.author, unresolved=config.defaults.unresolved,
            cache=cache, lang=asked,
        )
        pdf_outcome(built.report, folder, written)
        for path, why in written.failed.items():
            built.failed.append(f"{name} (briefs): {path}: {why}")
        # the folder belongs to this publication: briefs of notes no longer in it go
        prune(folder, pdf.brief_paths(notes).values())
        return written.paths
    if fmt == "epub":
        from exporter.packagers import epub

        book = epub.BookMeta(
            title=title, subtitle=pub.subtitle, author=pub.author, lang=lang, parts=pub.parts
        )
        target = _target(out_dir / f"{name}.epub", collection)
        try:
            done = epub.package(collection, notes, target, book, theme, unresolved=config.defaults.unresolved,
                                cache=cache)
        except epub.EpubError as e:
            raise BuildError(str(e)) from None
        for code, path, message in done.problems:
            built.report.add(code, path, message)
        return [target]
    raise BuildError(f"unknown format {fmt!r}")


def _target(target: Path, collection: Collection) -> Path:
    """target, unless it is a file of the vault that exporter did not write (output inside the vault)."""
    from exporter.packagers.output import replaceable

    if not replaceable(target, Path(collection.root)):
        raise BuildError(f"{target} is a file of the vault that exporter did not write; it is left as it is")
    return target


def _left_out(built: Built, failed: dict[str, str]) -> None:
    for path, why in failed.items():
        built.report.add("over-budget", path, f"pandoc {why}; the note is left out of the product")


def fingerprint(collection: Collection, notes: list[Note], theme: Theme, config: Config) -> str:
    """What a publication's outputs depend on: its notes' files, their assets, theme, config."""
    h = hashlib.sha256()
    root = Path(collection.root)
    files = [root / n.path for n in notes] + [
        Path(collection.assets[a]) for n in notes for a in n.assets if a in collection.assets
    ]
    files += sorted(p for f in theme.folders for p in f.rglob("*") if p.is_file())
    files += [p for p in (config.path, theme.extra_css) if p]
    for f in files:
        try:
            st = f.stat()
            h.update(f"{f}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        except OSError:
            h.update(f"{f}\0missing\n".encode())
    h.update(repr(sorted(n.id for n in notes)).encode())
    return h.hexdigest()
