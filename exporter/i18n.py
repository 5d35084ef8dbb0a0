"""Fixed strings in the book's language: one gettext catalog per language (exporter/locale/*.po,
read with Babel, so no compiled files are kept), dates written by Babel's locale data.

English is the message ids themselves. A language without a catalog speaks English, with its
own date format. The theme's citation templates are message ids too: a theme that keeps the
built-in wording gets it translated, a theme with its own wording keeps it as written.
"""

from __future__ import annotations

import gettext
import io
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from importlib.resources import files

from exporter import cache as store
from exporter.model.document import LANG, Collection, Note
from exporter.transforms.citations import Wording, shorten


def base(lang: str | None) -> str:
    """The language of a BCP 47 tag, lower case: "pt-BR" -> "pt"; nonsense -> "en"."""
    if not lang or not LANG.match(lang.strip()):
        return "en"
    return lang.strip().split("-")[0].lower()


@cache
def _catalog(lang: str) -> gettext.NullTranslations:
    po = files("exporter") / "locale" / f"{lang}.po"
    if not po.is_file():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


@dataclass(frozen=True)
class Words:
    """What the products say in one language."""

    lang: str = "en"

    def __call__(self, message: str) -> str:
        return _catalog(base(self.lang)).gettext(message)

    def count(self, singular: str, plural: str, n: int) -> str:
        """singular/plural hold %(n)d: "%(n)d note" -> "3 notes", "3 заметки"."""
        return _catalog(base(self.lang)).ngettext(singular, plural, n) % {"n": n}

    def date(self, when: datetime) -> str:
        """A long date as the language writes it: 1 December 2026, 1. Dezember 2026, 2026年12月1日."""
        from babel.core import UnknownLocaleError
        from babel.dates import format_date

        locale = {"en": "en_GB", "pt": "pt_PT", "zh": "zh_Hans"}.get(base(self.lang), base(self.lang))
        try:
            return str(format_date(when.date(), format="long", locale=locale))
        except (UnknownLocaleError, ValueError, LookupError):  # a language Babel does not know
            return str(format_date(when.date(), format="long", locale="en_GB"))

    def notes(self, n: int) -> str:
        return self.count("%(n)d note", "%(n)d notes", n)

    def channels(self, n: int) -> str:
        return self.count("%(n)d channel", "%(n)d channels", n)

    def wording(self, theme: Wording) -> Wording:
        """The theme's citation templates in this language (a custom wording stays as written)."""
        return replace(theme, with_channel=self(theme.with_channel), without_channel=self(theme.without_channel),
                       repeat=self(theme.repeat))


def language(notes: list[Note], asked: str | None) -> str:
    """The product's language: the one asked for, else the most common note language (a note
    without one, declared or guessed, counts as English)."""
    if asked and LANG.match(asked.strip()):
        return asked.strip()
    votes = Counter(n.lang or "en" for n in notes)  # Note.lang is a tag or None; ties: first seen
    return votes.most_common(1)[0][0] if votes else "en"


def reworded(note: Note, theme: Wording, words: Words) -> Note:
    """The note with its citations in words' language. Notes are read once in the theme's
    wording; only when the language changes it are their blocks worded again, as they load
    (a note a product takes from its cache is never loaded)."""
    wording = words.wording(theme)
    if wording == theme:
        return note
    return replace(note, ident=store.key("reworded", note.ident, repr(wording)), _packed=None, _deep=None,
                   _load=lambda: shorten(note.blocks, wording))


def localize(collection: Collection, chosen: list[Note], theme: Wording, asked: str | None,
             per_note: bool = False) -> tuple[Collection, list[Note], str]:
    """The product's language (asked, else its notes' most common one) and its notes worded in it;
    per_note: each note in its own language unless one was asked (briefs)."""
    lang = language(chosen, asked)
    changed = {n.id: reworded(n, theme, Words(language([n], asked) if per_note else lang)) for n in chosen}
    notes = [changed.get(n.id, n) for n in collection.notes]
    return replace(collection, notes=notes), [changed[n.id] for n in chosen], lang
