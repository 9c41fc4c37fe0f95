"""The redacted form of a call's events as the Redis bus stores them, retroactively too.

What is stored holds no PII (docs/security.md): each durable event is stored in
the form `assist.redact.Redactor` gives it (one redactor per call, so a name
the form captured is removed wherever it recurs), while the live channel
carries the event as said, for the authorised agent's overlay. When the form
captures a name that was said earlier, or the redactor recognises one ("my name is
Chivon Kelly" after the live pieces "Chivon", "Kelly" were stored), the events of
the call's last `RECENT_EVENTS` that mention it must be stored again, redacted:
this module decides which, the bus writes them.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from typing import Any

RECENT_EVENTS = 300  # per call: how far back a newly captured value is redacted
RECENT_CALLS = 200


class StoredRedaction:
    """Per call: its redactor and its last events as said and as stored."""

    def __init__(self) -> None:
        self._redactors: OrderedDict[str, Any] = OrderedDict()  # call_id -> assist.redact.Redactor
        # per call, its last events as said and as stored: a value the form captures
        # later is redacted in them too (RECENT_EVENTS per call, RECENT_CALLS calls)
        self._recent: OrderedDict[str, deque[list[Any]]] = OrderedDict()

    def stored(self, call_id: str, event: dict[str, Any]) -> str:
        """The event as it may be persisted (JSON)."""
        return json.dumps(self._redactor(call_id).event(event))

    def earlier(self, call_id: str, event: dict[str, Any], eid: str,
                stored: str) -> list[tuple[str, str]]:
        """Remember `event` (said, stored as `stored` under `eid`); if it is a form value
        the redactor just learnt, the (id, new stored form) of earlier events mentioning it."""
        from assist.api import PII_FIELDS

        rewrites: list[tuple[str, str]] = []
        recent = self._recent.get(call_id)
        if recent is None:
            recent = self._recent[call_id] = deque(maxlen=RECENT_EVENTS)
            while len(self._recent) > RECENT_CALLS:
                self._recent.popitem(last=False)
        self._recent.move_to_end(call_id)
        value = event.get("value")
        r = self._redactor(call_id)
        # what the redactor learnt from this event: a value the form captured, or a name
        # it recognised ("my name is Chivon Kelly") that pieces stored earlier hold in clear
        needles = r.learned()
        if event.get("type") == "FormValue" and event.get("field") in PII_FIELDS and value:
            # the value and its other readings (misheard versions of it, field-aware decoding)
            needles += [str(v).strip().lower() for v in [value, *(event.get("alternatives") or [])] if v]
        if needles:
            for item in recent:
                rid, said, was = item
                text = json.dumps(said, ensure_ascii=False).lower()
                if any(n in text for n in needles):
                    now = json.dumps(r.event(said))
                    if now != was:
                        item[2] = now
                        rewrites.append((rid, now))
        recent.append([eid, event, stored])
        return rewrites

    def _redactor(self, call_id: str) -> Any:
        """One per call: it learns the values the form captured and removes them later too."""
        from assist.api import Redactor

        r = self._redactors.get(call_id)
        if r is None:
            r = self._redactors[call_id] = Redactor()
            while len(self._redactors) > 2000:
                self._redactors.popitem(last=False)
        self._redactors.move_to_end(call_id)
        return r
