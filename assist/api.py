"""The assistant as the rest of Souffleur sees it: one small, pure interface.

The service, batch and the CLI import from here and nowhere else in `assist/`
(an import-linter contract in `.importlinter` enforces it), so the assistant's
insides can be rearranged without touching a socket, a model or Redis. Nothing
here knows about any of those: segments of text in, events out.
"""

from __future__ import annotations

from assist.analysis import analyze
from assist.autofill.alternatives import FieldRequest
from assist.control_targets import check_target, control_targets
from assist.controls import ACTIONS as CONTROL_ACTIONS
from assist.controls import TARGET_KINDS as CONTROL_TARGETS
from assist.controls import Control, ControlError, ControlSet, LiveControls
from assist.engine import AssistSession
from assist.feedback import JsonlAuditStore, report
from assist.knowledge import KnowledgeBase
from assist.llm import client_from_env
from assist.redact import PII_FIELDS, RedactingAuditStore, Redactor, form_values, redaction_kinds
from assist.transcript_io import Transcript
from assist.types import Feedback, Segment, Word

__all__ = [
    "CONTROL_ACTIONS",
    "CONTROL_TARGETS",
    "PII_FIELDS",
    "AssistSession",
    "Control",
    "ControlError",
    "ControlSet",
    "Feedback",
    "FieldRequest",
    "JsonlAuditStore",
    "KnowledgeBase",
    "LiveControls",
    "RedactingAuditStore",
    "Redactor",
    "Segment",
    "Transcript",
    "Word",
    "analyze",
    "check_target",
    "client_from_env",
    "control_targets",
    "form_values",
    "redaction_kinds",
    "report",
]
