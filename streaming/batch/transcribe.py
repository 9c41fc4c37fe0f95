"""`souffleur transcribe FILES|DIR --out DIR` and the job-queue commands' registration.

Option parsing, progress bars and the run loop; the work is in `engine.py` (decoding)
and `outputs.py` (what is written).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import streaming  # noqa: F401  (limits BLAS threads before numpy is used)
from streaming.batch.engine import (
    BatchEngine,
    BatchItem,
    FileTranscript,
    audio_seconds,
    make_engine,
)
from streaming.batch.jobs import add_commands as add_job_commands
from streaming.batch.outputs import (
    OutputPlan,
    _shared_kb,
    assist_summary,
    find_recordings,
    parse_formats,
    plan_outputs,
    transcript_json,
)
from streaming.options import (
    add_asr_arguments,
    asr_options,
)


# -- command line ---------------------------------------------------------------------
def add_commands(subparsers: Any) -> None:
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


def cmd_transcribe(args: argparse.Namespace) -> int:
    formats = parse_formats(args.format)
    try:
        plans = plan_outputs(find_recordings(args.inputs), args.out, formats, args.summary, args.redact)
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
