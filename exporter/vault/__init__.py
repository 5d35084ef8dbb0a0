"""Turn raw notes into a vault: link keys and the index that resolves wikilinks."""

from exporter.vault.index import Index, Resolution
from exporter.vault.keys import link_key

__all__ = ["Index", "Resolution", "link_key"]
