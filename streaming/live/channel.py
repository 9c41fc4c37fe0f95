"""Live transcription of one audio channel, as pure logic (no sockets, no model).

Audio goes in with `push`; out come decode requests for the scheduler and
transcript updates for the client. The policy is built around what one Whisper
call costs (see `docs/streaming.md`):

* speech is gated by VAD: silence and noise are never decoded;
* a *chunk* is the speech since the last cut. While it grows, an interim decode
  runs every `interim_interval_ms` of new audio (one in flight per channel);
* words that two consecutive decodes agree on (LocalAgreement-2) and that end
  `commit_margin_ms` before the decoded audio's end are committed at once as
  final results, and forced as a prefix into the chunk's later decodes, so the
  text stays consistent and words become final about a second after they are
  spoken, not at the end of a long utterance;
* a short pause (`pause_ms`) closes the chunk: one final decode of the rest;
* `endpointing_ms` of silence marks `speech_final`; `utterance_end_ms` of gap
  after the last word sends UtteranceEnd; chunks longer than `max_chunk_ms`
  without a pause are cut after the last committed word.

Beside those live words runs the *transcript of record*: each utterance (speech up
to a pause, joined with the next when short, cut at its quietest point when long)
is decoded once, whole, with a wide beam, when it ends (`RecordUpdate`). Its cuts
come from VAD frames and audio energy only, so the record does not depend on load,
interim timing or what was committed early; it is what the assistant and the
stored call read (docs/streaming.md, "Two tiers of text").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streaming.asr.base import DecodeRequest, Hypothesis, HypWord
from streaming.audio.vad import FrameVad
from streaming.options import SegmenterOptions

RATE = 16000


@dataclass
class TranscriptUpdate:
    channel: int
    words: list[HypWord]
    start: float
    end: float
    is_final: bool
    speech_final: bool = False
    from_finalize: bool = False
    language: str = "en"

    @property
    def text(self) -> str:
        return "".join(w.word for w in self.words).strip()


@dataclass
class SpeechStarted:
    channel: int
    timestamp: float


@dataclass
class UtteranceEnd:
    channel: int
    last_word_end: float


@dataclass
class RecordUpdate:
    """The transcript of record for one utterance of one channel: [start, end) seconds."""

    channel: int
    words: list[HypWord]
    start: float
    end: float
    number: int  # records of this channel so far, from 1
    language: str = "en"
    failed: bool = False  # the decode failed (model error, shutdown): no record text

    @property
    def text(self) -> str:
        return "".join(w.word for w in self.words).strip()


Output = DecodeRequest | TranscriptUpdate | SpeechStarted | UtteranceEnd | RecordUpdate


class AudioBuffer:
    """Growable buffer indexed by absolute sample number; old audio is trimmed."""

    def __init__(self, capacity: int = RATE * 20) -> None:
        self._data = np.zeros(capacity, np.float32)
        self.start = 0  # absolute index of _data[0]
        self.end = 0  # absolute index one past the last sample

    def append(self, x: np.ndarray) -> None:
        n = self.end - self.start
        if n + x.size > self._data.size:
            grown = np.zeros(max(self._data.size * 2, n + x.size), np.float32)
            grown[:n] = self._data[:n]
            self._data = grown
        self._data[n : n + x.size] = x
        self.end += x.size

    def slice(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        return self._data[a - self.start : b - self.start].copy()

    def trim_before(self, a: int) -> None:
        a = min(max(a, self.start), self.end)
        k = a - self.start
        if k <= 0:
            return
        n = self.end - a
        self._data[:n] = self._data[k : k + n]
        self.start = a


@dataclass
class _Chunk:
    id: int
    start: int  # absolute sample
    voiced: int = 0  # voiced samples since the chunk or the last commit
    committed: list[HypWord] = field(default_factory=list)
    prev: list[HypWord] = field(default_factory=list)  # last uncommitted hypothesis
    agree: list[int] = field(default_factory=list)  # decodes in a row that agreed on each prev word
    last_interim_at: int = 0

    def window(self, context_ms: int) -> tuple[int, tuple[int, ...]]:
        """Where the next decode starts and the committed tokens forced there.

        Re-decoding the whole chunk would cost more with every commit (the
        encoder sees all of it, and forced tokens cost the decoder almost as
        much as generated ones). So a decode starts at a committed word about
        `context_ms` before the last commit: the words from there on are forced
        as the prefix, the boundary between committed and new words lies inside
        the window (never at its edge, where a cut would clip a word), and the
        cost stays bounded however long the speaker goes on.
        """
        if not self.committed:
            return self.start, ()
        last_end = self.committed[-1].end
        j = len(self.committed) - 1
        while j > 0 and self.committed[j - 1].start >= last_end - context_ms / 1000:
            j -= 1
        a = max(self.start, int((self.committed[j].start - 0.05) * RATE))
        return a, tuple(t for w in self.committed[j:] for t in w.tokens)


class ChannelTranscriber:
    def __init__(
        self,
        key: str,
        channel: int,
        options: SegmenterOptions | None = None,
        *,
        endpointing_ms: int | None = 500,
        utterance_end_ms: int | None = None,
        language: str | None = None,
        final_beam: int | None = None,
        prompt_text: str = "",
        languages: tuple[str, ...] = (),
    ) -> None:
        self.key = key
        self.languages = languages  # what detection may choose from, when language is None
        self.prompt_text = prompt_text  # the stream's key terms: before every decode's context
        self.channel = channel
        self.o = options or SegmenterOptions()
        self.endpointing_ms = endpointing_ms
        self.utterance_end_ms = utterance_end_ms
        self.language = language
        self.final_beam = final_beam
        self.vad = FrameVad(self.o.vad_mode, self.o.frame_ms)
        self.F = RATE * self.o.frame_ms // 1000
        self.buf = AudioBuffer()
        self._frames: list[tuple[bool, float]] = []  # recent frames (idle start detection)
        self._frame_no = 0  # absolute index of the next VAD frame
        self.chunk: _Chunk | None = None
        self._chunk_ids = 0
        self._seq = 0
        self.last_cut = 0
        self.last_voiced_end = 0
        self.silence = 0  # consecutive unvoiced frames
        self.interim_in_flight = False
        self._interim_chunk: dict[int, int] = {}  # seq -> chunk id
        self.pending_finals: list[int] = []
        self._final_results: dict[int, tuple[DecodeRequest, Hypothesis | None]] = {}
        self._final_flags: dict[int, bool] = {}  # seq -> from_finalize
        self.utterance_open = False  # words sent since the last speech_final
        # markers for gaps that were reached while finals were still being decoded:
        # the speech_final / UtteranceEnd belongs after that final (seq -> markers)
        self._after_final: dict[int, set[str]] = {}
        self.last_word_end: float | None = None
        self.utterance_end_sent = True
        self.closed = False
        self.decodes = {"interim": 0, "final": 0, "record": 0}
        # transcript of record: the open utterance [rec_start, rec_voiced_end) and the
        # decodes in flight, emitted in order once every earlier live final is out
        self.record_beam: int | None = None
        self.priority = 0  # 1 once the stream runs faster than real time (scheduler serves it last)
        self._rec_start: int | None = None
        self._rec_voiced_end = 0
        self._rec_voiced = 0
        self._records = 0
        self._rec_context: list[int] = []
        # A record's prompt is the text of the records before it, so a channel's records
        # are decoded one after another: the next is asked for once the last one is back
        # (under load too, so its prompt, and so its text, never depends on timing).
        self._rec_queue: list[tuple[int, int]] = []  # utterances cut, not yet asked for
        self._rec_inflight = False
        self._rec_last_cut = 0
        self.pending_records: list[int] = []
        self._record_results: dict[int, tuple[DecodeRequest, Hypothesis | None]] = {}

    # -- clock -------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.buf.end / RATE

    def _req(self, kind: str, a: int, b: int, prefix: tuple[int, ...] = (),
             prompt: tuple[int, ...] = ()) -> DecodeRequest:
        self._seq += 1
        self.decodes[kind] += 1
        beams = {"final": self.final_beam, "record": self.record_beam}
        return DecodeRequest(
            key=self.key,
            kind=kind,  # type: ignore[arg-type]
            audio=self.buf.slice(a, b),
            offset=a / RATE,
            seq=self._seq,
            prefix_tokens=prefix,
            language=self.language,
            beam_size=beams.get(kind),
            prompt_tokens=prompt,
            prompt_text=self.prompt_text,
            languages=self.languages,
            priority=self.priority,
        )

    def _trim(self, a: int) -> None:
        """Drop audio before `a`, but never an utterance's whose record is still to come."""
        if self._rec_start is not None:
            a = min(a, self._rec_start)
        if self._rec_queue:
            a = min(a, self._rec_queue[0][0])
        self.buf.trim_before(a)

    # -- audio in ----------------------------------------------------------
    def push(self, audio: np.ndarray) -> list[Output]:
        if self.closed:
            return []
        out: list[Output] = []
        self.buf.append(np.asarray(audio, dtype=np.float32))
        for speech, _rms in self.vad.push(audio):
            self._frame_no += 1
            self._on_frame(speech, out)
            self._record_frame(speech, out)
        self._maybe_interim(out)
        self._maybe_max_chunk(out)
        if self.chunk is None:
            # keep enough that a start found in the next push (its onset may lie a few
            # frames back) is never clipped: the record's audio must not depend on how the
            # audio was cut into frames
            pre = max(self.o.preroll_ms, self.o.record_preroll_ms if self.o.record else 0)
            keep = self.buf.end - (pre + self.o.speech_start_ms + 8 * self.o.frame_ms) * RATE // 1000
            self._trim(max(keep, 0))
        return out

    def _on_frame(self, speech: bool, out: list[Output]) -> None:
        o = self.o
        frame_end = self._frame_no * self.F
        if self.chunk is None:
            self._frames.append((speech, 0.0))
            window = self._frames[-(o.speech_start_ms // o.frame_ms + 2) :]
            voiced = sum(1 for s, _ in window if s)
            if speech and voiced * o.frame_ms >= o.speech_start_ms:
                first = len(window) - next(i for i, (s, _) in enumerate(window) if s)
                onset = frame_end - first * self.F
                start = max(onset - o.preroll_ms * RATE // 1000, self.buf.start, self.last_cut)
                self._chunk_ids += 1
                self.chunk = _Chunk(self._chunk_ids, start, voiced=voiced * self.F)
                self.chunk.last_interim_at = frame_end
                if self.o.record and self._rec_start is None:
                    pre = max(o.preroll_ms, o.record_preroll_ms) * RATE // 1000
                    self._rec_start = max(onset - pre, self.buf.start, self._rec_last_cut)
                    self._rec_voiced_end = frame_end
                    self._rec_voiced = voiced * self.F
                self.silence = 0
                self.last_voiced_end = frame_end
                self.utterance_end_sent = False
                self._frames.clear()
                out.append(SpeechStarted(self.channel, round(onset / RATE, 3)))
            else:
                self._frames = self._frames[-16:]
                self._check_gaps(frame_end, out)
            return
        if speech:
            self.silence = 0
            self.last_voiced_end = frame_end
            self.chunk.voiced += self.F
            return
        self.silence += 1
        pause = o.pause_ms if self.endpointing_ms is None else min(o.pause_ms, self.endpointing_ms)
        if self.silence * o.frame_ms >= pause:
            cut = min(frame_end, self.last_voiced_end + min(pause, 200) * RATE // 1000)
            self._close_chunk(cut, out, from_finalize=False)
            self._check_gaps(frame_end, out)

    def _check_gaps(self, frame_end: int, out: list[Output]) -> None:
        """Endpointing and UtteranceEnd while no speech is going on."""
        silence_ms = (frame_end - self.last_voiced_end) * 1000 // RATE
        if self.endpointing_ms is not None and silence_ms >= self.endpointing_ms:
            if self.pending_finals:
                self._after_final.setdefault(self.pending_finals[-1], set()).add("speech_final")
            elif self.utterance_open:
                self._emit_speech_final(out)
        if self.utterance_end_ms is None:
            return
        if self.pending_finals:
            # The last word is not known yet; the gap counts from the end of speech.
            # `utterance_end_sent` speaks of words already sent, not of these: under load
            # an earlier utterance's end may have gone out while this one waits.
            if silence_ms >= self.utterance_end_ms:
                self._after_final.setdefault(self.pending_finals[-1], set()).add("utterance_end")
        elif (
            not self.utterance_end_sent
            and self.last_word_end is not None
            and frame_end / RATE - self.last_word_end >= self.utterance_end_ms / 1000
        ):
            self._utterance_end(out)

    def _utterance_end(self, out: list[Output]) -> None:
        if self.last_word_end is not None and not self.utterance_end_sent:
            self.utterance_end_sent = True
            out.append(UtteranceEnd(self.channel, round(self.last_word_end, 3)))

    def _emit_speech_final(self, out: list[Output]) -> None:
        """Close the utterance with an empty final: its words were already sent."""
        self.utterance_open = False
        t = self.last_word_end if self.last_word_end is not None else self.last_voiced_end / RATE
        out.append(TranscriptUpdate(self.channel, [], t, t, True, speech_final=True))

    def _close_chunk(self, cut: int, out: list[Output], from_finalize: bool) -> None:
        c = self.chunk
        assert c is not None
        self.chunk = None
        self.last_cut = cut
        self._frames.clear()
        if (
            c.voiced * 1000 // RATE < self.o.min_speech_ms
            and not (from_finalize or c.committed or c.prev)
        ):
            return  # a click or a breath: not worth a decode, and Whisper would invent text
        if cut - c.start <= 0 or not self.o.live_finals:
            return
        a, prefix = c.window(self.o.context_ms)
        req = self._req("final", a, cut, prefix)
        self.pending_finals.append(req.seq)
        self._final_flags[req.seq] = from_finalize
        out.append(req)

    # -- transcript of record ------------------------------------------------
    def _record_frame(self, speech: bool, out: list[Output]) -> None:
        """End the open utterance on a pause or at its length limit (audio-only rules)."""
        if self._rec_start is None:
            return
        o = self.o
        frame_end = self._frame_no * self.F
        if speech:
            self._rec_voiced_end = frame_end
            self._rec_voiced += self.F
        gap_ms = (frame_end - self._rec_voiced_end) * 1000 // RATE
        span_ms = (self._rec_voiced_end - self._rec_start) * 1000 // RATE
        if not speech and (gap_ms >= o.record_gap_ms
                           or (gap_ms >= o.record_pause_ms and span_ms >= o.record_min_ms)):
            self._cut_record(self._rec_voiced_end + min(o.record_pause_ms, o.record_tail_ms) * RATE // 1000, out)
        elif (frame_end - self._rec_start) * 1000 // RATE >= o.record_max_ms:
            # no pause comes: cut at the quietest moment of the last 3 s (between words)
            cut = self._quietest(frame_end - 3 * RATE, frame_end - RATE // 4)
            self._cut_record(cut, out, reopen=True)

    def _cut_record(self, cut: int, out: list[Output], reopen: bool = False) -> None:
        a = self._rec_start
        assert a is not None
        voiced = self._rec_voiced
        self._rec_start = cut if reopen else None
        self._rec_last_cut = cut
        self._rec_voiced = 0
        self._rec_voiced_end = cut
        if cut <= a or voiced * 1000 // RATE < self.o.min_speech_ms:
            return  # a click or a breath, as for live chunks
        self._rec_queue.append((a, cut))
        self._next_record(out)

    def _next_record(self, out: list[Output]) -> None:
        if self._rec_inflight or not self._rec_queue:
            return
        a, cut = self._rec_queue.pop(0)
        n = self.o.record_context_tokens
        prompt = tuple(self._rec_context[-n:]) if n else ()
        req = self._req("record", a, cut, prompt=prompt)
        self._rec_inflight = True
        self.pending_records.append(req.seq)
        out.append(req)

    def _flush_records(self, out: list[Output]) -> None:
        """Records in order, each after every live final asked for before it."""
        first_final = self.pending_finals[0] if self.pending_finals else None
        while self.pending_records and self.pending_records[0] in self._record_results:
            seq = self.pending_records[0]
            if first_final is not None and first_final < seq:
                return
            self.pending_records.pop(0)
            req, hyp = self._record_results.pop(seq)
            words = [] if hyp is None or hyp.rejected else list(hyp.words)
            self._records += 1
            out.append(RecordUpdate(self.channel, words, req.offset, req.offset + req.duration,
                                    self._records, language=hyp.language if hyp else "en",
                                    failed=hyp is None))

    def _maybe_interim(self, out: list[Output]) -> None:
        c = self.chunk
        if c is None or self.interim_in_flight or self.pending_finals or not self.o.early_commit:
            return
        if self.buf.end - c.last_interim_at < self.o.interim_interval_ms * RATE // 1000:
            return
        if c.voiced < 300 * RATE // 1000 or self.silence * self.o.frame_ms >= 150:
            return
        c.last_interim_at = self.buf.end
        a, prefix = c.window(self.o.context_ms)
        self._trim(a - RATE)
        req = self._req("interim", a, self.buf.end, prefix)
        self.interim_in_flight = True
        self._interim_chunk[req.seq] = c.id
        out.append(req)

    def _maybe_max_chunk(self, out: list[Output]) -> None:
        c = self.chunk
        if c is None or (self.buf.end - c.start) * 1000 // RATE < self.o.max_chunk_ms:
            return
        if c.committed and c.committed[-1].end * RATE > c.start + RATE:
            # Drop audio up to the last committed word: its text is final already.
            end = int(c.committed[-1].end * RATE)
            nxt = int(c.prev[0].start * RATE) if c.prev else end + RATE // 4
            cut = self._quietest(end, max(end + self.F, min(nxt, end + RATE // 2)))
            self._chunk_ids += 1
            self.chunk = _Chunk(self._chunk_ids, cut, voiced=c.voiced)
            self.chunk.last_interim_at = c.last_interim_at
            self._trim(cut - RATE // 10)
            return
        # No agreement yet in 12 s of speech: finalise up to the quietest moment.
        cut = self._quietest(self.buf.end - int(2.5 * RATE), self.buf.end - int(0.3 * RATE))
        self._close_chunk(cut, out, from_finalize=False)
        self._chunk_ids += 1
        self.chunk = _Chunk(self._chunk_ids, cut, voiced=0)
        self.chunk.last_interim_at = self.buf.end

    def _quietest(self, a: int, b: int) -> int:
        x = self.buf.slice(a, b)
        win = RATE // 50
        if x.size < 2 * win:
            return a
        e = np.convolve(x.astype(np.float64) ** 2, np.ones(win), mode="valid")
        return a + int(np.argmin(e)) + win // 2

    # -- results in --------------------------------------------------------
    def on_result(self, req: DecodeRequest, hyp: Hypothesis | None) -> list[Output]:
        out: list[Output] = []
        if req.kind == "record":
            self._record_results[req.seq] = (req, hyp)
            if hyp is not None and not hyp.rejected:
                self._rec_context.extend(t for w in hyp.words for t in w.tokens)
                del self._rec_context[:-448]
            self._rec_inflight = False
            self._next_record(out)
            self._flush_records(out)
            return out
        if req.kind == "final":
            self._final_results[req.seq] = (req, hyp)
            self._flush_finals(out)
            self._flush_records(out)
            return out
        self.interim_in_flight = False
        chunk_id = self._interim_chunk.pop(req.seq, None)
        c = self.chunk
        if hyp is None or c is None or chunk_id != c.id or self.pending_finals:
            return out
        words = _strip_prefix(hyp.words, len(req.prefix_tokens)) if not hyp.rejected else []
        limit = req.offset + req.duration - self.o.commit_margin_ms / 1000
        # how many decodes in a row have agreed on each word (a contiguous prefix)
        agree = [1] * len(words)
        for i, w in enumerate(words):
            if i >= len(c.prev) or not w.bare or w.bare != c.prev[i].bare:
                break
            agree[i] = (c.agree[i] if i < len(c.agree) else 1) + 1
        n = 0
        while (
            n < len(words) - 1
            and agree[n] >= 2
            and words[n].end <= limit
            # a word the model is unsure of waits for one more agreeing decode
            and (words[n].probability >= self.o.commit_min_prob or agree[n] >= 3)
        ):
            n += 1
        if n:
            committed = words[:n]
            c.committed.extend(committed)
            c.voiced = 0
            out.append(
                TranscriptUpdate(
                    self.channel, committed, committed[0].start, committed[-1].end, True,
                    language=hyp.language,
                )
            )
            self._words_sent(committed)
        c.prev = words[n:]
        c.agree = agree[n:]
        if c.prev:
            start = c.committed[-1].end if c.committed else c.start / RATE
            out.append(
                TranscriptUpdate(
                    self.channel, c.prev, start, req.offset + req.duration, False,
                    language=hyp.language,
                )
            )
        return out

    def _flush_finals(self, out: list[Output]) -> None:
        while self.pending_finals and self.pending_finals[0] in self._final_results:
            seq = self.pending_finals.pop(0)
            req, hyp = self._final_results.pop(seq)
            from_finalize = self._final_flags.pop(seq, False)
            words = []
            if hyp is not None and not hyp.rejected:
                words = _strip_prefix(hyp.words, len(req.prefix_tokens))
            last = not self.pending_finals
            markers = self._after_final.pop(seq, set())
            silence_ms = (self.buf.end - self.last_voiced_end) * 1000 // RATE
            ended = "speech_final" in markers or (
                last
                and self.chunk is None
                and (
                    self.closed
                    or (self.endpointing_ms is not None and silence_ms >= self.endpointing_ms)
                )
            )
            speech_final = ended and (self.utterance_open or bool(words))
            if words:
                self._words_sent(words)
            if words or speech_final or from_finalize:
                start = words[0].start if words else req.offset
                end = words[-1].end if words else req.offset + req.duration
                out.append(
                    TranscriptUpdate(
                        self.channel, words, start, end, True,
                        speech_final=speech_final, from_finalize=from_finalize,
                        language=hyp.language if hyp else "en",
                    )
                )
            if speech_final:
                self.utterance_open = False
            if "utterance_end" in markers:
                self._utterance_end(out)

    def _words_sent(self, words: list[HypWord]) -> None:
        self.last_word_end = words[-1].end
        self.utterance_end_sent = False
        self.utterance_open = True

    # -- control -----------------------------------------------------------
    def finalize(self, from_finalize: bool = True) -> list[Output]:
        """Flush: decode whatever speech is open now (Finalize / end of stream)."""
        out: list[Output] = []
        if self.chunk is not None:
            c = self.chunk
            if c.voiced * 1000 // RATE >= self.o.min_speech_ms or c.committed or c.prev:
                c.voiced = max(c.voiced, self.o.min_speech_ms * RATE // 1000)
            self._close_chunk(self.buf.end, out, from_finalize=from_finalize)
        if self._rec_start is not None:
            self._cut_record(self.buf.end, out)
        return out

    def close(self, tail: np.ndarray | None = None) -> list[Output]:
        out = self.push(tail) if tail is not None and tail.size else []
        out += self.finalize(from_finalize=False)
        self.closed = True
        if not self.pending_finals and self.utterance_open:
            self._emit_speech_final(out)
        return out

    @property
    def busy(self) -> bool:
        return bool(self.pending_finals or self.pending_records or self._rec_queue) or self.interim_in_flight


def _strip_prefix(words: list[HypWord], n_tokens: int) -> list[HypWord]:
    """Drop the words made of the forced prefix tokens (already sent as final)."""
    if not n_tokens:
        return list(words)
    seen = 0
    for i, w in enumerate(words):
        if seen >= n_tokens:
            return list(words[i:])
        seen += max(1, len(w.tokens))
    return []
