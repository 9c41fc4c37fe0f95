"""The batch engine: many recordings through one shared model, each as a `CallSession`.

Each file is a `CallSession` (stereo calls: one channel per speaker) with
no early commits and no live finals: each utterance is decoded once, as its
transcript of record (beam search, the channel's earlier text as prompt), exactly
as a live call's record is, and nothing is decoded twice. All files share one `InferenceScheduler`, which batches chunks of
similar length from different files and channels into one model call.
`benchmarks/batch.py` compares this with faster-whisper's `BatchedInferencePipeline`.
Used by `souffleur transcribe`, the Redis job workers (`jobs.py`) and
`transcribe_to_segments` for `souffleur analyze` on audio.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import streaming  # noqa: F401  (limits BLAS threads before numpy is used)
from streaming.asr.base import DecodeRequest, Hypothesis, Recognizer
from streaming.asr.scheduler import InferenceScheduler
from streaming.audio.codecs import resample
from streaming.audio.files import RAW_ENCODINGS, load_audio
from streaming.live.offline import pcm_frames
from streaming.live.session import CallSession, Close, Send
from streaming.options import MAX_RATE, MIN_RATE, AsrOptions, SegmenterOptions, StreamOptions

FEED_MS = 500  # audio per receive_audio call: big enough to be cheap, small for max_chunk cuts
MAX_OUTSTANDING = 24  # decodes queued per file before more audio is read
BATCH_FINAL_PAD_S = 3.0  # silent tail after each chunk (the live default is longer; see batch_asr)


def batch_segmenter(base: SegmenterOptions | None = None) -> SegmenterOptions:
    """Chunking for recordings: decode each VAD chunk once, no interims."""
    return replace(base or SegmenterOptions(), early_commit=False, live_finals=False)


def batch_asr(base: AsrOptions | None = None) -> AsrOptions:
    """Decoding for recordings; `final_pad_seconds` is the silent tail after a chunk
    (measured in benchmarks/batch.py: 3 s costs no accuracy on recordings and the
    encoder works on a third less audio than the live 10 s)."""
    o = base or AsrOptions.from_env()
    live = AsrOptions()
    if o.final_pad_seconds == live.final_pad_seconds and "SOUFFLEUR_ASR_FINAL_PAD_SECONDS" not in os.environ:
        o = replace(o, final_pad_seconds=BATCH_FINAL_PAD_S)
    if o.record_pad_seconds == live.record_pad_seconds and "SOUFFLEUR_ASR_RECORD_PAD_SECONDS" not in os.environ:
        o = replace(o, record_pad_seconds=BATCH_FINAL_PAD_S)  # batch decodes records only
    return o


# -- the engine ------------------------------------------------------------------
@dataclass
class BatchItem:
    """One recording to transcribe; `key` names it in results and call ids."""

    path: Path
    key: str = ""
    language: str | None = None
    roles: tuple[str, ...] = ("agent", "customer")
    context: Any = None  # the caller's own (a job, an output plan)


@dataclass
class FileTranscript:
    """What one recording became: the session's messages and its shape."""

    item: BatchItem
    messages: list[dict[str, Any]]
    duration: float
    channels: int
    sample_rate: int
    wall_s: float

    def finals(self) -> list[dict[str, Any]]:
        """The transcript of record (`Record` messages); live finals when records are off."""
        kind = "Record" if any(m.get("type") == "Record" for m in self.messages) else "Results"
        return [m for m in self.messages if m.get("type") == kind and (kind == "Record" or m.get("is_final"))
                and m["channel"]["alternatives"][0]["transcript"]]


Done = Callable[[BatchItem, "FileTranscript | Exception"], None]


Progress = Callable[[BatchItem, float, float], None]  # item, audio seconds done, total


@dataclass(eq=False)
class _Active:
    item: BatchItem
    done: Done
    progress: Progress | None
    session: CallSession
    frames: Iterator[bytes]
    duration: float
    channels: int
    rate: int
    started: float = field(default_factory=time.perf_counter)
    messages: list[dict[str, Any]] = field(default_factory=list)
    outstanding: int = 0
    fed_all: bool = False
    closed: bool = False
    decoded_to: float = 0.0


