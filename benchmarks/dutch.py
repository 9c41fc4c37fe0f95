"""Dutch calls on the bundled multilingual Whisper base (`--model bundled-base`), issue 13.

Four questions, one run, the same machine for every row:

1. Dutch WER, `language=nl`, on the 99 read clips of `../shared/audio_nl` (MANIFEST.tsv,
   a `.txt` reference beside each; 50 Dutch (NL) home-microphone, 49 Flemish): plain
   faster-whisper `transcribe()` per clip (beam 5, the same model files, int8 CPU: the
   "offline" figure) against the live session's transcript of record
   (`record_transcript` over `run_session`: every decode answered at once, so the figure
   is the policy's, not the machine's). Clips are played as calls of `--per-call` clips
   with 2 s of silence between them (each clip its own utterance; earlier records are the
   prompt, as in a call). At 16 kHz, and after an 8 kHz mu-law round trip (the call is
   streamed as mu-law 8 kHz bytes, `encoding=mulaw&sample_rate=8000`; offline reads the
   same bytes decoded and resampled to 16 kHz). Corpus WER (errors summed over clips);
   the live finals' WER beside it; `--timestamps` adds a row decoding records with
   timestamp tokens (`record_timestamps`).
2. Language detection per utterance, `language=multi`: Dutch clips over 2 s and English
   LJ Speech clips over 2 s interleaved (two Dutch, one English, ...) in calls with 2 s
   of silence between utterances; an utterance is right when every Record covering it is
   labelled with its language (none at all counts as wrong). Detection among every
   language the model knows, and limited to `--detect-languages nl,en`.
3. English: tiny.en (the default) against base on the LJ Speech clips of
   `../shared/audio/group1_read/ljspeech`: offline WER and real-time factor
   (wall s / audio s, `transcribe()`, beam 5, 2 threads), and the live session's record
   WER and its CPU cost (process CPU s / audio s for everything a live call decodes:
   interims, finals, records).

    python benchmarks/dutch.py --json out.json            # ~10 minutes on 2 cores
    python benchmarks/dutch.py --clips 20 --per-call 5    # a quick look

Targets (issue 13): Dutch record WER <= 22 % at 16 kHz and <= 26 % at 8 kHz, within
1.05x of offline; language detection >= 95 % on utterances over 2 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import _paths  # noqa: F401
from corpus import AUDIO, SHARED

import streaming  # noqa: F401  (BLAS thread limits before numpy loads)

# isort: split
import numpy as np

from streaming.asr.models import model_path
from streaming.asr.textnorm import word_errors
from streaming.audio.codecs import decode_samples, encode_samples, resample
from streaming.audio.files import load_audio
from streaming.live.offline import final_transcript, pcm_frames, record_transcript, run_session
from streaming.live.session import CallSession
from streaming.options import AsrOptions, SegmenterOptions, parse_stream_query

RATE = 16000
GAP_S = 2.0
NL_DIR = SHARED / "audio_nl"
EN_DIR = AUDIO / "group1_read" / "ljspeech"
IN_TESTS = {p.name for p in (Path(__file__).resolve().parents[1] / "tests" / "data" / "audio_nl").glob("*.flac")}


@dataclass
class Clip:
    name: str
    lang: str
    audio: np.ndarray  # 16 kHz float32 mono
    ref: str

    @property
    def seconds(self) -> float:
        return self.audio.size / RATE


def load(path: Path, lang: str, ref: str) -> Clip:
    audio, rate = load_audio(path)
    x = audio[:, 0] if rate == RATE else resample(audio[:, 0], rate, RATE)
    return Clip(path.name, lang, x.astype(np.float32), ref)


def dutch_clips(limit: int | None) -> list[Clip]:
    with open(NL_DIR / "MANIFEST.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    clips = [load(NL_DIR / r["file"], "nl", (NL_DIR / r["file"]).with_suffix(".txt").read_text("utf-8").strip())
             for r in rows]
    return clips[:limit] if limit else clips


def english_clips() -> list[Clip]:
    return [load(p, "en", p.with_suffix(".txt").read_text("utf-8").strip()) for p in sorted(EN_DIR.glob("LJ*.wav"))]


def mulaw_8k(x: np.ndarray) -> bytes:
    """16 kHz float -> 8 kHz G.711 mu-law bytes, as a telephone line carries it."""
    return encode_samples(resample(x, RATE, 8000), "mulaw")


def from_mulaw(data: bytes) -> np.ndarray:
    return resample(decode_samples(data, "mulaw"), 8000, RATE).astype(np.float32)


def recognizer(model: str, **kw):
    from streaming.asr.whisper import WhisperRecognizer

    return WhisperRecognizer(AsrOptions(model=model, workers=1, cpu_threads=2, **kw))


def offline_model(model: str):
    from faster_whisper import WhisperModel

    return WhisperModel(model_path(AsrOptions(model=model)), device="cpu", compute_type="int8", cpu_threads=2)


def transcribe(fw, x: np.ndarray, lang: str) -> str:
    segments, _ = fw.transcribe(x, beam_size=5, language=lang)
    return " ".join(s.text.strip() for s in segments)


def calls(clips: list[Clip], per_call: int) -> list[list[Clip]]:
    return [clips[i : i + per_call] for i in range(0, len(clips), per_call)]


def call_audio(clips: list[Clip]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Clips one after another, 0.5 s lead-in, GAP_S of silence after each; their spans."""
    parts, spans, t = [np.zeros(int(0.5 * RATE), np.float32)], [], 0.5
    for c in clips:
        spans.append((t, t + c.seconds))
        parts += [c.audio, np.zeros(int(GAP_S * RATE), np.float32)]
        t += c.seconds + GAP_S
    return np.concatenate(parts), spans


