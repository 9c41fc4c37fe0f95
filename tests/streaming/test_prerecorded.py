"""POST /v1/listen (pre-recorded) against a real server, with Deepgram's own Python SDK.

Accuracy is compared with plain faster-whisper (the same bundled model, beam 5) on
the same file, as tests/streaming/test_batch.py does: the bound is derived from
what the model can do on that audio, not tuned to a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import socket
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from streaming.asr.base import DecodeRequest, ScriptedRecognizer
from streaming.asr.models import model_path
from streaming.asr.scheduler import InferenceScheduler
from streaming.asr.textnorm import wer
from streaming.audio.codecs import encode_samples, resample
from streaming.audio.files import AudioStream
from streaming.live.session import CallSession
from streaming.options import AsrOptions, SegmenterOptions
from streaming.service.auth import Authenticator, mint_token, parse_api_keys
from streaming.service.recording import RecordingRun, recording_options, recording_segmenter
from tests.conftest import AUDIO, clip

LONG = "long/ljspeech_LJ001-0001_0016_concat.flac"  # 111 s, the longest file with a reference
STEREO = "stereo/stereo_diarization.flac"
LJ1 = "ljspeech/LJ001-0001.flac"
SECRET = "test-token-secret-0123456789abcdef"
PHONE_KEY = "pbx-key-0123456789abcdef"
WORKER_KEY = "batch-key-0123456789abcdef"

# as in test_batch: at most this much worse than plain faster-whisper on the same audio
# (or two words, whichever is more), and never near garbage
MARGIN = 0.1
MARGIN_WORDS = 2
SANITY = 0.5


@pytest.fixture(scope="module")
def offline():
    """Plain faster-whisper: bundled tiny.en, int8 CPU, beam 5, English, defaults otherwise."""
    from faster_whisper import WhisperModel

    model = WhisperModel(model_path(AsrOptions()), device="cpu", compute_type="int8", cpu_threads=2)

    def text(audio: np.ndarray, rate: int) -> str:
        segments, _ = model.transcribe(resample(audio, rate), beam_size=5, language="en")
        return " ".join(s.text.strip() for s in segments)

    return text


def as_accurate_as_offline(said: str, got: str, offline_text: str) -> None:
    ours, theirs = wer(said, got), wer(said, offline_text)
    margin = max(MARGIN, MARGIN_WORDS / len(said.split()))
    assert ours <= theirs + margin and ours < SANITY, (
        f"WER {ours:.3f} vs offline {theirs:.3f}\n said: {said}\n ours: {got}\n offl: {offline_text}")


def deepgram(server, api_key: str = "unused"):
    from deepgram import DeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    env = DeepgramClientEnvironment(base=server.http, production=server.url, agent=server.url,
                                    agent_rest=server.http)
    return DeepgramClient(api_key=api_key, environment=env)


def post(server, body, query: str = "", headers: dict | None = None, timeout: float = 300):
    import httpx

    return httpx.post(f"{server.http}/v1/listen{'?' + query if query else ''}", content=body,
                      headers=headers or {}, timeout=timeout)


SRT_CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)$", re.S)
VTT_CUE = re.compile(r"^(?:[\w-]+\n)?(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+)$", re.S)


def _seconds(ts: str) -> float:
    h, m, rest = ts.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest)


# -- Deepgram's SDK, end to end ---------------------------------------------------
def test_sdk_transcribe_file_parses_and_is_as_accurate_as_faster_whisper(server, offline):
    from deepgram.types.listen_v1response import ListenV1Response
    from deepgram_captions import DeepgramConverter, srt, webvtt

    audio, rate, said = clip(LONG)
    body = (AUDIO / LONG).read_bytes()
    t0 = time.perf_counter()
    r = deepgram(server).listen.v1.media.transcribe_file(
        request=body, model="nova-3", smart_format=True, punctuate=True, utterances=True)
    took = time.perf_counter() - t0
    assert isinstance(r, ListenV1Response)  # the SDK's typed model, not the async "accepted" one
    meta = r.metadata
    assert meta.sha256 == hashlib.sha256(body).hexdigest()
    assert meta.channels == 1 and abs(meta.duration - audio.shape[0] / rate) < 0.01
    assert meta.models and meta.model_info and meta.request_id
    assert abs(meta.created.timestamp() - time.time()) < 600
    alt = r.results.channels[0].alternatives[0]
    as_accurate_as_offline(said, alt.transcript, offline(audio[:, 0], rate))
    words = alt.words
    assert [w.punctuated_word for w in words] and " ".join(w.punctuated_word for w in words) == alt.transcript
    assert all(0 <= w.start <= w.end <= meta.duration + 0.5 and 0 <= w.confidence <= 1 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))
    # utterances: the same words, grouped; each utterance's words lie inside it
    utts = r.results.utterances
    assert len(utts) >= 5 and [w.word for u in utts for w in u.words] == [w.word for w in words]
    assert all(u.start <= u.words[0].start and u.words[-1].end <= u.end and u.channel == 0 for u in utts)
    print(f"\npre-recorded {meta.duration:.1f} s of audio answered in {took:.2f} s "
          f"({meta.duration / took:.1f}x real time)")

    # deepgram-captions turns the response into valid SRT and WebVTT
    doc = r.model_dump(mode="json")
    cues = [c for c in srt(DeepgramConverter(doc)).strip().split("\n\n") if c]
    assert len(cues) >= len(utts)
    prev = -1.0
    for i, c in enumerate(cues, 1):
        m = SRT_CUE.match(c)
        assert m, c
        a, b = _seconds(m.group(2)), _seconds(m.group(3))
        assert int(m.group(1)) == i and prev <= a <= b
        prev = a
    head, *vtt = [c for c in webvtt(DeepgramConverter(doc)).strip().split("\n\n") if c]
    assert head.startswith("WEBVTT") and len(vtt) >= len(utts)
    for c in vtt:
        if c.startswith("NOTE"):
            continue
        m = VTT_CUE.match(c)
        assert m and _seconds(m.group(1)) <= _seconds(m.group(2)), c
    text = " ".join(VTT_CUE.match(c).group(3) for c in vtt if not c.startswith("NOTE"))
    assert wer(alt.transcript, text) == 0.0


def test_multichannel_gives_one_channel_per_speaker(server, offline):
    audio, rate, ref = clip(STEREO)
    said = dict(line.split(": ", 1) for line in ref.splitlines())
    r = deepgram(server).listen.v1.media.transcribe_file(
        request=(AUDIO / STEREO).read_bytes(), multichannel=True, utterances=True)
    assert r.metadata.channels == 2 and len(r.results.channels) == 2
    for c, side in enumerate(("LEFT", "RIGHT")):
        got = r.results.channels[c].alternatives[0].transcript
        as_accurate_as_offline(said[side], got, offline(audio[:, c], rate))
    assert {u.channel for u in r.results.utterances} == {0, 1}
    # without multichannel (Deepgram's default) the channels are mixed: one entry
    mixed = post(server, (AUDIO / STEREO).read_bytes()).json()
    assert mixed["metadata"]["channels"] == 1 and len(mixed["results"]["channels"]) == 1
    assert "utterances" not in mixed["results"]


def test_raw_mulaw_and_chunked_upload(server, offline, tmp_path):
    audio, rate, said = clip(LJ1)
    x8 = resample(audio[:, 0], rate, 8000)
    ulaw = encode_samples(x8, "mulaw")
    r = post(server, ulaw, "encoding=mulaw&sample_rate=8000")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert abs(doc["metadata"]["duration"] - len(ulaw) / 8000) < 0.01
    as_accurate_as_offline(said, doc["results"]["channels"][0]["alternatives"][0]["transcript"],
                           offline(encode_and_decode(x8), 8000))
    # the same audio as a WAV sent with chunked transfer coding (a generator body in httpx)
    wav = tmp_path / "lj.wav"
    sf.write(wav, x8, 8000, subtype="PCM_16")
    data = wav.read_bytes()
    r2 = post(server, (data[i:i + 7000] for i in range(0, len(data), 7000)))
    assert r2.status_code == 200, r2.text
    assert r2.json()["metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert wer(said, r2.json()["results"]["channels"][0]["alternatives"][0]["transcript"]) < SANITY


def encode_and_decode(x: np.ndarray) -> np.ndarray:
    from streaming.audio.codecs import decode_samples

    return decode_samples(encode_samples(x, "mulaw"), "mulaw")


def test_expect_100_continue_over_a_raw_socket(server):
    body = (AUDIO / "ljspeech/LJ001-0008.flac").read_bytes()
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=60) as s:
        s.sendall((f"POST /v1/listen?utterances=true HTTP/1.1\r\nHost: x\r\nContent-Type: audio/flac\r\n"
                   f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode())
        assert s.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in head
    doc = json.loads(payload)
    assert doc["results"]["channels"][0]["alternatives"][0]["transcript"]


# -- refusals: what, why, and that the live side is untouched ------------------------
def test_refusals_say_why(server_factory):
    import httpx

    auth = Authenticator(parse_api_keys(f"softphone:pbx-1:{PHONE_KEY},worker:batch:{WORKER_KEY}"), SECRET)
    srv = server_factory(auth=auth, max_call_s=5.0)
    flac = (AUDIO / "ljspeech/LJ001-0002.flac").read_bytes()  # 1.9 s
    ok = {"Authorization": f"Token {WORKER_KEY}"}

    r = post(srv, flac)
    assert r.status_code == 401 and r.json()["err_code"] == "UNAUTHORIZED"
    assert post(srv, flac, "encoding=opus").status_code == 401  # credentials before anything else
    agent = mint_token(SECRET, "agent", "alice", "CALL-1")
    assert post(srv, flac, headers={"Authorization": f"Token {agent}"}).status_code == 403
    assert post(srv, flac, headers={"Authorization": f"Token {PHONE_KEY}"}).status_code == 200
    assert post(srv, flac, f"token={WORKER_KEY}").status_code == 200
    phone_tok = mint_token(SECRET, "softphone", "pbx", "CALL-2")
    assert post(srv, flac, "call_id=CALL-9", {"Authorization": f"Bearer {phone_tok}"}).status_code == 403

    # a URL body: a clear refusal, through the SDK too
    r = httpx.post(f"{srv.http}/v1/listen", json={"url": "https://example.com/a.wav"}, headers=ok)
    assert r.status_code == 400 and r.json()["err_code"] == "REMOTE_URL_NOT_SUPPORTED"
    assert "outbound" in r.json()["err_msg"]
    from deepgram.errors.bad_request_error import BadRequestError

    with pytest.raises(BadRequestError) as e:
        deepgram(srv, WORKER_KEY).listen.v1.media.transcribe_url(url="https://example.com/a.wav")
    assert e.value.body["err_code"] == "REMOTE_URL_NOT_SUPPORTED"

    # longer than a call may be: 413 with the reason (LJ001-0001 is 9.7 s, the limit 5 s)
    r = post(srv, (AUDIO / LJ1).read_bytes(), headers=ok)
    assert r.status_code == 413 and r.json()["err_code"] == "AUDIO_TOO_LONG" and "5 s" in r.json()["err_msg"]
    # larger than the upload limit: refused from Content-Length, before the body is read
    srv.server.prerecorded_limits = replace(srv.server.prerecorded_limits, max_bytes=20_000)
    r = post(srv, b"\0" * 2_000_000, headers=ok)
    assert r.status_code == 413 and r.json()["err_code"] == "PAYLOAD_TOO_LARGE"
    # ...and a chunked body that grows past it
    r = post(srv, (b"\0" * 10_000 for _ in range(5)), headers=ok)
    assert r.status_code == 413
    srv.server.prerecorded_limits = replace(srv.server.prerecorded_limits, max_bytes=1 << 30)
    # not audio, bad parameters, empty body, wrong method or path
    r = post(srv, b"this is not audio" * 50, headers=ok)
    assert r.status_code == 400 and r.json()["err_code"] == "INVALID_AUDIO" and "upload" not in r.text
    assert post(srv, flac, "encoding=opus", ok).json()["err_code"] == "INVALID_QUERY_PARAMETER"
    assert post(srv, flac, "utterances=maybe", ok).status_code == 400
    for lang in ("nl", "multi"):  # tiny.en is English-only: refused, not answered in English
        assert post(srv, flac, f"language={lang}", ok).json()["err_code"] == "INVALID_QUERY_PARAMETER"
    assert post(srv, b"", headers=ok).status_code == 400
    r = post(srv, flac[: len(flac) // 2], headers=ok)  # cut in half: the header promises more
    assert r.status_code == 400 and r.json()["err_code"] == "INVALID_AUDIO", r.text
    assert httpx.put(f"{srv.http}/v1/listen", content=flac, headers=ok).status_code == 405
    assert httpx.post(f"{srv.http}/v1/elsewhere", content=flac, headers=ok).status_code == 404
    # too many at once: 429 (the limit counts requests being transcribed)
    srv.server.prerecorded_limits = replace(srv.server.prerecorded_limits, concurrent=0)
    r = post(srv, flac, headers=ok)
    assert r.status_code == 429 and r.headers["Retry-After"]
    m = srv.server.metrics  # every outcome counted for /metrics
    assert m.value("souffleur_prerecorded_requests_total", status="200") == 2
    assert m.value("souffleur_prerecorded_requests_total", status="413") >= 3
    assert m.value("souffleur_prerecorded_requests_total", status="429") == 1
    assert m.value("souffleur_prerecorded_audio_seconds_total") > 3.5
    # GET routes and websockets on the same port are untouched
    assert httpx.get(f"{srv.http}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{srv.http}/v1/listen").status_code in (401, 426)


def test_a_client_that_hangs_up_stops_the_work(server):
    body = (AUDIO / LONG).read_bytes()
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=60) as s:
        s.sendall((f"POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        deadline = time.monotonic() + 30
        while not server.server.prerecorded_active and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.server.prerecorded_active == 1
    deadline = time.monotonic() + 10
    while server.server.prerecorded_active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.server.prerecorded_active == 0  # long before 111 s of audio could be decoded


# -- live calls first ---------------------------------------------------------------
def test_recording_decodes_wait_behind_live_work():
    """A recording's decodes queue at the lowest priority: a live final queued after them
    is still decoded first (a gate holds the model on the first live decode)."""
    gate = threading.Event()
    order: list[str] = []

    class Gated(ScriptedRecognizer):
        def decode_batch(self, requests):
            order.extend(r.kind for r in requests)
            if requests[0].key.startswith("live"):
                gate.wait(10)
            return super().decode_batch(requests)

    rec = Gated(lambda r: [("word", 0.1, 0.4)])
    sched = InferenceScheduler(rec, workers=1)

    def live(n: int) -> DecodeRequest:
        return DecodeRequest(f"live/{n}", "final", np.zeros(16000, np.float32), 0.0, n)

    async def go():
        stream = AudioStream(AUDIO / LJ1)
        opts = recording_options(stream, multichannel=False, language=None, call_id="rec", roles=("agent",))
        session = CallSession(opts, recording_segmenter(SegmenterOptions()), max_frame_bytes=1 << 26)
        first = asyncio.ensure_future(sched.decode(live(1)))  # taken by the worker, held at the gate
        await asyncio.sleep(0.1)
        run = RecordingRun(sched, session)
        task = asyncio.ensure_future(run.run(stream.blocks(0.5)))
        await asyncio.sleep(0.8)
        depth = sched.queue_depth()
        assert depth["fast"] >= 1 and depth["record"] == 0 and order == ["final"]  # queued, last
        second = asyncio.ensure_future(sched.decode(live(2)))  # a live final comes after it...
        await asyncio.sleep(0.1)
        gate.set()
        await asyncio.gather(first, second)
        messages = await asyncio.wait_for(task, 30)
        return run, messages

    try:
        run, messages = asyncio.run(go())
    finally:
        sched.close()
    assert order[:2] == ["final", "final"] and set(order[2:]) == {"record"} and run.decodes >= 1  # ...and goes first
    assert any(m["type"] == "Record" for m in messages) and messages[-1]["type"] == "Metadata"


def test_audio_stream_reads_blocks_not_the_file(tmp_path):
    x = (np.random.default_rng(0).standard_normal((48000 * 3, 2)) * 0.1).astype(np.float32)
    sf.write(tmp_path / "a.flac", x, 48000)
    s = AudioStream(tmp_path / "a.flac")
    assert (s.rate, s.channels, s.frames, s.encoding) == (48000, 2, 48000 * 3, "float32")
    blocks = list(s.blocks(0.5))
    assert len(blocks) == 6 and all(len(b) == 24000 * 2 * 4 for b in blocks)
    (tmp_path / "a.raw").write_bytes(encode_samples(x[:, 0], "alaw"))
    r = AudioStream(tmp_path / "a.raw", raw_encoding="alaw", raw_rate=48000)
    assert r.duration == 3.0 and b"".join(r.blocks(0.5)) == (tmp_path / "a.raw").read_bytes()


def test_response_shape_utterances_and_redaction():
    from streaming.service.prerecorded_response import ResponseShape, prerecorded_response

    def word(w: str, start: float, end: float) -> dict:
        return {"word": w.strip(".,").lower(), "start": start, "end": end, "confidence": 0.9,
                "punctuated_word": w}

    said = "My card is 4532 1111 2222 3333. Thanks."
    words = [word("My", 0.0, 0.2), word("card", 0.2, 0.5), word("is", 0.5, 0.6), word("4532", 0.6, 1.0),
             word("1111", 1.0, 1.4), word("2222", 1.4, 1.8), word("3333.", 1.8, 2.2),
             word("Thanks.", 3.5, 3.9)]  # 1.3 s pause before "Thanks."
    rec = {"type": "Record", "channel_index": [1, 2], "start": 0.0,
           "channel": {"alternatives": [{"transcript": said, "confidence": 0.9, "words": words}]}}
    empty = {"type": "Record", "channel_index": [0, 2], "start": 5.0,
             "channel": {"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]}}
    live = {"type": "Results", "is_final": True, "channel_index": [0, 2], "start": 0.0,
            "channel": {"alternatives": [{"transcript": "ignored", "words": [word("ignored", 0, 1)]}]}}
    common = {"request_id": "r", "sha256": "s", "duration": 4.0, "model_name": "m", "created": 0.0}
    doc = prerecorded_response([live, rec, empty], ResponseShape(channels=2, utterances=True,
                                                                 roles=("agent", "customer")), **common)
    assert doc["metadata"]["created"] == "1970-01-01T00:00:00.000Z" and doc["metadata"]["channels"] == 2
    ch = doc["results"]["channels"]
    assert ch[0]["alternatives"][0]["transcript"] == "" and ch[1]["alternatives"][0]["transcript"] == said
    utts = doc["results"]["utterances"]  # split at the 1.3 s pause (utt_split 0.8 s)
    assert [u["transcript"] for u in utts] == ["My card is 4532 1111 2222 3333.", "Thanks."]
    assert {u["channel"] for u in utts} == {1} and {u["role"] for u in utts} == {"customer"}
    red = prerecorded_response([rec], ResponseShape(channels=2, redact=("pci",)), **common)
    alt = red["results"]["channels"][1]["alternatives"][0]
    assert "4532" not in json.dumps(red) and "[number]" in alt["transcript"]
    assert [w["word"] for w in alt["words"]][:3] == ["my", "card", "is"]
    assert {w["punctuated_word"] for w in alt["words"][3:7]} == {"[redacted]"}
    assert rec["channel"]["alternatives"][0]["transcript"] == said  # the session's message untouched


def test_redact_parameter_is_deepgrams(server):
    flac = (AUDIO / "ljspeech/LJ001-0002.flac").read_bytes()
    assert post(server, flac, "redact=pci&redact=numbers").status_code == 200
    r = post(server, flac, "redact=card%20numbers!")
    assert r.status_code == 400 and r.json()["err_code"] == "INVALID_QUERY_PARAMETER"


def _raw_exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return out


def test_bad_request_heads_are_answered_or_dropped_cleanly(server, monkeypatch, caplog):
    from streaming.service import http_front

    port = server.server.port
    assert _raw_exchange(port, b"HELLO\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _raw_exchange(port, b"POST /v1/listen HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n") \
        .startswith(b"HTTP/1.1 431 ")
    monkeypatch.setattr(http_front, "HEAD_TIMEOUT_S", 0.3)
    t0 = time.monotonic()
    assert _raw_exchange(port, b"POST /v1/listen HTTP/1.1\r\nHost: x\r\n") == b""  # never finished
    assert time.monotonic() - t0 < 3
    # the port still serves websockets and plain GETs, and nothing went wrong inside
    assert _raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records
