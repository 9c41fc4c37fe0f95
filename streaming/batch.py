"""Batch transcription of recordings: `souffleur transcribe FILES|DIR --out DIR`.

A thin adapter around the live pieces: each file is a `CallSession` (stereo
calls: one channel per speaker) with `early_commit=False`, so every VAD chunk is
decoded once as a final and nothing is decoded twice. All files share one
`InferenceScheduler`, which batches chunks of similar length from different
files and channels into one model call. `benchmarks/batch.py` compares this with
faster-whisper's `BatchedInferencePipeline` (30 s windows) on the same files.

`BatchEngine` is the reusable core (the CLI here, the Redis job workers in
`streaming.jobs`, and `transcribe_to_segments` for `souffleur analyze` all use
it); everything about files on disk (naming, formats, atomic writes, resuming)
is in the functions below it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import streaming  # noqa: F401  (limits BLAS threads before numpy is used)

from .asr import DecodeRequest, Hypothesis, Recognizer
from .audiofile import AUDIO_EXTENSIONS, RAW_ENCODINGS, load_audio
from .codecs import resample
from .offline import pcm_frames
from .options import MAX_RATE, MIN_RATE, AsrOptions, SegmenterOptions, StreamOptions
from .scheduler import InferenceScheduler
from .session import CallSession, Close, Send

FORMATS = ("json", "srt", "vtt", "txt")
FEED_MS = 500  # audio per receive_audio call: big enough to be cheap, small for max_chunk cuts
MAX_OUTSTANDING = 24  # decodes queued per file before more audio is read
BATCH_FINAL_PAD_S = 3.0  # silent tail after each chunk (the live default is longer; see batch_asr)


def batch_segmenter(base: SegmenterOptions | None = None) -> SegmenterOptions:
    """Chunking for recordings: decode each VAD chunk once, no interims."""
    return replace(base or SegmenterOptions(), early_commit=False)


def batch_asr(base: AsrOptions | None = None) -> AsrOptions:
    """Decoding for recordings; `final_pad_seconds` is the silent tail after a chunk
    (measured in benchmarks/batch.py: 3 s costs no accuracy on recordings and the
    encoder works on a third less audio than the live 10 s)."""
    o = base or AsrOptions.from_env()
    live_default = AsrOptions().final_pad_seconds
    if o.final_pad_seconds == live_default and "SOUFFLEUR_ASR_FINAL_PAD_SECONDS" not in os.environ:
        o = replace(o, final_pad_seconds=BATCH_FINAL_PAD_S)
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
        return [m for m in self.messages if m.get("type") == "Results" and m.get("is_final")
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


# -- transcripts on disk -------------------------------------------------------------
def segments_of(t: FileTranscript) -> list[dict[str, Any]]:
    """Final results as plain segments in time order (both channels interleaved)."""
    out = []
    for m in t.finals():
        alt = m["channel"]["alternatives"][0]
        out.append({
            "id": m.get("segment_id", ""),
            "channel": m["channel_index"][0],
            "speaker": m.get("speaker") if t.channels > 1 else None,
            "start": round(float(m["start"]), 3),
            "end": round(float(m["start"]) + float(m["duration"]), 3),
            "text": alt["transcript"],
            "confidence": alt.get("confidence"),
            "language": (alt.get("languages") or [None])[0],
            "words": [{"word": w.get("punctuated_word") or w["word"], "start": w["start"], "end": w["end"],
                       "confidence": w.get("confidence")} for w in alt.get("words", ())],
        })
    out.sort(key=lambda s: (s["start"], s["channel"]))
    return out


def turns_of(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive segments of one speaker become one turn (agent/customer on stereo calls)."""
    turns: list[dict[str, Any]] = []
    for s in segments:
        if turns and turns[-1]["speaker"] == s["speaker"]:
            t = turns[-1]
            t["end"] = max(t["end"], s["end"])
            t["text"] = f"{t['text']} {s['text']}"
            t["segments"].append(s["id"])
        else:
            turns.append({"speaker": s["speaker"], "start": s["start"], "end": s["end"], "text": s["text"],
                          "segments": [s["id"]]})
    return turns


def _ts(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[dict[str, Any]]) -> str:
    cues = []
    for i, s in enumerate(segments, 1):
        who = f"[{s['speaker']}] " if s["speaker"] else ""
        cues.append(f"{i}\n{_ts(s['start'], ',')} --> {_ts(s['end'], ',')}\n{who}{s['text']}\n")
    return "\n".join(cues)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    cues = ["WEBVTT\n"]
    for s in segments:
        text = s["text"].replace("-->", "->")
        voice = f"<v {s['speaker']}>" if s["speaker"] else ""
        cues.append(f"{_ts(s['start'], '.')} --> {_ts(s['end'], '.')}\n{voice}{text}\n")
    return "\n".join(cues)


