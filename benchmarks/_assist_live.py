"""`benchmarks/assist.py --live`: the assistant measured end to end through a live call.

Each rendered call of a voice folder (`CALLID.stereo16k.flac`, `CALLID.mulaw8k.raw`,
`CALLID.timing.json`) is streamed in real time (20 ms frames, `stream_frames` pacing) to a
`souffleur serve` started for the run, as a softphone does: stereo linear16 16 kHz with
`multichannel=true` (L = agent, R = customer), and with `--telephone` also the µ-law 8 kHz mono
mix (`encoding=mulaw&sample_rate=8000&channels=1`). A desktop subscribed to the call's feed
(`/v1/calls/{id}/events`, the overlay's stream) collects every `FormValue` with the wall time
it arrived. Several calls run at once (`--concurrency`).

Per stream:

* final form: per field the last `FormValue` standing (an event whose `suggestion_id` a later
  one `replaces` is gone; `status: dismissed` removes it), scored against the call's labels
  with `assist.evaluation.score_form` (the text benchmark's normalisation). Counted three ways:
  values shown as **filled** (`display: "filled"`; events without `display` count as filled at
  confidence >= 0.8), **all** standing values, and the text benchmark's rule (confidence >= 0.5
  or agent-confirmed);
* "check" share: standing values shown as "please check" (`display: "check"`, or confidence
  < 0.8 without `display`), and how many of them equal the label;
* reliability: standing values by final confidence bucket -> n and share correct (correct =
  the label of that field, same normalisation; a value for an unlabelled field is wrong);
* value latency, for every labelled field whose final value is right: arrival on the desktop of
  the first `FormValue` carrying that value (and, apart, the first showing it as filled) minus
  the wall time the audio of the customer's last word of the value was sent. The word's audio
  time is an ESTIMATE: the label spans (role "value", the customer's turns; any speaker's when
  the customer never says it) give the turn and the character range, `CALLID.timing.json` the
  turn's start and end, and the word ends at start + (char_end / len(text)) x (end - start),
  i.e. speech is assumed to run at an even rate through the turn. Of a value said more than
  once (or in parts), the last span ending before the event arrived is taken; when none does
  (a value heard from the agent's read-back) the first span, and the latency is negative. The
  audio time is mapped to wall time through the send time of the frame holding it.

A mono telephone stream has no channel -> speaker map: the server labels its results and
records `speaker: "unknown"` and the assistant reads every utterance as the customer's
(`streaming/live/utterances.py`), agent questions included. The benchmark reports what the
assistant does with that; it labels nothing itself.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _paths  # noqa: F401  (repository root first: benchmarks/streaming.py shadows the package)
import numpy as np
from _serve import ServerProcess, pct, serve_flags

from assist.evaluation import aggregate, score_form
from assist.forms import load_form
from streaming.audio.codecs import encode_samples, resample
from streaming.audio.files import load_audio
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames

FILLED_AT = 0.8  # the display threshold assumed for events that carry no `display`
BUCKETS = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)]
STEREO = ("{cid}.stereo16k.flac", "{cid}.stereo16k.wav")
MULAW = "{cid}.mulaw8k.raw"
FRAME_S = 0.02


@dataclass
class Job:
    voice: str
    form: str  # stereo16k | mulaw8k
    path: Path
    call: dict[str, Any]  # the labelled call JSON
    timing: dict[str, Any]

    @property
    def cid(self) -> str:
        return self.call["call_id"]

    @property
    def group(self) -> str:
        return f"{self.voice}/{self.form}"


def voice_dirs(specs: Sequence[str]) -> list[tuple[str, Path]]:
    """`DIR` or `LABEL=DIR`; the label defaults to the folder's name."""
    out: list[tuple[str, Path]] = []
    for s in specs:
        label, _, d = s.rpartition("=") if "=" in s else ("", "", s)
        p = Path(d)
        name = label or p.name
        if any(name == n for n, _ in out):
            name = f"{p.parent.name}-{p.name}"
        out.append((name, p))
    return out


