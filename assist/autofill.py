"""Form autofill from the live transcript (skeleton: API first, logic follows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from assist.forms import FormSpec, load_form
from assist.types import Evidence, Segment


@dataclass
class FormValue:
    id: str
    field: str
    value: str
    confidence: float
    evidence: list[Evidence]
    status: str = "proposed"
    replaces: str | None = None
    correction: bool = False
    source: str = "rules"
    label: str = field(default="", repr=False)

    def to_event(self) -> dict:
        return {
            "type": "FormValue",
            "id": self.id,
            "field": self.field,
            "label": self.label or self.field,
            "value": self.value,
            "confidence": round(float(self.confidence), 3),
            "evidence": [e.to_dict() for e in self.evidence],
            "status": self.status,
            "replaces": self.replaces,
            "correction": self.correction,
            "source": self.source,
        }


class FormFiller:
    def __init__(self, form: FormSpec | None = None, language: str = "en") -> None:
        self.form = form or load_form()
        self.language = language
        self._current: dict[str, FormValue] = {}

    def on_segment(self, segment: Segment) -> list[FormValue]:
        return []

    def propose(self, field: str, value: str, confidence: float, source: str = "llm") -> FormValue | None:
        return None

    def apply_feedback(self, suggestion_id: str, action: str, value: str | None = None) -> FormValue | None:
        return None

    def values(self) -> dict[str, str]:
        return {k: v.value for k, v in self._current.items()}

    def current(self) -> dict[str, FormValue]:
        return dict(self._current)
