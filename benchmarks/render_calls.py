"""Render the labelled calls (CALLID.json) to call audio that sounds closer to real callers.

    python benchmarks/render_calls.py --calls tests/data/assist --calls tests/assist/calls \\
        --voice piper --out benchmarks/out/calls/piper
    python benchmarks/render_calls.py ... --voice espeak --out benchmarks/out/calls/espeak
    python benchmarks/render_calls.py ... --voice piper --human-spelling --out benchmarks/out/calls/piper-human

The shared renders (../shared/assist, synth_audio.py) are espeak-ng only: robotic voices that
Whisper hears unlike people, so word errors and spelled values measured on them say little
about real calls. This renders the same scripts with the Piper neural voice (agent pitched up
so the two sides differ; tests/voices.py) in the shared layout, so a benchmark can point at
either folder:

    CALLID.stereo16k.flac  16 kHz 16-bit, L = agent, R = customer (the other side digital silence)
    CALLID.mulaw8k.raw     both sides mixed, 300-3400 Hz, 8 kHz G.711 mu-law bytes, no header
    CALLID.timing.json     start/end of every turn (valid for both files), voices, tts

Timeline as synth_audio.py: 0.6 s lead-in and tail, 0.3-1.2 s between turns, 0.3 s after a
cut-off turn ("—", "..."), 2-4 s after the agent puts the caller on hold; speech never
overlaps. Voices, speeds, levels and gaps are drawn from RNGs seeded by the call id. Piper has
no Dutch voice: Dutch calls are rendered with espeak-ng nl voices whatever --voice says, and
their timing.json says so. A call whose three files exist and are newer than its JSON is
skipped (--force re-renders).

--human-spelling: what the customer spells out ("G-R-E-A-V-E-S", "H C seven one one, six four
oh", "S E 1 5"; tests/voices.py: spelled_runs) is said by a real person's recordings of single
letters and digits (spelled_clip: one other speaker, not resampled or pitched) instead of the
TTS voice, since synthetic spelling flatters ASR most: the rest of the turn is synthesised
around it, 0.15-0.35 s pauses between the pieces, 0.2-0.3 s between characters and 0.45-0.7 s
at a comma, the recordings scaled to the speech RMS of the turn's synthetic pieces. The
recordings say "zero" for "oh" and "zero zero" for "double oh". timing.json then has
"human_spelling": true and, on each turn with such a run, "human_runs" (characters, e.g.
"GREAVES"), "spoken" (the words actually said) and "pieces" (character range of `text`, start
and end on the call's timeline, human or not); start/end still cover the whole turn. Off by
default; write it to its own folder. Dutch calls keep their espeak spelling (English recordings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

with contextlib.suppress(ModuleNotFoundError):  # absent when imported as benchmarks.render_calls
    import _paths  # noqa: F401  (run as a script: the repository root first, see _paths.py)

import numpy as np
import soundfile as sf
import soxr

from streaming.audio.codecs import encode_samples
from tests.voices import RATE, SpelledRun, espeak_speech, piper_speech, spelled_clip, spelled_runs

PIPER_NAME = "piper joe-us-medium"
HOLD = re.compile(r"(one moment|bear with me|one second|let me (check|pull up|look)|moment, please|"
                  r"even kijken|ik kijk even|moment)", re.I)
CUT_OFF = ("—", "–", "-", "...", "…")
# espeak voices per accent: the variants synth_audio.py found tiny.en hears best (en+f1/f4,
# rp+f4 and the Scottish voice misheard 25-45 % of words in its trial).
ESPEAK_VOICES = {
    "uk": ["en+f2", "en+f3", "en+f5", "en+m1", "en+m3", "en+m6", "en+m7", "en-gb-x-rp+m6"],
    "us": ["en-us+f2", "en-us+f3", "en-us+m3", "en-us+m5"],
    "nl": ["nl+f2", "nl+f3", "nl+f5", "nl+m1", "nl+m2", "nl+m3", "nl+m7"],
}


def _mood(call: dict) -> tuple[float, int]:
    """(speed factor, pitch offset) for the caller: complaints faster and higher, hardship slower."""
    intents = set(call.get("intents", []))
    if call.get("escalation") and "complaint" in intents:
        return 1.06, 8
    if intents & {"bereavement", "financial_hardship"}:
        return 0.9, 0
    return 1.0, 0


def pick_voices(call: dict, engine: str) -> dict[str, dict[str, Any]]:
    """The two sides' voices for this call, seeded by its id (same call, same voices)."""
    rng = random.Random(f"{call['call_id']}:voices")
    speed, pitch_up = _mood(call)
    if engine == "piper":
        return {"agent": {"voice": PIPER_NAME, "pitch": round(rng.uniform(1.12, 1.2), 3),
                          "speed": round(rng.uniform(0.95, 1.08), 3)},
                "customer": {"voice": PIPER_NAME, "pitch": 1.0,
                             "speed": round(rng.uniform(0.92, 1.06) * speed, 3)}}
    if call["language"] == "nl":
        accent = "nl"
    elif call.get("form", {}).get("phone_number", "").startswith("+1"):
        accent = "us"
    else:
        accent = "uk"
    agent = rng.choice(ESPEAK_VOICES[accent])
    customer = rng.choice([v for v in ESPEAK_VOICES[accent] if v != agent])
    return {"agent": {"voice": agent, "speed": rng.randint(150, 172), "pitch": rng.randint(40, 60)},
            "customer": {"voice": customer, "speed": int(rng.randint(140, 165) * speed),
                         "pitch": rng.randint(30, 70) + pitch_up}}


