"""Post-call summary: extractive and grounded.

Every point is a sentence that was actually said (or a form value with its own
evidence), picked by simple, explainable rules: the customer's first statement
of the main intent is the reason; agent sentences that report an action are
what was done; sentences about the future, by who commits to them, are the
follow-ups. Nothing is paraphrased offline, so nothing can be invented; the
optional LLM pass may rewrite points but must cite existing segments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assist.grounding import evidence as seg_evidence
from assist.grounding import evidence_dicts
from assist.knowledge import question_spans
from assist.sentiment import SentimentTracker
from assist.text import content_tokens, fold, sentences, strip_fillers
from assist.tracker import CallTracker
from assist.types import Evidence, Segment

MAX_ACTIONS = 6
MAX_FOLLOW_UPS = 4
MAX_CONTEXT = 2
MAX_INFO = 4

_DONE = {
    "en": [re.compile(p) for p in (
        r"\b(i.?ve|i have|we.?ve|we have|i.?ve just|i.?ll|i will|i.?m going to|let me|i.?m|i am)\b.{0,40}"
        r"\b(log|logged|remov|add|added|adding|updat|chang|freez|froze|refund|put|set|sent|send|arrang|"
        r"book|noted|note|pass|order|cancel|unblock|credit|appli|apply|regist|adjust|reset|switch|"
        r"mov|giv|offer|raise|open|block|clos)",
        r"^(done|all done|sorted)\b",
        r"\b(that.?s|it.?s|is) (now |all )?(updated|done|sorted|frozen|removed|added|cancelled|blocked|"
        r"logged|changed|active|arranged|set up)\b",
        r"\b(changes|plan|credit|refund|debit|card) (\w+ ){0,3}(appl|start|will be|is being|go(es)? to)",
        r"\b(i can (give|offer|add|refund|waive)|we can (offer|give|avoid))\b",
    )],
    "nl": [re.compile(p) for p in (
        r"\b(ik|we) (heb|hebben|zet|stuur|registreer|pas|ga|zal|regel|geef|maak|noteer|blokkeer|"
        r"verwijder|wijzig|boek|verwerk)\b",
        r"\b(is|zijn|wordt|worden) (nu |al )?(aangepast|geregeld|gewijzigd|teruggestort|verwerkt|"
        r"geregistreerd|verstuurd|geblokkeerd|toegevoegd|opgezegd|aangevraagd|gestuurd)\b",
        r"^(top|klaar|geregeld),? dat is",
        r"\b(dan is alles geregeld|dat is aangepast)\b",
    )],
}
_FOLLOW = {
    "back_office": {
        "en": r"\b(you.?ll|you will) (receive|get|be sent|hear|see)\b|\bwe.?ll (send|email|post|call|contact|write|be in touch)\b|"
              r"\bwill be (sent|added|emailed|posted|credited|refunded|collected|reviewed|assessed)\b|"
              r"\b(confirmation|letter|schedule|acknowledg\w*|email|text) (\w+ ){0,3}(within|in the post|to follow|by)\b",
        "nl": r"\b(u|je) (krijgt|ontvangt)\b|\bwe (sturen|nemen|bellen|mailen)\b|"
              r"\bwordt (binnen|teruggestort|verstuurd|gemaild|beoordeeld|verwerkt)\b|\bbinnen (\w+ )?(werk)?(dagen|weken)\b",
    },
    "agent": {
        "en": r"\b(i.?ll|i will) (email|send|call|ring|phone|pass|put|note|arrange|follow up|check|chase|escalate)\b|"
              r"\b(callback|call you back|note for a call)\b",
        "nl": r"\bik (stuur|bel|geef|zorg|regel|mail)\b|\bterugbel",
    },
    "instruct": {  # the agent asks the customer to do something
        "en": r"\b(please|make sure you|don.?t forget to|you.?ll need to|you need to|you can then)\b",
        "nl": r"\b(u moet|je moet|vergeet niet|wilt u|wil je|u kunt (\w+ ){0,4}(uploaden|aanvragen|doorgeven))\b",
    },
    "commit": {  # the customer says they will do something
        "en": r"\b(i.?ll|i will|i.?m going to|i.?m gonna) (?!be\b|have\b|need\b)\w+|\bwill do\b",
        "nl": r"\bik (zal|ga) (?!niet\b)\w+|\b(zal|ga) ik\b|\bdat doe ik\b|\bdan wacht ik\b",
    },
}

_HOLD = re.compile(r"\b(one moment|bear with me|let me check|hold on|just a (moment|second|sec)|"
                   r"een moment(je)?|ogenblik(je)?)\b")
_FOLLOW_RE = {owner: {lang: re.compile(p) for lang, p in by.items()} for owner, by in _FOLLOW.items()}
_FACT = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|hundred|"
                   r"thousand|pounds?|euros?|weeks?|months?|days?|een|twee|drie|vier|vijf|zes|zeven|acht|"
                   r"negen|tien|twintig|honderd|duizend|weken|maanden|dagen|werkdagen)\b")

LABELS = {
    "en": {"reason": "Reason", "done": "Done", "outcome": "Outcome", "follow": "Follow-up",
           "form": "Form", "mood": "Customer mood", "esc": "Escalation", "disp": "Disposition",
           "yes": "yes", "no": "no", "context": "Customer said", "info": "Explained", "kb": "Knowledge used",
           "agent": "agent", "customer": "customer", "back_office": "back office",
           "resolved": "resolved during the call", "follow_up": "resolved, with follow-up actions",
           "escalated": "escalated / needs supervisor attention", "information": "information given",
           "open": "no action recorded"},
    "nl": {"reason": "Reden", "done": "Gedaan", "outcome": "Uitkomst", "follow": "Vervolg",
           "form": "Formulier", "mood": "Stemming klant", "esc": "Escalatie", "disp": "Afhandelcode",
           "yes": "ja", "no": "nee", "context": "Klant zei", "info": "Uitgelegd", "kb": "Gebruikte kennis",
           "agent": "medewerker", "customer": "klant", "back_office": "backoffice",
           "resolved": "opgelost tijdens het gesprek", "follow_up": "opgelost, met vervolgacties",
           "escalated": "geëscaleerd / aandacht leidinggevende nodig", "information": "informatie gegeven",
           "open": "geen actie vastgelegd"},
}


@dataclass(frozen=True)
class Sentence:
    seg: Segment
    index: int
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.seg.text[self.start:self.end]

    def evidence(self) -> Evidence:
        return seg_evidence(self.seg, self.start, self.end)


def _all_sentences(segments: Sequence[Segment]) -> list[Sentence]:
    return [Sentence(seg, i, a, b) for i, seg in enumerate(segments) for a, b in sentences(seg.text)]


def _point(kind: str, sents: Sequence[Sentence], owner: str | None = None) -> dict[str, Any]:
    text = " ".join(strip_fillers(s.text) for s in sents)
    p = {"kind": kind, "text": text, "segment_ids": sorted({s.seg.segment_id for s in sents},
                                                           key=lambda x: int(x[1:]) if x[1:].isdigit() else 0),
         "evidence": evidence_dicts([s.evidence() for s in sents])}
    if owner:
        p["owner"] = owner
    return p


def _near_duplicate(a: str, b: str, lang: str) -> bool:
    ta, tb = set(content_tokens(a, lang)), set(content_tokens(b, lang))
    return bool(ta) and len(ta & tb) / len(ta) >= 0.7


def build_summary(tracker: CallTracker, sentiment: SentimentTracker, *, language: str,
                  form_values: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]] = (),
                  knowledge: Sequence[Mapping[str, Any]] = (), call_id: str = "",
                  field_labels: Mapping[str, str] | None = None,
                  personal_data: Sequence[Evidence] = ()) -> dict[str, Any]:
    """The Summary event (minus id): structured points plus a readable text.

    `personal_data` are the spans where form values were said; sentences that
    contain them are not quoted (the values appear once, in the form section).
    """
    lang = language if language in LABELS else "en"
    segs = tracker.segments
    spans: dict[str, list[tuple[int, int]]] = {}
    for e in personal_data:
        spans.setdefault(e.segment_id, []).append((e.char_start, e.char_end))
    sents = [x for x in _all_sentences(segs)
             if not any(a < x.end and x.start < b for a, b in spans.get(x.seg.segment_id, []))]
    used: set[tuple[int, int]] = set()

    # reason: the sentence where the customer stated the main intent
    main = tracker.main_intent()
    reason_pt = None
    if main:
        det = tracker.intents[main]
        s = next((x for x in sents if x.seg.segment_id == det.evidence.segment_id
                  and x.start <= det.evidence.char_start < x.end), None)
        if s is not None:
            group = [s]
            nxt = next((x for x in sents if x.index == s.index and x.start >= s.end), None)
            if len(s.text.split()) < 8 and nxt is not None:
                group.append(nxt)
            reason_pt = _point("reason", group)
            used.update((x.index, x.start) for x in group)
    if reason_pt is None:
        first = next((x for x in sents if x.seg.speaker == "customer" and len(x.text.split()) >= 4), None)
        if first is not None:
            reason_pt = _point("reason", [first])
            used.add((first.index, first.start))

    # what was done: agent sentences reporting an action
    done_res = _DONE.get(lang, _DONE["en"])
    actions: list[dict[str, Any]] = []
    for s in sents:
        if s.seg.speaker != "agent" or (s.index, s.start) in used or s.index == 0:
            continue
        low = fold(s.text)
        if "?" in s.text or not any(r.search(low) for r in done_res):
            continue
        if any(_near_duplicate(s.text, a["text"], lang) for a in actions):
            continue
        score = 1.0 + (0.5 if _FACT.search(low) else 0.0) + min(len(s.text.split()), 25) / 25
        actions.append({**_point("action", [s]), "_score": score, "_i": (s.index, s.start)})
    actions = sorted(sorted(actions, key=lambda a: -a["_score"])[:MAX_ACTIONS], key=lambda a: a["_i"])
    used.update(a["_i"] for a in actions)

    # follow-ups with owners
    follow_ups: list[dict[str, Any]] = []
    for s in sents:
        if (s.index, s.start) in used:
            continue
        low = fold(s.text)
        owner = _owner(low, s.seg.speaker, lang) if len(s.text.split()) >= 4 else None
        if owner is None or any(_near_duplicate(s.text, f["text"], lang) for f in follow_ups):
            continue
        follow_ups.append({**_point("follow_up", [s], owner), "_i": (s.index, s.start)})
    follow_ups = follow_ups[-MAX_FOLLOW_UPS:]
    used.update(f["_i"] for f in follow_ups)

    # information given: the agent's answer to each customer question
    info = _answers(sents, used, lang)
    used.update(i["_i"] for i in info)

    # customer context: informative customer sentences (facts, strong feelings)
    context: list[dict[str, Any]] = []
    scores = {h.segment_id: h.score for h in sentiment.history.get("customer", [])}
    for s in sents:
        if s.seg.speaker != "customer" or (s.index, s.start) in used or s.index <= 1:
            continue
        toks = content_tokens(s.text, lang)
        if len(toks) < 4:
            continue
        weight = len(toks) / 10 + (0.8 if _FACT.search(fold(s.text)) else 0) + abs(scores.get(s.seg.segment_id, 0))
        context.append({**_point("context", [s]), "_score": weight, "_i": (s.index, s.start)})
    context = sorted(sorted(context, key=lambda c: -c["_score"])[:MAX_CONTEXT], key=lambda c: c["_i"])

    escalated = any(a.get("escalate") for a in alerts)
    if escalated:
        status = "escalated"
    elif any(f["owner"] in ("agent", "back_office") for f in follow_ups):
        status = "follow_up"
    elif actions:
        status = "resolved"
    elif knowledge or info or main in (None, "product_information"):
        status = "information"
    else:
        status = "open"
    disposition = f"{(main or 'general').upper()}/{status.upper()}"

    last_action = actions[-1] if actions else None
    outcome = {"kind": "outcome", "status": status, "text": LABELS[lang][status],
               "segment_ids": last_action["segment_ids"] if last_action else [],
               "evidence": last_action["evidence"] if last_action else []}

    labels = field_labels or {}
    form_points = []
    for fid, fv in form_values.items():
        ev = [e.to_dict() if hasattr(e, "to_dict") else e for e in getattr(fv, "evidence", [])]
        if not ev:
            continue  # a value without evidence is never reported
        form_points.append({"kind": "form", "field": fid, "label": labels.get(fid, fid),
                            "text": f"{labels.get(fid, fid)}: {fv.value}", "value": fv.value,
                            "status": getattr(fv, "status", ""),
                            "segment_ids": sorted({e["segment_id"] for e in ev}), "evidence": ev})

    for lst in (actions, follow_ups, context, info):
        for p in lst:
            p.pop("_score", None)
            p.pop("_i", None)
    trend = sentiment.trend("customer")
    points = ([reason_pt] if reason_pt else []) + context + info + actions + follow_ups + form_points
    def kind(a: Mapping[str, Any]) -> str:
        return a["kind"] + (f".{a['subkind']}" if a.get("subkind") else "")

    kinds = sorted({kind(a) for a in alerts})
    reasons = sorted({kind(a) for a in alerts if a.get("escalate")})
    summary = {
        "type": "Summary",
        "call_id": call_id,
        "language": lang,
        "reason": reason_pt,
        "intents": tracker.intent_order(),
        "main_intent": main,
        "context": context,
        "information": info,
        "actions": actions,
        "outcome": outcome,
        "follow_ups": follow_ups,
        "disposition": disposition,
        "form": {p["field"]: p["value"] for p in form_points},
        "form_values": form_points,
        "sentiment": trend,
        "escalation": escalated,
        "alerts": kinds,
        "escalation_reasons": reasons,
        "knowledge": sorted({k.get("doc", "") for k in knowledge if k.get("doc")}),
        "points": points,
        "confidence": 0.7 if reason_pt else 0.4,
        "evidence": _union_evidence(points),
    }
    summary["text"] = render_text(summary)
    return summary


def _answers(sents: Sequence[Sentence], used: set[tuple[int, int]], lang: str) -> list[dict[str, Any]]:
    """For each customer question, the first informative sentence(s) of the agent's reply."""
    out: list[dict[str, Any]] = []
    by_index: dict[int, list[Sentence]] = {}
    for s in sents:
        by_index.setdefault(s.index, []).append(s)
    for s in sents:
        if s.seg.speaker != "customer" or not question_spans(s.text, lang):
            continue
        reply = by_index.get(s.index + 1, [])
        if not reply or reply[0].seg.speaker != "agent":
            continue
        picked = []
        for r in reply:
            low = fold(r.text)
            if (r.index, r.start) in used or "?" in r.text or _HOLD.search(low):
                continue
            if len(r.text.split()) >= 4:
                picked.append(r)
            if sum(len(x.text.split()) for x in picked) >= 12:
                break
        if not picked or any(_near_duplicate(" ".join(x.text for x in picked), o["text"], lang) for o in out):
            continue
        weight = sum(0.5 for x in picked if _FACT.search(fold(x.text))) + 0.1 * len(picked)
        out.append({**_point("information", picked), "question": strip_fillers(s.text),
                    "_score": weight, "_i": (picked[0].index, picked[0].start)})
        used.update((x.index, x.start) for x in picked)
    keep = sorted(out, key=lambda o: -o["_score"])[:MAX_INFO]
    return sorted(keep, key=lambda o: o["_i"])


