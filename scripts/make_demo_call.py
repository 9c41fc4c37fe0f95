#!/usr/bin/env python3
"""Render the bundled demo call (`streaming/demo_call/call.ogg`) with espeak-ng.

`souffleur demo` must work from a plain install, so its example call lives in the
package rather than in ../shared. The script below is our own: a Harbour Bank
customer who lost a debit card gives a name, a date of birth, a phone number and
an e-mail address, and asks a question the example knowledge base answers
(prompts/kb/card-replacement.md). Each turn is synthesised on its own and placed
on its speaker's channel (L = agent, R = customer, the other side silent), like
the recordings a softphone plugin sends. Gaps are fixed, so a rerun gives the
same timing (espeak-ng's own output may differ slightly between versions).

Needs espeak-ng (apt-get install espeak-ng); numpy, soxr and soundfile come with
the package. Usage: python scripts/make_demo_call.py [--out streaming/demo_call]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16000
VOICES = {  # voices tiny.en transcribes well (see ../shared/assist/synth_audio.py trials)
    "agent": {"voice": "en+f2", "speed": 150, "pitch": 50},
    "customer": {"voice": "en+m3", "speed": 145, "pitch": 40},
}
TURNS: list[tuple[str, str]] = [
    ("agent", "Harbour Bank, good afternoon, you're speaking to Claire. How can I help?"),
    ("customer", "Hi Claire. I think I've lost my debit card. I can't find it anywhere since yesterday."),
    ("agent", "I'm sorry to hear that. I can block it and order a new one for you. "
              "Can I take your full name, please?"),
    ("customer", "Yes, my name is Daniel Morgan."),
    ("agent", "Thank you, Daniel. And what is your date of birth?"),
    ("customer", "It's the fourteenth of March, nineteen eighty six."),
    ("agent", "Thanks. What is the best phone number to reach you on?"),
    ("customer", "My mobile number is oh seven seven zero zero, nine zero zero, one two three."),
    ("agent", "And can I confirm your email address?"),
    ("customer", "Yes, it's daniel dot morgan at example dot com."),
    ("agent", "Lovely, you're verified. I've blocked the card now, so nobody else can use it."),
    ("customer", "Great, thank you. How long does a replacement card take to arrive?"),
    ("agent", "A new card arrives in three to five working days at the address we hold. "
              "You can use the virtual card in the app straight away."),
    ("customer", "Oh, that's handy. Will my PIN change?"),
    ("agent", "No, your PIN stays the same. Is there anything else I can help you with today?"),
    ("customer", "No, that's everything. Thanks very much for your help."),
    ("agent", "You're welcome, Daniel. Have a good afternoon. Goodbye."),
]
EXPECTED_FORM = {"full_name": "Daniel Morgan", "date_of_birth": "1986-03-14",
                 "phone_number": "07700 900123", "email": "daniel.morgan@example.com"}
GAP_S = (0.7, 0.5, 0.9, 0.6)  # cycled between turns: deterministic, natural-ish pacing
LEAD_S = 0.6


def synth(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One turn as 16 kHz mono float32, leading/trailing silence trimmed to 30 ms."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    y = soxr.resample(x, rate, RATE).astype(np.float32)
    loud = np.flatnonzero(np.abs(y) > 0.01)
    if loud.size:
        pad = int(0.03 * RATE)
        y = y[max(0, loud[0] - pad): loud[-1] + pad]
    return y


def render() -> tuple[np.ndarray, list[dict]]:
    pieces = [(who, text, synth(text, **VOICES[who])) for who, text in TURNS]
    t = LEAD_S
    placed, timing = [], []
    for i, (who, text, audio) in enumerate(pieces):
        if i:
            t += GAP_S[i % len(GAP_S)]
        start = int(round(t * RATE))
        placed.append((who, start, audio))
        timing.append({"speaker": who, "text": text, "start": round(start / RATE, 3),
                       "end": round((start + len(audio)) / RATE, 3)})
        t = (start + len(audio)) / RATE
    stereo = np.zeros((int(round((t + LEAD_S) * RATE)), 2), np.float32)
    for who, start, audio in placed:
        stereo[start:start + len(audio), 0 if who == "agent" else 1] += audio
    return np.clip(stereo * 0.9, -1, 1), timing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "streaming" / "demo_call"))
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed (apt-get install espeak-ng)", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stereo, timing = render()
    sf.write(out / "call.ogg", stereo, RATE, format="OGG", subtype="VORBIS")
    (out / "call.json").write_text(json.dumps({
        "call_id": "demo", "language": "en", "audio": "call.ogg", "channels": {"L": "agent", "R": "customer"},
        "form": EXPECTED_FORM, "kb_answer": "card-replacement.md", "voices": VOICES, "turns": timing,
    }, indent=1) + "\n", encoding="utf-8")
    size = (out / "call.ogg").stat().st_size
    print(f"{out / 'call.ogg'}: {len(stereo) / RATE:.1f} s, {size / 1024:.0f} KiB; {len(timing)} turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
