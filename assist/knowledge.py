"""Knowledge assist: find the passage in the organisation's documents that answers
the customer's question.

The knowledge base is a folder of markdown/FAQ files (`SOUFFLEUR_KB_DIR`, default
the example KB in `prompts/kb/`). Each bullet (with its sub-bullets) or paragraph
is one passage, shown with its document and heading, never the whole document.
Retrieval is offline BM25 over light-stemmed tokens; a `Retriever` or `Reranker`
(embeddings, an LLM) can replace or refine it without touching the callers.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import yaml
from rank_bm25 import BM25Okapi

from assist.controls import document_version
from assist.text import content_tokens, detect_language, fold, stem, words

DEFAULT_KB_DIR = Path(__file__).resolve().parent.parent / "prompts" / "kb"


@dataclass(frozen=True)
class Passage:
    """One answerable unit of a document."""

    passage_id: str
    doc: str  # file name relative to the KB folder, e.g. "card-replacement.md"
    title: str
    heading: str
    text: str  # display text, markdown emphasis removed
    language: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    confidence: float
    matched: tuple[str, ...] = ()


class Retriever(Protocol):
    """Anything that ranks passages for a query (BM25 now; embeddings later)."""

    def search(self, query: str, language: str, k: int = 5) -> list[Hit]: ...


class Reranker(Protocol):
    """Optional second stage (e.g. a cross-encoder or the LLM) over the top hits."""

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]: ...


# ---------------------------------------------------------------- parsing

_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BOLD_LINE = re.compile(r"^\*\*(.+?)\*\*\s*$")


def _clean(md: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", md)
    text = re.sub(r"(?<!\w)\*(.+?)\*(?!\w)", r"\1", text)
    text = re.sub(r"\[(.+?)\]\([^)]*\)", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def parse_markdown(doc: str, markdown: str) -> list[Passage]:
    """Split a document into passages: top-level bullets (sub-bullets folded in) and paragraphs."""
    title, heading = doc, ""
    blocks: list[tuple[str, list[str]]] = []  # (heading, lines)
    current: list[str] | None = None

    def close() -> None:
        nonlocal current
        if current:
            blocks.append((heading, current))
        current = None

    for raw in markdown.splitlines():
        line = raw.rstrip()
        if not line.strip():
            close()
            continue
        h = _HEADING.match(line)
        if h:
            close()
            if len(h.group(1)) == 1 and title == doc:
                title = _clean(h.group(2))
            else:
                heading = _clean(h.group(2))
            continue
        b = _BOLD_LINE.match(line.strip())
        if b:
            close()
            heading = _clean(b.group(1))
            continue
        bullet = _BULLET.match(line)
        if bullet and not bullet.group(1):
            close()
            current = [bullet.group(2)]
        elif bullet and current is not None:
            current.append(bullet.group(2))
        elif current is not None:
            current.append(line.strip())
        else:
            current = [line.strip()]
    close()

    doc_lang = detect_language(markdown)
    out = []
    for i, (head, lines) in enumerate(blocks):
        text = _clean(" ".join(lines))
        lang = detect_language(head + " " + text, default=doc_lang)
        out.append(Passage(f"{doc}#{i}", doc, title, head, text, lang))
    return out


def load_passages(kb_dir: str | os.PathLike[str]) -> list[Passage]:
    root = Path(kb_dir)
    passages: list[Passage] = []
    for path in sorted(root.glob("*.md")):
        passages.extend(parse_markdown(path.name, path.read_text(encoding="utf-8")))
    return passages


def kb_dir_from_env() -> Path:
    return Path(os.environ.get("SOUFFLEUR_KB_DIR") or DEFAULT_KB_DIR)


# ---------------------------------------------------------------- retrieval


class _BM25(BM25Okapi):
    """BM25Okapi with the always-positive (Lucene) idf.

    Why: the classic idf goes negative for words in more than half of the
    passages, which breaks small knowledge bases (a one-document KB scores
    every match below zero).
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


