"""Live transcription through the real server, in real time, with N concurrent calls.

For each N, starts `souffleur serve` as its own process, streams real recordings
from ../shared/audio to it in real time (every call a softphone sending 20 ms
frames), and reports:

* final-word latency: wall time a word becomes final minus the wall time the
  audio holding its end was sent (word end times from an offline faster-whisper
  run with word timestamps, matched to the streamed words by alignment);
* interim-word latency: the same for a word's first appearance in any result;
* streaming WER against the reference and against the offline transcription;
* server CPU seconds per audio second per call, peak RSS, decode counts;
* whether a call fell behind (latency growing through the call, or finals
  arriving long after the audio ended).

    python benchmarks/streaming.py --calls 1 2 4 8 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import time

import _paths  # noqa: E402,F401  (this file shares the package's name)
from _serve import ServerProcess, offline_model, pct, serve_flags  # noqa: E402

ROOT = _paths.ROOT

import numpy as np  # noqa: E402
from corpus import AUDIO  # noqa: E402

import streaming  # noqa: E402,F401  (BLAS thread limits before numpy loads)
from streaming.asr.textnorm import normalize_text, word_errors  # noqa: E402
from streaming.audio.codecs import resample  # noqa: E402
from streaming.audio.files import load_audio  # noqa: E402
from streaming.client import audio_frames, listen_url, stream_frames  # noqa: E402

# (name, file, reference text or None). Long clips so latency is measured in a steady state.
PLAYLIST = [
    ("lj_concat", "group3_long/ljspeech_LJ001-0001_0016_concat.wav", True),
    ("mfa_spontaneous", "group1_read/mfa_spontaneous/acoustic_corpus.wav", True),
    ("picovoice", "group2_conversational/picovoice/diarization_test.wav", True),
    ("realtimestt", "group1_read/silver/realtimestt_asr_reference.wav", False),
    ("two_cities", "group3_long/moonshine_two_cities_librivox.wav", False),
]


def load_clip(rel: str, seconds: float) -> tuple[np.ndarray, int, str | None]:
    path = AUDIO / rel
    audio, rate = load_audio(path)
    x = audio.mean(axis=1)
    if rate != 16000 and rate not in (8000, 22050, 44100, 48000):
        x, rate = resample(x, rate), 16000
    x = x[: int(seconds * rate)] if seconds else x
    ref_path = path.with_suffix(".txt")
    ref = ref_path.read_text().strip() if ref_path.exists() else None
    if ref is not None and path.name.startswith("picovoice"):
        ref = " ".join(ln.split(":", 1)[1] for ln in ref.splitlines())
    if seconds and ref is not None and len(x) < len(audio):
        ref = None  # truncated: no exact reference any more
    return np.concatenate([x, np.zeros(rate, np.float32)])[:, None], rate, ref


def offline_words(model, audio: np.ndarray, rate: int) -> tuple[list[tuple[str, float]], str]:
    x = resample(audio[:, 0], rate) if rate != 16000 else audio[:, 0]
    segs, _ = model.transcribe(x, beam_size=5, language="en", word_timestamps=True)
    words, texts = [], []
    for s in segs:
        texts.append(s.text.strip())
        for w in s.words or []:
            for n in normalize_text(w.word).split():
                words.append((n, float(w.end)))
    return words, " ".join(texts)


def match_times(offline: list[tuple[str, float]], stream_words: list[tuple[str, float]]) -> list[tuple[float, float]]:
    """Pairs (offline word end, stream receive time) for words both runs agree on."""
    a = [w for w, _ in offline]
    b = [w for w, _ in stream_words]
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    pairs = []
    for blk in sm.get_matching_blocks():
        for k in range(blk.size):
            pairs.append((offline[blk.a + k][1], stream_words[blk.b + k][1]))
    return pairs


def words_of(msg: dict) -> list[str]:
    return normalize_text(msg["channel"]["alternatives"][0]["transcript"]).split()


async def run_call(url: str, clip: dict, delay: float) -> dict:
    await asyncio.sleep(delay)
    frames = audio_frames(clip["audio"], clip["rate"])
    res = await stream_frames(listen_url(url, encoding="linear16", sample_rate=clip["rate"], channels=1,
                                         interim_results=True),
                              frames, realtime=True)
    return {"clip": clip, "res": res}


def analyse(out: dict) -> dict:
    clip, res = out["clip"], out["res"]
    sent = res.sent_at  # wall time each 20 ms frame left the client

    def wall_of(audio_t: float) -> float:
        i = min(len(sent) - 1, max(0, int(audio_t / 0.02)))
        return sent[i] + (audio_t - i * 0.02)

    finals, firsts = [], []
    for m in res.of_type("Results"):
        ws = [(w, m["_received"]) for w in words_of(m)]
        if m["is_final"]:
            finals += ws
        firsts += ws
    fpairs = match_times(clip["offline"], finals)
    final_lat = [recv - wall_of(end) for end, recv in fpairs]
    # first appearance: align every interim/final word list, keep the earliest time per offline word
    first_seen: dict[int, float] = {}
    a = [w for w, _ in clip["offline"]]
    for m in res.of_type("Results"):
        b = words_of(m)
        if not b:
            continue
        start = m["start"]
        lo = next((i for i, (_, e) in enumerate(clip["offline"]) if e >= start - 1.0), len(a))
        sm = difflib.SequenceMatcher(a=a[lo: lo + len(b) + 10], b=b, autojunk=False)
        for blk in sm.get_matching_blocks():
            for k in range(blk.size):
                i = lo + blk.a + k
                first_seen[i] = min(first_seen.get(i, 1e18), m["_received"])
    interim_lat = [t - wall_of(clip["offline"][i][1]) for i, t in first_seen.items()]
    text = res.transcript()
    out_row = {"clip": clip["name"], "final_lat": final_lat, "interim_lat": interim_lat,
               "close_code": res.close_code}
    if clip["ref"]:
        out_row["err_ref"], out_row["n_ref"] = word_errors(clip["ref"], text)
        out_row["err_off_ref"], _ = word_errors(clip["ref"], clip["offline_text"])
    out_row["err_off"], out_row["n_off"] = word_errors(clip["offline_text"], text)
    # fell behind: latency in the last third of the call well above the first third,
    # or Metadata long after the last audio frame
    thirds = np.array_split(np.array(sorted(zip([e for e, _ in fpairs], final_lat, strict=True))), 3) if len(fpairs) >= 9 else []
    meta = res.of_type("Metadata")
    tail = (meta[0]["_received"] - sent[-1]) if meta and sent else float("inf")
    growth = (float(np.median(thirds[2][:, 1])) - float(np.median(thirds[0][:, 1]))) if len(thirds) == 3 else 0.0
    out_row["behind"] = bool(growth > 1.0 or tail > 5.0)
    out_row["tail_s"] = round(tail, 2)
    return out_row


def run_level(n: int, clips: list[dict], args) -> dict:
    server = ServerProcess(ROOT, "--max-calls", str(max(n, 1) + 2), *serve_flags(args, "workers", "model", "device"))
    try:
        async def main():
            s = asyncio.create_task(server.sample_rss())
            outs = await asyncio.gather(*(run_call(server.url, clips[i % len(clips)], delay=i * 0.37)
                                          for i in range(n)))
            server.stop_sampling()
            await s
            return outs

        t0 = time.time()
        outs = asyncio.run(main())
        wall = time.time() - t0
        cpu = server.cpu_seconds()
    finally:
        server.close()
    rows = [analyse(o) for o in outs]
    audio_s = sum(len(clips[i % len(clips)]["audio"]) / clips[i % len(clips)]["rate"] for i in range(n))
    fl = [x for r in rows for x in r["final_lat"]]
    il = [x for r in rows for x in r["interim_lat"]]
    err_ref = sum(r.get("err_ref", 0) for r in rows)
    n_ref = sum(r.get("n_ref", 0) for r in rows)
    err_off_ref = sum(r.get("err_off_ref", 0) for r in rows)
    return {
        "calls": n,
        "final_p50": pct(fl, 0.5), "final_p90": pct(fl, 0.9),
        "interim_p50": pct(il, 0.5), "interim_p90": pct(il, 0.9),
        "wer_ref": round(err_ref / n_ref, 4) if n_ref else None,
        "wer_offline_ref": round(err_off_ref / n_ref, 4) if n_ref else None,
        "wer_ratio": round(err_ref / err_off_ref, 3) if err_off_ref else None,
        "wer_vs_offline": round(sum(r["err_off"] for r in rows) / max(1, sum(r["n_off"] for r in rows)), 4),
        "cpu_per_audio_s_per_call": round(cpu / audio_s, 3),
        "peak_rss_mb": round(server.peak_rss / 2**20),
        "behind": sum(r["behind"] for r in rows),
        "max_tail_s": max(r["tail_s"] for r in rows),
        "wall_s": round(wall, 1),
        "bad_closes": sum(r["close_code"] != 1000 for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seconds", type=float, default=0, help="cut clips to this length (0 = whole)")
    ap.add_argument("--clips", default="", help="comma-separated clip names from the playlist")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--model")
    ap.add_argument("--device")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    model = offline_model(args.model)
    clips = []
    for name, rel, _ in PLAYLIST:
        if args.clips and name not in args.clips.split(","):
            continue
        audio, rate, ref = load_clip(rel, args.seconds)
        words, text = offline_words(model, audio, rate)
        clips.append({"name": name, "audio": audio, "rate": rate, "ref": ref, "offline": words,
                      "offline_text": text})
    del model
    results = [run_level(n, clips, args) for n in args.calls]
    if not args.json:
        cols = ["calls", "final_p50", "final_p90", "interim_p50", "interim_p90", "wer_ref", "wer_offline_ref",
                "wer_ratio", "wer_vs_offline", "cpu_per_audio_s_per_call", "peak_rss_mb", "behind", "max_tail_s"]
        print(" | ".join(cols))
        for r in results:
            print(" | ".join(str(r[c]) for c in cols))
    print(json.dumps({"machine": {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")},
                      "clips": [c["name"] for c in clips], "results": results}))


if __name__ == "__main__":
    main()
