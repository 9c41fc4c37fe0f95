"""Benchmark redaction of what is stored: which personal data survives, and how much
ordinary speech is removed with it.

    python benchmarks/redaction.py                    # ../shared/assist (the dev split), from text
    python benchmarks/redaction.py --calls tests/assist/data --calls tests/assist/calls
    python benchmarks/redaction.py --audio            # also from the dev recordings (tiny.en, en only)
    python benchmarks/redaction.py --details          # every survivor and false positive
    python benchmarks/redaction.py --redis-live benchmarks/out/calls/piper   # from audio, read back
                                                      # from Redis (benchmarks/_redaction_redis.py)
    python benchmarks/redaction.py --redis-live benchmarks/out/calls/piper --batch   # and the same
                  # recordings through `souffleur submit`/`worker`: every output file and job read
                  # back (benchmarks/_redaction_batch.py)

Each call goes through the stored log's own redaction (`StoredRedaction`, as the
Redis bus stores events, retroactive pass included), one `Record` per turn with its
words, in two ways: with no form at all (the redactor on its own), and with the
offline assistant publishing its `FormValue`s between the records (what a server
stores). Counted per language on the final stored form of every record:

* labelled values: every labelled span (`spans`: names, spelled names, addresses,
  postcodes, e-mails, phones, dates, IBANs, BSNs, ids, partial numbers) of which any
  word is still in clear, by class;
* name tokens: each word of the form's full name, wherever it is said (read-backs
  and "Thank you, Nathan" too);
* spelled runs: three or more single letters in a row ("G-R-E-A-V-E-S", "S E"
  is two and not counted), spelling-alphabet words;
* false positives: words removed that lie in no labelled span and are no word of a
  form value; names of other people (the agent's) are counted apart, as
  "other names" (capitalised words in the name lexicon).

From audio (`--audio`: the English dev recordings through the batch engine, bundled
tiny.en) labelled spans do not line up with what the ASR wrote, so `score_audio`
looks for each form and PII value in what stays in clear instead (digits for numbers,
words as heard within two letters for the rest), counts the name as heard ("Nithon")
and calls a removed word a false positive when it is no value, no number and no glue.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist.engine import AssistSession  # noqa: E402
from assist.pii import lexicon  # noqa: E402
from assist.redact import PII_FIELDS  # noqa: E402
from assist.spoken import fold, read_number, tokenize  # noqa: E402
from assist.types import Segment  # noqa: E402
from streaming.service.redis_redaction import StoredRedaction  # noqa: E402

DEFAULT_CALLS = ROOT.parent / "shared" / "assist"
CLASS_OF = {"full_name": "name", "street_address": "address", "city": "city", "postcode": "postcode",
            "email": "email", "phone_number": "phone", "date_of_birth": "date", "iban": "iban",
            "bsn": "bsn", "customer_number": "id", "account_number": "id", "policy_number": "id"}
CLASSES = ["name", "spelled", "address", "postcode", "city", "email", "phone", "date", "iban", "bsn",
           "id", "partial", "other"]
# words inside a labelled span that give nothing away ("plus [number]", "number [number]")
GLUE = {"plus", "number", "nummer", "the", "of", "and", "en", "is", "met", "van", "op", "at", "on",
        "in", "flat", "no", "nr", "huisnummer", "house", "dot", "punt", "apenstaartje"}
SPELLED_RE = re.compile(r"(?<![\w'’-])(?:[A-Za-z](?:[-\s,.]+|(?=$)|(?=\W))){3,}")


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]


def record(call_id: str, k: int, turn: dict[str, Any]) -> dict[str, Any]:
    """One turn as the `Record` the live call would store (docs/protocol.md)."""
    words = [{"word": fold(w).strip(".,?!;:"), "punctuated_word": w, "start": k, "end": k + 1,
              "said": w}  # kept by the redactor: what the benchmark compares with
             for _, _, w in _words(turn["text"])]
    return {"type": "Record", "call_id": call_id, "record_id": f"r{k}", "channel_index": [0, 2],
            "start": float(k), "duration": 1.0, "speaker": turn["speaker"],
            "channel": {"alternatives": [{"transcript": turn["text"], "words": words}]}}


def span_class(sp: dict[str, Any]) -> str:
    f = sp.get("field", "")
    if f.endswith("_partial"):
        return "partial"
    if f == "full_name" and SPELLED_RE.fullmatch(sp["text"].strip()):
        return "spelled"
    return CLASS_OF.get(f, "other")


def stored_log(call: dict[str, Any], with_form: bool) -> list[dict[str, Any]]:
    """The final stored form of each turn's Record, as the Redis bus would hold it."""
    cid = call["call_id"]
    store = StoredRedaction()
    log: dict[str, str] = {}  # event id -> stored JSON
    order: list[str] = []
    session = AssistSession(cid, call["language"], kb=False) if with_form else None
    n = 0

    def publish(e: dict[str, Any]) -> None:
        nonlocal n
        n += 1
        eid = f"{n}-0"
        stored = store.stored(cid, e)
        log[eid] = stored
        for rid, now in store.earlier(cid, e, eid, stored):
            log[rid] = now
        if e["type"] == "Record":
            order.append(eid)

    for k, turn in enumerate(call["turns"]):
        publish(record(cid, k, turn))
        if session is not None:
            seg = Segment(f"r{k}", turn["speaker"], turn["text"], start=float(k), end=k + 0.9,
                          call_id=cid, language=call["language"])
            for e in session.on_segment(seg):
                publish(e)
    return [json.loads(log[eid]) for eid in order]


