"""Turn a folder into raw notes: find files, apply ignore rules, read frontmatter and byline."""

from exporter.readers.note import RawNote, from_bytes, packed, read_bytes, unpacked
from exporter.readers.walk import VaultFiles, walk

__all__ = ["RawNote", "VaultFiles", "from_bytes", "packed", "read_bytes", "unpacked", "walk"]