# Records only: no interims or live finals. A record's cut and text depend on the audio and
# the earlier records alone (docs/streaming.md), so this gives the same records for a
# fraction of the CPU; `check_records_only` verifies that on the first call of the run.
RECORDS_ONLY = SegmenterOptions(early_commit=False, live_finals=False)


def live(rec, clips: list[Clip], query: str, telephone: bool = False,
         records_only: bool = False) -> tuple[list[dict], float, float]:
    """One call through a CallSession: (messages, CPU seconds, audio seconds)."""
    x, _ = call_audio(clips)
    if telephone:
        data = mulaw_8k(x)
        frames = [data[i : i + 160] for i in range(0, len(data), 160)]  # 20 ms of 8 kHz mu-law
        opts = parse_stream_query(f"{query}&encoding=mulaw&sample_rate=8000")
    else:
        frames = list(pcm_frames(x[:, None], RATE))
        opts = parse_stream_query(f"{query}&sample_rate={RATE}")
    session = CallSession(opts, RECORDS_ONLY if records_only else None,
                          final_beam=rec.options.final_beam_size, record_beam=rec.options.record_beam_size)
    c0 = time.process_time()
    msgs = run_session(session, frames, rec)
    return msgs, time.process_time() - c0, x.size / RATE


def check_records_only(rec, group: list[Clip], telephone: bool, msgs: list[dict]) -> None:
    same, _, _ = live(rec, group, "language=nl", telephone, records_only=True)
    if record_transcript(same) != record_transcript(msgs):
        print(f"  NOTE: records-only differs from the live path here:\n   {record_transcript(msgs)}\n"
              f"   {record_transcript(same)}", file=sys.stderr)
    else:
        print("  records-only = live path's records on the first call", file=sys.stderr)