def find_jobs(voices: Sequence[tuple[str, Path]], calls: Sequence[dict[str, Any]],
              telephone: bool, mono: bool = False) -> tuple[list[Job], list[str]]:
    jobs, missing = [], []
    for voice, folder in voices:
        for call in calls:
            cid = call["call_id"]
            tpath = folder / f"{cid}.timing.json"
            stereo = next((folder / n.format(cid=cid) for n in STEREO if (folder / n.format(cid=cid)).exists()),
                          None)
            if not tpath.exists() or stereo is None:
                missing.append(f"{voice}/{cid}")
                continue
            timing = json.loads(tpath.read_text(encoding="utf-8"))
            jobs.append(Job(voice, "stereo16k", stereo, call, timing))
            if telephone:  # the way a telephony platform records a call: a track per side
                jobs.append(Job(voice, "tel8k", stereo, call, timing))
            mulaw = folder / MULAW.format(cid=cid)
            if mono:
                if mulaw.exists():
                    jobs.append(Job(voice, "mulaw8k", mulaw, call, timing))
                else:
                    missing.append(f"{voice}/{cid}.mulaw8k")
    return jobs, missing


def frames_of(job: Job) -> tuple[list[bytes], dict[str, Any]]:
    if job.form == "mulaw8k":  # headerless G.711 as a softphone sends it: 160 bytes per 20 ms
        data = job.path.read_bytes()
        return [data[i:i + 160] for i in range(0, len(data), 160)], {
            "encoding": "mulaw", "sample_rate": 8000, "channels": 1}
    audio, rate = load_audio(job.path)
    if job.form == "tel8k":  # each side band-passed to 300-3400 Hz, 8 kHz G.711 µ-law, 2 channels
        from benchmarks.render_calls import telephone_band

        sides = [resample(telephone_band(audio[:, c], rate), rate, 8000) for c in range(audio.shape[1])]
        tel = np.stack(sides, axis=1)
        data = encode_samples(tel.reshape(-1), "mulaw")
        step = 160 * tel.shape[1]
        return [data[i:i + step] for i in range(0, len(data), step)], {
            "encoding": "mulaw", "sample_rate": 8000, "channels": tel.shape[1], "multichannel": True}
    return audio_frames(audio, rate, "linear16"), {
        "encoding": "linear16", "sample_rate": rate, "channels": audio.shape[1],
        "multichannel": audio.shape[1] > 1}


async def stream_job(url: str, job: Job, sem: asyncio.Semaphore, speed: float) -> dict[str, Any]:
    """Stream one call with a desktop on its feed; what the desktop received, and when."""
    async with sem:
        frames, fmt = frames_of(job)
        call_id = f"bench-{job.cid}-{job.form}-{uuid.uuid4().hex[:6]}"
        params = {"interim_results": True, "vad_events": True, "utterance_end_ms": 1000,
                  "language": job.call.get("language", "en"), "call_id": call_id, **fmt}
        ended = True
        async with EventsClient(url, call_id, wait=True) as desk:
            res = await stream_frames(listen_url(url, **params), frames, realtime=True, speed=speed)
            # a refused stream (a language the model lacks, no capacity) never starts a call
            wait = 180 if res.close_code == 1000 else 10
            try:
                await desk.wait_for(lambda e: e.get("type") == "CallEnded", timeout=wait)
            except TimeoutError:
                ended = False
        keep = ("FormValue", "Record", "Metadata", "Error", "AssistNotice")
        errors = [{k: m.get(k) for k in ("err_code", "err_msg")} for m in res.of_type("Error")]
        if res.close_code not in (1000, None) or (res.close_code is None and not res.messages):
            errors.append({"close_code": res.close_code, "reason": res.close_reason})
        if not ended and res.close_code == 1000:
            errors.append({"err_code": "NO_CALL_ENDED", "err_msg": f"desktop saw no CallEnded in {wait} s"})
        return {"job": job, "call_id": call_id, "sent_at": res.sent_at, "speed": speed, "errors": errors,
                "audio_s": len(frames) * FRAME_S, "events": [e for e in desk.events if e.get("type") in keep]}


# ------------------------------------------------------------------ scoring one stream

