"""Scoring the engine's output against labelled calls (used by benchmarks/assist.py).

Expected hints and summary points are free text ("verify identity", "explain
single item limit of 2,000 pounds"), so they are matched *semantically* with a
documented, deliberately simple matcher: both sides are reduced to stemmed
content words, a small table maps en/nl synonyms of common contact-centre
words to one concept, and an expected phrase counts as matched when enough of
its concepts occur in one shown suggestion.

Limits, honestly: this rewards shared vocabulary, not meaning. A hint worded
with entirely different words is missed (under-counts), and a hint that merely
mentions the same nouns can match (over-counts). Numbers are compared as
tokens, so "2,000" and "two thousand" differ. Treat the figures as a trend
indicator for development, not as a precise quality measure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assist.text import content_tokens

HINT_THRESHOLD = 0.5
SUMMARY_THRESHOLD = 0.4

# stem -> concept; both languages map to the same concept
_CONCEPTS: dict[str, list[str]] = {
    "verify": ["verify", "verifi", "verification", "verifieer", "verifier", "controleer", "controle", "check",
               "identiteitscontrole", "identiteit", "identity", "ident", "holder", "polishouder"],
    "explain": ["explain", "leg", "uitleg", "mention", "noem", "tell", "vertel", "inform", "warn", "waarschuw"],
    "offer": ["offer", "bied", "aanbod", "suggest", "stel", "voorstel"],
    "log": ["log", "register", "registreer", "regist", "record", "noteer", "vastleg"],
    "complaint": ["complaint", "klacht", "complain"],
    "reference": ["reference", "referentie", "klachtnummer", "nummer", "number"],
    "read_back": ["read", "lees", "repeat", "herhaal", "terug", "back", "confirm", "bevestig"],
    "address": ["address", "adres", "adr"],
    "card": ["card", "pas", "kaart"],
    "secret": ["passcode", "pincode", "pin", "code", "password", "wachtwoord"],
    "consent": ["consent", "toestemming", "permission"],
    "plan": ["plan", "regeling", "betalingsregel", "arrangement", "instal"],
    "fee": ["fee", "cost", "kost", "charge", "price", "pric", "prijs", "tarif", "tariff"],
    "refund": ["refund", "terugstort", "terugbetal", "terug"],
    "apologise": ["apologis", "apologi", "sorry", "excus", "spijt"],
    "empathy": ["empathy", "begrip", "frustration", "frustrat", "acknowledg", "erken"],
    "device": ["device", "phone", "telefoon", "toestel", "apparaat"],
    "remove": ["remove", "verwijder", "delete"],
    "freeze": ["freez", "froz", "blokkeer", "block"],
    "vulnerable": ["vulnerab", "kwetsbar", "kwetsbaar"],
    "debt": ["debt", "schuld", "schuldhulp", "financ"],
    "municipality": ["municipal", "municipality", "gemeente"],
    "written": ["written", "geschrev", "schrijv", "writ"],
    "formal": ["formal", "formel", "formeel"],
    "cover": ["cover", "dekking", "verzeker", "insur"],
    "limit": ["limit", "maximum", "maximaal"],
    "wait": ["wachtlijst", "waiting"],
    "permit": ["permit", "vergun"],
    "email": ["email", "mail", "e-mail"],
    "old": ["old", "oud"],
    "new": ["new", "nieuw"],
}
_CANON = {stem: concept for concept, stems in _CONCEPTS.items() for stem in stems}


def concepts(text: str, language: str) -> set[str]:
    out = set()
    for tok in content_tokens(text, language):
        out.add(_CANON.get(tok, tok))
    return out


def match_score(expected: str, shown: str, language: str) -> float:
    """Share of the expected phrase's concepts found in the shown text (0..1)."""
    e = concepts(expected, language)
    if not e:
        return 0.0
    return len(e & concepts(shown, language)) / len(e)


def best_match(expected: str, shown: Iterable[str], language: str) -> tuple[float, int]:
    best, idx = 0.0, -1
    for i, s in enumerate(shown):
        sc = match_score(expected, s, language)
        if sc > best:
            best, idx = sc, i
    return best, idx


def suggestion_texts(events: Iterable[Mapping[str, Any]], kinds: Sequence[str]) -> list[str]:
    out = []
    for e in events:
        if e.get("type") not in kinds or e.get("status") == "done":
            continue
        out.append(" ".join(str(e.get(k, "")) for k in ("text", "why", "heading")))
    return out


def hint_recall(expected: Sequence[str], shown: Sequence[str], language: str,
                threshold: float = HINT_THRESHOLD) -> dict[str, Any]:
    rows = []
    for exp in expected:
        score, idx = best_match(exp, shown, language)
        rows.append({"expected": exp, "score": round(score, 2), "matched": score >= threshold,
                     "by": shown[idx][:90] if idx >= 0 and score >= threshold else None})
    hit = sum(r["matched"] for r in rows)
    return {"expected": len(rows), "matched": hit, "rows": rows}


def summary_coverage(points: Sequence[str], summary_texts: Sequence[str], language: str,
                     threshold: float = SUMMARY_THRESHOLD) -> dict[str, Any]:
    """Labelled summary points covered by one of the summary's points, or by two
    neighbouring points together (a labelled point often joins two facts that
    an extractive summary states as two sentences)."""
    texts = list(summary_texts) + [f"{a} {b}" for a, b in zip(summary_texts, summary_texts[1:], strict=False)]
    rows = []
    for p in points:
        score, idx = best_match(p, texts, language)
        rows.append({"point": p, "score": round(score, 2), "covered": score >= threshold})
    return {"points": len(rows), "covered": sum(r["covered"] for r in rows), "rows": rows}


def knowledge_hits(kb_answers: Sequence[Mapping[str, str]], shown: Sequence[Mapping[str, Any]],
                   language: str) -> dict[str, Any]:
    """Per labelled KB question: was its document suggested in the call, and was a
    passage carrying the answer's gist shown?"""
    docs_shown = [str(e.get("doc", "")) for e in shown]
    rows = []
    for qa in kb_answers:
        doc = qa["doc"].split("/")[-1]
        doc_hit = doc in docs_shown
        texts = [str(e.get("text", "")) for e in shown if e.get("doc") == doc]
        gist, _ = best_match(qa.get("answer", ""), texts, language) if texts else (0.0, -1)
        rows.append({"question": qa["question"], "doc": doc, "doc_hit": doc_hit,
                     "answer_hit": doc_hit and gist >= 0.4})
    relevant = {qa["doc"].split("/")[-1] for qa in kb_answers}
    return {"questions": len(rows), "doc_hits": sum(r["doc_hit"] for r in rows),
            "answer_hits": sum(r["answer_hit"] for r in rows), "shown": len(shown),
            "shown_on_topic": sum(1 for d in docs_shown if d in relevant), "rows": rows}
