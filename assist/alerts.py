"""Supervisor alerts: angry customer, complaint, vulnerability and compliance.

Rules sit on top of the tracker (intents, agent actions, cues) and the running
sentiment. Each alert kind is raised at most once per call, with the words that
triggered it, so a supervisor can judge it in seconds. `escalate` marks the
kinds that need a supervisor or special care (angry, complaint, vulnerable);
compliance alerts inform but do not escalate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assist.grounding import evidence as seg_evidence
from assist.grounding import evidence_dicts
from assist.sentiment import SentimentScore
from assist.tracker import CallTracker
from assist.types import Evidence

COMPLIANCE_PATH = Path(__file__).resolve().parent.parent / "prompts" / "compliance.yaml"
ANGRY_SCORE = -0.4  # a customer turn this negative plus an anger cue = angry
VULNERABLE = {"bereavement": "bereavement", "financial_hardship": "hardship",
              "health_vulnerability": "health"}

TEXT: dict[str, dict[str, str]] = {
    "angry_customer": {"en": "Angry customer: consider supervisor support.",
                       "nl": "Boze klant: overweeg ondersteuning door een leidinggevende."},
    "complaint": {"en": "Complaint: make sure it is logged formally with a reference.",
                  "nl": "Klacht: zorg dat die formeel wordt geregistreerd met een klachtnummer."},
    "ai_complaint": {"en": "Written (AI-drafted) complaint: handle as a formal written complaint.",
                     "nl": "Schriftelijke (met AI geschreven) klacht: formeel behandelen."},
    "vulnerability.bereavement": {"en": "Vulnerable customer: bereavement.",
                                  "nl": "Kwetsbare klant: overlijden."},
    "vulnerability.hardship": {"en": "Vulnerable customer: financial hardship.",
                               "nl": "Kwetsbare klant: financiële problemen."},
    "vulnerability.health": {"en": "Vulnerable customer: health situation.",
                             "nl": "Kwetsbare klant: gezondheid."},
    "compliance.identity": {"en": "Account data discussed before identity verification.",
                            "nl": "Accountgegevens besproken vóór identiteitscontrole."},
    "compliance.credential_said": {"en": "Customer started to say a passcode/PIN: check it is redacted.",
                                   "nl": "Klant begon een pincode/wachtwoord te noemen: controleer dat het is verwijderd."},
    "compliance.credential_asked": {"en": "Agent asked for a passcode, PIN or full card number.",
                                    "nl": "Medewerker vroeg om pincode, wachtwoord of volledig pasnummer."},
    "compliance.closing": {"en": "Call ended without asking whether there was anything else.",
                           "nl": "Gesprek beëindigd zonder te vragen of er nog iets was."},
    "compliance.recording": {"en": "No call-recording notice by the agent.",
                             "nl": "Geen melding door de medewerker dat het gesprek wordt opgenomen."},
}


@lru_cache(maxsize=4)
def load_compliance(path: str = str(COMPLIANCE_PATH)) -> dict[str, Any]:
    p = Path(path)
    return yaml.safe_load(p.read_text(encoding="utf-8")) if p.exists() else {}


@dataclass
class AlertEngine:
    language: str = "en"
    config: dict[str, Any] = field(default_factory=load_compliance)
    raised: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> event
    _negative_run: list[SentimentScore] = field(default_factory=list)
    _counter: int = 0
    # supervisor controls (assist.controls): (kind such as "vulnerability.health", confidence)
    # -> may it be raised? One it stops is not marked raised, so it can be raised once allowed.
    allow: Callable[[str, float], bool] = lambda kind, confidence: True

    @property
    def escalated(self) -> bool:
        return any(a["escalate"] for a in self.raised.values())

    def on_segment(self, tr: CallTracker, score: SentimentScore | None) -> list[dict[str, Any]]:
        seg = tr.segments[-1]
        out: list[dict[str, Any]] = []
        if seg.speaker == "customer" and score is not None:
            self._negative_run = (self._negative_run + [score])[-2:] if score.score <= ANGRY_SCORE else []
            anger = tr.cue("anger")
            if anger and score.score <= ANGRY_SCORE:
                ev = [seg_evidence(seg, anger.start, anger.end)]
                out += self._raise("angry_customer", "warning", True, ev, 0.85)
            elif len(self._negative_run) == 2:
                segs = {s.segment_id: s for s in tr.segments}
                ev = [seg_evidence(segs[s.segment_id]) for s in self._negative_run]
                out += self._raise("angry_customer", "warning", True, ev, 0.7)
            if tr.cue("ai_written"):
                m = tr.cue("ai_written")
                assert m is not None
                out += self._raise("ai_complaint", "warning", True, [seg_evidence(seg, m.start, m.end)], 0.8)
        if "complaint" in tr.intents:
            det = tr.intents["complaint"]
            out += self._raise("complaint", "warning", True, [det.evidence], 0.8)
        for intent, sub in VULNERABLE.items():
            if intent in tr.intents:
                out += self._raise(f"vulnerability.{sub}", "critical", True,
                                   [tr.intents[intent].evidence], 0.8)
        out += self._compliance(tr)
        return out

    def finish(self, tr: CallTracker) -> list[dict[str, Any]]:
        """End-of-call compliance checks (things that should have been said)."""
        out: list[dict[str, Any]] = []
        agent = [s for s in tr.segments if s.speaker == "agent"]
        if not agent:
            return out
        if self.config.get("closing_question", True) and len(tr.segments) >= 6 and not tr.done("anything_else"):
            out += self._raise("compliance.closing", "info", False, [seg_evidence(agent[-1])], 0.6)
        if self.config.get("recording_notice", False):
            said = any(tr.cue("recording_notice", i) for i, s in enumerate(tr.segments)
                       if s.speaker == "agent")
            if not said:
                out += self._raise("compliance.recording", "info", False, [seg_evidence(agent[0])], 0.6)
        return out

    def _compliance(self, tr: CallTracker) -> list[dict[str, Any]]:
        seg = tr.segments[-1]
        out: list[dict[str, Any]] = []
        if not self.config.get("credentials", True):
            return out
        if seg.speaker == "customer":
            m = tr.cue("passcode_disclosure") or tr.cue("card_number_disclosure")
            if m:
                out += self._raise("compliance.credential_said", "warning", False,
                                   [seg_evidence(seg, m.start, m.end)], 0.85)
        else:
            m = tr.cue("agent_asks_credentials")
            if m:
                out += self._raise("compliance.credential_asked", "critical", False,
                                   [seg_evidence(seg, m.start, m.end)], 0.85)
            disclosed = tr.cue("disclosure")
            needs_id = set(self.config.get("identity_intents", [])) & set(tr.intents)
            verified = tr.identity_verified_at()
            if (disclosed and needs_id and self.config.get("identity_before_disclosure", True)
                    and (verified is None or verified > tr.index)):
                out += self._raise("compliance.identity", "warning", False,
                                   [seg_evidence(seg, disclosed.start, disclosed.end)], 0.7)
        return out

    def _raise(self, kind: str, severity: str, escalate: bool, ev: list[Evidence],
               confidence: float) -> list[dict[str, Any]]:
        if kind in self.raised or not ev or not self.allow(kind, confidence):
            return []
        self._counter += 1
        lang = self.language if self.language in ("en", "nl") else "en"
        event = {
            "type": "Alert", "id": f"alert-{self._counter}", "kind": kind.split(".")[0],
            "subkind": kind.split(".")[1] if "." in kind else None, "severity": severity,
            "escalate": escalate, "text": TEXT[kind][lang], "confidence": confidence,
            "evidence": evidence_dicts(ev), "audience": "supervisor",
        }
        self.raised[kind] = event
        return [event]
