"""Prometheus metrics for one server (its own registry, so tests can run several).

What an operator needs to see whether calls are being served well: calls active,
admitted and refused; inference queue depth, wait and decode time; how long a
word takes to become final; events delivered and dropped; LLM calls and
failures; errors by code. Exposed at `GET /metrics`.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class ServerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.active_calls = Gauge("souffleur_active_calls", "calls streaming now", registry=r)
        self.admitted = Counter("souffleur_calls_admitted", "calls admitted", registry=r)
        self.refused = Counter("souffleur_calls_refused", "calls refused", ["reason"], registry=r)
        self.finished = Counter("souffleur_calls_finished", "calls finished", registry=r)
        self.queue_depth = Gauge("souffleur_inference_queue_depth", "decode requests waiting", ["kind"], registry=r)
        self.queue_wait = Histogram("souffleur_inference_queue_wait_seconds", "wait before a decode starts",
                                    ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.decode = Histogram("souffleur_inference_seconds", "duration of one batched model call",
                                buckets=LATENCY_BUCKETS, registry=r)
        self.dropped_interims = Gauge("souffleur_interims_dropped", "stale interim decodes skipped under load",
                                      registry=r)
        self.final_latency = Histogram("souffleur_final_word_latency_seconds",
                                       "from the audio holding a word's end arriving to the word being final",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.finals = Counter("souffleur_final_results", "final results with words", registry=r)
        self.events_delivered = Counter("souffleur_events_delivered", "events sent to desktops", registry=r)
        self.events_dropped = Counter("souffleur_events_dropped", "events dropped for slow desktops", registry=r)
        self.subscribers_cut = Counter("souffleur_subscribers_disconnected", "desktops cut off for lagging",
                                       registry=r)
        self.llm_calls = Counter("souffleur_llm_calls", "LLM requests", registry=r)
        self.llm_failures = Counter("souffleur_llm_failures", "LLM requests that failed (offline result kept)",
                                    registry=r)
        self.errors = Counter("souffleur_errors", "Error messages sent to clients", ["code"], registry=r)
        self.prerecorded = Counter("souffleur_prerecorded_requests", "POST /v1/listen requests by HTTP status",
                                   ["status"], registry=r)
        self.prerecorded_audio = Counter("souffleur_prerecorded_audio_seconds",
                                         "audio transcribed for POST /v1/listen", registry=r)
        self.prerecorded_time = Histogram("souffleur_prerecorded_response_seconds",
                                          "from a POST /v1/listen's head to its answer",
                                          buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900), registry=r)
        self._refresh: list[Callable[[], None]] = []

    # compatibility helpers used by the server
    def error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def on_scrape(self, fn: Callable[[], None]) -> None:
        """Gauges computed at scrape time (queue depth, active calls)."""
        self._refresh.append(fn)

    def render(self) -> bytes:
        for fn in self._refresh:
            fn()
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (tests, /readyz)."""
        v = self.registry.get_sample_value(name, labels or None)
        return float(v or 0.0)
