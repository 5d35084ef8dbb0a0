"""Turn a folder into raw notes: find files, apply ignore rules, read frontmatter and byline."""

from exporter.readers.note import RawNote, read_note
from exporter.readers.walk import VaultFiles, walk

__all__ = ["RawNote", "VaultFiles", "read_note", "walk"]
