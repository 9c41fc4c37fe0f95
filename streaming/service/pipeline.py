"""Per-call glue between the transcript, the assist engine and the event bus.

`CallPipeline` receives the messages a `CallSession` sends to the softphone,
publishes them on the call's bus (finals and records durable, interims
transient), hands the assistant the transcript of record (`Record` messages, one
`assist.types.Segment` per utterance; with records off, final pieces grouped into
utterances by `streaming/live/utterances.py`), and publishes what it suggests. Agent feedback from any desktop arrives
here too. Assist work runs in a thread, one segment at a time per call, so a
slow rule never stalls the event loop or reorders a call's events.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from assist.api import Feedback
from streaming.live.utterances import UtteranceBuffer, segment_from_results
from streaming.service.bus import EventBus

log = logging.getLogger(__name__)

TRANSIENT_TYPES = {"SpeechStarted", "UtteranceEnd"}
# (segment id, prompt, language) -> the n best (text, log-probability) of each decode
Redecode = Callable[[str, str, str], Awaitable[list[list[tuple[str, float]]]]]


class CallPipeline:
    # Hand the assistant whole utterances instead of each committed piece (one or two
    # words each; the assistant finds almost no form values in those). The Redis bus
    # redacts a call's stored log retroactively once the form captures a value, so a
    # name said before it was captured is not left in clear. SOUFFLEUR_ASSIST_UTTERANCES=0
    # feeds the pieces as they come (lower assist latency, much lower recall).
    group_utterances: bool = os.environ.get("SOUFFLEUR_ASSIST_UTTERANCES", "1") != "0"

    def __init__(
        self,
        call_id: str,
        bus: EventBus,
        assist_factory: Callable[[str, str], Any] | None = None,
        language: str = "en",
        on_event: Callable[[dict[str, Any]], None] | None = None,
        records: bool = True,
        redecode: Redecode | None = None,
        from_audio: bool = False,
    ) -> None:
        self.call_id = call_id
        self.bus = bus
        self.language = language
        self.assist = assist_factory(call_id, language) if assist_factory else None
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name=f"assist-{call_id}")
        self.published = 0
        self.assist_errors = 0
        self.on_event = on_event  # metrics hook: sees every assist event
        self._refining: asyncio.Task | None = None
        # field-aware decoding: the call's `LiveCall.redecode` (None: batch, text, tests)
        self.redecode = redecode
        # the segments come from a recogniser: values without a checksum need a second hearing
        # (docs/assist.md), whether or not field decoding runs
        if self.assist is not None and from_audio and hasattr(self.assist, "from_audio"):
            self.assist.from_audio = True
        self._redecodes: set[asyncio.Task] = set()
        # With the transcript of record on (the default), the assistant reads `Record`
        # messages: whole utterances decoded once, never the early-committed pieces.
        self.records = records
        self._utterances = None
        if self.group_utterances and not records:
            self._utterances = UtteranceBuffer(language)

    async def publish(self, msg: dict[str, Any]) -> None:
        """Publish one transcript-side message and queue finals for the assistant."""
        t = msg.get("type")
        durable = not (t == "Results" and not msg.get("is_final")) and t not in TRANSIENT_TYPES
        await self.bus.publish(self.call_id, msg, durable=durable)
        self.published += 1
        if self.assist is not None and self.records:
            if t == "Record" and (seg := segment_from_results(msg, self.language)) is not None:
                self._queue.put_nowait(("segment", seg))
        elif self.assist is not None and self._utterances is not None:
            for seg in self._utterances.add(msg):
                self._queue.put_nowait(("segment", seg))
        elif self.assist is not None:
            seg = segment_from_results(msg, self.language)
            if seg is not None:
                self._queue.put_nowait(("segment", seg))

    @property
    def running(self) -> bool:
        return not self._task.done()

    def feedback(self, fb: Feedback) -> None:
        self._queue.put_nowait(("feedback", fb))

    async def finish(self) -> None:
        """End of call: flush pending assist work, publish the summary."""
        if self._refining is not None:
            await asyncio.gather(self._refining, return_exceptions=True)
        for seg in self._utterances.flush() if self._utterances is not None else ():
            self._queue.put_nowait(("segment", seg))
        # a value's second decode is part of the call's form: once every segment has been
        # read (and so every field decode asked for), wait for those answers
        read = asyncio.Event()
        self._queue.put_nowait(("barrier", read))
        if self._task.done():
            read.set()
        await read.wait()
        if self._redecodes:
            await asyncio.gather(*self._redecodes, return_exceptions=True)
        self._queue.put_nowait(("finish", None))
        await self._task

    async def _run(self) -> None:
        while True:
            kind, item = await self._queue.get()
            if kind == "barrier":
                item.set()
                continue
            if self.assist is None:
                if kind == "finish":
                    return
                continue
            try:
                if kind == "segment":
                    events = await asyncio.to_thread(self.assist.on_segment, item)
                elif kind == "feedback":
                    events = await asyncio.to_thread(self.assist.on_feedback, item)
                elif kind == "alternatives":
                    events = await asyncio.to_thread(self.assist.on_alternatives, *item)
                else:
                    events = await asyncio.to_thread(self.assist.finish)
                    if getattr(self.assist, "refiner", None) is not None:
                        events += await self.assist.afinish()
            except Exception:  # the call's transcript must survive an assist bug
                log.exception("assist failed on %s for call %s", kind, self.call_id)
                self.assist_errors += 1
                events = [{"type": "AssistNotice", "level": "error", "code": "assist_failed",
                           "message": f"assistant failed while handling {kind}; transcript continues"}]
            await self._publish_assist(events)
            if kind == "segment" and item.speaker == "customer":
                self._maybe_field_decode(item.segment_id)
                self._maybe_refine()
            if kind == "finish":
                return

    async def _publish_assist(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            if self.on_event is not None:
                self.on_event(e)
            await self.bus.publish(self.call_id, e, durable=True)

    def _maybe_field_decode(self, segment_id: str) -> None:
        """The caller may have said a value the form wants: decode that utterance again,
        field-aware, and hand the assistant the n best hypotheses (in the call's order of
        work, so they never overtake the segment they belong to)."""
        ask_for = getattr(self.assist, "field_request", None)
        if self.redecode is None or ask_for is None:
            return
        ask = ask_for(segment_id)
        if ask is None:
            return

        async def run() -> None:
            try:
                decodes = await self.redecode(segment_id, ask.prompt, ask.language)
            except Exception:
                log.exception("field decode failed for %s in call %s", segment_id, self.call_id)
                return
            if decodes:
                self._queue.put_nowait(("alternatives", (segment_id, decodes)))

        t = asyncio.create_task(run())
        self._redecodes.add(t)
        t.add_done_callback(self._redecodes.discard)

    def _maybe_refine(self) -> None:
        """With an LLM configured, refine in the background, one request at a time:
        the offline result is already out; the LLM may only add checked suggestions."""
        if getattr(self.assist, "refiner", None) is None:
            return
        if self._refining is not None and not self._refining.done():
            return

        async def refine() -> None:
            try:
                await self._publish_assist(await self.assist.refine())
            except Exception:
                log.exception("LLM refine failed for call %s", self.call_id)

        self._refining = asyncio.create_task(refine())
