"""Compiled phrase sets: named regex lists per language, matched on folded text.

Playbooks, intents, agent actions and alert cues are all written as data
(`prompts/playbooks/*.yaml`); this module is the one place that compiles and
runs them, so every rule reports the exact span it matched as evidence.
Patterns are written in lower case without accents (the text is folded first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from assist.text import fold


@dataclass(frozen=True)
class Match:
    name: str
    start: int
    end: int


class PhraseSet:
    """`{name: {lang|"any": [regex, ...]}}` compiled once, matched per segment."""

    def __init__(self, spec: Mapping[str, Mapping[str, list[str]]] | None = None):
        self._compiled: dict[str, dict[str, list[re.Pattern[str]]]] = {}
        for name, by_lang in (spec or {}).items():
            self.add(name, by_lang)

    def add(self, name: str, by_lang: Mapping[str, list[str]]) -> None:
        slot = self._compiled.setdefault(name, {})
        for lang, pats in by_lang.items():
            try:
                slot.setdefault(lang, []).extend(re.compile(p) for p in pats or [])
            except re.error as exc:  # a broken playbook must fail loudly at load time
                raise ValueError(f"bad pattern in {name!r} ({lang}): {exc}") from exc

    def names(self) -> list[str]:
        return list(self._compiled)

    def find(self, text: str, lang: str, names: list[str] | None = None,
             folded: str | None = None) -> list[Match]:
        """First match per name (in text order) for the call's language and `any`."""
        low = folded if folded is not None else fold(text)
        out = []
        for name in names if names is not None else self._compiled:
            for pat in self._patterns(name, lang):
                m = pat.search(low)
                if m:
                    out.append(Match(name, m.start(), m.end()))
                    break
        out.sort(key=lambda m: m.start)
        return out

    def first(self, text: str, lang: str, name: str, folded: str | None = None) -> Match | None:
        found = self.find(text, lang, [name], folded)
        return found[0] if found else None

    def _patterns(self, name: str, lang: str) -> list[re.Pattern[str]]:
        slot = self._compiled.get(name, {})
        return slot.get(lang, []) + slot.get("any", [])
