"""Pre-recorded `POST /v1/listen`: time to answer, and what it costs live calls.

Starts `souffleur serve` as its own process and measures:

1. time to response for each recording in tests/data/audio, posted alone (median of
   `--repeats`), as a multiple of real time;
2. live final-word latency of `--calls` softphones streaming a real recording in real
   time, alone and then while pre-recorded uploads of the longest file run back to back
   (pre-recorded decodes wait behind live finals and records: service/recording.py).
   Latency here is the wall time a final arrives minus the wall time the frame holding
   its last word's end (the stream's own word timestamp) was sent; the same measure in
   both runs, so their ratio is what matters.

    python benchmarks/prerecorded.py --calls 2 --seconds 60 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import _paths  # noqa: F401  (puts the checkout on sys.path)
from _serve import ServerProcess, pct

ROOT = _paths.ROOT

import httpx  # noqa: E402
import numpy as np  # noqa: E402

import streaming  # noqa: E402,F401  (BLAS thread limits before numpy loads)
from streaming.audio.files import load_audio  # noqa: E402
from streaming.client import audio_frames, listen_url, stream_frames  # noqa: E402

AUDIO = ROOT / "tests" / "data" / "audio"
LONGEST = AUDIO / "long" / "ljspeech_LJ001-0001_0016_concat.flac"


async def post(client: httpx.AsyncClient, url: str, body: bytes, query: str = "",
               timeout: float = 600) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = await client.post(f"{url}/v1/listen" + (f"?{query}" if query else ""), content=body, timeout=timeout)
    r.raise_for_status()
    return time.perf_counter() - t0, r.json()


async def response_times(http: str, repeats: int) -> list[dict]:
    rows = []
    async with httpx.AsyncClient() as client:
        for path in sorted(AUDIO.rglob("*.flac")):
            body = path.read_bytes()
            times, doc = [], {}
            for _ in range(repeats):
                t, doc = await post(client, http, body)
                times.append(t)
            dur = doc["metadata"]["duration"]
            med = statistics.median(times)
            rows.append({"file": str(path.relative_to(AUDIO)), "audio_s": round(dur, 1),
                         "bytes": len(body), "response_s": round(med, 2), "x_realtime": round(dur / med, 1)})
    return rows


def five_minute_call(tmp: Path) -> Path:
    """A 5-minute stereo telephone call as a contact centre records it (WAV, 8 kHz, 16-bit,
    agent left, caller right): the real AWS call (245 s), then the first dev call resampled
    to 8 kHz, cut at 300 s. Needs ../shared."""
    import soundfile as sf
    from corpus import SHARED

    from streaming.audio.codecs import resample

    real, rate = load_audio(SHARED / "audio/group2_conversational/aws_lca_calls/"
                            "Auto_Repairs_40_UTC_stereo_agentL_callerR.wav")
    dev, dev_rate = load_audio(SHARED / "assist/dev_en_01.stereo16k.flac")
    dev8 = np.stack([resample(dev[:, c], dev_rate, rate) for c in range(2)], axis=1)
    x = np.concatenate([real, dev8])[: 300 * rate]
    path = tmp / "call-5min-stereo-8k.wav"
    sf.write(path, x, rate, subtype="PCM_16")
    return path


async def long_call(http: str, path: Path, repeats: int) -> dict:
    """Time to response for the 5-minute stereo call, posted alone with the parameters a
    contact centre's batch job would send."""
    body = path.read_bytes()
    q = "multichannel=true&utterances=true&smart_format=true&punctuate=true"
    times, doc = [], {}
    async with httpx.AsyncClient() as client:
        for _ in range(repeats):
            t, doc = await post(client, http, body, q, timeout=900)
            times.append(t)
    dur = doc["metadata"]["duration"]
    med = statistics.median(times)
    words = [len(c["alternatives"][0]["words"]) for c in doc["results"]["channels"]]
    return {"file": path.name, "audio_s": round(dur, 1), "channels": doc["metadata"]["channels"],
            "bytes": len(body), "response_s": [round(t, 2) for t in times], "response_median_s": round(med, 2),
            "x_realtime": round(dur / med, 1), "words_per_channel": words,
            "utterances": len(doc["results"].get("utterances") or [])}


