"""Load transcripts (labelled calls or plain `{"turns": [...]}` files) into Segments.

Kept apart from the engine so the engine never touches the file system: the CLI
and the benchmark read files here and feed Segments in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assist.types import Segment


@dataclass
class Transcript:
    call_id: str
    language: str
    segments: list[Segment]
    labels: dict[str, Any] = field(default_factory=dict)  # the labelled-call JSON, if any


def _timing_for(path: Path, call_id: str) -> dict[int, tuple[float, float]]:
    for candidate in (path.with_name(f"{call_id}.timing.json"),
                      path.with_name(path.stem + ".timing.json")):
        if candidate.exists():
            data = json.loads(candidate.read_text(encoding="utf-8"))
            return {int(t["index"]): (float(t["start"]), float(t["end"]))
                    for t in data.get("turns", []) if "index" in t}
    return {}


def segments_from_turns(turns: list[dict[str, Any]], call_id: str, language: str,
                        timing: dict[int, tuple[float, float]] | None = None) -> list[Segment]:
    """Turn dicts `{speaker, text, (start, end)}` into Segments with ids `t{index}`.

    Without times, turns are spaced by a rough speaking rate so that durations
    and evidence times stay plausible and monotonic.
    """
    timing = timing or {}
    out: list[Segment] = []
    clock = 0.0
    for i, turn in enumerate(turns):
        speaker = turn.get("speaker", "customer")
        if speaker not in ("agent", "customer"):
            raise ValueError(f"turn {i}: speaker must be agent or customer, not {speaker!r}")
        text = str(turn.get("text", ""))
        if i in timing:
            start, end = timing[i]
        elif "start" in turn and "end" in turn:
            start, end = float(turn["start"]), float(turn["end"])
        else:
            start = clock + 0.5
            end = start + max(1.0, len(text.split()) / 2.6)
        clock = end
        out.append(Segment(segment_id=f"t{i}", speaker=speaker, text=text, start=start, end=end,
                           call_id=call_id, language=turn.get("language", language)))
    return out


def load_transcript(path: str | os.PathLike[str]) -> Transcript:
    p = Path(path)
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise ValueError(f"{p}: expected a JSON object with a 'turns' list")
    call_id = str(data.get("call_id") or p.stem)
    language = str(data.get("language") or "en")
    segments = segments_from_turns(data["turns"], call_id, language, _timing_for(p, call_id))
    return Transcript(call_id, language, segments, data)


def list_calls(folder: str | os.PathLike[str]) -> list[Path]:
    """Labelled call files in a folder (skips the `.timing.json` companions)."""
    return sorted(p for p in Path(folder).glob("*.json")
                  if not p.name.endswith(".timing.json") and p.name != "package.json")