def score(call: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any]:
    lex = lexicon()
    turns = call["turns"]
    visible: list[list[bool]] = []  # per turn, per word: still in clear
    for ev in stored:
        ws = ev["channel"]["alternatives"][0]["words"]
        visible.append([w["word"] != "[redacted]" for w in ws])
    labelled: dict[int, list[tuple[int, int, str, str]]] = defaultdict(list)
    for sp in call.get("spans", []):
        labelled[sp["turn"]].append((sp["start"], sp["end"], span_class(sp), sp["text"]))
    form_words = {fold(w) for f, v in (call.get("form") or {}).items()
                  if f in PII_FIELDS | {"city"} for w in re.split(r"[\s.,@_-]+", str(v)) if w}
    name_words = {fold(w) for w in str((call.get("form") or {}).get("full_name", "")).split()
                  if fold(w) not in ("van", "de", "der", "den", "el")}
    out: dict[str, Any] = {"values": Counter(), "values_left": Counter(), "names": 0, "names_left": 0,
                           "spelled": 0, "spelled_left": 0, "words": 0, "fp": 0, "fp_names": 0,
                           "left": [], "fps": []}
    for k, turn in enumerate(turns):
        text = turn["text"]
        words = _words(text)
        vis = visible[k]
        out["words"] += len(words)

        def clear(a: int, b: int, words: list[tuple[int, int, str]] = words,
                  vis: list[bool] = vis) -> list[str]:
            return [w for (wa, wb, w), v in zip(words, vis, strict=True)
                    if wa < b and a < wb and v and re.search(r"\w", w)
                    and fold(w).strip(".,?!;:") not in GLUE]

        for a, b, cls, said in labelled[k]:
            out["values"][cls] += 1
            if clear(a, b):
                out["values_left"][cls] += 1
                out["left"].append({"turn": k, "class": cls, "said": said, "clear": clear(a, b)})
        for (wa, wb, w), v in zip(words, vis, strict=True):
            key = fold(w).strip(".,?!;:'\"")
            if key in name_words:
                out["names"] += 1
                if v:
                    out["names_left"] += 1
                    out["left"].append({"turn": k, "class": "name token", "said": w})
            inside = any(wa < b and a < wb for a, b, _, _ in labelled[k])
            if not v and not inside and key not in form_words and re.search(r"\w", w):
                out["fp"] += 1
                other_name = w[:1].isupper() and lex.is_name(key)
                out["fp_names"] += other_name
                out["fps"].append({"turn": k, "word": w, "other_name": other_name})
        for m in SPELLED_RE.finditer(text):
            out["spelled"] += 1
            if clear(m.start(), m.end()):
                out["spelled_left"] += 1
                out["left"].append({"turn": k, "class": "spelled run", "said": m.group()})
    return out


