"""What batch writes: json/srt/vtt/txt documents, turns, redaction, the assistant's summary,
atomic files and resumable output plans. Files on disk, no model."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import streaming  # noqa: F401  (limits BLAS threads before numpy is used)
from streaming.audio.files import AUDIO_EXTENSIONS
from streaming.batch.engine import FileTranscript

FORMATS = ("json", "srt", "vtt", "txt")


# -- transcripts on disk -------------------------------------------------------------
def segments_of(t: FileTranscript) -> list[dict[str, Any]]:
    """Final results as plain segments in time order (both channels interleaved)."""
    out = []
    for m in t.finals():
        alt = m["channel"]["alternatives"][0]
        out.append({
            "id": m.get("segment_id", ""),
            "channel": m["channel_index"][0],
            "speaker": m.get("speaker") if t.channels > 1 else None,
            "start": round(float(m["start"]), 3),
            "end": round(float(m["start"]) + float(m["duration"]), 3),
            "text": alt["transcript"],
            "confidence": alt.get("confidence"),
            "language": (alt.get("languages") or [None])[0],
            "words": [{"word": w.get("punctuated_word") or w["word"], "start": w["start"], "end": w["end"],
                       "confidence": w.get("confidence")} for w in alt.get("words", ())],
        })
    out.sort(key=lambda s: (s["start"], s["channel"]))
    return out


def turns_of(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive segments of one speaker become one turn (agent/customer on stereo calls)."""
    turns: list[dict[str, Any]] = []
    for s in segments:
        if turns and turns[-1]["speaker"] == s["speaker"]:
            t = turns[-1]
            t["end"] = max(t["end"], s["end"])
            t["text"] = f"{t['text']} {s['text']}"
            t["segments"].append(s["id"])
        else:
            turns.append({"speaker": s["speaker"], "start": s["start"], "end": s["end"], "text": s["text"],
                          "segments": [s["id"]]})
    return turns


def _ts(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[dict[str, Any]]) -> str:
    cues = []
    for i, s in enumerate(segments, 1):
        who = f"[{s['speaker']}] " if s["speaker"] else ""
        cues.append(f"{i}\n{_ts(s['start'], ',')} --> {_ts(s['end'], ',')}\n{who}{s['text']}\n")
    return "\n".join(cues)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    cues = ["WEBVTT\n"]
    for s in segments:
        text = s["text"].replace("-->", "->")
        voice = f"<v {s['speaker']}>" if s["speaker"] else ""
        cues.append(f"{_ts(s['start'], '.')} --> {_ts(s['end'], '.')}\n{voice}{text}\n")
    return "\n".join(cues)


def to_txt(turns: list[dict[str, Any]]) -> str:
    return "".join((f"{t['speaker']}: " if t["speaker"] else "") + t["text"] + "\n" for t in turns)


def source_fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime": round(st.st_mtime, 3)}


def transcript_json(t: FileTranscript, extra: dict[str, Any] | None = None, *,
                    redact: bool = False) -> dict[str, Any]:
    """The JSON document of one recording (the other formats are rendered from it)."""
    if redact:
        t, extra = redacted(t, extra)
    segments = segments_of(t)
    meta = next((m for m in t.messages if m.get("type") == "Metadata"), {})
    doc = {
        "file": t.item.path.name,
        "source": source_fingerprint(t.item.path),
        "duration": round(t.duration, 3),
        "channels": t.channels,
        "sample_rate": t.sample_rate,
        "model": meta.get("models", [None])[0],
        "speakers": sorted({s["speaker"] for s in segments if s["speaker"]}),
        "segments": segments,
        "turns": turns_of(segments),
        "text": " ".join(s["text"] for s in segments),
        "stats": {"wall_s": round(t.wall_s, 3), "x_realtime": round(t.duration / max(t.wall_s, 1e-6), 1)},
        # a run resumed with redaction on must not take a --no-redact run's files for done
        "redacted": redact,
    }
    if extra:
        doc.update(extra)
    return doc


def redacted(t: FileTranscript, extra: dict[str, Any] | None) -> tuple[FileTranscript, dict[str, Any] | None]:
    """Outputs hold no PII (docs/security.md): numbers, e-mails, dates, names, spellings,
    addresses, and every value the form captured, wherever it was said. The summary is made from the words as
    said first (the assistant needs them), then redacted with everything else."""
    from assist.api import PII_FIELDS, Redactor

    r = Redactor()
    form = dict((extra or {}).get("form") or {})
    for k, v in form.items():  # a full name's words on their own too ("Kelly")
        if k in PII_FIELDS and v:
            r.capture(k, [str(v)])
    said = [m for m in t.messages if m.get("type") in ("Results", "Record")]
    for m in said:  # read the whole recording first: a name recognised late ("my name is
        r.event(m)  # Chivon Kelly") is removed where it was said before too
    messages = [r.event(m) if m.get("type") in ("Results", "Record") else m for m in t.messages]
    if extra:
        extra = dict(extra)
        if form:
            extra["form"] = {k: ("[pii]" if k in PII_FIELDS and v else r.text(v) if isinstance(v, str) else v)
                             for k, v in form.items()}
        if extra.get("summary"):
            extra["summary"] = r.event(extra["summary"])
        extra["alerts"] = [r.event(a) for a in extra.get("alerts") or []]
    return replace(t, messages=messages), extra