def _owner(low: str, speaker: str, lang: str) -> str | None:
    """Who has to act: the customer, the agent, or the back office.

    An agent telling the customer to do something ("please keep the
    certificate") is a customer action; "you'll receive a letter" is work for
    the back office; "I'll call you back" is the agent's.
    """
    l2 = lang if lang in ("en", "nl") else "en"
    if "?" in low or _HOLD.search(low):
        return None
    if speaker == "customer":
        return "customer" if _FOLLOW_RE["commit"][l2].search(low) else None
    for key, owner in (("agent", "agent"), ("back_office", "back_office"), ("instruct", "customer")):
        if _FOLLOW_RE[key][l2].search(low):
            return owner
    return None


def _union_evidence(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for p in points:
        for e in p.get("evidence", []):
            key = (e["segment_id"], e["char_start"], e["char_end"])
            if key not in seen:
                seen.add(key)
                out.append(e)
    return out


def render_text(s: Mapping[str, Any]) -> str:
    """A short readable summary in the call's language."""
    L = LABELS.get(s.get("language", "en"), LABELS["en"])
    lines = []
    if s.get("reason"):
        lines.append(f"{L['reason']}: {s['reason']['text']}")
    for c in s.get("context", []):
        lines.append(f"{L['context']}: {c['text']}")
    if s.get("information"):
        lines.append(f"{L['info']}:")
        lines += [f"- {i['text']}" for i in s["information"]]
    if s.get("actions"):
        lines.append(f"{L['done']}:")
        lines += [f"- {a['text']}" for a in s["actions"]]
    lines.append(f"{L['outcome']}: {s['outcome']['text']}")
    if s.get("follow_ups"):
        lines.append(f"{L['follow']}:")
        lines += [f"- ({L[f['owner']]}) {f['text']}" for f in s["follow_ups"]]
    if s.get("form_values"):
        lines.append(f"{L['form']}: " + "; ".join(f"{p['label']}: {p['value']}" for p in s["form_values"]))
    if s.get("knowledge"):
        lines.append(f"{L['kb']}: " + ", ".join(s["knowledge"]))
    t = s.get("sentiment") or {}
    if t.get("segments"):
        lines.append(f"{L['mood']}: {t['start_label']} -> {t['end_label']} ({t['direction']})")
    reasons = s.get("escalation_reasons") or []
    esc = (L["yes"] + (f" ({', '.join(reasons)})" if reasons else "")) if s.get("escalation") else L["no"]
    lines.append(f"{L['esc']}: {esc}")
    lines.append(f"{L['disp']}: {s['disposition']}")
    return "\n".join(lines)
