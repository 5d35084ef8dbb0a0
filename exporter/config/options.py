"""Options that shape normalization and products: one typed schema, defaults here."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.transforms.citations import Wording
from exporter.transforms.timestamps import Reading


@dataclass(frozen=True)
class Options:
    reading: Reading = "auto"  # timestamp reading: auto (SPEC 4 rule), hms, or ms for all notes
    wording: Wording = field(default_factory=Wording)  # citation wording, from the theme
    source_date_epoch: int | None = None  # for reproducible dates; None reads SOURCE_DATE_EPOCH