class BM25Retriever:
    """BM25 over title + heading + passage text, tokenised per passage language.

    Confidence combines how much of the question's (idf-weighted) vocabulary the
    passage covers with the raw BM25 score, so that a single common word never
    makes a confident answer.
    """

    def __init__(self, passages: Sequence[Passage], glossary: dict[str, dict[str, str]] | None = None):
        self.passages = list(passages)
        self.glossary = glossary or {}
        self._docs = [self._index_tokens(p) for p in self.passages]
        self._sets = [set(d) for d in self._docs]
        self._bm25 = _BM25(self._docs or [["_"]], k1=1.2, b=0.6)
        df: Counter[str] = Counter()
        for toks in self._docs:
            df.update(set(toks))
        n = max(1, len(self._docs))
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        # Whole documents for the call-topic prior: the conversation as a whole
        # says which document is meant, the question says which passage.
        self._doc_names = sorted({p.doc for p in self.passages})
        doc_toks = {d: [] for d in self._doc_names}
        for p, toks in zip(self.passages, self._docs, strict=True):
            doc_toks[p.doc] += toks
        self._doc_bm25 = _BM25([doc_toks[d] or ["_"] for d in self._doc_names] or [["_"]])

    def _index_tokens(self, p: Passage) -> list[str]:
        toks = content_tokens(f"{p.title} {p.heading} {p.text}", p.language)
        return toks + _compound_parts(toks)

    def doc_prior(self, context: str, language: str) -> dict[str, float]:
        """Per document, how well it matches the conversation so far (0..1)."""
        toks = [t for t in self.query_tokens(context, language)]
        if not toks or not self._doc_names:
            return {}
        scores = self._doc_bm25.get_scores(toks)
        top = max(scores)
        return {d: float(sc) / top for d, sc in zip(self._doc_names, scores, strict=True) if sc > 0} if top > 0 else {}

    def query_tokens(self, query: str, language: str) -> list[str]:
        toks = content_tokens(query, language)
        toks += [t for t in _compound_parts(toks) if t in self._idf]
        return list(dict.fromkeys(toks))

    def scores(self, tokens: Sequence[str], language: str) -> list[float]:
        """BM25 per passage; passages in another language than the call count 0.7."""
        known = [t for t in tokens if t in self._idf]
        if not known or not self.passages:
            return [0.0] * len(self.passages)
        raw = self._bm25.get_scores(known)
        return [float(s) * (1.0 if p.language == language else 0.7)
                for s, p in zip(raw, self.passages, strict=True)]

    def coverage(self, tokens: Sequence[str], index: int) -> tuple[float, tuple[str, ...]]:
        """Idf-weighted share of the query words found in passage `index`."""
        total = sum(self._idf.get(t, 2.0) for t in tokens)
        matched = tuple(t for t in tokens if t in self._sets[index])
        if not total:
            return 0.0, matched
        return sum(self._idf[t] for t in matched) / total, matched

    def search(self, query: str, language: str, k: int = 5) -> list[Hit]:
        q = self.query_tokens(query, language)
        scores = self.scores(q, language)
        tokens_for = [q] * len(scores)
        other = {"en": "nl", "nl": "en"}.get(language)
        translated = translate(query, language, self.glossary) if other else ""
        if translated:
            # passages written in the other language are searched with the translated words
            tq = self.query_tokens(translated, other)  # type: ignore[arg-type]
            alt = self.scores(tq, other)  # type: ignore[arg-type]
            for i, p in enumerate(self.passages):
                if p.language == other and alt[i] * 0.8 > scores[i]:
                    scores[i], tokens_for[i] = alt[i] * 0.8, tq
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        hits = []
        for i in ranked:
            if scores[i] <= 0:
                continue
            cov, matched = self.coverage(tokens_for[i], i)
            conf = 0.6 * cov + 0.4 * min(1.0, scores[i] / 12.0)
            hits.append(Hit(self.passages[i], float(scores[i]), round(float(conf), 3), matched))
        return hits


GLOSSARY_PATH = Path(__file__).resolve().parent.parent / "prompts" / "kb_glossary.yaml"


@lru_cache(maxsize=2)
def load_glossary(path: str = str(GLOSSARY_PATH)) -> dict[str, dict[str, str]]:
    """{"nl": {dutch: english}, "en": {english: dutch}} from `prompts/kb_glossary.yaml`."""
    p = Path(path)
    if not p.exists():
        return {}
    nl_en = {str(k): str(v) for k, v in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})
             .get("nl_en", {}).items()}
    en_nl: dict[str, str] = {}
    for nl, en in nl_en.items():
        for word in en.split():
            en_nl.setdefault(word, nl)
    return {"nl": nl_en, "en": en_nl}


def translate(text: str, language: str, glossary: dict[str, dict[str, str]]) -> str:
    """The glossary translation of the words in `text` that have one (others dropped)."""
    table = glossary.get(language, {})
    if not table:
        return ""
    out = [table[w] for w, _, _ in words(text) if w in table]
    return " ".join(out)


def _compound_parts(tokens: list[str]) -> list[str]:
    """Dutch compounds: 'bezoekersvergunning' also indexes 'vergunning'.

    Why: Dutch writes compounds as one word, so a question about a 'vergunning'
    would otherwise miss a passage about a 'parkeervergunning'.
    """
    out = []
    for t in tokens:
        if len(t) < 9 or not t.isalpha():
            continue
        for tail in _TAILS:
            if t.endswith(tail) and len(t) - len(tail) >= 4:
                out.append(tail)
                break
    return out


