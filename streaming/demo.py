"""`souffleur demo`: the server plus a softphone playing a bundled example call.

Why: the quickest way to see what an agent sees is a call being assisted live.
This starts the same server `souffleur serve` runs, prints the overlay and
supervisor URLs, waits a moment so the page can be opened, then streams
`streaming/demo_call/call.ogg` (our own scripted call, rendered by
`scripts/make_demo_call.py`) in real time like a softphone would. The overlay
subscribes with `wait=true`, so it may be opened before, during or after the
call (it catches up from the call's log). The server keeps running afterwards
so the summary can be reviewed and feedback given; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from streaming.options import ServerOptions, add_asr_arguments, asr_options
from streaming.service.auth import Authenticator, check_bind, mint_token
from streaming.service.pipeline import CallPipeline

DEMO_DIR = Path(__file__).resolve().parent / "demo_call"
DEMO_CALL = DEMO_DIR / "call.ogg"


def add_commands(sub: Any) -> None:
    d = sub.add_parser("demo", help="start the server and stream a bundled example call to it live")
    d.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    d.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    d.add_argument("--speed", type=float, default=1.0, help="play the call at N x real time")
    d.add_argument("--delay", type=float, default=3.0, help="seconds before the call starts (default 3)")
    d.add_argument("--call-id", help="default demo-<time>")
    d.add_argument("--audio", help="stream this stereo recording (L agent, R customer) instead")
    d.add_argument("--loop", action="store_true", help="play the call again and again, a new id each time")
    d.add_argument("--exit", action="store_true", help="stop once the call's summary is out")
    d.add_argument("--data-dir", help="audit trail (default ./souffleur-data)")
    d.add_argument("--quiet", action="store_true", help="do not print the transcript")
    add_asr_arguments(d)
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    audio = Path(args.audio) if args.audio else DEMO_CALL
    if not audio.is_file():
        print(f"souffleur demo: {audio} is missing (scripts/make_demo_call.py renders it)", file=sys.stderr)
        return 2
    try:
        auth = Authenticator.from_env()
    except ValueError as e:
        print(f"souffleur demo: {e}", file=sys.stderr)
        return 2
    refusal = check_bind(args.host, auth)
    if refusal:
        print(f"souffleur demo: {refusal}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_demo(args, audio, auth))
    except KeyboardInterrupt:
        return 0


def credentials(auth: Authenticator, call_id: str) -> tuple[dict[str, str] | None, str, str]:
    """(softphone headers, agent token, supervisor token) for this demo call.

    Open mode needs none. With a token secret the demo mints short-lived tokens like
    a CRM would; with API keys only it streams with $SOUFFLEUR_API_KEY and the pages
    need a key added by hand (a key is never printed).
    """
    if auth.open:
        return None, "", ""
    if auth.token_secret:
        s = auth.token_secret
        phone = mint_token(s, "softphone", "demo", call_id, ttl=3600)
        return ({"Authorization": f"Token {phone}"}, mint_token(s, "agent", "demo", call_id, ttl=8 * 3600),
                mint_token(s, "supervisor", "demo", ttl=8 * 3600))
    key = os.environ.get("SOUFFLEUR_API_KEY", "")
    return ({"Authorization": f"Token {key}"} if key else None), "", ""


def page_urls(host: str, port: int, call_id: str, agent_token: str = "", sup_token: str = "") -> tuple[str, str]:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    agent = f"{base}/agent?call_id={quote(call_id)}" + (f"&token={agent_token}" if agent_token else "")
    sup = f"{base}/supervisor" + (f"?token={sup_token}" if sup_token else "")
    return agent, sup


async def run_demo(args: argparse.Namespace, audio: Path, auth: Authenticator) -> int:
    from streaming.client import stream_file
    from streaming.service.server import SouffleurServer

    # the assistant reads whole utterances (streaming/live/utterances.py), as `serve` does by
    # default; SOUFFLEUR_ASSIST_UTTERANCES=0 shows it fed the committed pieces instead
    CallPipeline.group_utterances = os.environ.get("SOUFFLEUR_ASSIST_UTTERANCES", "1") != "0"
    opts = replace(ServerOptions.from_env(), host=args.host, port=args.port)
    if args.data_dir:
        opts = replace(opts, data_dir=args.data_dir)
    server = SouffleurServer(opts, asr_options(args), auth=auth)
    try:
        await server.start()
    except OSError as e:
        print(f"souffleur demo: cannot listen on {args.host}:{args.port} ({e.strerror}); "
              "is `souffleur serve` already running? Try --port 0", file=sys.stderr)
        return 2
    n = 0
    try:
        while True:
            n += 1
            call_id = args.call_id or f"demo-{time.strftime('%H%M%S')}"
            if args.call_id and n > 1:
                call_id = f"{args.call_id}-{n}"
            headers, agent_token, sup_token = credentials(auth, call_id)
            agent, sup = page_urls(args.host, server.port, call_id, agent_token, sup_token)
            print(f"\nSouffleur demo on ws://{args.host}:{server.port} (model {server.model_name})\n"
                  f"  agent overlay: {agent}\n  supervisor:    {sup}\n"
                  f"The call starts in {args.delay:g} s and lasts about "
                  f"{_duration(audio) / max(args.speed, 0.01):.0f} s.", flush=True)
            await asyncio.sleep(args.delay)
            res = await stream_file(f"ws://127.0.0.1:{server.port}", audio, speed=args.speed, call_id=call_id,
                                    headers=headers, on_message=None if args.quiet else _show)
            if res.close_code not in (1000, None):
                print(f"souffleur demo: the softphone stream closed with {res.close_code}: {res.close_reason}",
                      file=sys.stderr)
                return 1
            summary = await _wait_for_summary(server, call_id)
            print(f"Call {call_id} ended; " + ("the summary is on the overlay." if summary else
                                               "no summary yet (see the server log)."), flush=True)
            if args.exit:
                return 0 if summary else 1
            if not args.loop:
                print("The server keeps running for review and feedback; Ctrl-C stops it.", flush=True)
                await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await server.shutdown()


def _show(m: dict[str, Any]) -> None:
    if m.get("type") == "Results" and m.get("is_final"):
        text = m["channel"]["alternatives"][0]["transcript"].strip()
        if text:
            print(f"[{m['start']:6.1f}] {m.get('speaker', '?'):>8}: {text}", flush=True)


def _duration(path: Path) -> float:
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # noqa: BLE001 - only for the message
        return 0.0


async def _wait_for_summary(server: Any, call_id: str, timeout: float = 60.0) -> bool:
    """The assistant writes the summary after the softphone hangs up; wait for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.get("type") == "Summary" for e in await server.bus.history(call_id)):
            return True
        await asyncio.sleep(0.25)
    return False
