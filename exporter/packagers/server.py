"""The render server's last import (pool.PRELOAD): what it holds is frozen before any worker is
forked from it.

WeasyPrint, the fonts and the warm-up live as long as the server and every worker. Frozen here,
a worker's collector never walks them, not even once at its start, where that walk took 0.1 s
of each worker before its first task (traced in a dossier's rebuild), and wrote to the pages
the worker shares with the server. Python's documentation advises the same for forked children
(gc.freeze).
"""

from __future__ import annotations

import gc

gc.collect()
gc.freeze()
