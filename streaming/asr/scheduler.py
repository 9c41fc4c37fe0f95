"""Shares one model between every call: priorities, batching, shedding, admission.

Inference runs in a small pool of worker threads (CTranslate2 releases the GIL),
never on the event loop. Rules, in order of importance:

0. the transcript of record first: a record decode is what the assistant, the
   stored call and the summary read, so load may delay it but never drops or
   degrades it; records from different calls are batched together;
1. finals before interims: a final is decoded once and is what the agent
   desktop shows as settled;
2. an interim is only worth its newest version: a newer interim (or a final) for
   the same channel replaces a queued one, and interims that waited longer than
   `max_interim_age` are dropped (the caller gets `None`);
3. requests of similar length are decoded together in one model call (batching
   amortises the decoder; encoder work grows with the batch, so the gain is the
   decoder's and the fixed per-call overhead);
4. real time first: requests of streams sent faster than real time (priority 1:
   recordings replayed over the socket, `--fast`) are served only when no
   real-time request waits, so a fast stream never makes a live call late; their
   queue waits do not count towards admission;
5. admission: a new call is refused (close code 1013) when the call limit is
   reached, finals are already waiting longer than `max_queue_delay`, or the
   record backlog is older than `max_record_delay`, so admitted calls never fall
   behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from streaming.asr.base import DecodeRequest, Hypothesis, Recognizer

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Job:
    req: DecodeRequest
    done: Callable[[Hypothesis | None], None]
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class SchedulerStats:
    decoded: dict[str, int] = field(default_factory=lambda: {"interim": 0, "final": 0, "record": 0})
    dropped_interims: int = 0
    batches: int = 0
    batched_items: int = 0
    busy_seconds: float = 0.0
    # model time per kind: where a node's CPU or GPU goes (records with their sampling
    # fallbacks, finals, interims), read off `/readyz` by benchmarks/capacity.py
    busy_by_kind: dict[str, float] = field(default_factory=lambda: {"interim": 0.0, "final": 0.0, "record": 0.0})
    errors: int = 0


class InferenceScheduler:
    def __init__(
        self,
        recognizer: Recognizer,
        workers: int = 1,
        max_batch: int = 8,
        max_interim_age: float = 1.0,
        max_queue_delay: float = 1.5,
        max_record_delay: float = 8.0,
    ) -> None:
        self.recognizer = recognizer
        self.workers = max(1, workers)
        self.max_batch = max(1, max_batch)
        self.max_interim_age = max_interim_age
        self.max_queue_delay = max_queue_delay
        self.max_record_delay = max_record_delay
        self._cv = threading.Condition()
        # per priority (0 real time, 1 faster than real time): records, finals, and the
        # newest queued interim per channel key
        self._records: list[deque[_Job]] = [deque(), deque()]
        self._finals: list[deque[_Job]] = [deque(), deque()]
        self._interims: list[dict[str, _Job]] = [{}, {}]
        self._final_delays: deque[tuple[float, float]] = deque(maxlen=512)
        self._decode_times: deque[float] = deque(maxlen=512)
        self.stats = SchedulerStats()
        self._fast_busy = 0  # workers decoding faster-than-real-time work now
        self._stop = False
        self._threads = [
            threading.Thread(target=self._run, name=f"asr-worker-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for t in self._threads:
            t.start()

    # -- submission --------------------------------------------------------
    def submit(self, req: DecodeRequest, done: Callable[[Hypothesis | None], None]) -> None:
        """Queue a request; `done` is called from a worker thread with the result."""
        job = _Job(req, done)
        dropped: list[_Job] = []
        with self._cv:
            p = 1 if req.priority else 0
            if self._stop:
                dropped.append(job)
            elif req.kind == "record":
                self._records[p].append(job)
            else:
                old = self._interims[p].pop(req.key, None)
                if old is not None:
                    dropped.append(old)
                if req.kind == "final":
                    self._finals[p].append(job)
                else:
                    self._interims[p][req.key] = job
            self._cv.notify()
        for d in dropped:
            self._drop(d)

    async def decode(self, req: DecodeRequest) -> Hypothesis | None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Hypothesis | None] = loop.create_future()

        def done(h: Hypothesis | None) -> None:
            def _set() -> None:
                if not fut.done():
                    fut.set_result(h)

            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(_set)

        self.submit(req, done)
        return await fut

    def _drop(self, job: _Job) -> None:
        self.stats.dropped_interims += job.req.kind == "interim"
        job.done(None)

    # -- load --------------------------------------------------------------
    def queue_depth(self) -> dict[str, int]:
        with self._cv:
            return {"record": len(self._records[0]), "final": len(self._finals[0]),
                    "interim": len(self._interims[0]),
                    "fast": len(self._records[1]) + len(self._finals[1]) + len(self._interims[1])}

    def final_delay_p90(self, window: float = 10.0) -> float:
        """90th percentile wait of finals in the last `window` seconds, and the oldest queued."""
        now = time.monotonic()
        with self._cv:
            recent = sorted(d for t, d in self._final_delays if now - t <= window)
            oldest = now - self._finals[0][0].enqueued if self._finals[0] else 0.0
        p90 = recent[int(0.9 * (len(recent) - 1))] if recent else 0.0
        return max(p90, oldest)

    def record_backlog(self) -> float:
        """Seconds the oldest queued record decode has waited (0 when none)."""
        with self._cv:
            return time.monotonic() - self._records[0][0].enqueued if self._records[0] else 0.0

    def overloaded(self) -> bool:
        return (self.final_delay_p90() > self.max_queue_delay
                or self.record_backlog() > self.max_record_delay)

    def decode_time_p50(self) -> float:
        with self._cv:
            xs = sorted(self._decode_times)
        return xs[len(xs) // 2] if xs else 0.0

    # -- workers -----------------------------------------------------------
    def _take_batch(self) -> list[_Job]:
        """Pick the most urgent job and compatible companions (lock held). A decode cannot
        be interrupted, so faster-than-real-time work holds at most `workers - 1` workers
        (one on a one-worker node): a live request never waits for a whole fast batch on
        every worker."""
        for p in (0, 1):
            if p == 1 and self._fast_busy >= max(1, self.workers - 1):
                return []
            batch = self._take_queued(p) or self._take_interims(p)
            if batch:
                return batch
        return []

    def _take_queued(self, p: int) -> list[_Job]:
        now = time.monotonic()
        for pool in (self._records[p], self._finals[p]):
            if not pool:
                continue
            first = pool.popleft()
            batch = [first]
            keep: deque[_Job] = deque()
            while pool and len(batch) < self.max_batch:
                j = pool.popleft()
                if _compatible(first.req, j.req):
                    batch.append(j)
                else:
                    keep.append(j)
            pool.extendleft(reversed(keep))
            if pool is self._finals[0]:
                self._final_delays.extend((now, now - j.enqueued) for j in batch)
            return batch
        return []

    def _take_interims(self, p: int) -> list[_Job]:
        """Interims: oldest first, stale ones dropped."""
        now = time.monotonic()
        pool = self._interims[p]
        fresh = []
        for j in sorted(pool.values(), key=lambda j: j.enqueued):
            if now - j.enqueued > self.max_interim_age:
                del pool[j.req.key]
                self._drop_later.append(j)
            else:
                fresh.append(j)
        if not fresh:
            return []
        first = fresh[0]
        batch = [first]
        for j in fresh[1:]:
            if len(batch) >= self.max_batch:
                break
            if _compatible(first.req, j.req):
                batch.append(j)
        for j in batch:
            del pool[j.req.key]
        return batch

    def _run(self) -> None:
        while True:
            self._drop_later: list[_Job] = []
            with self._cv:
                while not self._stop and not self._ready():
                    self._cv.wait()
                if self._stop:
                    return
                batch = self._take_batch()
                fast = bool(batch) and batch[0].req.priority > 0
                self._fast_busy += fast
                stale = self._drop_later
            for j in stale:
                self._drop(j)
            if not batch:
                continue
            t0 = time.perf_counter()
            try:
                hyps = self.recognizer.decode_batch([j.req for j in batch])
            except Exception:  # a model failure must not kill the worker or the calls
                log.exception("decode failed for a batch of %d", len(batch))
                self.stats.errors += 1
                hyps = [None] * len(batch)
            dt = time.perf_counter() - t0
            now = time.monotonic()
            with self._cv:
                if fast:
                    self._fast_busy -= 1
                    self._cv.notify_all()  # a worker waiting for fast work may take it now
                self._decode_times.append(dt)
                self.stats.batches += 1
                self.stats.batched_items += len(batch)
                self.stats.busy_seconds += dt
                kind = batch[0].req.kind  # a batch holds one kind
                self.stats.busy_by_kind[kind] = self.stats.busy_by_kind.get(kind, 0.0) + dt
                for j in batch:
                    self.stats.decoded[j.req.kind] += 1
            for j, h in zip(batch, hyps, strict=True):
                if h is not None:
                    h.queue_seconds = max(0.0, now - dt - j.enqueued)
                j.done(h)

    def _ready(self) -> bool:
        """Work this worker may take now (fast work only below its share of workers)."""
        if self._records[0] or self._finals[0] or self._interims[0]:
            return True
        fast = self._records[1] or self._finals[1] or self._interims[1]
        return bool(fast) and self._fast_busy < max(1, self.workers - 1)

    def close(self) -> None:
        with self._cv:
            self._stop = True
            pending = [j for p in (0, 1) for j in (*self._records[p], *self._finals[p],
                                                   *self._interims[p].values())]
            for p in (0, 1):
                self._records[p].clear()
                self._finals[p].clear()
                self._interims[p].clear()
            self._cv.notify_all()
        for j in pending:
            j.done(None)
        for t in self._threads:
            t.join(timeout=5)


def _compatible(a: DecodeRequest, b: DecodeRequest) -> bool:
    """Same decoding settings and similar length: batching them wastes little padding.

    The recogniser splits a batch by context length (prompt text and earlier text). Records
    may differ in prompt text (key terms, field prompts): once their channels have said
    enough, their contexts are all equally long. Live decodes have no earlier text, so
    different prompt texts would only be split again (streams with the same key terms batch)."""
    if a.kind != b.kind or a.beam_size != b.beam_size or a.language != b.language or a.languages != b.languages:
        return False
    if a.num_hypotheses != b.num_hypotheses or (a.prompt_text != b.prompt_text and a.kind != "record"):
        return False
    return abs(a.duration - b.duration) <= max(1.0, 0.35 * max(a.duration, b.duration))
