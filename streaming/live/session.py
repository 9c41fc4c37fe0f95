"""One live call as a sans-I/O state machine: frames in, messages and work out.

Like the `websockets` protocol objects, `CallSession` never touches a socket or
the model. The websocket handler, the file transcriber and the tests feed it
bytes and text, run the `DecodeRequest`s it returns through a scheduler, hand
the hypotheses back with `on_result`, and send the `Send` messages it returns.
`Close` tells the adapter to close with a code once everything received has
been transcribed and delivered.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streaming.asr.base import DecodeRequest, Hypothesis
from streaming.audio.codecs import AudioFormatError, StreamDecoder
from streaming.live.channel import (
    RATE,
    ChannelTranscriber,
    RecordUpdate,
    SpeechStarted,
    TranscriptUpdate,
    UtteranceEnd,
)
from streaming.live.entity_hold import HOLD_S, EntityHold
from streaming.live.formatting import TextFormat
from streaming.live.protocol import (
    CloseCode,
    ControlError,
    ErrorCode,
    error_message,
    metadata_message,
    new_request_id,
    parse_control,
    record_message,
    results_message,
    vad_message,
)
from streaming.options import SegmenterOptions, StreamOptions


@dataclass
class Send:
    message: dict[str, Any]
    record: bool = False  # a `Record`: for the call's feed; the softphone only if it asked
    # how the softphone's own copy of a `Results` / `Record` is written (numerals,
    # smart_format, punctuate as they were when it was made: `Configure` switches them);
    # applied by the adapter after redaction, never to the call's feed
    text_format: TextFormat | None = None


@dataclass
class Close:
    code: int
    reason: str


Out = Send | DecodeRequest | Close


class CallSession:
    def __init__(
        self,
        options: StreamOptions,
        segmenter: SegmenterOptions | None = None,
        *,
        model_name: str = "whisper",
        final_beam: int | None = None,
        record_beam: int | None = None,
        max_frame_bytes: int = 1 << 20,
        request_id: str | None = None,
        send_records: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.request_id = request_id or new_request_id()
        self.call_id = options.call_id or self.request_id
        self.model_name = model_name
        self.max_frame_bytes = max_frame_bytes
        self.created = time.time()
        self.decoder = StreamDecoder(
            options.encoding, options.sample_rate, options.channels, options.separate_channels
        )
        seg = segmenter or SegmenterOptions()
        self.channels: dict[str, ChannelTranscriber] = {}
        for c in range(self.decoder.output_channels):
            key = f"{self.request_id}/{c}"
            self.channels[key] = ChannelTranscriber(
                key,
                c,
                seg,
                endpointing_ms=options.endpointing_ms,
                utterance_end_ms=options.utterance_end_ms,
                language=options.language,
                final_beam=final_beam,
                prompt_text=options.keyterm_prompt,
                languages=options.detect_languages,
            )
            self.channels[key].record_beam = record_beam
        self._sha = hashlib.sha256()
        self.bytes_received = 0
        self.late_bytes = 0  # audio that arrived after CloseStream, ignored
        self.closing: Close | None = None  # set once the stream is ending
        self.finished = False  # Metadata sent
        self.finals_sent = 0
        self.records_sent = 0
        # `Record` messages go to the softphone only when it asked (`record=true`); the
        # call's feed (desktops, assistant, stored log) always gets them
        self.send_records = send_records
        self._pieces: dict[int, list[tuple[str, float, float, str]]] = {}  # channel -> live finals not yet in a record
        # numerals / smart_format / punctuate as asked, switched mid-stream by `Configure`
        self.features = {"numerals": options.numerals, "smart_format": options.smart_format,
                         "punctuate": options.punctuate}
        self.text_format = TextFormat.of(**self.features)
        # smart_format's wait for an unfinished entity, per channel (entity_hold.py)
        self._holds = {key: EntityHold() for key in self.channels}
        # wall clock of the last audio frame: a held final's wait runs on the audio clock,
        # which stops when the client stops sending (it says so with KeepAlive)
        self._clock = clock
        self._audio_at = clock()

    # -- inputs ------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return self.decoder.output_channels

    @property
    def audio_seconds(self) -> float:
        return self.decoder.input_frames / self.options.sample_rate

    def receive_audio(self, data: bytes) -> list[Out]:
        if self.closing is not None:
            self.late_bytes += len(data)
            if self.late_bytes > len(data):
                return []  # reported once per stream; the count goes to Metadata
            return [
                Send(
                    error_message(
                        ErrorCode.AUDIO_AFTER_CLOSE,
                        f"audio after the stream was closed is ignored ({len(data)} bytes so far)",
                    )
                )
            ]
        if len(data) > self.max_frame_bytes:
            return self._fail(
                ErrorCode.FRAME_TOO_BIG,
                f"audio frame of {len(data)} bytes exceeds the {self.max_frame_bytes}-byte limit; "
                "send audio in frames of 20-250 ms",
                CloseCode.TOO_BIG,
            )
        try:
            per_channel = self.decoder.decode(data)
        except AudioFormatError as e:
            return self._fail(ErrorCode.BAD_AUDIO, str(e), CloseCode.INVALID_PAYLOAD)
        self._sha.update(data)
        self.bytes_received += len(data)
        self._audio_at = self._clock()
        out: list[Out] = []
        for ch, audio in zip(self.channels.values(), per_channel, strict=True):
            out += self._convert(ch, ch.push(audio))
        return out

    def receive_text(self, text: str) -> list[Out]:
        try:
            ctl = parse_control(text)
        except ControlError as e:
            # A bad control message must not cost the caller the live transcript:
            # report it and keep the stream going.
            return [Send(error_message(e.code, str(e)))]
        out: list[Out] = []
        if ctl.type == "KeepAlive":
            # No audio is coming for now (client-side VAD, mute, hold): the audio clock has
            # stopped, so a held final would wait until audio resumes. Once HOLD_S of wall
            # clock have passed since the last audio, the time without audio counts as the
            # silence it stands for.
            idle = self._clock() - self._audio_at
            if idle >= HOLD_S:
                for ch in self.channels.values():
                    if self._holds[ch.key].held is not None:
                        out += self._convert(ch, [], idle_s=idle)
            return out
        if ctl.type == "Finalize":
            for ch in self.channels.values():
                self._holds[ch.key].flush()
                out += self._convert(ch, ch.finalize(from_finalize=True))
            return out
        if ctl.type == "Configure":
            # results made from now on are written the new way. A final held for its entity
            # was made before: when the writing changes it goes out at once, written as it
            # was when it was held ("numerals on, my PIN, numerals off" keeps the PIN digits;
            # so does a change that leaves holding on, punctuate or smart_format off)
            features = {**self.features, **dict(ctl.features)}
            text_format = TextFormat.of(**features)
            if text_format != self.text_format:
                for ch in self.channels.values():
                    out += self._messages(ch, self._holds[ch.key].release())
            self.features, self.text_format = features, text_format
            return out
        return self.close(CloseCode.NORMAL, "CloseStream received")

    @property
    def holding(self) -> bool:
        """Finals ending in a maybe unfinished entity wait for the rest (`entity_hold.py`):
        with numerals or smart_format (as now configured), unless `no_delay=true`."""
        return self.text_format.numerals and not self.options.no_delay

    def close(self, code: int = CloseCode.NORMAL, reason: str = "end of stream") -> list[Out]:
        """End of input: flush everything still buffered, then Metadata and Close."""
        if self.closing is not None:
            return []
        self.closing = Close(int(code), reason)
        out: list[Out] = []
        tails = self.decoder.flush()
        for ch, tail in zip(self.channels.values(), tails, strict=True):
            self._holds[ch.key].flush()
            out += self._convert(ch, ch.close(tail))
        return out + self._maybe_finish()

    def _fail(self, code: str, message: str, close_code: int) -> list[Out]:
        return [Send(error_message(code, message))] + self.close(close_code, message[:120])

    def mark_faster_than_real_time(self) -> None:
        """The audio arrives faster than it plays (a recording replayed, `--fast`): its
        decodes go to the back of the scheduler, behind every real-time call's."""
        for ch in self.channels.values():
            ch.priority = 1

    @property
    def faster_than_real_time(self) -> bool:
        return any(ch.priority for ch in self.channels.values())

    # -- results -----------------------------------------------------------
    def on_result(self, req: DecodeRequest, hyp: Hypothesis | None) -> list[Out]:
        ch = self.channels.get(req.key)
        if ch is None:
            return []
        return self._convert(ch, ch.on_result(req, hyp)) + self._maybe_finish()

    def _maybe_finish(self) -> list[Out]:
        if (self.closing is None or self.finished or any(c.busy for c in self.channels.values())
                or any(h.held is not None for h in self._holds.values())):
            return []
        self.finished = True
        meta = metadata_message(
            request_id=self.request_id,
            call_id=self.call_id,
            duration=self.audio_seconds,
            channels=self.options.channels,
            model_name=self.model_name,
            created=self.created,
            sha256=self._sha.hexdigest(),
            extra={"finals": self.finals_sent, "records": self.records_sent,
                   "ignored_bytes": self.late_bytes,
                   # parameters not acted on (or in part): Deepgram's SDKs keep extra fields
                   **({"warnings": [w.as_json() for w in self.options.warnings]}
                      if self.options.warnings else {})},
        )
        return [Send(meta), self.closing]

    @property
    def pending(self) -> int:
        return sum(len(c.pending_finals) + len(c.pending_records) + c.interim_in_flight
                   for c in self.channels.values())

    def _record(self, channel: int, r: RecordUpdate, speaker: str) -> dict[str, Any] | None:
        """A `Record` naming the live pieces it replaces: those said before it ended."""
        pieces = self._pieces.get(channel, [])
        mine = [p for p in pieces if (p[1] + p[2]) / 2 < r.end]
        self._pieces[channel] = [p for p in pieces if (p[1] + p[2]) / 2 >= r.end]
        if not r.words and not mine:
            return None
        self.records_sent += 1
        msg = record_message(
            r, channels=self.n_channels, speaker=speaker, call_id=self.call_id,
            record_id=f"{channel}-r{r.number}", replaces=[p[0] for p in mine],
            live_text=" ".join(p[3] for p in mine),
        )
        if r.failed and mine:
            # no record could be decoded: the live words stand in, so nothing said is lost
            alt = msg["channel"]["alternatives"][0]
            alt["transcript"] = " ".join(p[3] for p in mine)
            msg["revised"], msg["fallback"] = False, True
        return msg

    def _convert(self, ch: ChannelTranscriber, items: list, idle_s: float = 0.0) -> list[Out]:
        """A channel's outputs, through its entity hold, as messages and work; `idle_s`:
        wall-clock seconds without audio, counted as silence after the channel's audio."""
        # speech of the channel not final yet: a final being decoded (its words may go on
        # with a held entity), or the open chunk since its start
        speech_from = 0.0 if ch.pending_finals else ch.chunk.start / RATE if ch.chunk else None
        items = self._holds[ch.key].feed(items, on=self.holding, now=ch.now + idle_s, speech_from=speech_from)
        return self._messages(ch, items)

    def _messages(self, ch: ChannelTranscriber, items: list) -> list[Out]:
        o = self.options
        speaker = o.speaker_for(ch.channel)
        n = self.n_channels
        out: list[Out] = []
        fmt = self.text_format
        for it in items:
            if isinstance(it, DecodeRequest):
                out.append(it)
            elif isinstance(it, TranscriptUpdate):
                if not it.is_final and not o.interim_results:
                    continue
                msg = results_message(
                    it, channels=n, speaker=speaker, call_id=self.call_id,
                    request_id=self.request_id, model_name=self.model_name,
                )
                if it.is_final and it.words:
                    self.finals_sent += 1
                    # evidence in assist events points back to transcript pieces by this id
                    msg["segment_id"] = f"{ch.channel}-{self.finals_sent}"
                    self._pieces.setdefault(ch.channel, []).append(
                        (msg["segment_id"], it.start, it.end, it.text))
                out.append(Send(msg, text_format=fmt))
            elif isinstance(it, RecordUpdate):
                msg = self._record(ch.channel, it, speaker)
                if msg is not None:
                    out.append(Send(msg, record=True, text_format=fmt))
            elif isinstance(it, UtteranceEnd) or (isinstance(it, SpeechStarted) and o.vad_events):
                out.append(Send(vad_message(it, n, self.call_id, speaker)))
        return out
