"""Form autofill from the live transcript: rules first, every value with its evidence.

`filler` is the form state machine (expectations, read-backs, corrections, values
the agent locked); each field family reads its values in a module of its own
(`emails`, `dates`, `corrections`, `addresses`, `numbers`, `names`) behind the one
`Extractor` interface in `base`. Callers import from `assist.autofill` alone.
"""

from __future__ import annotations

from assist.autofill.base import Cand, Context, Extractor, FormValue, Scan
from assist.autofill.filler import FAMILIES, FormFiller

__all__ = ["FAMILIES", "Cand", "Context", "Extractor", "FormFiller", "FormValue", "Scan"]
