"""Optional LLM refinement through any OpenAI-compatible endpoint.

The LLM may add form values, hints and a better-worded summary, but it is
never trusted: its output must parse as JSON, match a schema, and cite
transcript segments that exist; form values then go through the autofill's
evidence check (`FormFiller.propose`). Any failure (timeout, HTTP error, bad
JSON, schema mismatch) becomes a notice and the offline result stands.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jsonschema

from assist.grounding import evidence, evidence_dicts
from assist.types import Segment

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts" / "llm"
DEFAULT_TIMEOUT = 20.0

_IDS = {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]+$"}, "minItems": 1}
_CONF = {"type": "number", "minimum": 0, "maximum": 1}
REFINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["form_values", "hints"],
    "properties": {
        "form_values": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "required": ["field", "value", "confidence", "segment_ids"],
            "properties": {"field": {"type": "string"}, "value": {"type": "string", "minLength": 1},
                           "confidence": _CONF, "segment_ids": _IDS}}},
        "hints": {"type": "array", "maxItems": 5, "items": {
            "type": "object", "required": ["text", "confidence", "segment_ids"],
            "properties": {"text": {"type": "string", "minLength": 3, "maxLength": 300},
                           "why": {"type": "string", "maxLength": 300},
                           "confidence": _CONF, "segment_ids": _IDS}}},
    },
}
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reason", "points"],
    "properties": {
        "reason": {"type": "object", "required": ["text", "segment_ids"],
                   "properties": {"text": {"type": "string", "minLength": 3}, "segment_ids": _IDS}},
        "points": {"type": "array", "maxItems": 12, "items": {
            "type": "object", "required": ["kind", "text", "segment_ids"],
            "properties": {"kind": {"enum": ["action", "follow_up", "context", "outcome", "reason"]},
                           "text": {"type": "string", "minLength": 3, "maxLength": 400},
                           "owner": {"enum": ["agent", "customer", "back_office", None]},
                           "segment_ids": _IDS}}},
        "text": {"type": "string", "maxLength": 3000},
    },
}


class LLMError(Exception):
    """A failed LLM call; `code` is what the AssistNotice reports."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class LLMClient(Protocol):
    async def complete(self, messages: list[dict[str, str]], *, timeout: float | None = None) -> str: ...


# ---------------------------------------------------------------- clients


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str = "not-needed"
    timeout: float = DEFAULT_TIMEOUT
    json_mode: bool = True

    @classmethod
    def from_env(cls) -> LLMConfig | None:
        """None unless SOUFFLEUR_LLM_BASE_URL and SOUFFLEUR_LLM_MODEL are set (offline by default)."""
        base, model = os.environ.get("SOUFFLEUR_LLM_BASE_URL"), os.environ.get("SOUFFLEUR_LLM_MODEL")
        if not base or not model:
            return None
        return cls(base_url=base, model=model,
                   api_key=os.environ.get("SOUFFLEUR_LLM_API_KEY") or "not-needed",
                   timeout=float(os.environ.get("SOUFFLEUR_LLM_TIMEOUT") or DEFAULT_TIMEOUT),
                   json_mode=os.environ.get("SOUFFLEUR_LLM_JSON_MODE", "1") != "0")


class OpenAIChatClient:
    """Chat completions on any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI)."""

    def __init__(self, config: LLMConfig):
        import openai  # imported here so the offline engine never needs it

        self.config = config
        self._openai = openai
        self._client = openai.AsyncOpenAI(base_url=config.base_url, api_key=config.api_key,
                                          timeout=config.timeout, max_retries=0)

    @classmethod
    def from_env(cls) -> OpenAIChatClient | None:
        cfg = LLMConfig.from_env()
        return cls(cfg) if cfg else None

    async def complete(self, messages: list[dict[str, str]], *, timeout: float | None = None) -> str:
        oa = self._openai
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": messages, "temperature": 0}
        if self.config.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        try:
            resp = await self._client.chat.completions.create(
                **kwargs, timeout=timeout or self.config.timeout)
        except oa.APITimeoutError as exc:
            raise LLMError("llm_timeout", f"timed out after {timeout or self.config.timeout}s") from exc
        except oa.APIStatusError as exc:
            raise LLMError("llm_http_error", f"HTTP {exc.status_code}") from exc
        except oa.APIConnectionError as exc:
            raise LLMError("llm_unreachable", str(exc)) from exc
        except oa.OpenAIError as exc:
            raise LLMError("llm_error", str(exc)) from exc
        if not resp.choices or not resp.choices[0].message.content:
            raise LLMError("llm_empty", "empty completion")
        return resp.choices[0].message.content


class ScriptedLLMClient:
    """In-memory client for tests: replays responses (text, exceptions or functions)."""

    def __init__(self, responses: Sequence[str | Exception | Callable[[list[dict[str, str]]], str]]):
        self.responses = list(responses)
        self.calls: list[list[dict[str, str]]] = []

    async def complete(self, messages: list[dict[str, str]], *, timeout: float | None = None) -> str:
        self.calls.append(messages)
        if not self.responses:
            raise LLMError("llm_empty", "script exhausted")
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item(messages) if callable(item) else item


