"""Load the playbooks (`prompts/playbooks/*.yaml`) into compiled, validated rules.

Playbooks are data so a contact centre can change triggers and wording without
code. Loading validates every reference (intent, action, cue, condition key) so
a typo fails at start-up instead of silently never firing during a call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assist.patterns import PhraseSet

DEFAULT_PLAYBOOK_DIR = Path(__file__).resolve().parent.parent / "prompts" / "playbooks"
LANGUAGES = ("en", "nl")
CONDITION_KEYS = {
    "intents", "only_intents", "cue", "speaker", "actions_done", "not_done", "customer_negative",
    "fields_filled", "fields_present", "missing_fields", "segments_since_field", "correction",
    "min_segment", "min_words", "any", "not_intents",
}


@dataclass(frozen=True)
class HintRule:
    id: str
    playbook: str
    priority: int
    when: dict[str, Any]
    text: dict[str, str]
    why: dict[str, str]
    done_by: tuple[str, ...] = ()
    done_since: str = "call"  # "call": done any time counts; "trigger": only after the trigger
    supervisor: bool = False


@dataclass
class Playbook:
    intents: PhraseSet = field(default_factory=PhraseSet)
    agent_intents: PhraseSet = field(default_factory=PhraseSet)
    actions: PhraseSet = field(default_factory=PhraseSet)
    cues: PhraseSet = field(default_factory=PhraseSet)
    hints: list[HintRule] = field(default_factory=list)
    source: str = ""

    def phrase(self, name: str) -> PhraseSet | None:
        """The phrase set holding `name` (cues first, then agent actions)."""
        if name in self._cue_names:
            return self.cues
        if name in self._action_names:
            return self.actions
        return None

    def __post_init__(self) -> None:
        self._cue_names = set(self.cues.names())
        self._action_names = set(self.actions.names())
        # intent -> the playbooks with a hint for it: a call where the intent was heard is
        # "in" those playbooks (a supervisor control may be scoped to one, assist.controls)
        by_intent: dict[str, set[str]] = {}
        for rule in self.hints:
            for intent in _rule_intents(rule.when):
                by_intent.setdefault(intent, set()).add(rule.playbook)
        self.intent_playbooks = {k: frozenset(v) for k, v in by_intent.items()}

    def playbooks_for(self, intents: Iterable[str]) -> set[str]:
        return {p for i in intents for p in self.intent_playbooks.get(i, ())}


def _rule_intents(when: dict[str, Any]) -> set[str]:
    found = set(when.get("intents", [])) | set(when.get("only_intents", []))
    for sub in when.get("any", []):
        found |= _rule_intents(sub)
    return found


def playbook_dir_from_env() -> Path:
    return Path(os.environ.get("SOUFFLEUR_PLAYBOOK_DIR") or DEFAULT_PLAYBOOK_DIR)


def load_playbook(directory: str | os.PathLike[str] | None = None) -> Playbook:
    return _load_cached(str(Path(directory) if directory else playbook_dir_from_env()))


@lru_cache(maxsize=4)
def _load_cached(directory: str) -> Playbook:
    intents: dict[str, dict] = {}
    agent_intents: dict[str, dict] = {}
    actions: dict[str, dict] = {}
    cues: dict[str, dict] = {}
    hints: list[HintRule] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        name = path.stem
        for key, spec in (data.get("intents") or {}).items():
            _unique(key, intents, path)
            spec = dict(spec)
            agent = spec.pop("agent", None)
            intents[key] = spec
            if agent:
                agent_intents[key] = agent
        for key, spec in (data.get("actions") or {}).items():
            _unique(key, actions, path)
            actions[key] = spec
        for key, spec in (data.get("cues") or {}).items():
            _unique(key, cues, path)
            cues[key] = spec
        for raw in data.get("hints") or []:
            hints.append(_rule(raw, name, path))
    book = Playbook(PhraseSet(intents), PhraseSet(agent_intents), PhraseSet(actions),
                    PhraseSet(cues), hints, directory)
    _validate(book, set(intents), set(actions), set(cues))
    return book


def _unique(key: str, seen: dict, path: Path) -> None:
    if key in seen:
        raise ValueError(f"{path.name}: {key!r} is defined twice in the playbooks")


def _rule(raw: dict[str, Any], playbook: str, path: Path) -> HintRule:
    try:
        rule = HintRule(
            id=str(raw["id"]), playbook=playbook, priority=int(raw.get("priority", 3)),
            when=dict(raw.get("when") or {}), text=dict(raw["text"]), why=dict(raw.get("why") or {}),
            done_by=tuple(raw.get("done_by") or ()), done_since=str(raw.get("done_since", "call")),
            supervisor=bool(raw.get("supervisor", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path.name}: bad hint {raw!r}: {exc}") from exc
    missing = [lang for lang in LANGUAGES if not rule.text.get(lang)]
    if missing:
        raise ValueError(f"{path.name}: hint {rule.id} has no text for {missing}")
    return rule


def _validate(book: Playbook, intents: set[str], actions: set[str], cues: set[str]) -> None:
    ids = [h.id for h in book.hints]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate hint ids: {sorted(dupes)}")

    def check(rule: HintRule, when: dict[str, Any]) -> None:
        unknown = set(when) - CONDITION_KEYS
        if unknown:
            raise ValueError(f"hint {rule.id}: unknown conditions {sorted(unknown)}")
        for key in ("intents", "only_intents", "not_intents"):
            bad = set(when.get(key, [])) - intents
            if bad:
                raise ValueError(f"hint {rule.id}: unknown intents {sorted(bad)}")
        for key in ("actions_done", "not_done"):
            bad = set(when.get(key, [])) - actions
            if bad:
                raise ValueError(f"hint {rule.id}: unknown actions {sorted(bad)}")
        if "cue" in when and when["cue"] not in cues | actions:
            raise ValueError(f"hint {rule.id}: unknown cue {when['cue']!r}")
        for sub in when.get("any", []):
            check(rule, sub)

    for rule in book.hints:
        check(rule, rule.when)
        bad = set(rule.done_by) - actions
        if bad:
            raise ValueError(f"hint {rule.id}: unknown done_by actions {sorted(bad)}")