class BatchEngine:
    """Many recordings through one shared scheduler, driven by one thread.

    The driver thread owns every `CallSession` (they are not thread-safe); the
    scheduler's worker threads run the model and post results back through a
    queue. Up to `max_active` files are open at once so chunks from several files
    and channels are waiting together and batch well.
    """

    def __init__(self, recognizer: Recognizer, *, workers: int = 1, asr: AsrOptions | None = None,
                 segmenter: SegmenterOptions | None = None, max_active: int | None = None) -> None:
        self.asr = batch_asr(asr)
        self.segmenter = batch_segmenter(segmenter)
        self.recognizer = recognizer
        self.model_name = getattr(recognizer, "name", "whisper")
        # no interims, no admission: nothing here is ever dropped for being late
        self.scheduler = InferenceScheduler(recognizer, workers=workers, max_batch=self.asr.max_batch,
                                            max_interim_age=1e9, max_queue_delay=1e9)
        self.max_active = max_active or max(2, 2 * workers)
        self._q: queue.Queue[tuple] = queue.Queue()
        self._waiting: deque[tuple[BatchItem, Done, Progress | None]] = deque()
        self._active: list[_Active] = []
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="batch-driver", daemon=True)
        self._thread.start()

    # -- API -------------------------------------------------------------------
    def submit(self, item: BatchItem, done: Done, progress: Progress | None = None) -> None:
        """Queue a recording; `done` is called from the driver thread (keep it quick)."""
        self._q.put(("job", item, done, progress))

    def transcribe(self, item: BatchItem) -> FileTranscript:
        """One recording, synchronously."""
        box: list[FileTranscript | Exception] = []
        ev = threading.Event()

        def done(_: BatchItem, r: FileTranscript | Exception) -> None:
            box.append(r)
            ev.set()

        self.submit(item, done)
        ev.wait()
        if isinstance(box[0], Exception):
            raise box[0]
        return box[0]

    @property
    def busy(self) -> int:
        return len(self._active) + len(self._waiting) + self._q.qsize()

    def close(self) -> None:
        self._q.put(("stop",))
        self._thread.join(30)
        self.scheduler.close()

    # -- driver ------------------------------------------------------------------
    def _loop(self) -> None:
        while not (self._stop and not self._active and not self._waiting):
            feedable = any(not a.fed_all and a.outstanding < MAX_OUTSTANDING for a in self._active)
            try:
                msg = self._q.get(block=not feedable, timeout=None)
            except queue.Empty:
                msg = None
            while msg is not None:
                self._on(msg)
                try:
                    msg = self._q.get_nowait()
                except queue.Empty:
                    msg = None
            while self._waiting and len(self._active) < self.max_active:
                self._open(*self._waiting.popleft())
            for a in list(self._active):
                self._feed(a)

    def _on(self, msg: tuple) -> None:
        if msg[0] == "stop":
            self._stop = True
        elif msg[0] == "job":
            self._waiting.append(msg[1:])
        else:
            _, a, req, hyp = msg
            a.outstanding -= 1
            a.decoded_to = max(a.decoded_to, req.offset + req.duration)
            if a.progress is not None:
                a.progress(a.item, min(a.decoded_to, a.duration), a.duration)
            self._handle(a, a.session.on_result(req, hyp))

    def _open(self, item: BatchItem, done: Done, progress: Progress | None) -> None:
        try:
            audio, rate = load_recording(item.path)
        except Exception as e:  # unreadable file: report it, go on with the others
            done(item, e)
            return
        channels = audio.shape[1]
        opts = StreamOptions(encoding="float32", sample_rate=rate, channels=channels,
                             multichannel=channels > 1, interim_results=False, endpointing_ms=None,
                             language=item.language, call_id=item.key or item.path.stem, roles=item.roles)
        session = CallSession(opts, self.segmenter, model_name=self.model_name,
                              final_beam=self.asr.final_beam_size, max_frame_bytes=1 << 30)
        a = _Active(item, done, progress, session, pcm_frames(audio, rate, "float32", FEED_MS),
                    audio.shape[0] / rate, channels, rate)
        self._active.append(a)

    def _feed(self, a: _Active) -> None:
        while not a.fed_all and a.outstanding < MAX_OUTSTANDING:
            frame = next(a.frames, None)
            if frame is None:
                a.fed_all = True
                self._handle(a, a.session.close())
            else:
                self._handle(a, a.session.receive_audio(frame))

    def _handle(self, a: _Active, outs: list) -> None:
        for o in outs:
            if isinstance(o, DecodeRequest):
                a.outstanding += 1
                self.scheduler.submit(o, lambda h, a=a, o=o: self._posted(a, o, h))
            elif isinstance(o, Send):
                a.messages.append(o.message)
            elif isinstance(o, Close):
                a.closed = True
        if a.closed and a in self._active:
            self._active.remove(a)
            wall = time.perf_counter() - a.started
            a.done(a.item, FileTranscript(a.item, a.messages, a.duration, a.channels, a.rate, wall))

    def _posted(self, a: _Active, req: DecodeRequest, hyp: Hypothesis | None) -> None:
        self._q.put(("result", a, req, hyp))


def load_recording(path: Path) -> tuple[np.ndarray, int]:
    """(samples x channels, rate) for any readable recording; odd rates go to 16 kHz."""
    audio, rate = load_audio(path)
    if not MIN_RATE <= rate <= MAX_RATE:
        audio = np.stack([resample(audio[:, c], rate) for c in range(audio.shape[1])], axis=1)
        rate = 16000
    if audio.shape[1] > 2:  # the streaming core takes 1 or 2 channels
        audio = audio[:, :2]
    return np.ascontiguousarray(audio, dtype=np.float32), rate


def audio_seconds(path: Path) -> float:
    """Duration without decoding the file (for progress totals)."""
    if path.suffix.lower() in RAW_ENCODINGS:
        return path.stat().st_size / 8000.0
    try:
        import soundfile as sf

        return float(sf.info(str(path)).duration)
    except Exception:
        return 0.0


# -- the API the assist CLI uses ------------------------------------------------------
def transcribe_to_segments(path: str, language: str | None = None) -> list[Any]:
    """A recording as assist `Segment`s in time order (`souffleur analyze call.wav`)."""
    from streaming.live.utterances import segment_from_results

    engine = make_engine()
    try:
        t = engine.transcribe(BatchItem(Path(path), Path(path).stem, language))
    finally:
        engine.close()
    lang = language or "en"
    segs = [segment_from_results(m, lang) for m in sorted(t.finals(), key=lambda m: (m["start"], m["channel_index"][0]))]
    return [s for s in segs if s is not None]


def make_engine(asr: AsrOptions | None = None, workers: int | None = None) -> BatchEngine:
    from streaming.asr.whisper import WhisperRecognizer

    o = batch_asr(asr or AsrOptions.from_env())  # the recogniser pads chunks by its own options
    if workers:
        o = replace(o, workers=workers)
    rec = WhisperRecognizer(o)
    return BatchEngine(rec, workers=rec.workers, asr=o)