def display(e: dict[str, Any]) -> str:
    d = e.get("display")
    if d in ("filled", "check"):
        return d
    return "filled" if float(e.get("confidence", 0)) >= FILLED_AT else "check"


def standing(fvs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last value standing per field: later versions of a suggestion win, a replaced
    suggestion is gone, a dismissed one too."""
    live: dict[str, dict[str, Any]] = {}  # suggestion id -> latest version
    order: dict[str, int] = {}
    for k, e in enumerate(fvs):
        sid = str(e.get("suggestion_id") or e.get("id"))
        if e.get("replaces"):
            live.pop(str(e["replaces"]), None)
        live[sid] = e
        order[sid] = k
        if e.get("status") == "dismissed":
            live.pop(sid, None)
    out: dict[str, dict[str, Any]] = {}
    for _sid, e in sorted(live.items(), key=lambda kv: order[kv[0]]):
        out[e["field"]] = e  # the latest standing suggestion of each field
    return out


def correct(field: str, value: str, labels: dict[str, str]) -> bool:
    label = labels.get(field)
    return label is not None and score_form({field: value}, {field: label})[field]["tp"] == 1


def _wall_of(sent: list[float], t: float, speed: float) -> float:
    """Wall time the audio at `t` seconds of the call was sent."""
    if not sent:
        return float("nan")
    i = min(len(sent) - 1, max(0, int(t / FRAME_S)))
    return sent[i] + (t - i * FRAME_S) / speed


def span_ends(job: Job, field: str) -> list[float]:
    """Estimated audio time of the last word of each labelled value span of `field`
    (customer turns; any speaker when the customer never says it), in order."""
    turns = {int(t["index"]): t for t in job.timing.get("turns", [])}
    spans = [s for s in job.call.get("spans", []) if s.get("field") == field and s.get("role") == "value"]
    cust = [s for s in spans if job.call["turns"][s["turn"]]["speaker"] == "customer"]
    out = []
    for s in cust or spans:
        t = turns.get(int(s["turn"]))
        if t is None:
            continue
        text = t.get("text") or job.call["turns"][s["turn"]]["text"]
        frac = min(1.0, s["end"] / max(1, len(text)))
        out.append(float(t["start"]) + frac * (float(t["end"]) - float(t["start"])))
    return sorted(out)


def latency(job: Job, sent: list[float], speed: float, field: str, arrived: float) -> float | None:
    ends = [_wall_of(sent, t, speed) for t in span_ends(job, field)]
    if not ends:
        return None
    before = [w for w in ends if w <= arrived]
    return round(arrived - (before[-1] if before else ends[0]), 3)


def score_stream(out: dict[str, Any]) -> dict[str, Any]:
    job: Job = out["job"]
    labels = {k: str(v) for k, v in (job.call.get("form") or {}).items()}
    fvs = [e for e in out["events"] if e.get("type") == "FormValue"]
    final = standing(fvs)
    values = []
    for f, e in sorted(final.items()):
        values.append({"field": f, "value": e["value"], "label": labels.get(f),
                       "confidence": float(e.get("confidence", 0)), "display": display(e),
                       "display_sent": "display" in e, "status": e.get("status"),
                       "correct": correct(f, e["value"], labels),
                       "alternatives": e.get("alternatives"), "heard": e.get("heard")})
    filled = {v["field"]: v["value"] for v in values if v["display"] == "filled"}
    every = {v["field"]: v["value"] for v in values}
    text_rule = {v["field"]: v["value"] for v in values
                 if v["confidence"] >= 0.5 or v["status"] in ("accepted", "edited")}
    lat, lat_filled = {}, {}
    for v in values:
        if not v["correct"]:
            continue
        f = v["field"]
        hits = [e for e in fvs if e["field"] == f and correct(f, e["value"], labels)]
        if hits:
            lat[f] = latency(job, out["sent_at"], out["speed"], f, hits[0]["_received"])
        shown = [e for e in hits if display(e) == "filled"]
        if shown:
            lat_filled[f] = latency(job, out["sent_at"], out["speed"], f, shown[0]["_received"])
    return {"call_id": job.cid, "voice": job.voice, "form": job.form, "language": job.call.get("language"),
            "stream_call_id": out["call_id"], "errors": out["errors"], "audio_s": round(out["audio_s"], 1),
            "form_values_sent": len(fvs), "values": values,
            "score_filled": score_form(filled, labels), "score_all": score_form(every, labels),
            "score_text_rule": score_form(text_rule, labels),
            "latency_s": lat, "latency_filled_s": lat_filled}


# ------------------------------------------------------------------ summaries

def _by_type(score: dict[str, dict[str, int]], types: dict[str, str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f, c in score.items():
        acc = out.setdefault(types.get(f, f), {"tp": 0, "fp": 0, "fn": 0})
        for k in acc:
            acc[k] += c[k]
    return out


def _pr(agg: dict[str, Any]) -> dict[str, Any]:
    a = agg["all"]  # precision of no values at all is undefined (None), not 1.0
    return {"precision": round(a["precision"], 3) if a["tp"] + a["fp"] else None,
            "recall": round(a["recall"], 3) if a["tp"] + a["fn"] else None,
            "tp": a["tp"], "fp": a["fp"], "fn": a["fn"]}


def summarise(rows: list[dict[str, Any]], types: dict[str, str]) -> dict[str, Any]:
    ok = [r for r in rows if not r["errors"]]
    vals = [v for r in ok for v in r["values"]]
    check = [v for v in vals if v["display"] == "check"]
    lat = [x for r in ok for x in r["latency_s"].values() if x is not None]
    lat_f = [x for r in ok for x in r["latency_filled_s"].values() if x is not None]
    by_type = aggregate(_by_type(r["score_filled"], types) for r in ok)["fields"]
    rel = []
    for lo, hi in BUCKETS:
        b = [v for v in vals if lo <= v["confidence"] < hi]
        rel.append({"bucket": f"{lo:g}-{min(hi, 1):g}", "n": len(b),
                    "correct": round(sum(v["correct"] for v in b) / len(b), 3) if b else None})
    return {
        "streams": len(rows), "failed": len(rows) - len(ok),
        "filled": _pr(aggregate(r["score_filled"] for r in ok)),
        "all": _pr(aggregate(r["score_all"] for r in ok)),
        "text_rule": _pr(aggregate(r["score_text_rule"] for r in ok)),
        "values": len(vals), "values_filled": len(vals) - len(check),
        "filled_correct": round(sum(v["correct"] for v in vals if v["display"] == "filled")
                                / max(1, len(vals) - len(check)), 3) if len(vals) > len(check) else None,
        "check": len(check), "check_share": round(len(check) / len(vals), 3) if vals else None,
        "check_correct": sum(v["correct"] for v in check),
        "display_field_seen": any(v["display_sent"] for v in vals),
        "by_type": {t: _pr({"all": c}) for t, c in by_type.items()},
        "reliability": rel,
        "latency_s": {"n": len(lat), "p50": pct(lat, 0.5), "p90": pct(lat, 0.9)},
        "latency_filled_s": {"n": len(lat_f), "p50": pct(lat_f, 0.5), "p90": pct(lat_f, 0.9)},
    }


def _cell(v: Any) -> str:
    return "-" if v is None else str(v)


def table(results: dict[str, dict[str, Any]]) -> str:
    groups = list(results)
    w = max([12] + [len(g) + 2 for g in groups])
    rows = [("streams (failed)", lambda s: f"{s['streams']} ({s['failed']})"),
            ("filled precision", lambda s: s["filled"]["precision"]),
            ("filled recall", lambda s: s["filled"]["recall"]),
            ("all precision", lambda s: s["all"]["precision"]),
            ("all recall", lambda s: s["all"]["recall"]),
            ("text-rule precision", lambda s: s["text_rule"]["precision"]),
            ("text-rule recall", lambda s: s["text_rule"]["recall"]),
            ("values standing", lambda s: s["values"]),
            ("filled: share correct", lambda s: s["filled_correct"]),
            ("check: share of values", lambda s: s["check_share"]),
            ("check: right / offered", lambda s: f"{s['check_correct']}/{s['check']}"),
            ("latency p50 / p90 s", lambda s: f"{_cell(s['latency_s']['p50'])}/{_cell(s['latency_s']['p90'])}"),
            ("  n values", lambda s: s["latency_s"]["n"]),
            ("to filled p50 / p90 s",
             lambda s: f"{_cell(s['latency_filled_s']['p50'])}/{_cell(s['latency_filled_s']['p90'])}")]
    lines = [f"{'metric':<26}" + "".join(f"{g:>{w}}" for g in groups)]
    lines += [f"{label:<26}" + "".join(f"{_cell(fn(results[g])):>{w}}" for g in groups) for label, fn in rows]
    types = sorted({t for s in results.values() for t in s["by_type"]})
    if types:
        lines += ["", f"{'filled P/R by field type':<26}" + "".join(f"{g:>{w}}" for g in groups)]
        for t in types:
            cells = []
            for g in groups:
                c = results[g]["by_type"].get(t)
                cells.append("-" if c is None else f"{_cell(c['precision'])}/{_cell(c['recall'])}")
            lines.append(f"{t:<26}" + "".join(f"{c:>{w}}" for c in cells))
    lines += ["", f"{'reliability: n, correct':<26}" + "".join(f"{g:>{w}}" for g in groups)]
    for k, (lo, hi) in enumerate(BUCKETS):
        cells = [results[g]["reliability"][k] for g in groups]
        lines.append(f"{f'conf {lo:g}-{min(hi, 1):g}':<26}" + "".join(
            f"{(str(c['n']) + ' ' + _cell(c['correct'])) if c['n'] else '0':>{w}}" for c in cells))
    return "\n".join(lines)


# ------------------------------------------------------------------ the run

def run(args: Any, calls: list[dict[str, Any]], root: Path) -> dict[str, Any]:
    """Stream every (voice, form, call) through one server; the summary and per-stream rows."""
    voices = voice_dirs(args.live)
    jobs, missing = find_jobs(voices, calls, args.telephone, getattr(args, "mono_mix", False))
    if not jobs:
        raise SystemExit("--live: no rendered calls found (" + ", ".join(str(p) for _, p in voices) + ")")
    data_dir = tempfile.mkdtemp(prefix="souffleur-assist-live-")
    server = ServerProcess(root, "--max-calls", str(args.concurrency + 2), "--data-dir", data_dir,
                           *serve_flags(args, "workers", "model"))
    t0 = time.time()
    try:
        async def go() -> list[dict[str, Any]]:
            sem = asyncio.Semaphore(args.concurrency)
            rss = asyncio.create_task(server.sample_rss())
            outs = await asyncio.gather(*(stream_job(server.url, j, sem, args.speed) for j in jobs))
            server.stop_sampling()
            await rss
            return list(outs)

        outs = asyncio.run(go())
        cpu = server.cpu_seconds()
    finally:
        server.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.events_out:
        with open(args.events_out, "w", encoding="utf-8") as fh:
            for o in outs:
                j = o["job"]
                for e in o["events"]:
                    fh.write(json.dumps({"voice": j.voice, "form": j.form, "call": j.cid,
                                         "stream_started": (o["sent_at"] or [None])[0], **e},
                                        ensure_ascii=False) + "\n")
    types = {f.id: f.type for f in load_form().fields}
    rows = [score_stream(o) for o in outs]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(f"{r['voice']}/{r['form']}", []).append(r)
        groups.setdefault(f"{r['voice']}/{r['form']}/{r['language']}", []).append(r)
    order = sorted(groups, key=lambda g: (g.count("/"), g))
    audio_s = sum(o["audio_s"] for o in outs)
    return {
        "mode": "live", "voices": {n: str(p) for n, p in voices}, "missing_audio": missing,
        "server": {"flags": serve_flags(args, "workers", "model") or ["(defaults)"],
                   "concurrency": args.concurrency, "speed": args.speed,
                   "cpu_s_per_audio_s": round(cpu / audio_s, 3) if audio_s else None,
                   "peak_rss_mb": round(server.peak_rss / 2**20), "wall_s": round(time.time() - t0, 1)},
        "filled_threshold_assumed": FILLED_AT,
        "results": {g: summarise(groups[g], types) for g in order},
        "calls": rows,
    }