# -- 1. Dutch WER ------------------------------------------------------------------------------
def dutch_wer(clips: list[Clip], per_call: int, timestamps: bool) -> list[dict]:
    fw = offline_model("bundled-base")
    variants = [("records", recognizer("bundled-base"))]
    if timestamps:
        variants.append(("records+ts, no live words", recognizer("bundled-base", record_timestamps=True)))
    rows = []
    for cond, telephone in (("16 kHz", False), ("8 kHz mu-law", True)):
        t0 = time.perf_counter()
        off = [0, 0]
        off_held = [0, 0]  # over the same calls as held-out records: those with no test clip
        clip_errors: dict[str, tuple[int, int]] = {}
        for c in clips:
            x = from_mulaw(mulaw_8k(c.audio)) if telephone else c.audio
            e, n = word_errors(c.ref, transcribe(fw, x, "nl"))
            clip_errors[c.name] = (e, n)
            off[0] += e
            off[1] += n
        for group in calls(clips, per_call):
            if not any(c.name in IN_TESTS for c in group):
                off_held[0] += sum(clip_errors[c.name][0] for c in group)
                off_held[1] += sum(clip_errors[c.name][1] for c in group)
        for label, rec in variants:
            recs, fins, held = [0, 0], [0, 0], [0, 0]
            cpu = secs = 0.0
            for k, group in enumerate(calls(clips, per_call)):
                full = label == "records"  # the real live path; the variant only changes records
                msgs, c_s, _ = live(rec, group, "language=nl", telephone, records_only=not full)
                if full and k == 0:
                    check_records_only(rec, group, telephone, msgs)
                cpu += c_s
                secs += sum(c.seconds for c in group)
                ref = " ".join(c.ref for c in group)
                for acc, text in ((recs, record_transcript(msgs)), (fins, final_transcript(msgs))):
                    e, n = word_errors(ref, text)
                    acc[0] += e
                    acc[1] += n
                if not any(c.name in IN_TESTS for c in group):
                    e, n = word_errors(ref, record_transcript(msgs))
                    held[0] += e
                    held[1] += n
            row = {
                "condition": cond, "variant": label, "clips": len(clips), "words": off[1],
                "offline_wer": off[0] / off[1], "record_wer": recs[0] / recs[1],
                "finals_wer": fins[0] / fins[1] if label == "records" else None,
                "ratio": (recs[0] / recs[1]) / max(1e-9, off[0] / off[1]),
                "held_out_record_wer": held[0] / held[1] if held[1] else None,
                "held_out_offline_wer": off_held[0] / off_held[1] if off_held[1] else None,
                "held_out_clips": sum(len(g) for g in calls(clips, per_call)
                                      if not any(c.name in IN_TESTS for c in g)),
                "live_cpu_per_speech_s": cpu / secs, "wall_s": round(time.perf_counter() - t0, 1),
            }
            rows.append(row)
            print(f"  {cond:13s} {label:26s} offline {row['offline_wer']:.1%} record {row['record_wer']:.1%} "
                  f"ratio {row['ratio']:.2f}", file=sys.stderr, flush=True)
    return rows


