"""The redacted form of a call's events as the Redis bus stores them, retroactively too.

What is stored holds no PII (docs/security.md): each durable event is stored in
the form `assist.redact.Redactor` gives it (one redactor per call, so a name
the form captured is removed wherever it recurs), while the live channel
carries the event as said, for the authorised agent's overlay. When the form
captures a name that was said earlier, or the redactor recognises one ("my name is
Chivon Kelly" after the live pieces "Chivon", "Kelly" were stored), the events of
the call's last `RECENT_EVENTS` that mention it must be stored again, redacted:
this module decides which, the bus writes them.

What a call's redactor learns here is told to its watchers too (`watch`): the server's
audit trail redacts the call's records written before it again (`audit_learning`;
`assist.redact.RedactingAuditStore.learn`). The embedded `MemoryBus`, which stores
nothing, runs the same redactor only to learn, when the audit trail asks it to.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# (call_id, names the redactor recognised (folded), values the form captured, as said)
Learnt = Callable[[str, list[str], list[str]], None]

RECENT_EVENTS = 300  # per call: how far back a newly captured value is redacted
RECENT_CALLS = 200


class StoredRedaction:
    """Per call: its redactor and its last events as said and as stored."""

    def __init__(self) -> None:
        self._redactors: OrderedDict[str, Any] = OrderedDict()  # call_id -> assist.redact.Redactor
        # per call, its last events as said and as stored: a value the form captures
        # later is redacted in them too (RECENT_EVENTS per call, RECENT_CALLS calls)
        self._recent: OrderedDict[str, deque[list[Any]]] = OrderedDict()
        self._watchers: list[Learnt] = []

    def ended(self, call_id: str) -> None:
        """The call is over: its events are all stored, none will need redacting again.
        Its recent events go (they held a node's memory for its last 200 calls, about
        1 MB each); its redactor stays, for anything published after the end (feedback)."""
        self._recent.pop(call_id, None)

    def watch(self, callback: Learnt) -> None:
        """`callback(call_id, names, values)` each time a call's redactor learns something."""
        self._watchers.append(callback)

    def stored(self, call_id: str, event: dict[str, Any]) -> str:
        """The event as it may be persisted (JSON)."""
        return json.dumps(self._redactor(call_id).event(event))

    def earlier(self, call_id: str, event: dict[str, Any], eid: str,
                stored: str) -> list[tuple[str, str]]:
        """Remember `event` (said, stored as `stored` under `eid`); if it is a form value
        the redactor just learnt, the (id, new stored form) of earlier events mentioning it."""
        rewrites: list[tuple[str, str]] = []
        recent = self._recent.get(call_id)
        if recent is None:
            recent = self._recent[call_id] = deque(maxlen=RECENT_EVENTS)
            while len(self._recent) > RECENT_CALLS:
                self._recent.popitem(last=False)
        self._recent.move_to_end(call_id)
        r = self._redactor(call_id)
        needles = self.learnt(call_id, event)
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

    def learnt(self, call_id: str, event: dict[str, Any]) -> list[str]:
        """What the call's redactor learnt from `event` (just passed to `stored`), folded:
        a name it recognised ("my name is Chivon Kelly") that pieces stored earlier hold in
        clear, a value the form captured and its other readings (misheard versions of it,
        field-aware decoding). The watchers are told."""
        from assist.api import form_values

        names = self._redactor(call_id).learned()
        values = form_values(event)
        if names or values:
            for cb in list(self._watchers):
                try:
                    cb(call_id, names, values)
                except Exception:  # a watcher must never cost the call its events
                    log.exception("redaction watcher failed on call %s", call_id)
        return [*names, *(v.strip().lower() for v in values)]

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


def audit_learning(bus: Any, audit: Any) -> bool:
    """Tell `audit` (a `RedactingAuditStore`) what the bus's redactor learns about each
    call, so the audit records written before are redacted again. `learn` rewrites a file:
    it runs on a thread, never on the event loop that serves the calls. False when the bus
    or the store cannot (a bus without `watch_learned`, a plain store)."""
    watch = getattr(bus, "watch_learned", None)
    learn = getattr(audit, "learn", None)
    if watch is None or learn is None:
        return False

    def learnt(call_id: str, names: list[str], values: list[str]) -> None:
        def done(f: asyncio.Future) -> None:
            if not f.cancelled() and f.exception() is not None:
                # the type only: a message might quote what it failed on (logs hold no speech)
                log.error("audit trail not redacted again for call %s: %s", call_id,
                          type(f.exception()).__name__)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script publishing synchronously): here and now
            learn(call_id, names, values)
            return
        loop.run_in_executor(None, learn, call_id, list(names), list(values)).add_done_callback(done)

    watch(learnt)
    return True