def to_txt(turns: list[dict[str, Any]]) -> str:
    return "".join((f"{t['speaker']}: " if t["speaker"] else "") + t["text"] + "\n" for t in turns)


def source_fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime": round(st.st_mtime, 3)}


def transcript_json(t: FileTranscript, extra: dict[str, Any] | None = None, *,
                    redact: bool = False) -> dict[str, Any]:
    """The JSON document of one recording (the other formats are rendered from it)."""
    if redact:
        t, extra = redacted(t, extra)
    segments = segments_of(t)
    meta = next((m for m in t.messages if m.get("type") == "Metadata"), {})
    doc = {
        "file": t.item.path.name,
        "source": source_fingerprint(t.item.path),
        "duration": round(t.duration, 3),
        "channels": t.channels,
        "sample_rate": t.sample_rate,
        "model": meta.get("models", [None])[0],
        "speakers": sorted({s["speaker"] for s in segments if s["speaker"]}),
        "segments": segments,
        "turns": turns_of(segments),
        "text": " ".join(s["text"] for s in segments),
        "stats": {"wall_s": round(t.wall_s, 3), "x_realtime": round(t.duration / max(t.wall_s, 1e-6), 1)},
    }
    if extra:
        doc.update(extra)
    return doc


def redacted(t: FileTranscript, extra: dict[str, Any] | None) -> tuple[FileTranscript, dict[str, Any] | None]:
    """Outputs hold no PII (docs/security.md): numbers, e-mails, dates, and every value
    the form captured, wherever it was said. The summary is made from the words as
    said first (the assistant needs them), then redacted with everything else."""
    from assist.redact import PII_FIELDS, Redactor

    r = Redactor()
    form = dict((extra or {}).get("form") or {})
    r.add_values(str(v) for k, v in form.items() if k in PII_FIELDS and v)
    messages = [r.event(m) if m.get("type") == "Results" else m for m in t.messages]
    if extra:
        extra = dict(extra)
        if form:
            extra["form"] = {k: ("[pii]" if k in PII_FIELDS and v else r.text(v) if isinstance(v, str) else v)
                             for k, v in form.items()}
        if extra.get("summary"):
            extra["summary"] = r.event(extra["summary"])
        extra["alerts"] = [r.event(a) for a in extra.get("alerts") or []]
    return replace(t, messages=messages), extra


def assist_summary(t: FileTranscript, language: str | None, form: str = "identity",
                   kb: Any = None) -> dict[str, Any]:
    """The offline assistant over the whole call: summary, form values, alerts."""
    from assist.cli import analyze
    from assist.transcript_io import Transcript

    from .pipeline import segment_from_results

    lang = language or "en"
    segs = [s for m in sorted(t.finals(), key=lambda m: (m["start"], m["channel_index"][0]))
            if (s := segment_from_results(m, lang)) is not None]
    r = analyze(Transcript(t.item.key or t.item.path.stem, lang, segs, {}), form=form, kb=kb)
    return {"summary": r["summary"], "form": r["form"], "alerts": r["alerts"], "escalation": r["escalation"]}


