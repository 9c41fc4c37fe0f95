"""`benchmarks/redaction.py --redis-live ... --batch`: the same labelled calls through batch.

Issue 16 asks that no labelled value, name or spelled run survive in Redis, the audit
trail *or batch outputs*. After the live streams, every recording streamed is submitted
to the Redis job queue (`souffleur submit`, every output format, `--summary`, so the
assistant's form and summary are in the outputs too, redaction on as by default) and one
`souffleur worker` drains it. Then every file the batch wrote is read back, and each job's
hash in Redis (its `result` is the transcript JSON) is taken out of the Redis column and
scored with its call here. What is scored, and how, is what `_redaction_redis.score_units`
does for Redis keys: JSON unpacked into its strings (ids and times left out); subtitles and
text line by line, without cue numbers, timings and speaker tags. A job that did not
finish (`status` other than done) is shown per call: its outputs are missing, not clean.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _paths  # noqa: F401  (repository root first)
from _assist_live import Job

ROOT = _paths.ROOT
FORMATS = "json,srt,vtt,txt"
CUE = re.compile(r"^\d+$|^[\d:.,]+ --> [\d:.,]+$|^WEBVTT$")  # cue numbers, timings, the header
SPEAKER = re.compile(r"^(?:<v [^>]*>|\[[^\]]*\] |\w+: )")


def souffleur(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streaming.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run(jobs: Sequence[Job], redis_url: str, out_dir: Path, timeout: float = 3600) -> dict[str, Any]:
    """Submit every job's recording (one output folder per voice: the same call id in two
    voices must not share a file), run one worker until all are done; per (voice, call):
    the job id, its status, the files written."""
    t0 = time.time()
    by_path: dict[str, Job] = {}
    jid_of: dict[str, str] = {}
    for voice in sorted({j.voice for j in jobs}):
        mine = [j for j in jobs if j.voice == voice]
        res = souffleur("submit", *(str(j.path.resolve()) for j in mine), "--out", str(out_dir / voice),
                        "--format", FORMATS, "--summary", "--language", "en", "--redis-url", redis_url,
                        timeout=300)
        if res.returncode != 0:
            raise SystemExit(f"--batch: souffleur submit failed: {res.stderr[-2000:]}")
        for line in res.stdout.splitlines():  # "JOBID STATUS PATH"
            jid, _st, path = line.split(None, 2)
            jid_of[path.strip()] = jid
        by_path.update({str(j.path.resolve()): j for j in mine})
    worker = souffleur("worker", "--redis-url", redis_url, "--max-jobs", str(len(jid_of)), "--idle-exit", "120",
                       timeout=timeout)
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = os.environ.get("SOUFFLEUR_REDIS_PREFIX", "souffleur:")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path, jid in jid_of.items():
        job = by_path[path]
        status = client.hget(f"{prefix}job:{jid}", "status")
        stem = Path(path).with_suffix("").name  # CALLID.stereo16k
        files = sorted(p for p in (out_dir / job.voice).glob(f"{stem}.*") if p.is_file())
        out[(job.voice, job.cid)] = {"job_id": jid, "status": status, "files": [str(p) for p in files],
                                     "error": client.hget(f"{prefix}job:{jid}", "error")}
    return {"jobs": out, "worker_rc": worker.returncode, "worker_stderr": worker.stderr[-2000:],
            "wall_s": round(time.time() - t0, 1)}


def file_units(path: Path, units: Any) -> list[tuple[str, str]]:
    """(place, text) of one output file: JSON through `units` (as a Redis payload), the
    others line by line, structure left out."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            return [(f"{path.name}.{k}", u) for k, u in units(json.loads(text))]
        except ValueError:
            return [(path.name, text)]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = SPEAKER.sub("", line.strip())
        if line and not CUE.match(line):
            out.append((f"{path.name}:{n}", line))
    return out

