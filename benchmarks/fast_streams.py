"""Real time first: live calls with and without recordings streamed `--fast` beside them.

In one run, against one `souffleur serve` per variant: N real-time calls (read speech,
60 s, 20 ms frames) alone, then the same N calls with F recordings streamed as fast as
the server takes them (240 ms frames, like `souffleur stream --fast`). Reports live
final-word latency p50/p90 (receive time minus the wall time the word's audio end was
sent, from the stream's own word timings), calls refused, fast-stream throughput
(audio seconds per wall second) and whether every fast stream completed whole.

    python benchmarks/fast_streams.py --live 2 --fast 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import _paths  # noqa: F401  (benchmarks/streaming.py shadows the package otherwise)
from _serve import ServerProcess, pct

ROOT = _paths.ROOT

import numpy as np  # noqa: E402
from corpus import AUDIO  # noqa: E402

import streaming  # noqa: E402,F401  (BLAS thread limits before numpy loads)
from streaming.audio.codecs import resample  # noqa: E402
from streaming.audio.files import load_audio  # noqa: E402
from streaming.client import audio_frames, listen_url, stream_frames  # noqa: E402


def mono16k(rel: str, seconds: float) -> np.ndarray:
    audio, rate = load_audio(AUDIO / rel)
    x = audio.mean(axis=1)
    x = resample(x, rate, 16000) if rate != 16000 else x
    return x[: int(seconds * 16000)].astype(np.float32)


def latencies(res) -> list[float]:
    sent = res.sent_at

    def wall_of(t: float) -> float:
        i = min(len(sent) - 1, max(0, int(t / 0.02)))
        return sent[i] + (t - i * 0.02)

    return [m["_received"] - wall_of(w["end"]) for m in res.messages
            if m.get("type") == "Results" and m.get("is_final")
            for w in m["channel"]["alternatives"][0]["words"]]


def run_variant(n_live: int, n_fast: int, live: np.ndarray, fast: np.ndarray, workers: int | None) -> dict:
    extra = ["--max-calls", str(n_live)] + (["--workers", str(workers)] if workers else [])
    server = ServerProcess(ROOT, *extra)
    try:
        async def fast_call(i: int):
            url = listen_url(server.url, encoding="linear16", sample_rate=16000, channels=1, call_id=f"fast-{i}")
            t0 = time.monotonic()
            res = await stream_frames(url, audio_frames(fast[:, None], 16000, frame_ms=240), realtime=False)
            return res, time.monotonic() - t0

        async def live_call(i: int):
            await asyncio.sleep(1.0 + i * 0.37)  # the fast streams are running by then
            url = listen_url(server.url, encoding="linear16", sample_rate=16000, channels=1, call_id=f"live-{i}")
            tail = np.zeros(16000, np.float32)
            return await stream_frames(url, audio_frames(np.concatenate([live, tail])[:, None], 16000))

        async def main():
            fasts = [asyncio.create_task(fast_call(i)) for i in range(n_fast)]
            lives = await asyncio.gather(*(live_call(i) for i in range(n_live)))
            return lives, await asyncio.gather(*fasts)

        lives, fasts = asyncio.run(main())
    finally:
        server.close()
    lat = [x for r in lives for x in latencies(r)]
    row = {"live_calls": n_live, "fast_streams": n_fast, "live_final_p50": pct(lat, 0.5),
           "live_final_p90": pct(lat, 0.9), "live_refused": sum(r.close_code == 1013 for r in lives),
           "live_errors": sum(len(r.of_type("Error")) for r in lives)}
    if fasts:
        meta = [r.of_type("Metadata") for r, _ in fasts]
        row["fast_x_realtime"] = round(float(np.median([len(fast) / 16000 / t for _, t in fasts])), 1)
        row["fast_complete"] = sum(bool(m) and abs(m[0]["duration"] - len(fast) / 16000) < 0.5 for m in meta)
        row["fast_refused"] = sum(r.close_code != 1000 for r, _ in fasts)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--live", type=int, default=2, help="real-time calls")
    ap.add_argument("--fast", type=int, nargs="+", default=[1, 2], help="fast streams beside them")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int)
    args = ap.parse_args()
    live = mono16k("group3_long/ljspeech_LJ001-0001_0016_concat.wav", args.seconds)
    fast = mono16k("group3_long/moonshine_two_cities_librivox.wav", 600)
    rows = [run_variant(args.live, f, live, fast, args.workers) for f in [0, *args.fast]]
    cols = ["live_calls", "fast_streams", "live_final_p50", "live_final_p90", "live_refused", "live_errors",
            "fast_x_realtime", "fast_complete", "fast_refused"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in cols))
    base = rows[0]["live_final_p90"] or 0
    for r in rows[1:]:
        r["p90_vs_alone"] = round((r["live_final_p90"] or 0) / base, 3) if base else None
        print(f"{r['fast_streams']} fast: live p90 {r['p90_vs_alone']}x of alone")
    print(json.dumps({"machine": {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}, "rows": rows}))


if __name__ == "__main__":
    main()
