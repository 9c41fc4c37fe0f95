"""`analyze` and `report` commands, and the benchmark's matcher."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assist import cli
from assist.scoring import hint_recall, knowledge_hits, match_score, summary_coverage
from tests.assist.helpers import OWN_CALLS

ROOT = Path(__file__).resolve().parents[2]


def test_add_commands_registers_analyze_and_report():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    cli.add_commands(sub)
    args = parser.parse_args(["analyze", "x.json", "--pretty"])
    assert args.func is cli.cmd_analyze and args.pretty
    args = parser.parse_args(["report", "--json"])
    assert args.func is cli.cmd_report and args.json


def test_analyze_json_output(capsys):
    call = OWN_CALLS / "own_nl_04.json"
    assert cli.main(["analyze", str(call)]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("form", "suggestions", "alerts", "summary", "events"):
        assert key in out
    assert out["form"]["bsn"] == "315708645"
    assert out["summary"]["language"] == "nl"
    assert {e["type"] for e in out["suggestions"]} <= {"Hint", "KnowledgeAnswer"}
    assert any(e["type"] == "KnowledgeAnswer" and e["doc"] == "gemeente-verhuizen.md" for e in out["suggestions"])


def test_analyze_pretty_and_audit_then_report(tmp_path: Path, capsys):
    audit = tmp_path / "audit.jsonl"
    assert cli.main(["analyze", str(OWN_CALLS / "own_en_03.json"), "--pretty", "--audit", str(audit)]) == 0
    text = capsys.readouterr().out
    assert "[t1] customer: Hi, I need to make a claim." in text and "-> HINT" in text and "SUMMARY" in text
    assert audit.exists() and audit.read_text().count("\n") > 5
    assert cli.main(["report", "--audit", str(audit)]) == 0
    rep = capsys.readouterr().out
    assert "hint" in rep and "total" in rep
    assert cli.main(["report", "--audit", str(audit), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calls"] == 1 and data["totals"]["shown"] > 0 and data["totals"]["none"] == data["totals"]["shown"]


def test_audio_without_a_transcriber_gives_clear_error(tmp_path: Path):
    """The assistant never opens audio itself: without the streaming core's transcriber
    (`python -m assist.cli`) an audio file is refused with a way out."""
    audio = tmp_path / "call.flac"
    audio.write_bytes(b"fLaC")
    with pytest.raises(SystemExit, match="audio needs the streaming core"):
        cli.load_input(str(audio))
    seen = []
    t = cli.load_input(str(audio), transcribe_audio=lambda p: seen.append(p) or [])
    assert seen == [str(audio)] and t.call_id == "call" and t.segments == []


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "assist.cli", "analyze", str(OWN_CALLS / "own_en_01.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["call_id"] == "own_en_01"


def test_matcher_en_nl_and_limits():
    assert match_score("verify identity", "Verify identity first before discussing the account.", "en") == 1.0
    # synonyms across the two languages' wording map to one concept
    assert match_score("identiteit verifiëren", "Controleer eerst de identiteit.", "nl") == 1.0
    assert match_score("log formal complaint and give reference", "Suggest wifi calling.", "en") == 0.0
    rec = hint_recall(["verify identity", "suggest wifi calling"], ["Please verify identity now."], "en")
    assert (rec["expected"], rec["matched"]) == (2, 1)
    cov = summary_coverage(["card frozen and device removed"], ["The card is frozen.", "Device removed."], "en")
    assert cov["covered"] == 1  # two neighbouring points together cover one labelled point
    kh = knowledge_hits([{"question": "q", "doc": "kb/a.md", "answer": "ten minutes"}],
                        [{"doc": "a.md", "text": "Approved within ten minutes."}, {"doc": "b.md", "text": "x"}], "en")
    assert (kh["doc_hits"], kh["answer_hits"], kh["shown_on_topic"], kh["shown"]) == (1, 1, 1, 2)


def test_benchmark_runs_on_own_calls():
    proc = subprocess.run([sys.executable, "benchmarks/assist.py", "--calls", str(OWN_CALLS), "--json-only"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)["results"]
    assert set(res) == {"all", "en", "nl"}
    assert res["all"]["calls"] == 10
    assert res["all"]["values_without_evidence"] == 0 and res["all"]["suggestions_without_evidence"] == 0
    assert res["all"]["segment_ms_p99"] > 0  # the figure is reported (targets live in the benchmark)