_TAILS = tuple(sorted({stem(w, "nl") for w in (
    "vergunning", "verzekering", "regeling", "nummer", "kosten", "pas", "rekening", "termijn",
    "procedure", "bevestiging", "dienst", "premie", "risico", "achterstand", "adres", "datum",
    "kaart", "abonnement", "contract", "verklaring", "aanvraag", "wijziging", "levering", "klacht",
    "betaling", "schuld", "hulp", "code", "beding", "verbruik", "tarief", "bedrag", "bereik",
)}, key=len, reverse=True))


# ---------------------------------------------------------------- questions

_QUESTION_START = {
    "en": re.compile(
        r"(?:^|[.!?,]\s+|\b(?:and|but|so|also|then|ok|okay|right|um|uh)\s+)"
        r"(what|what's|how|when|where|why|which|who|can|could|do|does|did|is|are|will|would|should|"
        r"may|am|have|has|if)\b"),
    "nl": re.compile(
        r"(?:^|[.!?,]\s+|\b(?:en|maar|dus|ook|oke|nou|eh)\s+)"
        r"(wat|hoe|wanneer|waar|waarom|welke|wie|kan|kun|kunt|mag|moet|is|zijn|heb|heeft|krijg|"
        r"komt|gaat|wordt|zit|valt|geldt|hoeveel|als)\b"),
}
_NEED = {
    "en": re.compile(r"\b(i (want|need|would like|'d like) to know|i was wondering|tell me|"
                     r"(want|need) to make sure|i'?m not sure)\b"),
    "nl": re.compile(r"\b(ik wil (graag )?weten|ik vroeg me af|vertel eens|weet u|weet je)\b"),
}