Say = Callable[[str], np.ndarray]


def _speaker(engine: str, language: str) -> Callable[[dict, random.Random], tuple[Say, dict]]:
    """For one turn: a function saying text with a side's voice at this turn's speed (varied a
    little per turn; one draw from `rng` per turn), and that speed for timing.json."""
    if engine == "piper":
        def turn_voice(v: dict, rng: random.Random) -> tuple[Say, dict]:
            speed = round(v["speed"] * rng.uniform(0.96, 1.04), 3)
            return lambda text: piper_speech(text, pitch=v["pitch"], speed=speed), {"speed": speed}
    else:
        def turn_voice(v: dict, rng: random.Random) -> tuple[Say, dict]:
            wpm = v["speed"] + rng.randint(-8, 8)
            return (lambda text: espeak_speech(text, voice=v["voice"], wpm=wpm, pitch=v["pitch"],
                                               language=language)), {"speed_wpm": wpm}
    return turn_voice


def speech_rms(x: np.ndarray, floor_db: float = -30.0) -> float:
    """RMS of the 10 ms frames within `floor_db` of the loudest: speech, not the pauses in it."""
    hop = RATE // 100
    n = len(x) // hop
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    loud = rms[rms >= rms.max() * 10 ** (floor_db / 20)]
    return float(np.sqrt(np.mean(loud ** 2))) if rms.max() > 0 else 0.0


def human_run_audio(run: SpelledRun, rng: random.Random) -> np.ndarray:
    """The recordings spelling `run`: 0.2-0.3 s between characters, 0.45-0.7 s at its commas."""
    parts: list[np.ndarray] = []
    for k, group in enumerate(run.groups):
        if k:
            parts.append(np.zeros(int(round(rng.uniform(0.45, 0.7) * RATE)), np.float32))
        parts.append(spelled_clip(group, 0.25, jitter_s=0.05, rng=rng))
    return np.concatenate(parts)


_EDGE = " ,.;:-–—"


def say_with_human_runs(text: str, runs: list[SpelledRun], say: Say,
                        rng: random.Random) -> tuple[np.ndarray, list[tuple[int, int, int, int, bool]]]:
    """One turn: the text around `runs` said by `say`, the runs by the human recordings.

    Returns the audio and its pieces (char start, char end, sample start, sample end, human),
    samples from the start of the turn. Pieces are 0.15-0.35 s apart; the recordings are scaled
    so their speech RMS is that of the synthetic pieces (unscaled when the turn has none).
    """
    spans: list[tuple[int, int, bool]] = []
    pos = 0
    for r in [*runs, None]:
        a, b = pos, (r.start if r else len(text))
        seg = text[a:b]
        a += len(seg) - len(seg.lstrip(_EDGE))  # ". And it's ..." after a run: no stray stop
        b -= len(seg) - len(seg.rstrip())
        if any(ch.isalnum() for ch in text[a:b]):
            spans.append((a, b, False))
        if r:
            spans.append((r.start, r.end, True))
            pos = r.end
    by_start = {r.start: r for r in runs}
    audio = [human_run_audio(by_start[a], rng) if human else say(text[a:b]) for a, b, human in spans]
    synth = [x for x, (_, _, human) in zip(audio, spans, strict=True) if not human and len(x)]
    if synth:
        target = speech_rms(np.concatenate(synth))
        audio = [x * (target / speech_rms(x)) if human and speech_rms(x) > 0 else x
                 for x, (_, _, human) in zip(audio, spans, strict=True)]
    out: list[np.ndarray] = []
    pieces = []
    n = 0
    for x, (a, b, human) in zip(audio, spans, strict=True):
        if not len(x):
            continue
        if out:
            gap = np.zeros(int(round(rng.uniform(0.15, 0.35) * RATE)), np.float32)
            out.append(gap)
            n += len(gap)
        out.append(x.astype(np.float32))
        pieces.append((a, b, n, n + len(x), human))
        n += len(x)
    return (np.concatenate(out) if out else np.zeros(0, np.float32)), pieces


