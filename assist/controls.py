"""Supervisor controls: a person corrects the assistant while calls go on.

A supervisor who sees a rule misfire can mute it, raise its confidence threshold,
or mark a knowledge document wrong (retired until the document is edited). A
`Control` says what (target kind and id), how (action, value), where (scope:
everywhere, one form, or one playbook) and who, when and why. A `ControlSet` is
the controls in force; `AssistSession` consults it before it emits anything, so
a muted rule is never shown, while everything the rules know about the call
stays as it was (unmuting mid-call brings the rule back).

Pure and deterministic: the same transcript and the same controls give the same
events. Where controls are stored, how they reach every node and who may change
them is the service's business (`streaming/service/`, docs/security.md).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# what a control can act on: a hint rule, every hint of a playbook, an alert kind
# ("vulnerability" or "vulnerability.health"), a knowledge document, a form field
TARGET_KINDS = ("hint", "playbook", "alert", "kb", "field")
ACTIONS = ("mute", "threshold", "retire")
SCOPE_KINDS = ("form", "playbook")
MAX_TEXT = 500  # why / who: a sentence, not an essay


class ControlError(ValueError):
    """A control that cannot be applied (unknown kind, action, scope or value)."""


@dataclass(frozen=True)
class Control:
    """One supervisor decision about one target.

    `scope` is "" (everywhere), "form:NAME" (calls using that form) or
    "playbook:NAME" (hints of that playbook, and calls where one of its
    intents was heard). `value` is the confidence threshold (0..1) of a
    `threshold` control. `version` is the knowledge document's fingerprint when
    it was retired: once the document is edited the retirement lapses.
    """

    target: str  # one of TARGET_KINDS
    target_id: str
    action: str  # one of ACTIONS
    scope: str = ""
    value: float | None = None
    who: str = ""
    when: float = 0.0
    why: str = ""
    id: str = ""
    version: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, who: str | None = None, when: float | None = None,
                  new_id: bool = False) -> Control:
        """Checked construction from JSON (the API's body, the stored form)."""
        if not isinstance(d, Mapping):
            raise ControlError("a control is a JSON object")
        target = str(d.get("target") or "")
        if target not in TARGET_KINDS:
            raise ControlError(f"target must be one of {', '.join(TARGET_KINDS)}, not {target!r}")
        target_id = str(d.get("target_id") or "").strip()
        if not target_id or len(target_id) > 200:
            raise ControlError("target_id names the rule, playbook, alert kind, document or field")
        action = str(d.get("action") or "")
        if action not in ACTIONS:
            raise ControlError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if action == "retire" and target != "kb":
            raise ControlError("only a knowledge document (target kb) can be retired")
        scope = str(d.get("scope") or "").strip()
        if scope in ("everywhere", "*"):
            scope = ""
        if scope:
            kind, _, name = scope.partition(":")
            if kind not in SCOPE_KINDS or not name:
                raise ControlError("scope is empty (everywhere), form:NAME or playbook:NAME")
        value = d.get("value")
        if action == "threshold":
            try:
                value = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ControlError("a threshold control needs value, a confidence from 0 to 1") from None
            if not 0.0 < value <= 1.0:
                raise ControlError("a threshold is a confidence above 0 and at most 1")
        else:
            value = None
        why = str(d.get("why") or "").strip()
        if len(why) > MAX_TEXT:
            raise ControlError(f"why is at most {MAX_TEXT} characters")
        cid = "" if new_id else str(d.get("id") or "")
        return cls(target, target_id, action, scope, value,
                   who=(who if who is not None else str(d.get("who") or ""))[:MAX_TEXT],
                   when=float(when if when is not None else d.get("when") or 0.0), why=why,
                   id=cid or f"ctl-{uuid.uuid4().hex[:10]}", version=str(d.get("version") or ""))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def covers(self, kind: str, target_id: str) -> bool:
        """Whether this control is about `target_id` of `kind` (an alert kind covers its subkinds)."""
        if kind != self.target:
            return False
        return target_id == self.target_id or (kind == "alert" and target_id.startswith(self.target_id + "."))

    def label(self) -> str:
        what = {"mute": "muted", "retire": "retired",
                "threshold": f"threshold {self.value:.2f}" if self.value is not None else "threshold"}[self.action]
        return f"{self.target} {self.target_id} {what}" + (f" ({self.scope})" if self.scope else "")


@dataclass(frozen=True)
class Context:
    """Where a suggestion would be shown: the call's form and the playbooks in play."""

    form: str = ""
    playbooks: frozenset[str] = frozenset()

    def within(self, scope: str) -> bool:
        if not scope:
            return True
        kind, _, name = scope.partition(":")
        return (self.form == name) if kind == "form" else (name in self.playbooks)


ANYWHERE = Context()


@dataclass(frozen=True)
class Verdict:
    """Why a suggestion is not shown: the control that stopped it."""

    control: Control
    reason: str  # muted | below_threshold | retired


@dataclass(frozen=True)
class ControlSet:
    """The controls in force (immutable: a change is a new set, swapped in whole)."""

    controls: tuple[Control, ...] = ()
    _index: dict[str, tuple[Control, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, list[Control]] = {}
        for c in self.controls:
            index.setdefault(c.target, []).append(c)
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})

    @classmethod
    def from_list(cls, items: Iterable[Mapping[str, Any] | Control]) -> ControlSet:
        """Controls as stored; ones that no longer parse are left out (never fatal for a call)."""
        out: list[Control] = []
        for item in items:
            if isinstance(item, Control):
                out.append(item)
                continue
            try:
                out.append(Control.from_dict(item))
            except ControlError:
                continue
        return cls(tuple(sorted(out, key=lambda c: (c.when, c.id))))

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.controls]

    def __len__(self) -> int:
        return len(self.controls)

    def get(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)

    def with_control(self, control: Control) -> ControlSet:
        return ControlSet.from_list([*(c for c in self.controls if c.id != control.id), control])

    def without(self, control_id: str) -> ControlSet:
        return ControlSet(tuple(c for c in self.controls if c.id != control_id))

    def check(self, targets: Iterable[tuple[str, str]], confidence: float | None,
              ctx: Context | None = None, doc_version: str | None = None) -> Verdict | None:
        """None when a suggestion about every one of `targets` ((kind, id) pairs) may be shown.

        A mute in scope stops it; a threshold in scope stops it when its confidence is
        below the threshold (the highest threshold in scope counts); a retired document
        stops it unless the document changed since (`doc_version`, its fingerprint now).
        """
        ctx = ctx or ANYWHERE
        best: Verdict | None = None
        for kind, target_id in targets:
            for c in self._index.get(kind, ()):
                if not c.covers(kind, target_id) or not ctx.within(c.scope):
                    continue
                if c.action == "mute":
                    return Verdict(c, "muted")
                if c.action == "retire":
                    if c.version and doc_version is not None and c.version != doc_version:
                        continue  # edited since it was retired
                    return Verdict(c, "retired")
                if c.action == "threshold" and confidence is not None and c.value is not None \
                        and confidence < c.value and (best is None or c.value > (best.control.value or 0)):
                    best = Verdict(c, "below_threshold")
        return best

    def excluded_docs(self, ctx: Context | None = None,
                      version: Callable[[str], str | None] | None = None) -> frozenset[str]:
        """Knowledge documents never answered from in `ctx`: muted, or retired and not edited
        since (`version(doc)`: the document's fingerprint now, None if unknown)."""
        ctx = ctx or ANYWHERE
        out = set()
        for c in self._index.get("kb", ()):
            if c.action not in ("mute", "retire") or not ctx.within(c.scope):
                continue
            if c.action == "retire" and c.version and version is not None:
                now = version(c.target_id)
                if now is not None and now != c.version:
                    continue  # edited since it was retired
            out.add(c.target_id)
        return frozenset(out)


EMPTY = ControlSet()


class LiveControls:
    """The current `ControlSet`, shared by every call's session on a node.

    The service swaps in a new set when a supervisor changes one (on any node);
    sessions read it once per segment, so a change takes effect on the next
    segment of every live call. A plain reference swap: safe across the event
    loop and the assist threads.
    """

    def __init__(self, controls: ControlSet = EMPTY) -> None:
        self._set = controls
        self._lock = threading.Lock()
        self.changed_at = time.time()
        self.version = 0  # increases with every set (caches keyed on it)

    def get(self) -> ControlSet:
        return self._set

    def set(self, controls: ControlSet) -> None:
        with self._lock:
            self._set = controls
            self.changed_at = time.time()
            self.version += 1


def document_version(texts: Iterable[str]) -> str:
    """A knowledge document's fingerprint: retirement lapses once it changes."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]
