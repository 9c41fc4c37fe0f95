"""Compare streaming policies without a server: accuracy, decode cost, commit delay.

Runs each reference clip through `CallSession` with every decode answered
immediately (`streaming.live.offline`), so the figures isolate the *policy*: how many
decodes it asks for, what they cost on this machine, how late (in audio time)
words become final, and the WER against the reference and against an offline
`WhisperModel.transcribe()` of the same clip. Real-time latency with queueing is
measured by `benchmarks/streaming.py` against the real server.

    python benchmarks/policy.py --pad 3 --final-pad 6 --interval 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _paths  # noqa: E402,F401  (benchmarks/streaming.py shadows the package otherwise)
from corpus import reference_clips  # noqa: E402

import streaming  # noqa: E402,F401  (limits BLAS threads before numpy loads)
from streaming.asr.textnorm import word_errors  # noqa: E402
from streaming.asr.whisper import WhisperRecognizer  # noqa: E402
from streaming.audio.files import load_audio  # noqa: E402
from streaming.live.offline import final_transcript, pcm_frames, run_session  # noqa: E402
from streaming.live.session import CallSession  # noqa: E402
from streaming.options import AsrOptions, SegmenterOptions, StreamOptions  # noqa: E402


def offline_text(rec: WhisperRecognizer, audio, channel) -> str:
    x = audio[:, channel] if channel is not None else audio.mean(axis=1)
    segs, _ = rec.model.transcribe(x, beam_size=5, language="en")
    return " ".join(s.text.strip() for s in segs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pad", type=float, default=None, help="silence after interim chunks (s)")
    ap.add_argument("--final-pad", type=float, default=None)
    ap.add_argument("--beam", type=int, default=None)
    ap.add_argument("--final-beam", type=int, default=None)
    ap.add_argument("--interval", type=int, default=None, help="interim interval (ms)")
    ap.add_argument("--margin", type=int, default=None, help="commit margin (ms)")
    ap.add_argument("--pause", type=int, default=None)
    ap.add_argument("--max-chunk", type=int, default=None)
    ap.add_argument("--context", type=int, default=None, help="committed context re-decoded (ms)")
    ap.add_argument("--min-prob", type=float, default=None, help="probability needed to commit early")
    ap.add_argument("--no-early-commit", action="store_true")
    ap.add_argument("--long", action="store_true", help="include the 111 s concatenation")
    ap.add_argument("--calls", action="store_true", help="the English labelled calls too")
    ap.add_argument("--no-clips", action="store_true", help="leave out the short real clips")
    ap.add_argument("--only", default="", help="substring filter on clip names")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print each clip's transcript")
    args = ap.parse_args()

    asr = AsrOptions(workers=1)
    for k, v in (("pad_seconds", args.pad), ("final_pad_seconds", args.final_pad),
                 ("beam_size", args.beam), ("final_beam_size", args.final_beam)):
        if v is not None:
            asr = replace(asr, **{k: v})
    seg = SegmenterOptions()
    for k, v in (("interim_interval_ms", args.interval), ("commit_margin_ms", args.margin),
                 ("pause_ms", args.pause), ("max_chunk_ms", args.max_chunk),
                 ("context_ms", args.context), ("commit_min_prob", args.min_prob)):
        if v is not None:
            seg = replace(seg, **{k: v})
    if args.no_early_commit:
        seg = replace(seg, early_commit=False)
    rec = WhisperRecognizer(asr)

    rows = []
    tot = {"s_err": 0, "o_err": 0, "n": 0, "audio": 0.0, "decode": 0.0, "so_err": 0, "so_n": 0}
    delays: list[float] = []
    for name, path, channel, ref in reference_clips(args.long, calls=args.calls, clips=not args.no_clips):
        if args.only and not any(o in name for o in args.only.split(",")):
            continue
        audio, rate = load_audio(path)
        x = audio[:, [channel]] if channel is not None else audio
        opts = StreamOptions(encoding="linear16", sample_rate=rate, channels=x.shape[1],
                             multichannel=False, interim_results=True)
        session = CallSession(opts, seg, model_name=rec.name, final_beam=asr.final_beam_size)
        t0 = time.process_time()
        msgs = run_session(session, pcm_frames(x, rate), rec)
        cpu = time.process_time() - t0
        hyp = final_transcript(msgs)
        off = offline_text(rec, audio, channel)
        se, n = word_errors(ref, hyp)
        oe, _ = word_errors(ref, off)
        so, son = word_errors(off, hyp)
        dur = x.shape[0] / rate
        for m in msgs:
            if m["type"] == "Results" and m["is_final"]:
                emit = m.get("_emitted_at")
                if emit is not None:
                    delays += [emit - w["end"] for w in m["channel"]["alternatives"][0]["words"]]
        decodes = sum(sum(c.decodes.values()) for c in session.channels.values())
        rows.append({"clip": name, "seconds": round(dur, 1), "wer_stream": round(se / n, 3),
                     "wer_offline": round(oe / n, 3), "wer_vs_offline": round(so / max(1, son), 3),
                     "decodes": decodes, "cpu_per_audio_s": round(cpu / dur, 3),
                     "hyp": hyp if args.verbose else None})
        tot["s_err"] += se
        tot["o_err"] += oe
        tot["n"] += n
        tot["so_err"] += so
        tot["so_n"] += son
        tot["audio"] += dur
        tot["decode"] += cpu
    summary = {
        "wer_stream": round(tot["s_err"] / tot["n"], 4),
        "wer_offline": round(tot["o_err"] / tot["n"], 4),
        "ratio": round(tot["s_err"] / max(1, tot["o_err"]), 3),
        "wer_vs_offline": round(tot["so_err"] / max(1, tot["so_n"]), 4),
        "cpu_per_audio_s": round(tot["decode"] / tot["audio"], 3),
        "commit_delay_p50": round(statistics.median(delays), 3) if delays else None,
        "commit_delay_p90": round(sorted(delays)[int(0.9 * (len(delays) - 1))], 3) if delays else None,
        "asr": {"pad": asr.pad_seconds, "final_pad": asr.final_pad_seconds, "beam": asr.beam_size,
                "final_beam": asr.final_beam_size},
        "segmenter": {"interval": seg.interim_interval_ms, "margin": seg.commit_margin_ms,
                      "pause": seg.pause_ms, "max_chunk": seg.max_chunk_ms,
                      "early_commit": seg.early_commit, "context": seg.context_ms},
    }
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=1))
        return
    for r in rows:
        print(f"{r['clip']:18s} {r['seconds']:6.1f}s  stream {r['wer_stream']:.3f}  offline "
              f"{r['wer_offline']:.3f}  vs-offline {r['wer_vs_offline']:.3f}  decodes {r['decodes']:3d}"
              f"  cpu/s {r['cpu_per_audio_s']:.3f}" + (f"\n   {r['hyp']}" if r["hyp"] else ""))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
