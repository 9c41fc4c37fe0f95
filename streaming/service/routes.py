"""The server's plain HTTP side: pages, /healthz, /readyz, /metrics, /v1/report, the calls API.

Also where websocket upgrades are authorised (websockets' `process_request`
hook runs before the handshake). Kept apart from `SouffleurServer` so the
route table and who may see what read in one place; the server is reached
only through `RouteHost`.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from streaming.asr.scheduler import InferenceScheduler
from streaming.live.protocol import ErrorCode, error_message
from streaming.service.audiohook import AUDIOHOOK_PATH
from streaming.service.auth import Authenticator, AuthError
from streaming.service.bus import EventBus
from streaming.service.metrics import ServerMetrics
from streaming.service.twilio import TWILIO_PATH, signature_problem

log = logging.getLogger("souffleur")

EVENTS_PATH = re.compile(r"^/v1/calls/([A-Za-z0-9_.:\-]{1,128})/events$")
CALL_PATH = re.compile(r"^/v1/calls/([A-Za-z0-9_.:\-]{1,128})$")

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = {"/agent": "agent.html", "/supervisor": "supervisor.html", "/": "index.html"}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".json": "application/json"}


class RouteHost(Protocol):
    """What the routes read of the server (`SouffleurServer`)."""

    auth: Authenticator
    metrics: ServerMetrics
    scheduler: InferenceScheduler
    bus: EventBus
    node_id: str
    started: float
    draining: bool

    def status(self) -> dict[str, Any]: ...

    def audit_report(self) -> dict[str, Any]: ...

    def controls_view(self) -> dict[str, Any]: ...


def authorize(host: RouteHost, connection: ServerConnection, request: Request, action: str,
              call_id: str | None = None) -> Response | None:
    """Authenticate and authorise; the principal is kept on the connection."""
    query = urlsplit(request.path).query
    try:
        p = host.auth.authenticate(request.headers.get("Authorization"), query)
        host.auth.authorize(p, action, call_id)
    except AuthError as e:
        host.metrics.error(f"AUTH_{e.status}")
        log.warning("denied %s %s: %s", action, urlsplit(request.path).path, e.reason)
        code = "UNAUTHORIZED" if e.status == 401 else "FORBIDDEN"
        return _json(connection, e.status, error_message(code, e.reason))
    connection.principal = p  # type: ignore[attr-defined]
    return None

async def process_request(host: RouteHost, connection: ServerConnection,
                          request: Request) -> Response | None:
    """Answer a plain HTTP request, or authorise a websocket upgrade (None: go on)."""
    parts = urlsplit(request.path)
    path = parts.path
    upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
    ev = EVENTS_PATH.match(path)
    # telephony platforms: the credential comes in their protocol (Twilio's start message,
    # AudioHook's X-API-KEY checked on open, where the call id is known), not as Authorization
    if path in (TWILIO_PATH, AUDIOHOOK_PATH):
        if not upgrade:
            return _json(connection, 426, {"error": "this endpoint speaks websocket"})
        if path == TWILIO_PATH and (problem := signature_problem(request.headers, parts.path)) is not None:
            log.warning("denied twilio stream: %s", problem)
            return _json(connection, 403, error_message("FORBIDDEN", problem))
        return None
    if path == "/v1/listen" or ev:
        if not upgrade:
            return _json(connection, 426, {"error": "this endpoint speaks websocket"})
        if path == "/v1/listen":
            cid = (parse_qs(parts.query).get("call_id") or [None])[-1]
            return authorize(host, connection, request, "stream", cid)
        return authorize(host, connection, request, "read_call", ev.group(1))  # type: ignore[union-attr]
    if path == "/healthz":
        return _json(connection, 200, {"status": "ok", "node": host.node_id,
                                       "uptime_s": round(time.time() - host.started, 1)})
    if path == "/readyz":
        ready = not host.draining and not host.scheduler.overloaded()
        return _json(connection, 200 if ready else 503, host.status())
    if path == "/v1/calls":
        if (denied := authorize(host, connection, request, "list_calls")) is not None:
            return denied
        calls = await host.bus.calls()
        return _json(connection, 200, {"calls": [c.to_dict() for c in calls]})
    if path == "/metrics":
        if (denied := authorize(host, connection, request, "metrics")) is not None:
            return denied
        return _response(200, host.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
    if path == "/v1/report":
        if (denied := authorize(host, connection, request, "report")) is not None:
            return denied
        return _json(connection, 200, await asyncio.to_thread(host.audit_report))
    if path == "/v1/controls":  # adding and removing: POST / DELETE, controls_api.py
        if (denied := authorize(host, connection, request, "read_controls")) is not None:
            return denied
        return _json(connection, 200, await asyncio.to_thread(host.controls_view))
    if path in PAGES or path.startswith("/static/"):
        return _static(connection, PAGES.get(path, path[len("/static/"):]))
    m = CALL_PATH.match(path)
    if m:
        if (denied := authorize(host, connection, request, "read_call", m.group(1))) is not None:
            return denied
        info = await host.bus.call_info(m.group(1))
        if info is None:
            return _json(connection, 404, error_message(ErrorCode.UNKNOWN_CALL, f"no call {m.group(1)!r}"))
        events = await host.bus.history(m.group(1))
        return _json(connection, 200, {"call": info.to_dict(), "events": events})
    return _json(connection, 404, error_message(ErrorCode.NOT_FOUND, f"no route for {path}"))

def _static(connection: ServerConnection, name: str) -> Response:
    """Serve a file of the web overlay (no build step: plain HTML/JS/CSS)."""
    path = (STATIC_DIR / name).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        return _json(connection, 404, error_message(ErrorCode.NOT_FOUND, f"no page {name!r}"))
    return _response(200, path.read_bytes(), CONTENT_TYPES.get(path.suffix, "application/octet-stream"))


def _json(connection: ServerConnection, status: int, body: Any) -> Response:
    return _response(status, (json.dumps(body) + "\n").encode(), "application/json")


def _response(status: int, body: bytes, content_type: str) -> Response:
    st = http.HTTPStatus(status)
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-cache")])
    return Response(st.value, st.phrase, headers, body)
