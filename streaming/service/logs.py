"""Structured JSON logs: one object per line, call ids as fields, no PII.

Transcripts, form values and credentials never go to the log: messages name
calls, principals (key names, token subjects), codes and counts only.
"""

from __future__ import annotations

import json
import logging
import re
import time

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: str = "json", verbose: bool = False) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # the websockets library logs every HTTP request at INFO; keep it for debugging only
    logging.getLogger("websockets").setLevel(logging.DEBUG if verbose else logging.WARNING)


_SECRET_PATTERNS = [
    (re.compile(r"(?i)(authorization:\s*(?:token|bearer|basic)\s+)\S+"), r"\1[redacted]"),
    (re.compile(r"(?i)([?&]token=)[^&\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(x-api-key:\s*)\S+"), r"\1[redacted]"),  # Genesys AudioHook's credential
]


def scrub(text: str) -> str:
    for pat, repl in _SECRET_PATTERNS:
        text = pat.sub(repl, text)
    return text


def install_secret_scrubber() -> None:
    """Credentials must not reach any log, whatever handler or level is configured.

    The websockets library logs request headers (Authorization, X-API-KEY) and paths
    (`?token=`) at DEBUG; every record is scrubbed where it is created, so no
    handler, test capture or log shipper ever sees a secret.
    """
    base = logging.getLogRecordFactory()
    if getattr(base, "_souffleur_scrubber", False):
        return

    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        if record.levelno <= logging.INFO or record.name.startswith("websockets"):
            try:
                msg = record.getMessage()
            except Exception:  # a broken log call is not ours to fix here
                return record
            clean = scrub(msg)
            if clean != msg:
                record.msg, record.args = clean, ()
        return record

    factory._souffleur_scrubber = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