def question_spans(text: str, language: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text` that ask something."""
    low = fold(text)
    spans = []
    for m in re.finditer(r"[^.!?]+[.!?]*", low):
        sent = m.group(0)
        if not sent.strip():
            continue
        lang = language if language in _QUESTION_START else "en"
        body = sent.strip()
        asks = body.endswith("?") or _NEED[lang].search(sent) or (
            _QUESTION_START[lang].match(body) is not None and len(body.split()) >= 3)
        if asks:
            start = m.start() + (len(sent) - len(sent.lstrip()))
            spans.append((start, m.end()))
    return spans


# Everyday paraphrases that FAQ documents word differently. Small on purpose:
# each entry is a general way of asking, not a phrase from one call.
_EXPANSIONS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "en": [(re.compile(p), add) for p, add in (
        (r"\bhow long\b|\bhow soon\b|\bwhen will\b", "days working days within"),
        (r"\bhow much\b|\bcost\b|\bprice\b", "cost fee price charge"),
        (r"\bfaster\b|\bquicker\b|\bsooner\b|\burgent", "express next working day"),
        (r"\b(not happy|disagree|unhappy|don't agree)\b", "unhappy ombudsman refer"),
        (r"\b(miss|missed|can't pay|cannot pay|don't pay|do not pay)\b", "arrears reminder"),
        (r"\bchange my mind\b|\bcancel\b", "cooling-off cancel"),
    )],
    "nl": [(re.compile(p), add) for p, add in (
        (r"\bhoe lang\b|\bhoe snel\b|\bwanneer\b", "werkdagen binnen"),
        (r"\bwat kost\b|\bhoeveel kost\b|\bkosten\b|\bprijs\b", "kosten"),
        (r"\bsneller\b|\bspoed|\bhaast\b|\bop tijd\b", "spoed spoedlevering volgende werkdag"),
        (r"niet (mee )?eens|niet tevreden|ontevreden", "niet tevreden geschillencommissie kifid"),
        (r"\bniet (kan )?betalen\b|\bachterstand\b", "achterstand betalingsregeling"),
        (r"\bbedenk|\bspijt\b", "bedenktijd"),
    )],
}


def expand_query(question: str, language: str) -> str:
    """Append the document-side words for common paraphrases in the question."""
    low = fold(question)
    extra = [add for pat, add in _EXPANSIONS.get(language, []) if pat.search(low)]
    return f"{question} {' '.join(extra)}" if extra else question


# ---------------------------------------------------------------- facade


@dataclass
class KnowledgeBase:
    """Passages plus a retriever; `answer()` is what the engine calls."""

    passages: list[Passage]
    retriever: Retriever
    reranker: Reranker | None = None
    min_confidence: float = 0.5
    min_matched: int = 2
    source: str = ""
    _by_doc: dict[str, list[Passage]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dir(cls, kb_dir: str | os.PathLike[str] | None = None) -> KnowledgeBase:
        return _cached_kb(str(Path(kb_dir) if kb_dir else kb_dir_from_env()))

    def search(self, query: str, language: str, k: int = 5) -> list[Hit]:
        hits = self.retriever.search(query, language, k)
        if self.reranker is not None and hits:
            hits = self.reranker.rerank(query, hits)
        return hits

    def answer(self, question: str, language: str, *, context: Sequence[str] = (),
               exclude: Sequence[str] = (), exclude_docs: Collection[str] = ()) -> Hit | None:
        """Best passage for `question` if confident enough, else None.

        `exclude` are passages already shown; `exclude_docs` documents a supervisor muted or
        retired (`assist.controls`): for this answer they are not in the knowledge base.

        `context` is the call so far (most recent last). Customers ask elliptical
        questions ("and what does it cost?"), so the call's topic decides which
        document is meant: documents that match the conversation get a prior,
        and the turn just before the question breaks ties.
        """
        prior = self._doc_prior(" ".join(context[-12:]), language)
        question = expand_query(question, language)
        q_hits = {h.passage.passage_id: h for h in self.search(question, language, k=30)}
        # an informative question needs the previous turn only to break ties
        w_ctx = 0.1 if len(q_hits) and len(content_tokens(question, language)) >= 3 else 0.35
        c_hits: dict[str, Hit] = {}
        if context:
            recent = " ".join(context[-2:])
            c_hits = {h.passage.passage_id: h for h in self.search(recent, language, k=30)}
        ranked: list[Hit] = []
        # the answer must match the question itself; context only re-ranks
        for pid in q_hits or c_hits:
            q, c = q_hits.get(pid), c_hits.get(pid)
            h = q or c
            assert h is not None
            p = prior.get(h.passage.doc, 0.0) if prior else 0.4  # no context: neutral prior
            rank = ((q.score if q else 0.0) + w_ctx * (c.score if c else 0.0)) * (0.6 + p)
            if q is None:
                conf = 0.4 * c.confidence * p  # type: ignore[union-attr]
            else:
                conf = 0.7 * q.confidence + 0.3 * p if prior else q.confidence
            if h.passage.doc in exclude_docs:
                continue
            ranked.append(Hit(h.passage, float(rank), round(float(conf), 3), q.matched if q else ()))
        ranked.sort(key=lambda x: -x.score)
        if not ranked:
            return None
        best = ranked[0]
        if best.passage.passage_id in exclude:
            # Already shown: a close runner-up from the same document may add the
            # missing detail; anything else would be a guess, so stay quiet.
            nxt = next((x for x in ranked[1:] if x.passage.passage_id not in exclude), None)
            if nxt is None or nxt.passage.doc != best.passage.doc or nxt.score < 0.7 * best.score:
                return None
            best = nxt
        if best.confidence < self.min_confidence:
            return None
        if len(best.matched) < self.min_matched and prior.get(best.passage.doc, 0.0) < 0.8:
            return None
        return best

    def doc_version(self, doc: str) -> str | None:
        """The document's fingerprint (its passages' text), None when the KB has no such document.
        A retired document (`assist.controls`) is answered from again once this changes."""
        if not self._by_doc:  # built whole, then swapped in: sessions share one KB across threads
            by_doc: dict[str, list[Passage]] = {}
            for p in self.passages:
                by_doc.setdefault(p.doc, []).append(p)
            self._by_doc = by_doc
        passages = self._by_doc.get(doc)
        if not passages:
            return None
        return document_version(p.heading + "\n" + p.text for p in passages)

    def documents(self) -> list[str]:
        return sorted({p.doc for p in self.passages})

    def _doc_prior(self, context: str, language: str) -> dict[str, float]:
        """Per document, how well it matches the whole conversation (0..1)."""
        if not context.strip():
            return {}
        if hasattr(self.retriever, "doc_prior"):
            return self.retriever.doc_prior(context, language)  # type: ignore[attr-defined]
        per_doc: dict[str, float] = {}
        for h in self.search(context, language, k=30):
            per_doc[h.passage.doc] = max(per_doc.get(h.passage.doc, 0.0), h.score)
        top = max(per_doc.values(), default=0.0)
        return {d: s / top for d, s in per_doc.items()} if top > 0 else {}


@lru_cache(maxsize=8)
def _cached_kb(kb_dir: str) -> KnowledgeBase:
    passages = load_passages(kb_dir)
    return KnowledgeBase(passages, BM25Retriever(passages, load_glossary()), source=kb_dir)