def telephone_band(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """300-3400 Hz band-pass in the frequency domain with cosine edges (no scipy here).

    Edges 250-300 and 3400-3600 Hz: a brick wall would ring around every word onset.
    """
    n = len(x)
    f = np.fft.rfftfreq(n, 1 / rate)
    w = np.clip((f - 250) / 50, 0, 1) * np.clip((3600 - f) / 200, 0, 1)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    return np.fft.irfft(np.fft.rfft(x) * w, n).astype(np.float32)


def _gap(prev: dict, index: int, rng: random.Random) -> float:
    text = prev["text"].rstrip()
    if text.endswith(CUT_OFF):
        return 0.3  # the other side cut in
    if prev["speaker"] == "agent" and HOLD.search(text) and index >= 2:
        return rng.uniform(2.0, 4.0)  # on hold while the agent looks something up
    return rng.uniform(0.3, 1.2)


def render_call(call: dict, out_dir: Path, voice: str = "piper", human_spelling: bool = False) -> dict:
    """Write CALLID.stereo16k.flac, .mulaw8k.raw and .timing.json into `out_dir`; return the timing.

    `human_spelling`: the customer's spelled runs are said by human recordings (module doc).
    """
    if voice not in ("piper", "espeak"):
        raise ValueError(f"voice must be 'piper' or 'espeak', not {voice!r}")
    cid, language = call["call_id"], call["language"]
    engine = "espeak" if language != "en" else voice  # the Piper voice only speaks English
    voices = pick_voices(call, engine)
    turn_voice = _speaker(engine, language)
    human = human_spelling and language == "en"  # the recordings are English letters and digits
    human_rng = random.Random(f"{cid}:human")  # its own RNG: the other draws stay as without it
    turn_rng, gap_rng = random.Random(f"{cid}:turns"), random.Random(f"{cid}:gaps")
    level_rng = random.Random(f"{cid}:levels")
    levels = {"agent": 0.7, "customer": round(level_rng.uniform(0.4, 0.7), 3)}  # callers often quieter

    placed: list[tuple[dict, np.ndarray, int, dict]] = []
    t = 0.6  # lead-in
    for i, turn in enumerate(call["turns"]):
        say, extra = turn_voice(voices[turn["speaker"]], turn_rng)
        runs = spelled_runs(turn["text"]) if human and turn["speaker"] == "customer" else []
        pieces: list[tuple[int, int, int, int, bool]] = []
        if runs:
            audio, pieces = say_with_human_runs(turn["text"], runs, say, human_rng)
            extra = {**extra, "human_runs": [r.chars for r in runs],
                     "spoken": _spoken(turn["text"], runs)}
        else:
            audio = say(turn["text"])
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        audio = audio * (levels[turn["speaker"]] / peak) if peak > 0 else audio
        if i:
            t += _gap(call["turns"][i - 1], i, gap_rng)
        start = int(round(t * RATE))
        if pieces:
            extra["pieces"] = [{"chars": [a, b], "start": round((start + s0) / RATE, 3),
                                "end": round((start + s1) / RATE, 3), "human": h}
                               for a, b, s0, s1, h in pieces]
        placed.append((turn, audio, start, extra))
        t = (start + len(audio)) / RATE
    # Whole milliseconds (16 samples), so duration_s is exact and the mu-law file is exactly
    # duration_s * 8000 bytes.
    total = -(-int(round((t + 0.6) * RATE)) // 16) * 16

    stereo = np.zeros((total, 2), np.float32)
    timing = []
    for index, (turn, audio, start, extra) in enumerate(placed):
        ch = 0 if turn["speaker"] == "agent" else 1
        stereo[start:start + len(audio), ch] = audio
        timing.append({"index": index, "speaker": turn["speaker"], "channel": "LR"[ch],
                       "start": round(start / RATE, 3), "end": round((start + len(audio)) / RATE, 3),
                       **extra, "text": turn["text"]})
    peak = float(np.abs(stereo).max())
    stereo *= min(1.0, 0.89 / peak) if peak > 0 else 1.0  # 1 dB headroom

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"stereo16k": f"{cid}.stereo16k.flac", "mulaw8k": f"{cid}.mulaw8k.raw"}
    pcm = np.clip(np.round(stereo * 32767), -32768, 32767).astype(np.int16)
    sf.write(out_dir / files["stereo16k"], pcm, RATE, subtype="PCM_16", format="FLAC")
    band = telephone_band(stereo.sum(axis=1))
    mono8 = np.zeros(total // 2, np.float32)  # soxr may return a sample or two fewer
    y = soxr.resample(band, RATE, 8000, quality="HQ")[: total // 2]
    mono8[: len(y)] = y
    (out_dir / files["mulaw8k"]).write_bytes(encode_samples(mono8, "mulaw"))

    doc: dict[str, Any] = {
        "call_id": cid, "language": language, "duration_s": round(total / RATE, 3), "files": files,
        "channels": {"L": "agent", "R": "customer"}, "voices": voices,
        "levels": levels, "tts": PIPER_NAME if engine == "piper" else "espeak-ng",
    }
    if human_spelling:
        doc["human_spelling"] = True
        if not human:
            doc["human_spelling_note"] = (f"the recordings are English letters and digits: "
                                          f"this {language} call has no human runs")
    if engine != voice:
        doc["tts_note"] = (f"{voice} was asked for; the Piper voice is English-only, "
                           f"so this {language} call is rendered with espeak-ng")
    doc["turns"] = timing
    (out_dir / f"{cid}.timing.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                                encoding="utf-8")
    return doc


def _spoken(text: str, runs: list[SpelledRun]) -> str:
    """`text` with each run as the recordings say it ("oh" -> "zero", "G-R-E" -> "G R E")."""
    out, pos = [], 0
    for r in runs:
        out += [text[pos:r.start], r.spoken]
        pos = r.end
    return "".join([*out, text[pos:]])


def call_files(folders: list[Path]) -> list[Path]:
    """Every labelled call JSON in the folders (not the .timing.json beside them)."""
    return sorted((p for folder in folders for p in folder.glob("*.json")
                   if not p.name.endswith(".timing.json")), key=lambda p: p.name)


def is_fresh(src: Path, out_dir: Path, call_id: str, human_spelling: bool = False) -> bool:
    """All three outputs exist, are newer than the script they were rendered from and were
    rendered with (or without) human spelling as asked now."""
    outs = [out_dir / f"{call_id}.{s}" for s in ("stereo16k.flac", "mulaw8k.raw", "timing.json")]
    if not all(p.exists() and p.stat().st_mtime > src.stat().st_mtime for p in outs):
        return False
    try:
        doc = json.loads(outs[2].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(doc.get("human_spelling", False)) == human_spelling


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", action="append", type=Path, required=True,
                    help="a folder of CALLID.json files (repeatable)")
    ap.add_argument("--voice", choices=("piper", "espeak"), default="piper")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", default="", help="comma-separated call ids")
    ap.add_argument("--force", action="store_true", help="re-render calls whose files are up to date")
    ap.add_argument("--human-spelling", action="store_true",
                    help="the customer's spelled letters and digits by human recordings "
                         "(use another --out, e.g. benchmarks/out/calls/piper-human)")
    args = ap.parse_args(argv)
    only = {c for c in args.only.split(",") if c}
    rendered = skipped = 0
    audio_s = wall_s = 0.0
    for path in call_files(args.calls):
        call = json.loads(path.read_text(encoding="utf-8"))
        cid = call["call_id"]
        if only and cid not in only:
            continue
        if not args.force and is_fresh(path, args.out, cid, args.human_spelling):
            skipped += 1
            print(f"{cid}: up to date")
            continue
        t0 = time.perf_counter()
        doc = render_call(call, args.out, args.voice, args.human_spelling)
        took = time.perf_counter() - t0
        rendered += 1
        audio_s += doc["duration_s"]
        wall_s += took
        print(f"{cid}: {len(doc['turns'])} turns, {doc['duration_s']:.1f} s audio, {doc['tts']}, "
              f"{took:.1f} s", flush=True)
    print(f"{rendered} rendered ({audio_s / 60:.1f} audio minutes in {wall_s:.1f} s), "
          f"{skipped} up to date -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