def score_audio(call: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any]:
    """From ASR text no labelled span lines up, so: every form value and labelled PII
    value, looked for in what stays in clear (its digits for numbers, its words, as
    heard within two letters, for the rest); the words of the name as heard ("Nithon"
    for Nathan); and the words removed that are no value, no number: false positives."""
    from assist.pii.names import close

    lex = lexicon()
    form = {k: str(v) for k, v in (call.get("form") or {}).items() if k in PII_FIELDS}
    values = [(CLASS_OF.get(k, "other"), v) for k, v in form.items()]
    values += [("other", str(v)) for v in call.get("pii", []) if str(v) not in form.values()]
    value_words = {fold(w) for _, v in values for w in re.split(r"[\s.,@_+-]+", v) if len(w) >= 3}
    name_words = {fold(w) for w in form.get("full_name", "").split() if len(w) >= 3}
    clear_words: list[str] = []
    out: dict[str, Any] = {"values": Counter(), "values_left": Counter(), "names": 0, "names_left": 0,
                           "spelled": 0, "spelled_left": 0, "words": 0, "fp": 0, "fp_names": 0,
                           "left": [], "fps": []}
    for k, ev in enumerate(stored):
        for w in ev["channel"]["alternatives"][0]["words"]:
            said = w.get("said", w["punctuated_word"])
            key = fold(said).strip(".,?!;:'\"")
            out["words"] += 1
            visible = w["word"] != "[redacted]"
            if visible:
                clear_words.append(key)
            heard_as_name = any(close(key, n) or key == n for n in name_words) and said[:1].isupper()
            if heard_as_name:
                out["names"] += 1
                out["names_left"] += visible
                if visible:
                    out["left"].append({"turn": k, "class": "name token", "said": said})
            near_value = any(key == v or close(key, v) for v in value_words)
            numeric = bool(re.search(r"\d", key)) or read_number([*tokenize(key)], 0) is not None
            if not visible and not near_value and not numeric and key not in GLUE and re.search(r"\w", key):
                out["fp"] += 1
                other_name = said[:1].isupper() and lex.is_name(key)
                out["fp_names"] += other_name
                out["fps"].append({"turn": k, "word": said, "other_name": other_name})
    digits = "".join(c for w in clear_words for c in w if c.isdigit())
    for cls, v in values:
        out["values"][cls] += 1
        d = "".join(c for c in v if c.isdigit())
        if len(d) >= 4:
            leaked = any(d[i:i + 4] in digits for i in range(len(d) - 3))
        else:  # an e-mail leaks by its local part ("example.net" alone names no one)
            v = v.split("@")[0]
            words = [fold(x) for x in re.split(r"[\s.,@_+-]+", v) if len(x) >= 3 and not x.isdigit()]
            leaked = any(any(c == x or close(c, x) for c in clear_words) for x in words)
        if leaked:
            out["values_left"][cls] += 1
            out["left"].append({"turn": -1, "class": cls, "said": v})
    return out


def load_calls(dirs: list[Path]) -> list[dict[str, Any]]:
    calls = []
    for d in dirs:
        for p in sorted(d.glob("*.json")):
            if p.name.endswith(".timing.json"):
                continue
            c = json.loads(p.read_text(encoding="utf-8"))
            if c.get("turns"):
                calls.append(c)
    return calls


def audio_calls(calls: list[dict[str, Any]], folder: Path, cache: Path | None) -> list[dict[str, Any]]:
    """The same calls from their recordings, turns as transcribed (English only: tiny.en);
    `cache`: a JSON file of the transcripts, written on the first run, read after."""
    from streaming.batch.engine import transcribe_to_segments

    known = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    out = []
    for c in calls:
        audio = folder / f"{c['call_id']}.stereo16k.flac"
        if c["language"] != "en" or not audio.exists():
            continue
        if c["call_id"] not in known:
            segs = transcribe_to_segments(str(audio), "en")
            known[c["call_id"]] = [{"speaker": s.speaker, "text": s.text} for s in segs]
        out.append({**c, "turns": known[c["call_id"]], "spans": []})
    if cache is not None:
        cache.write_text(json.dumps(known, indent=1))
    return out