def client_from_env() -> LLMClient | None:
    return OpenAIChatClient.from_env()


# ---------------------------------------------------------------- prompts and parsing


def load_template(name: str, prompts_dir: Path = PROMPTS_DIR) -> tuple[str, str]:
    """(system, user) sections of `prompts/llm/NAME.md`."""
    text = (prompts_dir / f"{name}.md").read_text(encoding="utf-8")
    parts = re.split(r"^## (system|user)\s*$", text, flags=re.MULTILINE)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    return sections.get("system", ""), sections.get("user", "")


def render(name: str, **values: str) -> list[dict[str, str]]:
    system, user = load_template(name)
    for key, val in values.items():
        user = user.replace("{{" + key + "}}", val)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def transcript_lines(segments: Sequence[Segment]) -> str:
    return "\n".join(f"[{s.segment_id}] {s.speaker}: {s.text}" for s in segments)


def parse_json(raw: str, schema: dict[str, Any]) -> dict[str, Any]:
    """JSON object from a completion (code fences tolerated), validated against `schema`."""
    text = raw.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)
    if fence:
        text = fence.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMError("llm_bad_json", f"not JSON: {exc.msg}") from exc
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        raise LLMError("llm_schema_mismatch", f"{exc.message} at {list(exc.absolute_path)}") from exc
    return data


# ---------------------------------------------------------------- refiner


@dataclass
class RefineResult:
    form_values: list[dict[str, Any]] = field(default_factory=list)
    hints: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, str]] = field(default_factory=list)


@dataclass
class SummaryResult:
    summary: dict[str, Any] | None = None
    notices: list[dict[str, str]] = field(default_factory=list)


class LLMRefiner:
    """Prompts, validation and grounding checks around an `LLMClient`."""

    def __init__(self, client: LLMClient, language: str = "en", timeout: float | None = None):
        self.client = client
        self.language = language
        self.timeout = timeout if timeout is not None else float(
            os.environ.get("SOUFFLEUR_LLM_TIMEOUT") or DEFAULT_TIMEOUT)

    async def _ask(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        try:
            raw = await asyncio.wait_for(self.client.complete(messages, timeout=self.timeout),
                                         self.timeout + 1.0)
        except TimeoutError as exc:
            raise LLMError("llm_timeout", f"no answer within {self.timeout}s") from exc
        return parse_json(raw, schema)

    async def _ask_or_notice(self, messages: list[dict[str, str]], schema: dict[str, Any],
                             notices: list[dict[str, str]]) -> dict[str, Any] | None:
        """The validated answer, or None with the failure added to `notices`."""
        try:
            return await self._ask(messages, schema)
        except LLMError as exc:
            notices.append({"code": exc.code, "message": str(exc), "level": "warning"})
            return None

    async def refine(self, segments: Sequence[Segment], form: Any,
                     current: dict[str, str]) -> RefineResult:
        fields = {f.id: f.label_for(self.language) for f in form.fields}
        messages = render(
            "refine", language=self.language,
            fields="\n".join(f"- {k}: {v}" for k, v in fields.items()),
            current=json.dumps(current, ensure_ascii=False) if current else "(none)",
            transcript=transcript_lines(segments))
        result = RefineResult()
        data = await self._ask_or_notice(messages, REFINE_SCHEMA, result.notices)
        if data is None:
            return result
        ids = {s.segment_id for s in segments}
        for v in data["form_values"]:
            if v["field"] not in fields or not set(v["segment_ids"]) <= ids:
                result.notices.append({"code": "llm_value_dropped", "level": "info",
                                       "message": f"unknown field or segment in {v['field']!r}"})
                continue
            result.form_values.append(v)
        for h in data["hints"]:
            if not set(h["segment_ids"]) <= ids:
                result.notices.append({"code": "llm_hint_dropped", "level": "info",
                                       "message": "hint cites segments that do not exist"})
                continue
            result.hints.append(h)
        return result

    async def summarize(self, segments: Sequence[Segment], draft: dict[str, Any]) -> SummaryResult:
        messages = render("summary", language=self.language, draft=draft.get("text", ""),
                          transcript=transcript_lines(segments))
        result = SummaryResult()
        data = await self._ask_or_notice(messages, SUMMARY_SCHEMA, result.notices)
        if data is None:
            return result
        by_id = {s.segment_id: s for s in segments}

        def grounded(item: dict[str, Any]) -> dict[str, Any] | None:
            if not set(item["segment_ids"]) <= set(by_id):
                return None
            return {**item, "evidence": evidence_dicts(evidence(by_id[i]) for i in item["segment_ids"])}

        reason = grounded(data["reason"])
        if reason is None:
            result.notices.append({"code": "llm_summary_dropped", "level": "warning",
                                   "message": "summary reason cites segments that do not exist"})
            return result
        points = []
        for p in data["points"]:
            g = grounded(p)
            if g is None:
                result.notices.append({"code": "llm_point_dropped", "level": "info",
                                       "message": "summary point cites segments that do not exist"})
                continue
            points.append(g)
        result.summary = {"reason": {**reason, "kind": "reason"}, "points": [reason] + points,
                          "text": data.get("text") or draft.get("text", "")}
        return result
