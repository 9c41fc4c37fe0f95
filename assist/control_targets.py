"""What a supervisor can put a control on (`assist.controls`): the catalogue the
supervisor page offers and the service checks a new control against.

Kept apart from `assist.controls` (which imports nothing of the assistant) so the
knowledge base can fingerprint documents with it without an import cycle.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from assist.alerts import TEXT as ALERT_TEXT
from assist.controls import Control, ControlError
from assist.forms import forms_dir, load_form
from assist.knowledge import KnowledgeBase
from assist.playbooks import Playbook, load_playbook


def control_targets(playbook: Playbook | None = None, kb: KnowledgeBase | None = None,
                    forms: list[str] | None = None) -> dict[str, Any]:
    """Per target kind, the ids a control may name (with a label), and the scopes."""
    book = playbook or load_playbook()
    kb = kb if kb is not None else KnowledgeBase.from_dir()
    names = forms if forms is not None else sorted(p.stem for p in forms_dir().glob("*.yaml"))
    fields: dict[str, str] = {}
    for name in names:
        for f in load_form(name).fields:
            fields.setdefault(f.id, f.label)
    kinds = sorted({k.split(".")[0] for k in ALERT_TEXT} | set(ALERT_TEXT))
    playbooks = sorted({h.playbook for h in book.hints})
    return {
        "hint": [{"id": h.id, "label": h.text.get("en", h.id), "playbook": h.playbook} for h in book.hints],
        "playbook": [{"id": p, "label": p} for p in playbooks],
        "alert": [{"id": k, "label": ALERT_TEXT[k]["en"] if k in ALERT_TEXT else f"every {k} alert"}
                  for k in kinds],
        "kb": [{"id": d, "label": d} for d in (kb.documents() if kb is not None else [])],
        "field": [{"id": f, "label": label} for f, label in sorted(fields.items())],
        "scopes": [""] + [f"form:{n}" for n in names] + [f"playbook:{p}" for p in playbooks],
    }


def check_target(control: Control, targets: dict[str, Any], kb: KnowledgeBase | None = None) -> Control:
    """The control if it names a known target and scope (a retired document gets its
    fingerprint, so editing the document ends the retirement); else ControlError."""
    known = {t["id"] for t in targets.get(control.target, [])}
    if control.target_id not in known:
        raise ControlError(f"no {control.target} {control.target_id!r} here "
                           f"(known: {', '.join(sorted(known)[:12])}{'…' if len(known) > 12 else ''})")
    if control.scope and control.scope not in targets.get("scopes", []):
        raise ControlError(f"unknown scope {control.scope!r}")
    if control.action == "retire" and kb is not None and not control.version:
        return replace(control, version=kb.doc_version(control.target_id) or "")
    return control
