"""Batch transcription at scale: `souffleur submit` fills a Redis job queue, `souffleur worker`s drain it.

Keys (prefix as the bus, `SOUFFLEUR_REDIS_PREFIX`, default `souffleur:`):

  {p}jobs           Stream of job ids; consumer group `workers`
  {p}job:{id}       hash: spec, status (queued|running|done|failed), attempts,
                    worker, result (the transcript JSON), outputs, completions
  {p}jobs:completed counter of completions (each job counts once)

Why this shape: a consumer group gives each job to one worker and keeps it
pending until acknowledged; a worker that dies leaves its jobs pending, and
another worker takes them over with XAUTOCLAIM once they have been idle for
`--claim-idle` seconds. Live workers keep their own jobs from looking idle by
re-claiming them (XCLAIM ... JUSTID) as a heartbeat. Completion is one Lua
script (result written only if the job is not already done, then XACK), so a
job that two workers ended up transcribing still completes exactly once; the
output files are written atomically with identical content either way.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from streaming.batch.engine import BatchEngine, BatchItem, FileTranscript, make_engine
from streaming.batch.outputs import (
    OutputPlan,
    _shared_kb,
    assist_summary,
    find_recordings,
    parse_formats,
    plan_outputs,
    transcript_json,
)
from streaming.options import add_asr_arguments, asr_options
from streaming.service.redis_bus import redact

GROUP = "workers"
RESULT_TTL_S = 7 * 24 * 3600

SUBMIT = """
local st = redis.call('HGET', KEYS[1], 'status')
if st and st ~= 'failed' and ARGV[3] ~= '1' then return st end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'spec', ARGV[2], 'status', 'queued', 'submitted', ARGV[4],
           'attempts', 0, 'completions', 0)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
return 'queued'
"""

# A job completes once: whoever gets here first writes the result; everyone acks.
COMPLETE = """
if redis.call('HGET', KEYS[1], 'status') == 'done' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'done', 'worker', ARGV[3], 'result', ARGV[4], 'outputs', ARGV[5],
           'completed', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'completions', 1)
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('INCR', KEYS[3])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class JobSpec:
    path: str  # absolute: workers must see the same filesystem
    out: str | None
    formats: tuple[str, ...]
    summary: bool = False
    language: str | None = None
    form: str = "identity"
    redact: bool = True  # outputs and the stored result hold no PII (docs/security.md)

    def job_id(self) -> str:
        """Same file (same size and mtime) with the same options = same job: resubmitting is a no-op."""
        st = Path(self.path).stat()
        key = json.dumps([self.path, st.st_size, round(st.st_mtime, 3), asdict(self)], sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def plan(self) -> OutputPlan:
        src = Path(self.path)
        return plan_outputs([(src, src.parent)], self.out, self.formats, self.summary, self.redact)[0]

    @classmethod
    def loads(cls, s: str) -> JobSpec:
        d = json.loads(s)
        d["formats"] = tuple(d["formats"])
        return cls(**d)


class JobQueue:
    """The queue's Redis side, shared by `submit` and `worker`."""

    def __init__(self, url: str, prefix: str | None = None) -> None:
        self.url = url
        self.prefix = prefix if prefix is not None else os.environ.get("SOUFFLEUR_REDIS_PREFIX", "souffleur:")
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=3,
                                      socket_timeout=10, health_check_interval=15)
        self.stream = self.prefix + "jobs"
        self.completed_key = self.prefix + "jobs:completed"

    @classmethod
    def connect_or_exit(cls, url: str | None) -> JobQueue:
        if not url:
            print("souffleur: the job queue needs Redis: pass --redis-url or set REDIS_URL", file=sys.stderr)
            raise SystemExit(2)
        q = cls(url)
        try:
            q.r.ping()
        except (redis.RedisError, OSError) as e:
            print(f"souffleur: cannot reach Redis at {redact(url)}: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        return q

    def key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def submit(self, spec: JobSpec, force: bool = False) -> tuple[str, str]:
        jid = spec.job_id()
        st = self.r.eval(SUBMIT, 2, self.key(jid), self.stream, jid, json.dumps(asdict(spec)),
                         "1" if force else "0", time.time(), RESULT_TTL_S)
        return jid, st

    def job(self, job_id: str) -> dict[str, str]:
        return self.r.hgetall(self.key(job_id))

    def ensure_group(self) -> None:
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: it exists
            self.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)

    def complete(self, entry: str, job_id: str, worker: str, result: dict[str, Any],
                 outputs: dict[str, str]) -> bool:
        return bool(self.r.eval(COMPLETE, 3, self.key(job_id), self.stream, self.completed_key, GROUP, entry,
                                worker, json.dumps(result, ensure_ascii=False), json.dumps(outputs),
                                time.time(), RESULT_TTL_S))

    def fail(self, entry: str, job_id: str, worker: str, error: str) -> None:
        p = self.r.pipeline()
        p.hset(self.key(job_id), mapping={"status": "failed", "error": error[:2000], "worker": worker})
        p.xack(self.stream, GROUP, entry)
        p.execute()