def assist_summary(t: FileTranscript, language: str | None, form: str = "identity",
                   kb: Any = None) -> dict[str, Any]:
    """The offline assistant over the whole call: summary, form values, alerts."""
    from assist.api import Transcript, analyze
    from streaming.live.utterances import segment_from_results

    lang = language or "en"
    segs = [s for m in sorted(t.finals(), key=lambda m: (m["start"], m["channel_index"][0]))
            if (s := segment_from_results(m, lang)) is not None]
    r = analyze(Transcript(t.item.key or t.item.path.stem, lang, segs, {}), form=form, kb=kb)
    return {"summary": r["summary"], "form": r["form"], "alerts": r["alerts"], "escalation": r["escalation"]}


def write_atomic(path: Path, text: str) -> None:
    """Readers (and a resumed run) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class OutputPlan:
    """Where one recording's transcripts go, in which formats."""

    source: Path
    base: Path  # output path without suffix
    formats: tuple[str, ...]
    summary: bool = False
    redact: bool = True  # what a finished run's files must be to count as done

    def path(self, fmt: str) -> Path:
        return self.base.with_name(self.base.name + "." + fmt)

    def done(self) -> bool:
        """Resuming: every format is there and the JSON is of this very file, redacted as
        this run redacts (files of a `--no-redact` run are not done for a redacting one: they
        hold what was said; a JSON from before `redacted` was recorded counts as not redacted)."""
        if not all(self.path(f).exists() for f in self.formats):
            return False
        try:
            doc = json.loads(self.path("json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (doc.get("source", {}) == source_fingerprint(self.source) and (not self.summary or "summary" in doc)
                and bool(doc.get("redacted", False)) == self.redact)

    def write(self, doc: dict[str, Any]) -> dict[str, Path]:
        segments, turns = doc["segments"], doc["turns"]
        render = {"srt": lambda: to_srt(segments), "vtt": lambda: to_vtt(segments), "txt": lambda: to_txt(turns)}
        for f in self.formats:
            if f != "json":
                write_atomic(self.path(f), render[f]())
        # the JSON goes last: its presence (with the source fingerprint) means "done"
        write_atomic(self.path("json"), json.dumps(doc, ensure_ascii=False, indent=1))
        return {f: self.path(f) for f in self.formats}


def find_recordings(inputs: Iterable[str]) -> list[tuple[Path, Path]]:
    """(file, root it was found under) for files and directories, in a stable order."""
    out: list[tuple[Path, Path]] = []
    for raw in inputs:
        p = Path(raw).expanduser().resolve()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith("."):
                    out.append((f, p))
        elif p.is_file():
            out.append((p, p.parent))
        else:
            raise FileNotFoundError(f"no such file or directory: {raw}")
    seen: set[Path] = set()
    return [x for x in out if not (x[0] in seen or seen.add(x[0]))]  # type: ignore[func-returns-value]


def plan_outputs(found: list[tuple[Path, Path]], out_dir: str | None, formats: tuple[str, ...],
                 summary: bool, redact: bool = True) -> list[OutputPlan]:
    """Next to each input, or under `out_dir` mirroring the input folders; names never collide."""
    plans: list[OutputPlan] = []
    used: set[Path] = set()
    for f, root in found:
        if out_dir is None:
            base = f.with_suffix("")
        else:
            rel = f.relative_to(root) if f.is_relative_to(root) else Path(f.name)
            base = Path(out_dir).resolve() / rel.with_suffix("")
        if base in used:  # a.wav and a.flac side by side
            base = base.with_name(base.name + f.suffix.replace(".", "_"))
        used.add(base)
        plans.append(OutputPlan(f, base, formats, summary, redact))
    return plans


def parse_formats(spec: str) -> tuple[str, ...]:
    fmts = tuple(dict.fromkeys(x.strip().lower() for x in spec.split(",") if x.strip()))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise SystemExit(f"souffleur: unknown format(s) {', '.join(bad) or spec!r}; choose from {', '.join(FORMATS)}")
    return fmts if "json" in fmts else (*fmts, "json")  # the JSON records completion (resume)


def _shared_kb() -> Any:
    from assist.api import KnowledgeBase

    with contextlib.suppress(Exception):
        return KnowledgeBase.from_dir()
    return None
