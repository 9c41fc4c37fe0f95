"""Form definitions loaded from yaml, so a contact centre can change fields without code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

FIELD_TYPES = frozenset(
    {"person_name", "date_of_birth", "phone", "email", "reference", "iban",
     "street_address", "postcode", "city", "bsn", "text"}
)


@dataclass(frozen=True)
class FieldSpec:
    """One form field; `type` picks the spoken-form parser and validator."""

    id: str
    type: str
    label: str
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    pii: bool = False
    cues: tuple[str, ...] = ()  # words (en + nl) that ask for or announce this field

    def label_for(self, language: str) -> str:
        return self.labels.get(language, self.label)


@dataclass(frozen=True)
class FormSpec:
    name: str
    fields: tuple[FieldSpec, ...]
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def field(self, field_id: str) -> FieldSpec | None:
        for f in self.fields:
            if f.id == field_id:
                return f
        return None

    @property
    def field_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.fields)


def forms_dir() -> Path:
    """`prompts/forms/` next to the package, or `$SOUFFLEUR_PROMPTS_DIR/forms`."""
    env = os.environ.get("SOUFFLEUR_PROMPTS_DIR")
    base = Path(env) if env else Path(__file__).resolve().parent.parent / "prompts"
    return base / "forms"


def load_form(name_or_path: str = "identity") -> FormSpec:
    """Load a form by name (from `forms_dir()`) or from a yaml path.

    Parsed forms are cached per file and modification time: a filler is made per call,
    and parsing the yaml each time would cost more than the whole call's rules."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml") or not p.exists():
        p = forms_dir() / f"{name_or_path}.yaml"
    p = p.resolve()
    return _load(p, p.stat().st_mtime_ns)


@lru_cache(maxsize=32)
def _load(p: Path, mtime_ns: int) -> FormSpec:
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    fields = []
    for raw in data.get("fields", []):
        ftype = raw.get("type", "text")
        if ftype not in FIELD_TYPES:
            raise ValueError(f"form {p.name}: field {raw.get('id')!r} has unknown type {ftype!r}")
        fields.append(
            FieldSpec(
                id=str(raw["id"]),
                type=ftype,
                label=str(raw.get("label", raw["id"])),
                labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
                pii=bool(raw.get("pii", False)),
                cues=tuple(str(c).lower() for c in raw.get("cues") or ()),
            )
        )
    ids = [f.id for f in fields]
    if len(set(ids)) != len(ids):
        raise ValueError(f"form {p.name}: duplicate field ids")
    return FormSpec(
        name=str(data.get("name", p.stem)),
        fields=tuple(fields),
        labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
    )
