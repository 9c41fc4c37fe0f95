"""The supervisor controls API: list, add and remove controls on the assistant.

  GET    /v1/controls        the controls in force, what they can target, and their effect
  POST   /v1/controls        add one: {target, target_id, action, scope?, value?, why}
  DELETE /v1/controls/{id}   remove one (optional body {"why": …} or ?why=)

Reading and changing both need the `supervisor` or `admin` role (docs/security.md).
Who and when come from the credential and the clock, never from the body. Every
change and every refused attempt is logged and written to the audit trail
(`data_dir/audit.jsonl`, records of kind `control` and `control_denied`). The change
itself goes through the event bus, which hands it to every node's calls
(`SouffleurServer.controls`, swapped in on each change; `bus.py`, `redis_controls.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

from assist.api import (
    Control,
    ControlError,
    ControlSet,
    JsonlAuditStore,
    KnowledgeBase,
    LiveControls,
    check_target,
    control_targets,
)
from streaming.service.auth import Authenticator, AuthError, Principal
from streaming.service.bus import EventBus
from streaming.service.http_front import HttpError, HttpRequest, read_body, respond

log = logging.getLogger("souffleur")

CONTROLS_PATH = "/v1/controls"
CONTROL_PATH = re.compile(r"^/v1/controls/([A-Za-z0-9_.:\-]{1,64})$")
MAX_BODY = 16 * 1024


class ControlBoard:
    """A node's view of the controls: what is in force (`live`, read by every call's
    assistant), what they may target, and the audit trail changes are written to."""

    def __init__(self, bus: EventBus, data_dir: str | Path) -> None:
        self.bus = bus
        self.live = LiveControls()
        self.audit = JsonlAuditStore(Path(data_dir) / "audit.jsonl")
        self._targets: dict[str, Any] | None = None

    async def follow(self) -> None:
        """The controls in force from the bus now, and every change (any node) from then on."""
        seen = False

        def changed(items: list[dict[str, Any]]) -> None:
            nonlocal seen
            seen = True
            self.live.set(ControlSet.from_list(items))

        self.bus.watch_controls(changed)
        try:
            items = await self.bus.controls()
        except Exception as e:  # Redis gone since the start-up check: the feed reloads on reconnect
            log.error("could not read the supervisor controls (%s); none in force until the bus is back", e)
            return
        if not seen:  # a change that arrived meanwhile is at least as new
            self.live.set(ControlSet.from_list(items))

    def targets(self) -> dict[str, Any]:
        if self._targets is None:
            self._targets = control_targets()
        return self._targets

    def view(self, report: dict[str, Any]) -> dict[str, Any]:
        return {"controls": self.live.get().to_list(), "targets": self.targets(),
                "effects": report.get("controls", [])}


class ControlsHost(Protocol):
    """What the controls API reads of the server (`SouffleurServer`)."""

    auth: Authenticator
    board: ControlBoard


def is_controls_path(path: str) -> bool:
    return path == CONTROLS_PATH or CONTROL_PATH.match(path) is not None


def audit_record(op: str, p: Principal, **fields: Any) -> dict[str, Any]:
    return {"kind": "control" if op in ("add", "remove") else "control_denied", "op": op,
            "ts": time.time(), "who": p.name, "role": p.role, "credential": p.kind, **fields}


def authorize_change(host: ControlsHost, request: HttpRequest) -> Principal:
    """The principal allowed to change controls; else 401/403, logged and audited."""
    try:
        p = host.auth.authenticate(request.headers.get("Authorization"), request.query)
    except AuthError as e:
        log.warning("denied change_controls %s %s: %s", request.method, request.path, e.reason)
        raise HttpError(e.status, "UNAUTHORIZED", e.reason) from None
    try:
        host.auth.authorize(p, "change_controls")
    except AuthError as e:
        log.warning("denied change_controls %s %s for %s (%s): %s", request.method, request.path,
                    p.name, p.role, e.reason)
        host.board.audit.append(audit_record("denied", p, method=request.method,
                                                 path=request.path, reason=e.reason))
        raise HttpError(e.status, "FORBIDDEN", e.reason) from None
    return p


async def read_json(request: HttpRequest, reader: asyncio.StreamReader, required: bool) -> dict[str, Any]:
    body = b"".join([chunk async for chunk in read_body(request, reader, MAX_BODY)])
    if not body.strip():
        if required:
            raise HttpError(400, "BAD_REQUEST", "send the control as a JSON object")
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        raise HttpError(400, "BAD_REQUEST", "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise HttpError(400, "BAD_REQUEST", "the body must be a JSON object")
    return doc


async def handle_controls(host: ControlsHost, request: HttpRequest, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
    """POST /v1/controls and DELETE /v1/controls/{id} (GET is in `routes`)."""
    m = CONTROL_PATH.match(request.path)
    if request.method == "POST" and request.path == CONTROLS_PATH:
        p = authorize_change(host, request)
        body = await read_json(request, reader, required=True)
        try:
            control = Control.from_dict(body, who=p.name, when=time.time(), new_id=True)
            if not control.why:
                raise ControlError("say why (the audit trail keeps who, when and why)")
            control = check_target(control, await asyncio.to_thread(host.board.targets),
                                   KnowledgeBase.from_dir())
        except ControlError as e:
            raise HttpError(400, "BAD_CONTROL", str(e)) from None
        await host.board.bus.put_control(control.to_dict())
        host.board.audit.append(audit_record("add", p, why=control.why, control=control.to_dict()))
        log.info("control %s added by %s: %s", control.id, p.name, control.label())
        await respond(writer, 201, {"control": control.to_dict()})
        return
    if request.method == "DELETE" and m:
        p = authorize_change(host, request)
        body = await read_json(request, reader, required=False)
        why = str(body.get("why") or _query_why(request.query) or "").strip()[:500]
        gone = await host.board.bus.remove_control(m.group(1))
        if gone is None:
            raise HttpError(404, "UNKNOWN_CONTROL", f"no control {m.group(1)!r}")
        host.board.audit.append(audit_record("remove", p, why=why, control=gone))
        log.info("control %s removed by %s", m.group(1), p.name)
        await respond(writer, 200, {"removed": gone, "who": p.name, "why": why})
        return
    allowed = "GET, POST" if request.path == CONTROLS_PATH else "DELETE"
    raise HttpError(405, "METHOD_NOT_ALLOWED", f"{request.path} takes {allowed}")


def _query_why(query: str) -> str:
    return (parse_qs(query).get("why") or [""])[-1]
