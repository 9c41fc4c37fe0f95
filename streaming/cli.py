"""`souffleur` command line: serve, stream, and the assist/batch commands.

Each subcommand is a thin wrapper: option parsing here, the work in the
modules it names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from dataclasses import replace
from typing import Any

import streaming  # noqa: F401  (limits BLAS threads before numpy loads)
from streaming.options import SegmenterOptions, ServerOptions, add_asr_arguments, asr_options


def cmd_serve(args: argparse.Namespace) -> int:
    from streaming.service.server import SouffleurServer

    opts = ServerOptions.from_env()
    for arg in ("host", "port", "max_calls", "idle_timeout_s", "shutdown_grace_s", "redis_url", "data_dir",
                "field_decode"):
        v = getattr(args, arg, None)
        if v is not None:
            opts = replace(opts, **{arg: v})
    seg = SegmenterOptions.from_env()
    if args.endpointing_ms is not None:
        seg = replace(seg, endpointing_ms=args.endpointing_ms)
    bus = None
    if opts.redis_url:
        from streaming.service.redis_bus import RedisBus

        bus = RedisBus.connect_or_exit(opts.redis_url)
    from streaming.service.auth import Authenticator, check_bind

    try:
        auth = Authenticator.from_env()
    except ValueError as e:
        print(f"souffleur: {e}", file=sys.stderr)
        return 2
    refusal = check_bind(opts.host, auth)
    if refusal:
        print(f"souffleur: {refusal}", file=sys.stderr)
        return 2
    if auth.open:
        logging.getLogger("souffleur").warning(
            "RUNNING OPEN: no SOUFFLEUR_API_KEYS or SOUFFLEUR_TOKEN_SECRET set; anyone who can reach "
            "%s:%s can stream and hear calls. Allowed on loopback only.", opts.host, opts.port)
        print("souffleur: WARNING: running without authentication (loopback only)", file=sys.stderr)
    server = SouffleurServer(opts, asr_options(args), seg, bus=bus, auth=auth)
    print(f"souffleur: model {server.model_name} on {server.recognizer.device} "  # type: ignore[attr-defined]
          f"({server.recognizer.compute_type}), {server.scheduler.workers} workers, "  # type: ignore[attr-defined]
          f"up to {server.max_calls} calls; ws://{opts.host}:{opts.port}/v1/listen", flush=True)
    asyncio.run(server.serve_forever())
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from streaming.client import stream_file

    params: dict[str, Any] = {}
    if args.call_id:
        params["call_id"] = args.call_id
    if args.language:
        params["language"] = args.language
    if args.roles:
        params["roles"] = args.roles
    if args.mono:
        params["multichannel"] = False
    show_interim = not args.finals_only and sys.stdout.isatty()

    def show(m: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(m), flush=True)
            return
        t = m.get("type")
        if t == "Results":
            text = m["channel"]["alternatives"][0]["transcript"]
            who = m.get("speaker", "?")
            if m["is_final"]:
                if text:
                    print(f"\r\033[K[{m['start']:7.2f}] {who:>8}: {text}" if show_interim else
                          f"[{m['start']:7.2f}] {who:>8}: {text}", flush=True)
            elif show_interim:
                print(f"\r\033[K           {who:>8}~ {text[-100:]}", end="", flush=True)
        elif t in ("Error", "Metadata"):
            print(("\n" if show_interim else "") + f"{t}: " + json.dumps(
                {k: v for k, v in m.items() if k not in ("type", "model_info", "_received")}), flush=True)

    headers = {"Authorization": f"Token {args.token}"} if args.token else None
    res = asyncio.run(stream_file(args.url, args.file, realtime=not args.fast, on_message=show,
                                  speed=args.speed, headers=headers, **params))
    if res.close_code not in (1000, None):
        print(f"closed with {res.close_code}: {res.close_reason}", file=sys.stderr)
        return 1
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from streaming.service.auth import mint_token

    secret = os.environ.get("SOUFFLEUR_TOKEN_SECRET")
    if not secret:
        print("souffleur: set SOUFFLEUR_TOKEN_SECRET (the same secret the server uses)", file=sys.stderr)
        return 2
    try:
        print(mint_token(secret, args.role, args.sub, args.call_id, ttl=args.ttl))
    except ValueError as e:
        print(f"souffleur: {e}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="souffleur", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--log-format", choices=["json", "text"], help="default: text on a terminal, else json")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the websocket server (embedded defaults: no Redis needed)")
    s.add_argument("--host", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8765)")
    s.add_argument("--max-calls", type=int, help="admission limit (default: 4 per worker)")
    s.add_argument("--idle-timeout", dest="idle_timeout_s", type=float)
    s.add_argument("--shutdown-grace", dest="shutdown_grace_s", type=float, metavar="S",
                   help="on SIGTERM, how long live calls may go on (default 30; see docs/scaling.md)")
    s.add_argument("--field-decode", choices=["both", "nbest", "prompt", "off"],
                   help="decode a caller's value again, field-aware (default both; docs/assist.md)")
    s.add_argument("--redis-url", help="share calls across nodes through Redis (or $REDIS_URL)")
    s.add_argument("--data-dir", help="audit trail and local state (default ./souffleur-data)")
    s.add_argument("--endpointing-ms", type=int, help=argparse.SUPPRESS)
    add_asr_arguments(s)
    s.set_defaults(func=cmd_serve)

    st = sub.add_parser("stream", help="stream a recording to the server like a softphone")
    st.add_argument("file", help="WAV/FLAC/MP3, or headerless .ulaw/.alaw/.raw (8 kHz)")
    st.add_argument("--url", default=os.environ.get("SOUFFLEUR_URL", "ws://127.0.0.1:8765"))
    st.add_argument("--fast", action="store_true", help="send as fast as possible, not in real time")
    st.add_argument("--speed", type=float, default=1.0, help="pace at N x real time")
    st.add_argument("--call-id")
    st.add_argument("--language")
    st.add_argument("--roles", help="speaker per channel, default agent,customer")
    st.add_argument("--mono", action="store_true", help="mix stereo to one channel")
    st.add_argument("--finals-only", action="store_true")
    st.add_argument("--json", action="store_true", help="print every server message as JSON")
    st.add_argument("--token", default=os.environ.get("SOUFFLEUR_API_KEY"),
                    help="API key or token (default $SOUFFLEUR_API_KEY)")
    st.set_defaults(func=cmd_stream)

    tk = sub.add_parser("token", help="mint a signed, expiring token (agent, supervisor, softphone)")
    tk.add_argument("--role", required=True, choices=["agent", "supervisor", "softphone", "admin"])
    tk.add_argument("--sub", default="ops", help="who it is for (appears in logs)")
    tk.add_argument("--call-id", help="the one call an agent or softphone token is for")
    tk.add_argument("--ttl", type=float, default=3600, help="seconds until it expires (default 1 h)")
    tk.set_defaults(func=cmd_token)

    from assist.cli import add_commands

    add_commands(sub, transcribe_audio=_transcribe_audio)
    _optional_commands(sub)
    return p


def _transcribe_audio(path: str) -> list[Any]:
    """`souffleur analyze CALL.flac`: the batch engine turns audio into the assistant's segments."""
    from streaming.batch.engine import transcribe_to_segments

    return transcribe_to_segments(path)


def _optional_commands(sub: Any) -> None:
    """Commands from modules that may not be present in a slim install."""
    for mod in ("streaming.batch.transcribe", "streaming.service.ops", "streaming.demo"):
        try:
            m = __import__(mod, fromlist=["add_commands"])
        except ImportError:
            continue
        m.add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    from streaming.service.logs import setup_logging

    args = build_parser().parse_args(argv)
    fmt = args.log_format or ("text" if sys.stderr.isatty() else "json")
    setup_logging(fmt, args.verbose)
    from streaming.asr.models import ModelUnavailable

    try:
        return int(args.func(args) or 0)
    except ModelUnavailable as e:  # a model that cannot be provided: say what to install, no traceback
        print(f"souffleur: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
