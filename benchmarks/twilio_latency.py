"""Live latency through the Twilio Media Streams endpoint next to `/v1/listen`, same call.

One `souffleur serve`; the same real stereo telephone call (agent left, caller right, 8 kHz)
is streamed in real time either as a Deepgram client does (`/v1/listen`, µ-law 8 kHz, two
interleaved channels, 20 ms frames) or as Twilio does (`/v1/twilio`: JSON `media`
messages, base64 µ-law, one track per direction, 20 ms each). Rounds alternate the two so
they share the machine's drift. Latency is measured the same way for both, at a desktop
following the call: wall time a final `Results` arrives minus the wall time the audio at
its end was sent.

    python benchmarks/twilio_latency.py --seconds 60 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time

import _paths  # noqa: F401  (puts the checkout on sys.path)
import numpy as np
from _serve import ServerProcess, pct
from corpus import SHARED
from websockets.asyncio.client import connect

import streaming  # noqa: F401,I001  (BLAS thread limits before numpy loads)
from streaming.audio.codecs import encode_samples, resample
from streaming.audio.files import load_audio
from streaming.client import EventsClient, listen_url

CALL = SHARED / "audio/group2_conversational/aws_lca_calls/Auto_Repairs_40_UTC_stereo_agentL_callerR.wav"
FRAME = 160  # 20 ms of 8 kHz µ-law


def tracks(seconds: float) -> tuple[bytes, bytes]:
    audio, rate = load_audio(CALL)
    audio = audio[: int(seconds * rate)]
    return tuple(encode_samples(resample(audio[:, c], rate, 8000), "mulaw") for c in (0, 1))  # type: ignore[return-value]


async def pace(i: int, t0: float) -> None:
    delay = t0 + i * 0.02 - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def via_listen(url: str, call_id: str, agent: bytes, caller: bytes) -> float:
    inter = np.stack([np.frombuffer(agent, np.uint8), np.frombuffer(caller, np.uint8)], axis=1).tobytes()
    q = dict(encoding="mulaw", sample_rate=8000, channels=2, multichannel=True, call_id=call_id)
    async with connect(listen_url(url, **q), max_size=None, compression=None) as ws:
        async def drain() -> None:  # read replies as they come (a full queue stops keepalive pongs)
            async for _ in ws:
                pass

        reader = asyncio.create_task(drain())
        t0 = time.monotonic()
        wall0 = time.time()
        for i in range(len(agent) // FRAME):
            await pace(i, t0)
            await ws.send(inter[i * 2 * FRAME:(i + 1) * 2 * FRAME])
        await ws.send(json.dumps({"type": "CloseStream"}))
        await reader
    return wall0


async def via_twilio(url: str, call_id: str, agent: bytes, caller: bytes) -> float:
    seq = 0

    def msg(event: str, **body) -> str:
        nonlocal seq
        seq += 1
        return json.dumps({"event": event, "sequenceNumber": str(seq), "streamSid": "MZbench", **body})

    async with connect(f"{url}/v1/twilio", compression=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(msg("start", start={"streamSid": "MZbench", "callSid": "CAbench",
                                          "tracks": ["inbound", "outbound"],
                                          "customParameters": {"call_id": call_id},
                                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                          "channels": 1}}))
        t0 = time.monotonic()
        wall0 = time.time()
        for i in range(len(agent) // FRAME):
            await pace(i, t0)
            for track, data in (("inbound", caller), ("outbound", agent)):
                await ws.send(msg("media", media={"track": track, "chunk": str(i + 1), "timestamp": str(20 * i),
                                                  "payload": base64.b64encode(data[i * FRAME:(i + 1) * FRAME]).decode()}))
        await ws.send(msg("stop", stop={"callSid": "CAbench"}))
        async for _ in ws:
            pass
    return wall0


async def one(url: str, path: str, n: int, agent: bytes, caller: bytes) -> list[float]:
    call_id = f"lat-{path}-{n}-{int(time.time())}"
    async with EventsClient(url, call_id, wait=True) as desk:
        send = via_listen if path == "listen" else via_twilio
        wall0 = await send(url, call_id, agent, caller)
        await desk.wait_for(lambda e: e.get("type") == "CallEnded", timeout=120)
    return [e["_received"] - (wall0 + e["start"] + e["duration"]) for e in desk.events
            if e.get("type") == "Results" and e.get("is_final") and e["channel"]["alternatives"][0]["words"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    agent, caller = tracks(args.seconds)
    srv = ServerProcess(_paths.ROOT)
    rows = []
    try:
        for r in range(args.rounds):
            for path in (("listen", "twilio") if r % 2 == 0 else ("twilio", "listen")):
                lat = asyncio.run(one(srv.url, path, r, agent, caller))
                rows.append({"round": r + 1, "path": path, "finals": len(lat),
                             "p50": pct(lat, 0.5), "p90": pct(lat, 0.9), "p99": pct(lat, 0.99)})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        srv.proc.terminate()
        srv.proc.wait(30)
    print(f"{'round':>5} {'path':>7} {'finals':>6} {'p50':>6} {'p90':>6} {'p99':>6}")
    for x in rows:
        print(f"{x['round']:>5} {x['path']:>7} {x['finals']:>6} {x['p50']:>6} {x['p90']:>6} {x['p99']:>6}")
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "seconds": args.seconds, "rows": rows}))


if __name__ == "__main__":
    main()
