"""The one normalized document model that every writer reads."""

from exporter.model.document import Citation, Collection, Heading, Moment, Note, Source

__all__ = ["Citation", "Collection", "Heading", "Moment", "Note", "Source"]