class Worker:
    """Takes jobs from the group, transcribes them on one shared `BatchEngine`, completes them once."""

    def __init__(self, q: JobQueue, engine: BatchEngine, *, name: str | None = None,
                 claim_idle_s: float = 60.0, max_attempts: int = 3, concurrency: int | None = None) -> None:
        self.q = q
        self.engine = engine
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.max_attempts = max_attempts
        self.concurrency = concurrency or engine.max_active + 2
        self.active: dict[str, str] = {}  # stream entry -> job id
        self.lock = threading.Lock()
        self.finisher = ThreadPoolExecutor(1, thread_name_prefix="job-finish")
        self.completed = 0
        self.stopping = False
        self._kb: Any = None

    def run(self, max_jobs: int | None = None, idle_exit_s: float | None = None) -> int:
        self.q.ensure_group()
        last_claim = last_beat = 0.0
        idle_since = time.monotonic()
        while not self.stopping:
            if max_jobs is not None and self.completed >= max_jobs:
                break
            now = time.monotonic()
            if now - last_beat >= self.claim_idle_ms / 3000:
                self._heartbeat()
                last_beat = now
            if now - last_claim >= min(5.0, self.claim_idle_ms / 2000):
                self._reclaim()
                last_claim = now
            free = self.concurrency - len(self.active)
            if free > 0:
                got = self.q.r.xreadgroup(GROUP, self.name, {self.q.stream: ">"}, count=free, block=500)
                for _, entries in got or []:
                    for entry, fields in entries:
                        self._start(entry, fields.get("job", ""))
            else:
                time.sleep(0.2)
            if self.active or self.engine.busy:
                idle_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                break
        while self.active:  # jobs in hand complete (and keep their claim) before we go
            self._heartbeat()
            time.sleep(0.2)
        self.finisher.shutdown(wait=True)
        return self.completed

    def _heartbeat(self) -> None:
        """Our jobs are not idle: reset their idle time so nobody reclaims them."""
        with self.lock:
            entries = list(self.active)
        if entries:
            self.q.r.xclaim(self.q.stream, GROUP, self.name, 0, entries, justid=True)

    def _reclaim(self) -> None:
        """Take over jobs whose worker stopped heart-beating (crashed or killed)."""
        free = self.concurrency - len(self.active)
        if free <= 0:
            return
        res = self.q.r.xautoclaim(self.q.stream, GROUP, self.name, self.claim_idle_ms, "0-0", count=free)
        for entry, fields in res[1]:
            if fields:  # None: the entry was deleted from the stream
                self._start(entry, fields.get("job", ""), reclaimed=True)

    def _start(self, entry: str, job_id: str, reclaimed: bool = False) -> None:
        q = self.q
        info = q.job(job_id)
        if not info or info.get("status") == "done":
            q.r.xack(q.stream, GROUP, entry)
            return
        attempts = int(info.get("attempts") or 0) + 1
        if attempts > self.max_attempts:
            q.fail(entry, job_id, self.name, f"gave up after {self.max_attempts} attempts")
            return
        q.r.hset(q.key(job_id), mapping={"status": "running", "worker": self.name, "started": time.time(),
                                         "attempts": attempts, "reclaimed": int(reclaimed)})
        try:
            spec = JobSpec.loads(info["spec"])
            plan = spec.plan()
        except (KeyError, ValueError, OSError) as e:
            q.fail(entry, job_id, self.name, f"{type(e).__name__}: {e}")
            return
        with self.lock:
            self.active[entry] = job_id
        if plan.done():  # a previous worker wrote the files but died before completing
            self.finisher.submit(self._complete_from_files, entry, job_id, plan)
            return
        item = BatchItem(Path(spec.path), Path(spec.path).stem, spec.language, context=(entry, job_id, spec, plan))
        self.engine.submit(item, self._done)

    def _done(self, item: BatchItem, r: FileTranscript | Exception) -> None:
        entry, job_id, spec, plan = item.context
        self.finisher.submit(self._finish, entry, job_id, spec, plan, r)

    def _finish(self, entry: str, job_id: str, spec: JobSpec, plan: OutputPlan, r: Any) -> None:
        try:
            if isinstance(r, Exception):
                raise r
            extra = None
            if spec.summary:
                if self._kb is None:
                    self._kb = _shared_kb()
                extra = assist_summary(r, spec.language, spec.form, self._kb)
            doc = transcript_json(r, extra, redact=spec.redact)
            outputs = plan.write(doc)
            self._record(entry, job_id, doc, outputs)
        except Exception as e:  # unreadable audio, full disk...: the job fails visibly
            self.q.fail(entry, job_id, self.name, f"{type(e).__name__}: {e}")
        finally:
            with self.lock:
                self.active.pop(entry, None)

    def _complete_from_files(self, entry: str, job_id: str, plan: OutputPlan) -> None:
        try:
            doc = json.loads(plan.path("json").read_text(encoding="utf-8"))
            self._record(entry, job_id, doc, {f: plan.path(f) for f in plan.formats})
        finally:
            with self.lock:
                self.active.pop(entry, None)

    def _record(self, entry: str, job_id: str, doc: dict[str, Any], outputs: dict[str, Path]) -> None:
        if self.q.complete(entry, job_id, self.name, doc, {k: str(v) for k, v in outputs.items()}):
            self.completed += 1


