"""AssistSession: one call's agent-assist engine.

The core is pure and synchronous: `on_segment` turns one final transcript
segment into events (form values, hints, knowledge answers, alerts, sentiment)
within the per-segment budget, deterministically and offline. The optional LLM
runs beside it (`refine`, `afinish`), never in the fast path, and everything it
proposes is checked against the transcript before it is shown. Events are plain
JSON-able dicts; the server adds call_id, sequence numbers and timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from assist.alerts import AlertEngine
from assist.autofill import FormFiller, FormValue
from assist.autofill.alternatives import FieldRequest
from assist.controls import EMPTY, Context, ControlSet, LiveControls, Verdict
from assist.feedback import AuditStore, MemoryAuditStore, suggestion_key
from assist.forms import FormSpec, load_form
from assist.grounding import evidence as seg_evidence
from assist.grounding import evidence_dicts
from assist.hints import HintEngine, HintInput
from assist.knowledge import KnowledgeBase, question_spans
from assist.llm import LLMClient, LLMRefiner
from assist.playbooks import Playbook, load_playbook
from assist.sentiment import SentimentTracker
from assist.summary import build_summary
from assist.tracker import CallTracker
from assist.types import Feedback, Segment

SUGGESTION_TYPES = {"FormValue", "Hint", "KnowledgeAnswer", "Summary"}
CONTEXT_SEGMENTS = 12  # how much of the call the knowledge lookup sees as topic


class AssistSession:
    """Everything the assistant knows and suggests about one call."""

    def __init__(self, call_id: str, language: str = "en", *, form: FormSpec | str | None = None,
                 kb: KnowledgeBase | None | bool = None, llm: LLMClient | None = None,
                 audit: AuditStore | None = None, playbook: Playbook | None = None,
                 clock: Callable[[], float] = time.time,
                 controls: ControlSet | LiveControls | None = None):
        self.call_id = call_id
        self.language = language
        self.form = load_form(form) if isinstance(form, str) else (form or load_form())
        self.filler = FormFiller(self.form, language)
        self.kb: KnowledgeBase | None = (KnowledgeBase.from_dir() if kb is None or kb is True
                                         else kb or None)
        self.playbook = playbook or load_playbook()
        self.tracker = CallTracker(self.playbook, language)
        self.sentiment = SentimentTracker(language)
        self.hints = HintEngine(self.playbook, language)
        self.alerts = AlertEngine(language)
        self.audit: AuditStore = audit if audit is not None else MemoryAuditStore()
        self.llm = llm
        self.refiner = LLMRefiner(llm, language) if llm is not None else None
        self.clock = clock
        self.suggestions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.timings: list[float] = []  # seconds spent in on_segment, per segment
        self.field_since: dict[str, int] = {}
        self.finished = False
        self._seen: set[str] = set()
        self._kb_shown: list[str] = []
        self._notices = 0
        self._pending_notices: list[dict[str, Any]] = []
        self._summary: dict[str, Any] | None = None
        self.field_labels = {f.id: f.label_for(language) for f in self.form.fields}
        # supervisor controls (assist/controls.py): read once per segment, so a change made
        # during the call applies from the next segment on
        self.live_controls = controls if isinstance(controls, LiveControls) else LiveControls(controls or EMPTY)
        self.controls: ControlSet = self.live_controls.get()
        self.suppressed: list[dict[str, Any]] = []  # what a control stopped (first time per target)
        self._suppressed_keys: set[tuple[str, str]] = set()
        self.hints.allow = self._hint_allowed
        self.alerts.allow = self._alert_allowed

    # ------------------------------------------------------------ fast path

    def on_segment(self, seg: Segment) -> list[dict[str, Any]]:
        """Process one final segment; returns the new events (never raises for bad input)."""
        t0 = time.perf_counter()
        if seg.segment_id in self._seen:
            return []  # a re-sent final result must not duplicate suggestions
        self._seen.add(seg.segment_id)
        self.controls = self.live_controls.get()
        out: list[dict[str, Any]] = []
        self.tracker.observe(seg)
        score = self.sentiment.on_segment(seg)
        out.append(self.sentiment.event(score, seg))

        new_values = self._safe(lambda: self.filler.on_segment(seg), "autofill", [])
        shown_values = []
        for fv in new_values:
            if not fv.evidence:
                continue  # contract: a value without evidence is never emitted
            self.field_since.setdefault(fv.field, self.tracker.index)
            if self._value_allowed(fv):
                shown_values.append(fv)
                out.append(fv.to_event())

        out += self.hints.on_segment(HintInput(
            tracker=self.tracker, new_values=shown_values,
            values=self.filler.current(), field_since=self.field_since,
            sentiment=score.score if seg.speaker == "customer" else None,
            field_labels={k: v if v[:2].isupper() else v.lower() for k, v in self.field_labels.items()}))
        if seg.speaker == "customer" and self.kb is not None:
            answer = self._knowledge(seg)
            if answer:
                out.append(answer)
        out += self.alerts.on_segment(self.tracker, score if seg.speaker == "customer" else None)
        out += self._take_notices()
        self._emit(out)
        self.timings.append(time.perf_counter() - t0)
        return out

    @property
    def from_audio(self) -> bool:
        """Segments come from speech recognition: values no validator checks need a second
        hearing to be shown as filled (the service sets it for live calls)."""
        return self.filler.from_audio

    @from_audio.setter
    def from_audio(self, value: bool) -> None:
        self.filler.from_audio = value

    def field_request(self, segment_id: str) -> FieldRequest | None:
        """After a caller turn: the fields to decode it again for (field-aware decoding)."""
        return self._safe(lambda: self.filler.field_request(segment_id), "autofill", None)

    def on_alternatives(self, segment_id: str,
                        decodes: list[list[tuple[str, float]]]) -> list[dict[str, Any]]:
        """The n best hypotheses of a caller turn decoded again; returns the changed values."""
        self.controls = self.live_controls.get()
        values = self._safe(lambda: self.filler.on_alternatives(segment_id, decodes), "autofill", [])
        out = [fv.to_event() for fv in values if fv.evidence and self._value_allowed(fv)]
        out += self._take_notices()
        self._emit(out)
        return out

    def _knowledge(self, seg: Segment) -> dict[str, Any] | None:
        spans = question_spans(seg.text, self.language)
        if not spans:
            return None
        question = " ".join(seg.text[a:b] for a, b in spans)
        # the call so far, ending with this whole turn (a question often follows its own context:
        # "I'd like to add my partner to my policy. Can I do that mid-year?")
        context = [s.text for s in self.tracker.segments[-CONTEXT_SEGMENTS:]]
        kb = self.kb
        if kb is None:
            return None
        stopped = self._stopped_docs(kb)
        hit = kb.answer(question, self.language, context=context, exclude=self._kb_shown,
                        exclude_docs=stopped)
        if stopped:  # would a stopped document have answered? (the report counts what controls stop)
            raw = kb.answer(question, self.language, context=context, exclude=self._kb_shown)
            if raw is not None and raw.passage.doc in stopped:
                self._allowed("kb", [("kb", raw.passage.doc)], None,
                              doc_version=kb.doc_version(raw.passage.doc))
        if hit is None or not self._allowed("kb", [("kb", hit.passage.doc)], hit.confidence,
                                            doc_version=kb.doc_version(hit.passage.doc)):
            return None
        self._kb_shown.append(hit.passage.passage_id)
        p = hit.passage
        return {
            "type": "KnowledgeAnswer", "id": f"kb-{len(self._kb_shown)}", "question": question,
            "doc": p.doc, "title": p.title, "heading": p.heading, "text": p.text,
            "passage_id": p.passage_id, "confidence": hit.confidence, "matched": list(hit.matched),
            "evidence": evidence_dicts([seg_evidence(seg, spans[0][0], spans[-1][1])]),
            "source": "bm25",
        }

    # ------------------------------------------------------------ feedback

    def on_feedback(self, fb: Feedback) -> list[dict[str, Any]]:
        """Apply an agent's accept/edit/dismiss and record it in the audit trail."""
        sugg = self.suggestions.get(fb.suggestion_id)
        if sugg is None:
            return [self._notice("warning", "unknown_suggestion",
                                 f"feedback for unknown suggestion {fb.suggestion_id!r}")]
        if fb.action not in ("accept", "edit", "dismiss"):
            return [self._notice("warning", "bad_feedback", f"unknown action {fb.action!r}")]
        out: list[dict[str, Any]] = []
        if sugg["type"] == "FormValue":
            updated = self._safe(lambda: self.filler.apply_feedback(fb.suggestion_id, fb.action, fb.value),
                                 "autofill", None)
            if updated is not None:
                out.append(updated.to_event())
        out += self._take_notices()
        self.audit.append({
            "kind": "feedback", "call_id": self.call_id, "ts": self.clock(),
            "suggestion_id": fb.suggestion_id, "suggestion_type": sugg["type"],
            "key": suggestion_key(sugg), "action": fb.action, "value": fb.value,
            "suggested": sugg.get("value", sugg.get("text")), "agent": fb.agent, "extra": fb.extra,
        })
        out.insert(0, {"type": "FeedbackRecorded", "id": f"fb-{fb.suggestion_id}-{len(self.events)}",
                       "suggestion_id": fb.suggestion_id, "suggestion_type": sugg["type"],
                       "key": suggestion_key(sugg), "action": fb.action, "value": fb.value})
        self._emit(out)
        return out

    # ------------------------------------------------------------ end of call

    def finish(self) -> list[dict[str, Any]]:
        """End-of-call compliance alerts and the offline summary (idempotent)."""
        if self.finished:
            return []
        self.finished = True
        self.controls = self.live_controls.get()
        out = self.alerts.finish(self.tracker)
        summary = build_summary(
            self.tracker, self.sentiment, language=self.language,
            form_values=self._final_values(), alerts=list(self.alerts.raised.values()),
            knowledge=[e for e in self.events if e["type"] == "KnowledgeAnswer"],
            call_id=self.call_id, field_labels=self.field_labels,
            personal_data=[e for fv in self.filler.suggestions() for e in fv.evidence])
        summary["id"] = f"summary-{self.call_id}"
        summary["source"] = "offline"
        self._summary = summary
        out.append(summary)
        self._emit(out)
        return out

    @property
    def summary(self) -> dict[str, Any] | None:
        return self._summary

    # ------------------------------------------------------------ LLM (background)

    async def refine(self) -> list[dict[str, Any]]:
        """Ask the LLM for form values and hints the rules missed; all checked, never fatal."""
        if self.refiner is None or not self.tracker.segments:
            return []
        segments = list(self.tracker.segments)
        try:
            result = await self.refiner.refine(segments, self.form, self.filler.values())
        except Exception as exc:  # noqa: BLE001 - the call must go on whatever the LLM does
            return self._emit_list([self._notice("warning", "llm_failed", f"refine: {exc}")])
        out: list[dict[str, Any]] = [self._notice(n.get("level", "warning"), n["code"], n["message"])
                                      for n in result.notices]
        by_id = {s.segment_id: s for s in self.tracker.segments}
        for prop in result.form_values:
            fv = self._safe(lambda p=prop: self.filler.propose(p["field"], p["value"], p["confidence"], "llm"),
                            "autofill", None)
            if fv is None or not fv.evidence:
                out.append(self._notice("info", "llm_value_dropped",
                                        f"LLM value for {prop['field']} not found in the transcript"))
                continue
            self.field_since.setdefault(fv.field, self.tracker.index)
            if self._value_allowed(fv):
                out.append(fv.to_event())
        for h in result.hints:
            ev = [seg_evidence(by_id[i]) for i in h["segment_ids"] if i in by_id]
            event = self.hints.add_external(h["text"], h.get("why", ""), ev, h["confidence"],
                                            self.tracker.index, self.tracker.segments[-1].end)
            if event:
                out.append(event)
        return self._emit_list(out + self._take_notices())

    async def afinish(self) -> list[dict[str, Any]]:
        """`finish()` plus, with an LLM, a rewritten summary whose points cite real segments."""
        out = self.finish()
        if self.refiner is None or self._summary is None:
            return out
        try:
            result = await self.refiner.summarize(self.tracker.segments, self._summary)
        except Exception as exc:  # noqa: BLE001
            return out + self._emit_list([self._notice("warning", "llm_failed", f"summary: {exc}")])
        extra = [self._notice(n.get("level", "warning"), n["code"], n["message"]) for n in result.notices]
        if result.summary is not None:
            refined = {**self._summary, **result.summary, "id": f"summary-{self.call_id}-llm",
                       "source": "llm", "replaces": self._summary["id"]}
            extra.append(refined)
        return out + self._emit_list(extra)

    # ------------------------------------------------------------ supervisor controls

    def _context(self, playbook: str | None = None) -> Context:
        """The call as controls scope it: its form, and the playbooks whose intents were heard."""
        books = self.playbook.playbooks_for(self.tracker.intents)
        if playbook:
            books.add(playbook)
        return Context(self.form.name, frozenset(books))

    def _allowed(self, kind: str, targets: list[tuple[str, str]], confidence: float | None,
                 playbook: str | None = None, doc_version: str | None = None) -> bool:
        if not self.controls:
            return True
        verdict = self.controls.check(targets, confidence, self._context(playbook), doc_version)
        if verdict is not None:
            self._note_suppressed(verdict, kind, targets[0][1])
        return verdict is None

    def _note_suppressed(self, verdict: Verdict, kind: str, target: str) -> None:
        key = (verdict.control.id, f"{kind}:{target}")
        if key in self._suppressed_keys:
            return
        self._suppressed_keys.add(key)
        self.suppressed.append({"control": verdict.control.id, "reason": verdict.reason,
                                "kind": kind, "target": target, "segment": self.tracker.index})

    def _hint_allowed(self, rule: str, playbook: str, strength: float) -> bool:
        return self._allowed("hint", [("hint", rule), ("playbook", playbook)], strength, playbook)

    def _alert_allowed(self, kind: str, confidence: float) -> bool:
        return self._allowed("alert", [("alert", kind)], confidence)

    def _value_allowed(self, fv: FormValue) -> bool:
        return self._allowed("field", [("field", fv.field)], fv.confidence)

    def _stopped_docs(self, kb: KnowledgeBase) -> frozenset[str]:
        """Documents muted or retired for this call: the knowledge lookup skips them."""
        if not self.controls:
            return frozenset()
        return self.controls.excluded_docs(self._context(), kb.doc_version)

    # ------------------------------------------------------------ helpers

    def form_values(self) -> dict[str, str]:
        return self.filler.values()

    def current_values(self) -> dict[str, FormValue]:
        return self.filler.current()

    def _final_values(self) -> dict[str, FormValue]:
        """Current suggestions that count as the form's value (confident or agent-confirmed)."""
        final = self.filler.values()
        ctx = self._context()
        return {f: v for f, v in self.filler.current().items()
                if f in final and self.controls.check([("field", f)], None, ctx) is None}

    def _emit(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.events.append(e)
            t = e.get("type")
            if t in SUGGESTION_TYPES and e.get("status") != "done":
                self.suggestions[e["id"]] = e
                self.audit.append({"kind": "suggestion", "call_id": self.call_id, "ts": self.clock(),
                                   "suggestion_id": e["id"], "suggestion_type": t,
                                   "key": suggestion_key(e), "event": e})
            elif t == "Alert":
                self.audit.append({"kind": "alert", "call_id": self.call_id, "ts": self.clock(),
                                   "suggestion_id": e["id"], "event": e})

    def _emit_list(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._emit(events)
        return events

    def _notice(self, level: str, code: str, message: str) -> dict[str, Any]:
        self._notices += 1
        return {"type": "AssistNotice", "id": f"notice-{self._notices}", "level": level,
                "code": code, "message": message}

    def _safe(self, fn: Callable[[], Any], where: str, default: Any) -> Any:
        """Run a sub-engine; a bug in one part must not take the whole call down."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            self._pending_notices.append(
                self._notice("error", f"{where}_error", f"{type(exc).__name__}: {exc}"))
            return default

    def _take_notices(self) -> list[dict[str, Any]]:
        out, self._pending_notices = self._pending_notices, []
        return out