def write_atomic(path: Path, text: str) -> None:
    """Readers (and a resumed run) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class OutputPlan:
    """Where one recording's transcripts go, in which formats."""

    source: Path
    base: Path  # output path without suffix
    formats: tuple[str, ...]
    summary: bool = False

    def path(self, fmt: str) -> Path:
        return self.base.with_name(self.base.name + "." + fmt)

    def done(self) -> bool:
        """Resuming: every format is there and the JSON is of this very file."""
        if not all(self.path(f).exists() for f in self.formats):
            return False
        try:
            doc = json.loads(self.path("json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return doc.get("source", {}) == source_fingerprint(self.source) and (not self.summary or "summary" in doc)

    def write(self, doc: dict[str, Any]) -> dict[str, Path]:
        segments, turns = doc["segments"], doc["turns"]
        render = {"srt": lambda: to_srt(segments), "vtt": lambda: to_vtt(segments), "txt": lambda: to_txt(turns)}
        for f in self.formats:
            if f != "json":
                write_atomic(self.path(f), render[f]())
        # the JSON goes last: its presence (with the source fingerprint) means "done"
        write_atomic(self.path("json"), json.dumps(doc, ensure_ascii=False, indent=1))
        return {f: self.path(f) for f in self.formats}


def find_recordings(inputs: Iterable[str]) -> list[tuple[Path, Path]]:
    """(file, root it was found under) for files and directories, in a stable order."""
    out: list[tuple[Path, Path]] = []
    for raw in inputs:
        p = Path(raw).expanduser().resolve()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith("."):
                    out.append((f, p))
        elif p.is_file():
            out.append((p, p.parent))
        else:
            raise FileNotFoundError(f"no such file or directory: {raw}")
    seen: set[Path] = set()
    return [x for x in out if not (x[0] in seen or seen.add(x[0]))]  # type: ignore[func-returns-value]


def plan_outputs(found: list[tuple[Path, Path]], out_dir: str | None, formats: tuple[str, ...],
                 summary: bool) -> list[OutputPlan]:
    """Next to each input, or under `out_dir` mirroring the input folders; names never collide."""
    plans: list[OutputPlan] = []
    used: set[Path] = set()
    for f, root in found:
        if out_dir is None:
            base = f.with_suffix("")
        else:
            rel = f.relative_to(root) if f.is_relative_to(root) else Path(f.name)
            base = Path(out_dir).resolve() / rel.with_suffix("")
        if base in used:  # a.wav and a.flac side by side
            base = base.with_name(base.name + f.suffix.replace(".", "_"))
        used.add(base)
        plans.append(OutputPlan(f, base, formats, summary))
    return plans


def parse_formats(spec: str) -> tuple[str, ...]:
    fmts = tuple(dict.fromkeys(x.strip().lower() for x in spec.split(",") if x.strip()))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise SystemExit(f"souffleur: unknown format(s) {', '.join(bad) or spec!r}; choose from {', '.join(FORMATS)}")
    return fmts if "json" in fmts else (*fmts, "json")  # the JSON records completion (resume)


# -- the API the assist CLI uses ------------------------------------------------------
def transcribe_to_segments(path: str, language: str | None = None) -> list[Any]:
    """A recording as assist `Segment`s in time order (`souffleur analyze call.wav`)."""
    from .pipeline import segment_from_results

    engine = make_engine()
    try:
        t = engine.transcribe(BatchItem(Path(path), Path(path).stem, language))
    finally:
        engine.close()
    lang = language or "en"
    segs = [segment_from_results(m, lang) for m in sorted(t.finals(), key=lambda m: (m["start"], m["channel_index"][0]))]
    return [s for s in segs if s is not None]


def make_engine(asr: AsrOptions | None = None, workers: int | None = None) -> BatchEngine:
    from .whisper import WhisperRecognizer

    o = batch_asr(asr or AsrOptions.from_env())  # the recogniser pads chunks by its own options
    if workers:
        o = replace(o, workers=workers)
    rec = WhisperRecognizer(o)
    return BatchEngine(rec, workers=rec.workers, asr=o)


# -- command line ---------------------------------------------------------------------
def add_commands(subparsers: Any) -> None:
    from .cli import add_asr_arguments

    t = subparsers.add_parser("transcribe", help="transcribe recordings (files or folders) to json/srt/vtt/txt")
    t.add_argument("inputs", nargs="+", metavar="FILE|DIR", help="WAV/FLAC/MP3/OGG, or raw G.711 (.ulaw/.alaw/.raw)")
    t.add_argument("--out", help="output folder (default: next to each input)")
    t.add_argument("--format", default="json", help="comma-separated: json,srt,vtt,txt (json is always written)")
    t.add_argument("--summary", action="store_true", help="add the assist summary and form values per call")
    t.add_argument("--form", default="identity", help="form for --summary (default identity)")
    t.add_argument("--roles", default="agent,customer", help="speaker per channel of stereo files")
    t.add_argument("--force", action="store_true", help="transcribe again even if outputs are there")
    t.add_argument("--no-redact", dest="redact", action="store_false",
                   help="keep numbers, e-mails, dates and captured names in the outputs (default: redacted)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_asr_arguments(t)
    t.set_defaults(func=cmd_transcribe)
    from .jobs import add_commands as add_job_commands

    add_job_commands(subparsers)


class ProgressBars:
    """tqdm bars: one for all audio, one per file being transcribed (driver thread only)."""

    def __init__(self, total_s: float, enabled: bool) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.overall = tqdm(total=round(total_s, 1), unit="s", desc="all audio", position=0,
                            disable=not enabled, dynamic_ncols=True, bar_format=None)
        self.bars: dict[Path, Any] = {}
        self.free: list[int] = []
        self.next_pos = 1

    def file(self, item: BatchItem, done_s: float, total_s: float) -> None:
        bar = self.bars.get(item.path)
        if bar is None:
            pos = self.free.pop(0) if self.free else self.next_pos
            self.next_pos = max(self.next_pos, pos + 1)
            bar = self._tqdm(total=round(total_s, 1), unit="s", desc=item.path.name[:30], position=pos,
                             leave=False, disable=not self.enabled, dynamic_ncols=True)
            bar.pos_ = pos
            self.bars[item.path] = bar
        bar.n = round(done_s, 1)
        bar.refresh()

    def finished(self, item: BatchItem, seconds: float) -> None:
        bar = self.bars.pop(item.path, None)
        if bar is not None:
            self.free.append(bar.pos_)
            self.free.sort()
            bar.close()
        self.overall.update(round(seconds, 1))

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.overall.close()


def run_transcribe(plans: list[OutputPlan], engine: BatchEngine, *, language: str | None = None,
                   roles: tuple[str, ...] = ("agent", "customer"), form: str = "identity",
                   progress: bool = False, redact: bool = True) -> tuple[list[tuple[OutputPlan, dict[str, Path]]], list[tuple[Path, str]]]:
    """Transcribe every plan through the engine; outputs are written as files finish."""
    totals = {p.source: audio_seconds(p.source) for p in plans}
    bars = ProgressBars(sum(totals.values()), progress)
    finisher = ThreadPoolExecutor(1, thread_name_prefix="batch-write")  # summaries + writing
    futures: list[tuple[OutputPlan, Future]] = []
    errors: list[tuple[Path, str]] = []
    left = threading.Semaphore(0)
    kb = _shared_kb() if any(p.summary for p in plans) else None

    def finish(plan: OutputPlan, t: FileTranscript) -> dict[str, Path]:
        extra = assist_summary(t, language, form, kb) if plan.summary else None
        return plan.write(transcript_json(t, extra, redact=redact))

    def done(item: BatchItem, r: FileTranscript | Exception) -> None:
        plan: OutputPlan = item.context
        if isinstance(r, Exception):
            errors.append((plan.source, str(r)))
            bars.finished(item, totals.get(plan.source, 0.0))
        else:
            bars.finished(item, r.duration)
            futures.append((plan, finisher.submit(finish, plan, r)))
        left.release()

    for p in plans:
        engine.submit(BatchItem(p.source, p.source.stem, language, roles, context=p), done, bars.file)
    for _ in plans:
        left.acquire()
    finisher.shutdown(wait=True)
    bars.close()
    written = []
    for plan, fut in futures:
        try:
            written.append((plan, fut.result()))
        except Exception as e:  # a summary or a write failed: that file is not done
            errors.append((plan.source, f"{type(e).__name__}: {e}"))
    return written, errors


def _shared_kb() -> Any:
    from assist.knowledge import KnowledgeBase

    with contextlib.suppress(Exception):
        return KnowledgeBase.from_dir()
    return None


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .cli import asr_options

    formats = parse_formats(args.format)
    try:
        plans = plan_outputs(find_recordings(args.inputs), args.out, formats, args.summary)
    except FileNotFoundError as e:
        print(f"souffleur: {e}", file=sys.stderr)
        return 2
    todo = [p for p in plans if args.force or not p.done()]
    print(f"souffleur: {len(plans)} recordings, {len(plans) - len(todo)} already done, "
          f"{len(todo)} to transcribe", file=sys.stderr)
    if not todo:
        return 0
    t0 = time.perf_counter()
    engine = make_engine(asr_options(args))
    loaded = time.perf_counter()
    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    try:
        written, errors = run_transcribe(todo, engine, language=args.language, roles=roles, form=args.form,
                                         progress=not args.no_progress and sys.stderr.isatty(),
                                         redact=args.redact)
    finally:
        engine.close()
    wall = time.perf_counter() - loaded
    audio = sum(audio_seconds(p.source) for p, _ in written)
    for src, err in errors:
        print(f"souffleur: {src}: {err}", file=sys.stderr)
    print(f"souffleur: transcribed {len(written)} recordings ({audio:.0f} s of audio) in {wall:.1f} s "
          f"({audio / max(wall, 1e-6):.1f}x real time; model load {loaded - t0:.1f} s)"
          + (f"; {len(errors)} failed" if errors else ""), file=sys.stderr)
    return 1 if errors else 0