# -- command line -------------------------------------------------------------------
def add_commands(subparsers: Any) -> None:
    s = subparsers.add_parser("submit", help="queue recordings for `souffleur worker`s (Redis)")
    s.add_argument("inputs", nargs="+", metavar="FILE|DIR")
    s.add_argument("--out", help="output folder (default: next to each input)")
    s.add_argument("--format", default="json", help="comma-separated: json,srt,vtt,txt")
    s.add_argument("--summary", action="store_true", help="add the assist summary and form values")
    s.add_argument("--form", default="identity")
    s.add_argument("--language")
    s.add_argument("--force", action="store_true", help="queue again even if done or queued")
    s.add_argument("--no-redact", dest="redact", action="store_false",
                   help="keep numbers, e-mails, dates and captured names in the outputs (default: redacted)")
    s.add_argument("--wait", action="store_true", help="wait until every job is done (progress bar)")
    s.add_argument("--timeout", type=float, default=0, help="with --wait: give up after N seconds")
    s.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    s.set_defaults(func=cmd_submit)

    w = subparsers.add_parser("worker", help="transcribe queued recordings (run as many as you like)")
    w.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    w.add_argument("--name", help="consumer name (default host-pid)")
    w.add_argument("--claim-idle", type=float, default=60.0,
                   help="take over a job when its worker has been silent this many seconds (default 60)")
    w.add_argument("--max-jobs", type=int, help="exit after completing N jobs")
    w.add_argument("--idle-exit", type=float, help="exit after N seconds with nothing to do")
    add_asr_arguments(w)
    w.set_defaults(func=cmd_worker)


def cmd_submit(args: argparse.Namespace) -> int:
    q = JobQueue.connect_or_exit(args.redis_url)
    formats = parse_formats(args.format)
    out = str(Path(args.out).resolve()) if args.out else None
    try:
        found = find_recordings(args.inputs)
    except FileNotFoundError as e:
        print(f"souffleur: {e}", file=sys.stderr)
        return 2
    ids = []
    for f, _ in found:
        spec = JobSpec(str(f), out, formats, args.summary, args.language, args.form, args.redact)
        jid, st = q.submit(spec, args.force)
        ids.append(jid)
        print(f"{jid} {st:<7} {f}")
    if not args.wait:
        return 0
    return wait_for(q, ids, args.timeout)


def wait_for(q: JobQueue, ids: list[str], timeout: float = 0) -> int:
    from tqdm import tqdm

    deadline = time.monotonic() + timeout if timeout else None
    bar = tqdm(total=len(ids), unit="job", disable=not sys.stderr.isatty())
    left = set(ids)
    failed = []
    while left:
        for jid in list(left):
            st = q.r.hget(q.key(jid), "status")
            if st in ("done", "failed", None):
                left.discard(jid)
                bar.update(1)
                if st != "done":
                    failed.append((jid, q.r.hget(q.key(jid), "error") or "job vanished"))
        if left:
            if deadline is not None and time.monotonic() > deadline:
                print(f"souffleur: {len(left)} jobs not done after {timeout:g} s", file=sys.stderr)
                return 1
            time.sleep(0.5)
    bar.close()
    for jid, err in failed:
        print(f"souffleur: job {jid} failed: {err}", file=sys.stderr)
    return 1 if failed else 0


def cmd_worker(args: argparse.Namespace) -> int:
    q = JobQueue.connect_or_exit(args.redis_url)
    engine = make_engine(asr_options(args))
    worker = Worker(q, engine, name=args.name, claim_idle_s=args.claim_idle)

    def stop(*_: Any) -> None:  # finish what is in hand, take nothing new
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    print(f"souffleur: worker {worker.name} on {redact(q.url)} ({q.stream}), "
          f"{engine.scheduler.workers} inference workers", file=sys.stderr, flush=True)
    try:
        n = worker.run(args.max_jobs, args.idle_exit)
    finally:
        engine.close()
    print(f"souffleur: worker {worker.name} completed {n} jobs", file=sys.stderr)
    return 0
