"""`benchmarks/redaction.py --redis-live`: what a Redis-backed server keeps, read back.

Each labelled English call's rendered stereo recording (`CALLID.stereo16k.flac` in a
voice folder) is streamed, fast (240 ms frames, not paced: latency is not measured), to a
`souffleur serve --redis-url ... --data-dir ...` started for the run, with a desktop on
the call's feed until `CallEnded`. A stream counts as complete when its `Metadata`
duration is the recording's. Then EVERY key of the Redis database (emptied first) is
read back (`SCAN`; strings, hashes, lists, streams by `XRANGE`, sets, sorted sets) and
the audit trail (`data_dir/audit.jsonl`) too. A key or audit line belongs to a call
when it names the call's stream id; keys naming no call are scored against every call.

What is scored is every string inside what was read (JSON payloads unpacked), except
ids and times (keys ending in `id`, `_at`, ...), key names, and tokens that mix letters
and digits (hex ids), stream entry ids and epoch times. Each string is one unit, the `word`/`punctuated_word` strings of one payload
(a record's words) joined into one; `score_audio` (redaction.py) is run on each unit
as if it were all in clear: a labelled PII value survives when any unit leaks it (4
digits in a row of its digits, or a word of it as heard within two letters: a misheard
value still counts), a name token when a capitalised word is the form's name as heard;
a spelled run is any run of 3+ single letters in clear, also glued to a word, counted
once per call (total: runs in the labels); a name token once per stored entry.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import _paths  # noqa: F401  (repository root first)
from _assist_live import Job, find_jobs, frames_of, voice_dirs
from _serve import ServerProcess

from streaming.client import EventsClient, listen_url, stream_frames

ROOT = _paths.ROOT
LABELS = [ROOT / "tests/data/assist", ROOT / "tests/assist/calls", ROOT / "tests/assist/heldout",
          ROOT / "tests/assist/heldout2"]
SKIP_KEYS = {"replaces", "created", "started", "ended", "ts", "time", "node", "owner", "w", "type",
             "encoding", "model", "model_info", "sha256", "version", "status", "display", "field", "kind"}
# hex / uuid ids, ISO times, stream entry ids ("1733350000000-0"), epoch times
ID_TOKEN = re.compile(r"^(?=[0-9a-f-]*[a-f])(?=[0-9a-f-]*\d)[0-9a-f-]{8,}$|^\d{4}-\d\d-\d\dT"
                      r"|^17\d{11}-\d+$|^17\d{8}(\.\d+)?$|^redact-")  # never a phone, IBAN or postcode
# a spelled run in stored text, also glued to a word ("Nathy-I-B-E-R-N-I-T-H-Y"), which
# redaction.py's SPELLED_RE (for labelled text) leaves out
SPELLED_ANY = re.compile(r"(?<![\w'’])(?:[A-Za-z](?:[-\s,.]+|$)){3,}")
FAST_FRAMES = 12  # 20 ms frames per message: 240 ms, as `souffleur stream --fast`


async def _stream(url: str, job: Job, sem: asyncio.Semaphore) -> dict[str, Any]:
    async with sem:
        frames20, fmt = frames_of(job)
        frames = [b"".join(frames20[i:i + FAST_FRAMES]) for i in range(0, len(frames20), FAST_FRAMES)]
        call_id = f"redact-{job.cid}-{uuid.uuid4().hex[:6]}"
        params = {"interim_results": True, "vad_events": True, "utterance_end_ms": 1000,
                  "language": "en", "call_id": call_id, **fmt}
        ended = True
        t0 = time.time()
        async with EventsClient(url, call_id, wait=True) as desk:
            res = await stream_frames(listen_url(url, **params), frames, realtime=False)
            try:
                await desk.wait_for(lambda e: e.get("type") == "CallEnded", timeout=300)
            except TimeoutError:
                ended = False
        audio_s = len(frames20) * 0.02
        meta = res.of_type("Metadata")
        dur = float(meta[0].get("duration", 0)) if meta else 0.0
        return {"job": job, "call_id": call_id, "ended": ended, "close_code": res.close_code,
                "audio_s": round(audio_s, 1), "metadata_duration": round(dur, 1),
                "complete": ended and abs(dur - audio_s) < 0.5, "wall_s": round(time.time() - t0, 1),
                "records": len([m for m in res.messages if m.get("type") == "Results" and m.get("is_final")])}


def read_all(client: Any) -> dict[str, list[Any]]:
    """Every key of the database -> what it holds, as a list of items (JSON decoded)."""
    out: dict[str, list[Any]] = {}
    for raw in client.scan_iter(count=500):
        key = raw.decode() if isinstance(raw, bytes) else raw
        t = client.type(key)
        t = t.decode() if isinstance(t, bytes) else t
        if t == "string":
            items = [client.get(key)]
        elif t == "hash":
            items = [x for kv in client.hgetall(key).items() for x in kv]
        elif t == "list":
            items = client.lrange(key, 0, -1)
        elif t == "stream":
            items = [x for _id, fields in client.xrange(key) for kv in fields.items() for x in kv]
        elif t == "set":
            items = list(client.smembers(key))
        elif t == "zset":
            items = [m for m, _s in client.zrange(key, 0, -1, withscores=True)]
        else:
            items = [f"<{t}>"]
        out[key] = [_decode(x) for x in items]
    return out


def _decode(x: Any) -> Any:
    s = x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
    try:
        return json.loads(s) if s[:1] in "{[" else s
    except ValueError:
        return s


def units(item: Any) -> list[tuple[str, str]]:
    """The strings of one item that could hold what was said: each string, the words
    of a record joined in order; no ids, no times, no numbers."""
    strings: list[tuple[str, str]] = []
    words: list[str] = []

    def walk(x: Any, key: str = "") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, str(k))
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str):
            k = key.lower()
            if k in SKIP_KEYS or k.endswith("id") or k.endswith("_at"):
                return
            x = " ".join(t for t in x.split() if not ID_TOKEN.search(t))
            if not x:
                return
            if k in ("word", "punctuated_word"):  # a record's words, joined in order
                words.append(x)
            else:
                strings.append((key, x))

    walk(item)
    return strings + ([("(single words)", " ".join(words))] if words else [])


def score_units(call: dict[str, Any], where: list[tuple[str, str]]) -> dict[str, Any]:
    """(place, text) units, all in clear -> survivors by class, with their place."""
    from redaction import SPELLED_RE, score_audio

    from assist.spoken import fold

    out: dict[str, Any] = {"values": Counter(), "values_left": Counter(), "names_left": 0,
                           "spelled": sum(len(SPELLED_RE.findall(t["text"])) for t in call["turns"]),
                           "spelled_left": 0, "left": []}
    left_values: set[tuple[str, str]] = set()
    names: set[tuple[str, str]] = set()
    runs: set[str] = set()
    first = True
    for place, text in where:
        ev = {"channel": {"alternatives": [{"words": [
            {"word": w, "punctuated_word": w} for w in text.split()]}]}}
        r = score_audio(call, [ev])
        if first:
            out["values"] = r["values"]
            first = False
        for x in r["left"]:
            if x["class"] == "name token":
                entry = place.rsplit(".", 1)[0]  # the stored entry (a payload, an audit line)
                if (entry, fold(x["said"]).strip(".,?!;:'\"")) in names:
                    continue
                names.add((entry, fold(x["said"]).strip(".,?!;:'\"")))
                out["names_left"] += 1
                out["left"].append({"where": place, "class": "name token", "said": x["said"], "text": text})
            elif (x["class"], x["said"]) not in left_values:
                left_values.add((x["class"], x["said"]))
                out["values_left"][x["class"]] += 1
                out["left"].append({"where": place, "class": x["class"], "said": x["said"], "text": text})
        if place.endswith("(single words)"):  # word and punctuated_word alternate: "i -I b -B"
            continue
        for m in SPELLED_ANY.finditer(text):
            run = "".join(c for c in m.group().upper() if c.isalpha())
            if run in runs:
                continue
            runs.add(run)
            out["spelled_left"] += 1
            out["left"].append({"where": place, "class": "spelled run", "said": m.group(), "text": text})
    if first:  # nothing stored at all: every value counted, none left
        out["values"] = score_audio(call, [])["values"]
    return out


def run(specs: list[str], redis_url: str, concurrency: int, load_calls: Any,
        batch: bool = False) -> dict[str, Any]:
    """`batch`: then the same recordings through the job queue, outputs and jobs read back
    (`_redaction_batch`), scored as a third place beside Redis and the audit trail."""
    import redis

    calls = [c for c in load_calls([d for d in LABELS if d.exists()]) if c.get("language") == "en"]
    voices = voice_dirs(specs)
    jobs, _missing = find_jobs(voices, calls, telephone=False)
    if not jobs:
        raise SystemExit("--redis-live: no rendered English calls in " + ", ".join(specs))
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    data_dir = tempfile.mkdtemp(prefix="souffleur-redaction-redis-")
    server = ServerProcess(ROOT, "--redis-url", redis_url, "--data-dir", data_dir,
                           "--max-calls", str(concurrency + 2))
    t0 = time.time()
    try:
        async def go() -> list[dict[str, Any]]:
            sem = asyncio.Semaphore(concurrency)
            return list(await asyncio.gather(*(_stream(server.url, j, sem) for j in jobs)))

        streams = asyncio.run(go())
        time.sleep(1.0)  # a retroactive rewrite after the end, if any
        batch_run: dict[str, Any] = {}
        batch_files: dict[tuple[str, str], list[tuple[str, str]]] = {}
        if batch:
            import _redaction_batch as rb

            batch_run = rb.run(jobs, redis_url, Path(data_dir) / "batch")
            batch_files = {k: [u for f in info["files"] for u in rb.file_units(Path(f), units)]
                           for k, info in batch_run["jobs"].items()}  # read before the folder goes
        stored = read_all(client)
        audit_path = Path(data_dir) / "audit.jsonl"
        audit = audit_path.read_text(encoding="utf-8").splitlines() if audit_path.exists() else []
    finally:
        server.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    ids = [s["call_id"] for s in streams]
    job_of = {info["job_id"]: k for k, info in batch_run.get("jobs", {}).items()}  # batch's, not the bus's
    job_keys = {k: job_of[j] for k in stored for j in job_of if j in k}
    shared = {k: v for k, v in stored.items() if not any(i in k for i in ids) and k not in job_keys}
    rows = []
    for s in streams:
        job: Job = s["job"]
        mine = {k: v for k, v in stored.items() if s["call_id"] in k}
        r_units = [(f"{k}#{i}.{f}", u) for k, items in {**mine, **shared}.items()
                   for i, it in enumerate(items) for f, u in units(it)]
        a_units = [(f"audit.jsonl:{n}.{f}", u) for n, line in enumerate(audit, 1) if s["call_id"] in line
                   for f, u in units(_decode(line))]
        rows.append({"voice": job.voice, "call": job.cid, "stream": {k: v for k, v in s.items() if k != "job"},
                     "redis_keys": len(mine), "audit_lines": len(set(n for n, _ in a_units)),
                     "redis": score_units(job.call, r_units), "audit": score_units(job.call, a_units)})
        if batch:
            key = (job.voice, job.cid)
            info = batch_run["jobs"].get(key, {})
            b_units = batch_files.get(key, []) + [
                (f"{k}#{i}.{f}", u) for k, c in job_keys.items() if c == key
                for i, it in enumerate(stored[k]) for f, u in units(it)]
            rows[-1]["batch"] = {**score_units(job.call, b_units), "status": info.get("status"),
                                 "files": len(info.get("files", [])), "error": info.get("error")}
    return {"mode": "redis-live", "redis_url": redis_url, "voices": {n: str(p) for n, p in voices},
            "keys_total": len(stored), "keys_shared": sorted(shared), "audit_lines_total": len(audit),
            "wall_s": round(time.time() - t0, 1), "calls": rows,
            "batch": {k: v for k, v in batch_run.items() if k != "jobs"} if batch else None,
            "read_back": {"redis": stored, "audit": audit}}


def summarise(rows: list[dict[str, Any]], where: str) -> dict[str, Any]:
    agg: dict[str, Any] = {"calls": len(rows), "values": Counter(), "values_left": Counter(),
                           "names_left": 0, "spelled": 0, "spelled_left": 0}
    for r in rows:
        x = r[where]
        agg["values"].update(x["values"])
        agg["values_left"].update(x["values_left"])
        for k in ("names_left", "spelled", "spelled_left"):
            agg[k] += x[k]
    return {**agg, "values": dict(agg["values"]), "values_left": dict(agg["values_left"])}


def report(res: dict[str, Any], details: bool, classes: list[str]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in res["calls"]:
        groups.setdefault(r["voice"], []).append(r)
    groups["all"] = res["calls"]
    places = [w for w in ("redis", "audit", "batch") if res["calls"] and all(w in r for r in res["calls"])]
    summary = {g: {w: summarise(rs, w) for w in places} for g, rs in groups.items()}
    cols = [(g, w) for g in groups for w in places]
    print(f"\nredis-live: {len(res['calls'])} calls, {res['keys_total']} keys, "
          f"{res['audit_lines_total']} audit lines, {res['wall_s']} s")
    print(f"{'':12}" + "".join(f"{g + ' ' + w:>20}" for g, w in cols))
    for cls in classes:
        if any(summary[g][w]["values"].get(cls) for g, w in cols):
            print(f"{cls:12}" + "".join(
                f"{summary[g][w]['values_left'].get(cls, 0)} / {summary[g][w]['values'].get(cls, 0):<3}".rjust(20)
                for g, w in cols))
    print(f"{'name tok':12}" + "".join(f"{summary[g][w]['names_left']:>20}" for g, w in cols))
    print(f"{'spelled':12}" + "".join(
        f"{summary[g][w]['spelled_left']} (labels {summary[g][w]['spelled']})".rjust(20) for g, w in cols))
    print("(values: survivors / labelled PII values; name tok: capitalised words that are the"
          " caller's name as heard, once per stored entry; spelled: distinct runs of 3+ letters in clear)")
    bad = [r for r in res["calls"] if not r["stream"]["complete"]]
    for r in res["calls"]:
        s = r["stream"]
        print(f"  {r['voice']}/{r['call']}: {s['audio_s']} s audio, Metadata {s['metadata_duration']} s, "
              f"ended {s['ended']}, complete {s['complete']}, {s['wall_s']} s, {r['redis_keys']} keys, "
              f"{r['audit_lines']} audit lines"
              + (f", batch {r['batch']['status']} ({r['batch']['files']} files)" if "batch" in r else ""))
        if details:
            for w in places:
                for x in r[w]["left"]:
                    print(f"    LEFT {w} {x['where']} {x['class']}: {x['said']!r} in {x['text'][:160]!r}")
    if bad:
        print(f"INCOMPLETE streams: {len(bad)}")
    for r in res["calls"]:
        r["stream"].pop("job", None)
    return {**{k: v for k, v in res.items() if k != "calls"}, "summary": summary,  # read_back: raw
            "calls": [{**r, **{w: {**r[w], "values": dict(r[w]["values"]), "values_left": dict(r[w]["values_left"])}
                                for w in places}} for r in res["calls"]]}
