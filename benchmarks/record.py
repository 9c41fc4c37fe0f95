"""The transcript of record against offline transcription, live, at 1, 4 and 8 calls.

For every clip and every load level, in one run: starts `souffleur serve` as its own
process, streams N copies of the clip to it in real time (staggered starts, 20 ms
frames, `record=true`), and reports

* live final-word latency p50/p90: receive time of a final word minus the wall time
  its audio end was sent (word ends from the stream's own word timings);
* first finals: the same for the words of each call's first final piece;
* record WER and live WER against the reference, and record WER / offline WER, where
  offline is plain faster-whisper `transcribe()` (beam 5) of the same audio with the
  same model;
* reference words missing from the live finals and from the record;
* server CPU seconds per audio second per call, peak RSS, calls that fell behind.

Clips: read speech (LJSpeech, 60 s), the spontaneous MFA clip, the three-speaker
picovoice clip, the stereo faster_whisper clip (one LibriSpeech speaker per channel),
and 8 kHz mu-law telephone versions of the conversational ones. None of them were
used to tune the record's options (benchmarks/README.md says what was).

    python benchmarks/record.py --calls 1 4 8
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import re
import time

import _paths  # noqa: F401  (benchmarks/streaming.py shadows the package otherwise)
from _serve import ServerProcess, offline_model, pct, serve_flags

ROOT = _paths.ROOT

import numpy as np  # noqa: E402
from corpus import AUDIO  # noqa: E402

import streaming  # noqa: E402,F401  (BLAS thread limits before numpy loads)
from streaming.asr.textnorm import normalize_text, word_errors  # noqa: E402
from streaming.audio.codecs import encode_samples, resample  # noqa: E402
from streaming.audio.files import load_audio  # noqa: E402
from streaming.client import listen_url, stream_frames  # noqa: E402

CLIPS = [  # name, file, seconds (0 = whole), telephone (8 kHz mu-law)
    ("read_lj", "group3_long/ljspeech_LJ001-0001_0016_concat.wav", 60, False),
    ("mfa_spontaneous", "group1_read/mfa_spontaneous/acoustic_corpus.wav", 0, False),
    ("picovoice_3spk", "group2_conversational/picovoice/diarization_test.wav", 0, False),
    ("stereo_2spk", "group2_conversational/faster_whisper/stereo_diarization.wav", 0, False),
    ("mfa_8k", "group1_read/mfa_spontaneous/acoustic_corpus.wav", 0, True),
    ("picovoice_8k", "group2_conversational/picovoice/diarization_test.wav", 0, True),
    ("stereo_8k", "group2_conversational/faster_whisper/stereo_diarization.wav", 0, True),
    # held out (never used to tune the record): a labelled two-party call, agent left, customer right
    ("call_dev_en_02_8k", "../assist/dev_en_02.stereo16k.flac", 0, True),
]


def references(path) -> list[str] | None:
    """One reference per channel sent (stereo clips have one per side), or None."""
    if path.suffix == ".flac" and path.name.startswith("dev_"):  # a labelled call: turns per side
        turns = json.loads(path.with_name(path.name.split(".")[0] + ".json").read_text())["turns"]
        return [" ".join(t["text"] for t in turns if t["speaker"] == who) for who in ("agent", "customer")]
    txt = path.with_suffix(".txt")
    if not txt.exists():
        return None
    raw = txt.read_text(encoding="utf-8").strip()
    if "stereo" in path.name:
        lines = dict(ln.split(":", 1) for ln in raw.splitlines())
        return [lines["LEFT"].strip(), lines["RIGHT"].strip()]
    if "diarization_test" in path.name:
        raw = " ".join(re.sub(r"^S\d+:\s*", "", ln) for ln in raw.splitlines())
    return [raw]


def load(name: str, rel: str, seconds: float, tel: bool, model) -> dict:
    path = AUDIO / rel
    audio, rate = load_audio(path)
    x = audio if audio.shape[1] == 2 else audio.mean(axis=1, keepdims=True)
    x16 = np.stack([resample(x[:, c], rate, 16000) if rate != 16000 else x[:, c] for c in range(x.shape[1])], 1)
    if seconds:
        x16 = x16[: int(seconds * 16000)]
    if tel:  # what a telephony platform delivers: 8 kHz G.711
        x8 = np.stack([resample(x16[:, c], 16000, 8000) for c in range(x16.shape[1])], 1)
        wire_rate, encoding = 8000, "mulaw"
        heard = np.stack([resample(x8[:, c], 8000, 16000) for c in range(x8.shape[1])], 1)
        wire = x8
    else:
        wire_rate, encoding, heard, wire = 16000, "linear16", x16, x16
    wire = np.concatenate([wire, np.zeros((wire_rate, wire.shape[1]), np.float32)])
    offline = []
    for c in range(heard.shape[1]):
        segs, _ = model.transcribe(heard[:, c], beam_size=5, language="en")
        offline.append(" ".join(s.text.strip() for s in segs))
    refs = references(path)
    if refs and seconds:  # keep the reference words the offline run heard in the cut audio
        ref_words, off_words = refs[0].split(), normalize_text(offline[0]).split()
        sm = difflib.SequenceMatcher(a=[normalize_text(w) for w in ref_words], b=off_words, autojunk=False)
        last = max((b.a + b.size for b in sm.get_matching_blocks() if b.size), default=0)
        refs = [" ".join(ref_words[:last])]
    step = wire_rate // 50
    frames = [encode_samples(wire[i:i + step].reshape(-1), encoding) for i in range(0, len(wire), step)]
    return {"name": name, "frames": frames, "rate": wire_rate, "encoding": encoding,
            "channels": wire.shape[1], "seconds": len(wire) / wire_rate, "refs": refs, "offline": offline}


def text_of(msgs: list[dict], kind: str, channel: int) -> str:
    return " ".join(m["channel"]["alternatives"][0]["transcript"] for m in msgs
                    if m.get("type") == kind and (kind == "Record" or m.get("is_final"))
                    and m["channel_index"][0] == channel)


def missing(ref: str, hyp: str) -> int:
    a, b = normalize_text(ref).split(), normalize_text(hyp).split()
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return len(a) - sum(blk.size for blk in sm.get_matching_blocks())


def analyse(clip: dict, res) -> dict:
    sent = res.sent_at

    def wall_of(t: float) -> float:
        i = min(len(sent) - 1, max(0, int(t / 0.02)))
        return sent[i] + (t - i * 0.02)

    lat, first = [], []
    for ch in range(clip["channels"]):
        finals = [m for m in res.messages if m.get("type") == "Results" and m.get("is_final")
                  and m["channel_index"][0] == ch and m["channel"]["alternatives"][0]["words"]]
        for k, m in enumerate(finals):
            ls = [m["_received"] - wall_of(w["end"]) for w in m["channel"]["alternatives"][0]["words"]]
            lat += ls
            if k == 0:
                first += ls
    row = {"lat": lat, "first": first, "close": res.close_code}
    if clip["refs"]:
        e_rec = e_live = e_off = n = miss_live = miss_rec = 0
        for ch, ref in enumerate(clip["refs"]):
            rec, live = text_of(res.messages, "Record", ch), text_of(res.messages, "Results", ch)
            e, k = word_errors(ref, rec)
            e_rec, n = e_rec + e, n + k
            e_live += word_errors(ref, live)[0]
            e_off += word_errors(ref, clip["offline"][ch])[0]
            miss_live += missing(ref, live)
            miss_rec += missing(ref, rec)
        row.update(e_rec=e_rec, e_live=e_live, e_off=e_off, n=n, miss_live=miss_live, miss_rec=miss_rec)
    meta = [m for m in res.messages if m.get("type") == "Metadata"]
    row["tail_s"] = (meta[0]["_received"] - sent[-1]) if meta and sent else float("inf")
    return row


def run_level(n: int, clip: dict, args) -> dict:
    server = ServerProcess(ROOT, "--max-calls", str(n + 2), *serve_flags(args, "workers", "model", "device"))
    try:
        async def call(i: int):
            await asyncio.sleep(i * 0.37)
            url = listen_url(server.url, encoding=clip["encoding"], sample_rate=clip["rate"],
                             channels=clip["channels"], interim_results="true", record="true")
            return await stream_frames(url, clip["frames"], realtime=True)

        async def main():
            s = asyncio.create_task(server.sample_rss())
            outs = await asyncio.gather(*(call(i) for i in range(n)))
            server.stop_sampling()
            await s
            return outs

        outs = asyncio.run(main())
        cpu = server.cpu_seconds()
    finally:
        server.close()
    rows = [analyse(clip, r) for r in outs]
    lat = [x for r in rows for x in r["lat"]]
    first = [x for r in rows for x in r["first"]]
    out = {"clip": clip["name"], "calls": n, "final_p50": pct(lat, 0.5), "final_p90": pct(lat, 0.9),
           "first_p50": pct(first, 0.5), "first_max": round(max(first), 3) if first else None,
           "cpu_per_audio_s_per_call": round(cpu / (n * clip["seconds"]), 3),
           "peak_rss_mb": round(server.peak_rss / 2**20), "behind": sum(r["tail_s"] > 5.0 for r in rows),
           "bad_closes": sum(r["close"] != 1000 for r in rows)}
    if clip["refs"]:
        tot = {k: sum(r[k] for r in rows) for k in ("e_rec", "e_live", "e_off", "n", "miss_live", "miss_rec")}
        out.update(wer_record=round(tot["e_rec"] / tot["n"], 4), wer_live=round(tot["e_live"] / tot["n"], 4),
                   wer_offline=round(tot["e_off"] / tot["n"], 4),
                   record_vs_offline=round(tot["e_rec"] / tot["e_off"], 3) if tot["e_off"] else None,
                   errors=[tot["e_rec"], tot["e_off"], tot["n"]],
                   never_final=tot["miss_live"], missing_from_record=tot["miss_rec"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--clips", default="", help="comma-separated clip names")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--model")
    ap.add_argument("--device")
    ap.add_argument("--json-out", help="also write the JSON here")
    args = ap.parse_args()

    model = offline_model(args.model)
    clips = [load(name, rel, sec, tel, model) for name, rel, sec, tel in CLIPS
             if not args.clips or name in args.clips.split(",")]
    del model
    results = []
    cols = ["clip", "calls", "final_p50", "final_p90", "first_p50", "first_max", "wer_record", "wer_live",
            "wer_offline", "record_vs_offline", "never_final", "missing_from_record",
            "cpu_per_audio_s_per_call", "peak_rss_mb", "behind"]
    print(" | ".join(cols), flush=True)
    for n in args.calls:
        for c in clips:
            r = run_level(n, c, args)
            results.append(r)
            print(" | ".join(str(r.get(k)) for k in cols), flush=True)
    # totals per load level: record vs offline over all clips with a reference
    levels = {}
    for n in args.calls:
        rs = [r for r in results if r["calls"] == n and "errors" in r]
        e_rec, e_off, words = (sum(r["errors"][i] for r in rs) for i in range(3))
        lat = [r for r in results if r["calls"] == n]
        levels[n] = {"wer_record": round(e_rec / words, 4), "wer_offline": round(e_off / words, 4),
                     "record_vs_offline": round(e_rec / e_off, 3) if e_off else None,
                     "never_final": sum(r["never_final"] for r in rs),
                     "missing_from_record": sum(r["missing_from_record"] for r in rs),
                     "final_p90_max": max(r["final_p90"] or 0 for r in lat),
                     "first_max": max(r["first_max"] or 0 for r in lat),
                     "cpu_per_audio_s_per_call_median": float(np.median([r["cpu_per_audio_s_per_call"] for r in lat])),
                     "behind": sum(r["behind"] for r in lat)}
        print(f"calls={n}: " + ", ".join(f"{k} {v}" for k, v in levels[n].items()), flush=True)
    doc = {"machine": {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")},
           "results": results, "levels": levels}
    print(json.dumps(doc))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
