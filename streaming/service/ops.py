"""Small ops commands: `souffleur call show ID`, `souffleur call list`.

Back office and on-call engineers read a call (live or ended, on any node)
without a desktop: straight from Redis when a URL is given (`--redis-url` or
`REDIS_URL`), otherwise from a server's HTTP API (`--url`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def add_commands(subparsers: Any) -> None:
    c = subparsers.add_parser("call", help="read a call's state and event log (any node, ended calls too)")
    csub = c.add_subparsers(dest="call_command", required=True)
    show = csub.add_parser("show", help="one call: state, transcript and assist events")
    show.add_argument("call_id")
    _source_args(show)
    show.add_argument("--json", action="store_true", help="print the call and every event as JSON")
    show.set_defaults(func=cmd_call_show)
    ls = csub.add_parser("list", help="calls known to the shared bus (or to one server)")
    ls.add_argument("--status", choices=["active", "ended"])
    _source_args(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_call_list)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                   help="read from Redis directly (default $REDIS_URL)")
    p.add_argument("--url", default=os.environ.get("SOUFFLEUR_URL", "http://127.0.0.1:8765"),
                   help="else ask this server (default $SOUFFLEUR_URL or http://127.0.0.1:8765)")


def _http_get(base: str, path: str) -> tuple[int, dict[str, Any]]:
    base = base.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/")
    req = urllib.request.Request(base + path)
    key = os.environ.get("SOUFFLEUR_API_KEY")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.load(e)
        except ValueError:
            return e.code, {"err_msg": e.reason}
    except OSError as e:
        print(f"souffleur: cannot reach {base}: {e}", file=sys.stderr)
        raise SystemExit(2) from None


async def _from_redis(url: str, call_id: str | None, status: str | None) -> Any:
    from streaming.service.redis_bus import RedisBus

    bus = RedisBus.connect_or_exit(url)
    try:
        if call_id is None:
            return [c.to_dict() for c in await bus.calls(status)]
        info = await bus.call_info(call_id)
        if info is None:
            return None
        return {"call": info.to_dict(), "events": await bus.history(call_id)}
    finally:
        await bus.close()


def fetch_call(call_id: str, redis_url: str | None, url: str) -> dict[str, Any] | None:
    if redis_url:
        return asyncio.run(_from_redis(redis_url, call_id, None))
    code, body = _http_get(url, f"/v1/calls/{call_id}")
    if code == 404:
        return None
    if code != 200:
        print(f"souffleur: {url} answered {code}: {body.get('err_msg', body)}", file=sys.stderr)
        raise SystemExit(1)
    return body


def render_call(body: dict[str, Any]) -> str:
    """A readable call: state, transcript lines by speaker, then what the assistant did."""
    c = body["call"]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c["started"]))
    lines = [f"call {c['call_id']}  {c['status']}  node {c.get('node') or '?'}  started {started}"]
    if c.get("ended"):
        lines[0] += f"  ended after {c['ended'] - c['started']:.1f} s"
    meta = c.get("meta") or {}
    if meta:
        lines.append("  " + "  ".join(f"{k}={v}" for k, v in meta.items()))
    lines.append("")
    counts: dict[str, int] = {}
    # the transcript of record when the call has one, else the live finals
    said = "Record" if any(e.get("type") == "Record" for e in body["events"]) else "Results"
    for e in body["events"]:
        t = e.get("type", "?")
        counts[t] = counts.get(t, 0) + 1
        if t == said and (t == "Record" or e.get("is_final")):
            text = e["channel"]["alternatives"][0]["transcript"]
            if text:
                lines.append(f"[{e['start']:7.2f}] {e.get('speaker', '?'):>8}: {text}")
        elif t == "FormValue":
            lines.append(f"{'':10}-> form {e.get('field')} = {e.get('value')}")
        elif t in ("Hint", "Alert", "KnowledgeAnswer") and e.get("text"):
            lines.append(f"{'':10}-> {t.lower()}: {e['text']}")
        elif t == "Summary" and e.get("text"):
            lines += ["", "SUMMARY", *("  " + x for x in str(e["text"]).splitlines())]
        elif t == "AssistNotice":
            lines.append(f"{'':10}-> notice {e.get('code')}: {e.get('message')}")
    lines += ["", "events: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
    return "\n".join(lines)


def cmd_call_show(args: argparse.Namespace) -> int:
    body = fetch_call(args.call_id, args.redis_url, args.url)
    if body is None:
        print(f"souffleur: no call {args.call_id!r} (never seen, or past its retention)", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, ensure_ascii=False) if args.json else render_call(body))
    return 0


def cmd_call_list(args: argparse.Namespace) -> int:
    if args.redis_url:
        calls = asyncio.run(_from_redis(args.redis_url, None, args.status))
    else:
        code, body = _http_get(args.url, "/v1/calls")
        if code != 200:
            print(f"souffleur: {args.url} answered {code}: {body.get('err_msg', body)}", file=sys.stderr)
            return 1
        calls = [c for c in body["calls"] if args.status is None or c["status"] == args.status]
    if args.json:
        print(json.dumps(calls, indent=2))
        return 0
    for c in calls:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c["started"]))
        print(f"{c['call_id']:<40} {c['status']:<7} {started}  {c.get('node', '')}")
    return 0