def summarise(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    by_lang: dict[str, dict[str, Any]] = {}
    for call, r in results:
        agg = by_lang.setdefault(call["language"], {"calls": 0, "values": Counter(), "values_left": Counter(),
                                                    "names": 0, "names_left": 0, "spelled": 0,
                                                    "spelled_left": 0, "words": 0, "fp": 0, "fp_names": 0})
        agg["calls"] += 1
        for key in ("values", "values_left"):
            agg[key].update(r[key])
        for key in ("names", "names_left", "spelled", "spelled_left", "words", "fp", "fp_names"):
            agg[key] += r[key]
    return {lang: {**a, "values": dict(a["values"]), "values_left": dict(a["values_left"]),
                   "fp_rate": round(a["fp"] / max(1, a["words"]), 4)} for lang, a in sorted(by_lang.items())}


def table(name: str, summary: dict[str, Any]) -> str:
    lines = [f"\n{name}", f"{'':10}" + "".join(f"{lang:>14}" for lang in summary)]

    def row(label: str, cell: Any) -> None:
        lines.append(f"{label:10}" + "".join(f"{cell(a):>14}" for a in summary.values()))

    for cls in CLASSES:
        if any(a["values"].get(cls) for a in summary.values()):
            row(cls, lambda a, c=cls: f"{a['values_left'].get(c, 0)} / {a['values'].get(c, 0)}")
    row("name tok", lambda a: f"{a['names_left']} / {a['names']}")
    if any(a["spelled"] for a in summary.values()):
        row("spelled", lambda a: f"{a['spelled_left']} / {a['spelled']}")
    row("FP words", lambda a: f"{a['fp']} / {a['words']}")
    row("  names", lambda a: f"{a['fp_names']}")
    lines.append("(survivors / total; FP words: non-PII words removed / all words, of which"
                 " capitalised names not on the form)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=Path, action="append", help="folders of labelled call JSON")
    ap.add_argument("--audio", action="store_true", help="also from the recordings (slow)")
    ap.add_argument("--audio-cache", type=Path, help="JSON file keeping the --audio transcripts")
    ap.add_argument("--details", action="store_true", help="print survivors and false positives")
    ap.add_argument("--redis-live", action="append", metavar="[LABEL=]VOICE_DIR",
                    help="stream the rendered English calls through a Redis-backed server and read"
                         " every key (and the audit trail) back")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13",
                    help="database for --redis-live (emptied first)")
    ap.add_argument("--concurrency", type=int, default=2, help="--redis-live streams at once")
    ap.add_argument("--json-out", type=Path, help="--redis-live: write the full report here")
    ap.add_argument("--batch", action="store_true",
                    help="with --redis-live: also transcribe the same recordings through the job queue"
                         " (souffleur submit + worker, every format, --summary) and read every output"
                         " file and job back")
    args = ap.parse_args(argv)
    if args.batch and not args.redis_live:
        ap.error("--batch needs --redis-live VOICE_DIR (the recordings, and the Redis for the job queue)")
    if args.redis_live:
        import _redaction_redis as rr

        out = rr.report(rr.run(args.redis_live, args.redis_url, args.concurrency, load_calls, batch=args.batch),
                        args.details, CLASSES)
        text = json.dumps(out, indent=1, default=str)
        if args.json_out:
            args.json_out.write_text(text)
        print(json.dumps(out["summary"], indent=1))
        return 0
    dirs = args.calls or [DEFAULT_CALLS]
    calls = load_calls(dirs)
    report: dict[str, Any] = {"calls": [str(d) for d in dirs]}
    runs = [("text, no form", calls, False), ("text, with the assistant's form", calls, True)]
    if args.audio:
        runs.append(("audio (tiny.en), with the assistant's form", audio_calls(calls, dirs[0], args.audio_cache), True))
    for name, cs, with_form in runs:
        scorer = score_audio if name.startswith("audio") else score
        results = [(c, scorer(c, stored_log(c, with_form))) for c in cs]
        summary = summarise(results)
        report[name] = summary
        print(table(name, summary))
        if args.details:
            for c, r in results:
                for x in r["left"]:
                    print(f"  LEFT {c['call_id']} t{x['turn']} {x['class']}: {x['said']!r}")
                for x in r["fps"]:
                    print(f"  FP   {c['call_id']} t{x['turn']} {x['word']!r}"
                          + (" (a name)" if x["other_name"] else ""))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