# -- 2. language detection ------------------------------------------------------------------------
def interleave(nl: list[Clip], en: list[Clip]) -> list[Clip]:
    """Two Dutch, one English, ... until the Dutch run out (English clips reused in turn)."""
    out: list[Clip] = []
    for i, c in enumerate(nl):
        out.append(c)
        if i % 2 == 1:
            out.append(en[(i // 2) % len(en)])
    return out


def detection(nl: list[Clip], en: list[Clip], per_call: int, sets: list[tuple[str, ...]]) -> list[dict]:
    mixed = interleave([c for c in nl if c.seconds > 2.0], [c for c in en if c.seconds > 2.0])
    rows = []
    for allowed in sets:
        rec = recognizer("bundled-base", detect_languages=allowed)
        right, total, confusion, by_lang = 0, 0, Counter(), Counter()
        for group in calls(mixed, per_call):
            msgs, _, _ = live(rec, group, "language=multi", records_only=True)
            _, spans = call_audio(group)
            labels: dict[int, list[str]] = {}
            for m in msgs:
                if m.get("type") != "Record":
                    continue
                a, b = m["span"]
                i = max(range(len(spans)), key=lambda k: min(b, spans[k][1]) - max(a, spans[k][0]))
                labels.setdefault(i, []).extend(m["channel"]["alternatives"][0]["languages"])
            for i, c in enumerate(group):
                got = labels.get(i, [])
                ok = bool(got) and all(lang == c.lang for lang in got)
                total += 1
                right += ok
                by_lang[(c.lang, ok)] += 1
                if not ok:
                    confusion[f"{c.lang}->{'+'.join(got) or 'none'}"] += 1
        row = {"detect_languages": ",".join(allowed) or "any", "utterances": total,
               "accuracy": right / total,
               "nl": f"{by_lang[('nl', True)]}/{by_lang[('nl', True)] + by_lang[('nl', False)]}",
               "en": f"{by_lang[('en', True)]}/{by_lang[('en', True)] + by_lang[('en', False)]}",
               "errors": dict(confusion.most_common())}
        rows.append(row)
        print(f"  detection among {row['detect_languages']}: {row['accuracy']:.1%} {row['errors']}",
              file=sys.stderr, flush=True)
    return rows


# -- 3. English: tiny.en vs base -----------------------------------------------------------------
def english(en: list[Clip], per_call: int) -> list[dict]:
    rows = []
    audio_s = sum(c.seconds for c in en)
    for model in ("bundled", "bundled-base"):
        fw = offline_model(model)
        transcribe(fw, en[0].audio, "en")  # warm-up
        t0 = time.perf_counter()
        e_off = n_off = 0
        for c in en:
            e, n = word_errors(c.ref, transcribe(fw, c.audio, "en"))
            e_off += e
            n_off += n
        rtf = (time.perf_counter() - t0) / audio_s
        rec = recognizer(model)
        recs = [0, 0]
        cpu = secs = 0.0
        for group in calls(en, per_call):
            msgs, c_s, _ = live(rec, group, "language=en")
            cpu += c_s
            secs += sum(c.seconds for c in group)
            e, n = word_errors(" ".join(c.ref for c in group), record_transcript(msgs))
            recs[0] += e
            recs[1] += n
        row = {"model": rec.name, "clips": len(en), "audio_s": round(audio_s, 1),
               "offline_wer": e_off / n_off, "offline_rtf": rtf, "record_wer": recs[0] / recs[1],
               "live_cpu_per_speech_s": cpu / secs}
        rows.append(row)
        print(f"  {row['model']}: offline {row['offline_wer']:.1%} RTF {rtf:.3f}, record {row['record_wer']:.1%}, "
              f"live CPU {row['live_cpu_per_speech_s']:.3f} s/s", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, help="first N Dutch clips only (default all 99)")
    p.add_argument("--per-call", type=int, default=10, help="clips per simulated call (default 10)")
    p.add_argument("--timestamps", action="store_true", help="also decode records with timestamp tokens")
    p.add_argument("--skip", nargs="*", default=[], choices=["wer", "detect", "english"])
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args()

    nl = dutch_clips(args.clips)
    en = english_clips()
    out: dict = {"date": time.strftime("%Y-%m-%d"), "dutch_clips": len(nl), "english_clips": len(en)}
    if "wer" not in args.skip:
        out["dutch_wer"] = dutch_wer(nl, args.per_call, args.timestamps)
    if "detect" not in args.skip:
        out["detection"] = detection(nl, en, args.per_call, [(), ("nl", "en")])
    if "english" not in args.skip:
        out["english"] = english(en, args.per_call)

    print(f"\nDutch WER, language=nl, {len(nl)} clips ({sum(c.seconds for c in nl):.0f} s), bundled-base int8 CPU")
    print("| audio | decode | offline WER | record WER | record / offline | live finals WER | record / offline, calls without a test clip | CPU s / speech s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in out.get("dutch_wer", []):
        held = (f"{r['held_out_record_wer']:.1%} / {r['held_out_offline_wer']:.1%}"
                if r["held_out_record_wer"] is not None else "-")
        finals = f"{r['finals_wer']:.1%}" if r["finals_wer"] is not None else "-"
        print(f"| {r['condition']} | {r['variant']} | {r['offline_wer']:.1%} | {r['record_wer']:.1%} | "
              f"{r['ratio']:.2f} | {finals} | {held} | {r['live_cpu_per_speech_s']:.3f} |")
    if out.get("detection"):
        print("\nLanguage per utterance, language=multi, utterances > 2 s")
        print("| detection among | utterances | right | Dutch | English | mistakes |")
        print("|---|---|---|---|---|---|")
        for r in out["detection"]:
            print(f"| {r['detect_languages']} | {r['utterances']} | {r['accuracy']:.1%} | {r['nl']} | {r['en']} | "
                  f"{', '.join(f'{k} x{v}' for k, v in r['errors'].items()) or '-'} |")
    if out.get("english"):
        print(f"\nEnglish, {len(en)} LJ Speech clips")
        print("| model | offline WER | offline RTF | record WER | live CPU s / speech s |")
        print("|---|---|---|---|---|")
        for r in out["english"]:
            print(f"| {r['model']} | {r['offline_wer']:.1%} | {r['offline_rtf']:.3f} | {r['record_wer']:.1%} | "
                  f"{r['live_cpu_per_speech_s']:.3f} |")
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
