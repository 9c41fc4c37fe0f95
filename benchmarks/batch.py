"""Batch transcription throughput and accuracy: our `BatchEngine` vs faster-whisper's
`BatchedInferencePipeline`, with 1 and 2 workers.

Files: the five English labelled calls (stereo 16 kHz, agent left, customer
right, a reference per channel) and the 111 s LJSpeech concatenation (mono
22.05 kHz), `--files N` of them. Throughput is audio seconds (file duration,
not channel-seconds) per wall second, model load excluded, file loading and
writing-ready transcripts included; `x RT/CPU` is audio seconds per CPU second
times the workers, what the machine would reach with nothing else running (the
wall-clock figure is only as clean as the machine is quiet). WER is
corpus-level over every channel with a reference.

* `souffleur`: every file is a `CallSession` with no live words: each utterance
  decoded once as its transcript of record (beam 5, earlier text as prompt);
  utterances of all files and channels share one scheduler that batches similar
  lengths; word timestamps included.
* `fw-plain`: `WhisperModel.transcribe()` per channel, beam 5, faster-whisper's
  defaults (what a user would run for accuracy).
* `fw-batched`: `BatchedInferencePipeline.transcribe` per channel (Silero VAD,
  up to 30 s windows, batch_size 8), word timestamps on, same beam; with 2
  workers two channels/files run at once on a model with num_workers=2.

    python benchmarks/batch.py --files 6 --workers 1 2 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import _paths  # noqa: F401
from corpus import AUDIO, SHARED

import streaming  # noqa: F401  (BLAS thread limits before numpy loads)
from streaming.asr.models import model_path
from streaming.asr.textnorm import word_errors
from streaming.audio.codecs import resample
from streaming.batch.engine import BatchEngine, BatchItem, batch_asr, load_recording
from streaming.options import AsrOptions, SegmenterOptions


def corpus(n: int) -> list[tuple[Path, dict[int | None, str]]]:
    """(file, {channel or None: reference})."""
    items: list[tuple[Path, dict[int | None, str]]] = []
    for js in sorted((SHARED / "assist").glob("dev_en_0*.json")):
        if js.name.endswith(".timing.json"):
            continue
        call = json.loads(js.read_text(encoding="utf-8"))
        refs = {ch: " ".join(t["text"] for t in call["turns"] if t["speaker"] == role)
                for ch, role in enumerate(("agent", "customer"))}
        items.append((js.with_name(js.stem + ".stereo16k.flac"), refs))
    lj = AUDIO / "group3_long" / "ljspeech_LJ001-0001_0016_concat.wav"
    items.insert(1, (lj, {None: lj.with_suffix(".txt").read_text(encoding="utf-8").strip()}))
    return items[:n]


def run_souffleur(files, workers: int, asr: AsrOptions, seg: SegmenterOptions) -> tuple[float, dict]:
    from streaming.asr.whisper import WhisperRecognizer

    o = replace(batch_asr(asr), workers=workers)
    rec = WhisperRecognizer(o)
    engine = BatchEngine(rec, workers=workers, asr=o, segmenter=seg)
    warm = BatchItem(files[0][0], "warm")
    engine.transcribe(warm)  # first model call allocates; not part of the figure
    done = threading.Semaphore(0)
    results: dict[Path, object] = {}

    def cb(item, r):
        results[item.path] = r
        done.release()

    t0, c0 = time.perf_counter(), time.process_time()
    for f, _ in files:
        engine.submit(BatchItem(f, f.stem), cb)
    for _ in files:
        done.acquire()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = engine.scheduler.stats
    engine.close()
    texts = {}
    for f, refs in files:
        r = results[f]
        if isinstance(r, Exception):
            raise r
        for ch in refs:
            texts[(f, ch)] = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in
                                      sorted(r.finals(), key=lambda m: m["start"])
                                      if ch is None or m["channel_index"][0] == ch)
    return wall, {"texts": texts, "cpu_s": round(cpu, 1), "batches": stats.batches,
                  "items": stats.batched_items}


def run_fw(files, workers: int, asr: AsrOptions, beam: int, plain: bool = False) -> tuple[float, dict]:
    """faster-whisper itself: `BatchedInferencePipeline`, or with `plain` the ordinary
    `WhisperModel.transcribe()` (30 s windows, previous text as prompt, temperature
    fallback: the accuracy a user gets by default)."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(model_path(asr), device="cpu", compute_type="int8", cpu_threads=1,
                         num_workers=workers)
    pipe = BatchedInferencePipeline(model)

    def one(task):
        f, ch = task
        audio, rate = load_recording(f)
        x = audio[:, ch] if ch is not None else audio.mean(axis=1)
        x = resample(x, rate) if rate != 16000 else x
        if plain:
            segs, _ = model.transcribe(x, language="en", beam_size=5, word_timestamps=True)
        else:
            segs, _ = pipe.transcribe(x, language="en", beam_size=beam, batch_size=8, word_timestamps=True,
                                      without_timestamps=True)
        return task, " ".join(s.text.strip() for s in segs)

    tasks = [(f, ch) for f, refs in files for ch in (refs if None in refs else (0, 1))]
    one(tasks[0])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as ex:
        texts = dict(ex.map(one, tasks))
    return time.perf_counter() - t0, {"texts": texts, "cpu_s": round(time.process_time() - c0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engines", default="souffleur,fw-plain,fw-batched")
    ap.add_argument("--pad", type=float, default=None, help="silent tail after a chunk (s)")
    ap.add_argument("--beam", type=int, default=None, help="final beam size (both engines)")
    ap.add_argument("--pause", type=int, default=None, help="pause that closes a chunk (ms)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    files = corpus(args.files)
    asr = batch_asr(AsrOptions())
    if args.pad is not None:
        asr = replace(asr, final_pad_seconds=args.pad)
    if args.beam is not None:
        asr = replace(asr, final_beam_size=args.beam)
    seg = SegmenterOptions() if args.pause is None else replace(SegmenterOptions(), pause_ms=args.pause)
    audio_s = sum(load_recording(f)[0].shape[0] / load_recording(f)[1] for f, _ in files)
    rows = []
    for engine in args.engines.split(","):
        for w in args.workers:
            if engine == "souffleur":
                wall, info = run_souffleur(files, w, asr, seg)
            else:
                wall, info = run_fw(files, w, asr, asr.final_beam_size, plain=engine == "fw-plain")
            errs = refs = 0
            for f, rr in files:
                for ch, ref in rr.items():
                    e, n = word_errors(ref, info["texts"][(f, ch)])
                    errs, refs = errs + e, refs + n
            row = {"engine": engine, "workers": w, "files": len(files), "audio_s": round(audio_s, 1),
                   "wall_s": round(wall, 2), "x_realtime": round(audio_s / wall, 1),
                   # what the machine could do if nothing else ran: audio per CPU-second x workers
                   "x_realtime_cpu": round(audio_s / max(info["cpu_s"], 1e-6) * w, 1),
                   "wer": round(errs / max(refs, 1), 4),
                   "beam": asr.record_beam_size if engine == "souffleur" else 5 if engine == "fw-plain"
                   else asr.final_beam_size,
                   "pad_s": asr.final_pad_seconds if engine == "souffleur" else None,
                   **{k: v for k, v in info.items() if k != "texts"}}
            rows.append(row)
            print(f"{engine:<11} w{w}: {row['x_realtime']:6.1f}x real time  WER {row['wer']:.3f}  "
                  f"({row['audio_s']} s audio in {row['wall_s']} s, {row['cpu_s']} CPU-s)",
                  file=sys.stderr, flush=True)
    print()
    print(f"{'engine':<11} {'workers':>7} {'files':>5} {'audio s':>8} {'wall s':>7} {'CPU s':>6} "
          f"{'x RT':>6} {'x RT/CPU':>8} {'WER':>6}")
    for r in rows:
        print(f"{r['engine']:<11} {r['workers']:>7} {r['files']:>5} {r['audio_s']:>8} {r['wall_s']:>7} "
              f"{r['cpu_s']:>6} {r['x_realtime']:>6} {r['x_realtime_cpu']:>8} {r['wer']:>6.3f}")
    if args.json:
        print(json.dumps({"benchmark": "batch", "model": "tiny.en int8 (bundled)", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