def final_latencies(res) -> list[float]:
    sent = res.sent_at
    out = []
    for m in res.of_type("Results"):
        words = m["channel"]["alternatives"][0]["words"]
        if m["is_final"] and words:
            i = min(len(sent) - 1, int(words[-1]["end"] / 0.02))
            out.append(m["_received"] - sent[i])
    return out


async def live_run(ws_url: str, http: str, calls: int, seconds: float, with_uploads: bool) -> dict:
    audio, rate = load_audio(LONGEST)
    x = audio[: int(seconds * rate)]
    x = np.concatenate([x, np.zeros((rate, x.shape[1]), np.float32)])
    frames = audio_frames(x, rate)
    url = listen_url(ws_url, encoding="linear16", sample_rate=rate, channels=1, interim_results=True)
    done = asyncio.Event()
    uploads: list[float] = []

    async def uploader() -> None:
        body = LONGEST.read_bytes()
        async with httpx.AsyncClient() as client:
            while not done.is_set():
                t, _ = await post(client, http, body)
                uploads.append(t)

    up = asyncio.create_task(uploader()) if with_uploads else None
    results = await asyncio.gather(*(stream_frames(url, frames, realtime=True) for _ in range(calls)))
    done.set()
    if up is not None:
        await up
    lat = [v for r in results for v in final_latencies(r)]
    return {"uploads": with_uploads, "finals": len(lat), "final_p50": pct(lat, 0.5), "final_p90": pct(lat, 0.9),
            "final_p99": pct(lat, 0.99), "uploads_done": len(uploads),
            "upload_response_s": [round(u, 2) for u in uploads]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="alone / with uploads pairs")
    ap.add_argument("--workers", type=int, default=0, help="server inference workers (default: its own)")
    ap.add_argument("--five-minute-call", action="store_true",
                    help="only: time to response for a 5-minute stereo 8 kHz call (needs ../shared)")
    args = ap.parse_args()
    extra = ("--workers", str(args.workers)) if args.workers else ()
    srv = ServerProcess(ROOT, *extra)
    http = f"http://127.0.0.1:{srv.port}"
    try:
        if args.five_minute_call:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                r = asyncio.run(long_call(http, five_minute_call(Path(tmp)), args.repeats))
            print(f"{r['file']}: {r['audio_s']} s, {r['channels']} channels, answered in "
                  f"{r['response_median_s']} s (median of {args.repeats}: {r['response_s']}), "
                  f"{r['x_realtime']}x real time; words per channel {r['words_per_channel']}, "
                  f"{r['utterances']} utterances")
            print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "five_minute_call": r}))
            return
        rows = asyncio.run(response_times(http, args.repeats))
        print(f"{'file':48} {'audio s':>8} {'answer s':>9} {'x real time':>12}")
        for r in rows:
            print(f"{r['file']:48} {r['audio_s']:8.1f} {r['response_s']:9.2f} {r['x_realtime']:12.1f}")
        # alone / with uploads, alternated `--rounds` times: drift on a shared machine hits both
        live = [asyncio.run(live_run(srv.url, http, args.calls, args.seconds, up))
                for _ in range(args.rounds) for up in (False, True)]
        print(f"\n{args.calls} live calls x {args.seconds:g} s   final p50 / p90 / p99 s   uploads answered")
        for r in live:
            print(f"  {'with uploads' if r['uploads'] else 'alone':14} {r['final_p50']} / {r['final_p90']} / "
                  f"{r['final_p99']}   {r['uploads_done']} {r['upload_response_s']}")
        print(json.dumps({"response_times": rows, "live": live}))
    finally:
        srv.close()


if __name__ == "__main__":
    main()
