"""Shared helpers for the assist tests: build Segments from short scripts."""

from __future__ import annotations

from pathlib import Path

from assist.types import Segment
from tests.conftest import DATA

DEV_CALLS = DATA / "assist"  # the labelled dev calls, copied into the checkout (tests/data/ATTRIBUTION.md)
OWN_CALLS = Path(__file__).resolve().parent / "calls"


def script(lines: list[str], language: str = "en", call_id: str = "test") -> list[Segment]:
    """'A: text' / 'C: text' lines -> Segments t0, t1, ... two seconds apart."""
    out = []
    for i, line in enumerate(lines):
        who, text = line.split(":", 1)
        speaker = "agent" if who.strip() == "A" else "customer"
        out.append(Segment(f"t{i}", speaker, text.strip(), start=2.0 * i, end=2.0 * i + 1.8,
                           call_id=call_id, language=language))
    return out


def dev_calls() -> list[Path]:
    """The dev split's labelled calls (tests/data/assist); never empty."""
    paths = sorted(p for p in DEV_CALLS.glob("dev_*.json") if not p.name.endswith(".timing.json"))
    assert paths, f"no labelled calls in {DEV_CALLS}"
    return paths
