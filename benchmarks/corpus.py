"""The reference clips the benchmarks share: real recordings with exact transcripts.

Each item is (name, path, channel or None, reference text). Stereo clips with a
reference per channel appear once per channel.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SHARED = Path(os.environ.get("SOUFFLEUR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
AUDIO = SHARED / "audio"


def _text(p: Path) -> str:
    return p.read_text(encoding="utf-8").strip()


def reference_clips(long: bool = False, calls: bool = False, clips: bool = True) -> list[tuple[str, Path, int | None, str]]:
    items: list[tuple[str, Path, int | None, str]] = []
    if clips:
        items += _clips()
    if calls:
        items += _calls()
    if long:
        cat = AUDIO / "group3_long" / "ljspeech_LJ001-0001_0016_concat.wav"
        items.append(("lj_concat", cat, None, _text(cat.with_suffix(".txt"))))
    return items


def _clips() -> list[tuple[str, Path, int | None, str]]:
    items: list[tuple[str, Path, int | None, str]] = []
    lj = AUDIO / "group1_read" / "ljspeech"
    for wav in sorted(lj.glob("LJ*.wav")):
        items.append((wav.stem, wav, None, _text(wav.with_suffix(".txt"))))
    mfa = AUDIO / "group1_read" / "mfa_spontaneous" / "acoustic_corpus.wav"
    if mfa.exists():
        items.append(("mfa_spontaneous", mfa, None, _text(mfa.with_suffix(".txt"))))
    conv = AUDIO / "group2_conversational"
    pico = conv / "picovoice" / "diarization_test.wav"
    if pico.exists():
        ref = " ".join(re.sub(r"^S\d+:\s*", "", ln) for ln in _text(pico.with_suffix(".txt")).splitlines())
        items.append(("picovoice", pico, None, ref))
    ami = conv / "ami_excerpts" / "ES2011a.Headset-0-40s-46s.wav"
    if ami.exists():
        items.append(("ami_ES2011a", ami, None, _text(ami.with_suffix(".txt"))))
    st = conv / "faster_whisper" / "stereo_diarization.wav"
    if st.exists():
        lines = dict(ln.split(":", 1) for ln in _text(st.with_suffix(".txt")).splitlines())
        items.append(("stereo_left", st, 0, lines["LEFT"].strip()))
        items.append(("stereo_right", st, 1, lines["RIGHT"].strip()))
    return items


def _calls() -> list[tuple[str, Path, int | None, str]]:
    """The English labelled calls (synthetic speech, L = agent, R = customer)."""
    items: list[tuple[str, Path, int | None, str]] = []
    for js in sorted((SHARED / "assist").glob("dev_en_*.json")):
        if js.name.endswith(".timing.json"):
            continue
        call = json.loads(js.read_text(encoding="utf-8"))
        flac = js.with_name(js.stem + ".stereo16k.flac")
        for ch, role in enumerate(("agent", "customer")):
            ref = " ".join(t["text"] for t in call["turns"] if t["speaker"] == role)
            items.append((f"{js.stem}_{role}", flac, ch, ref))
    return items
