"""HTTP requests with a body on the websocket port (`POST /v1/listen`, pre-recorded audio).

Why this exists: the server is websockets' own (`websockets.asyncio.server.serve`),
whose HTTP side is `process_request`, and websockets (14 to 17) parses only
requests without a body: `Request.parse` raises "unsupported request body" for
any `Content-Length` but 0 and refuses `Transfer-Encoding`, and the connection
is then dropped without an HTTP answer (what Deepgram's SDK saw on
`transcribe_file`). Deepgram clients take one base URL for both APIs, so the
body must be read on the same port; a second HTTP framework beside websockets
would be a second server to run and drain.

So `RoutingConnection` (websockets' documented `create_connection` hook) reads
the request head before websockets sees a byte. A GET (websocket upgrades,
pages, health checks, the calls API) is handed to websockets untouched, as if
nothing had looked. Any other method leaves websockets altogether: the socket
is switched to an asyncio stream (`transport.set_protocol`) and the request
goes to the server's HTTP handler, which reads the body as it arrives (so a
large upload is streamed to disk, never held whole) with flow control.
Responses close the connection (`Connection: close`): one request per
connection keeps this small, and clients reconnect transparently.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

log = logging.getLogger("souffleur")

MAX_HEAD_BYTES = 16 * 1024  # request line and headers
HEAD_TIMEOUT_S = 10.0  # a client must send its request head this fast (websockets' open_timeout)
READ_LIMIT = 1 << 16  # stream buffer: reading pauses when the handler falls this far behind


@dataclass
class HttpRequest:
    method: str
    target: str  # path and query, as sent
    headers: Headers

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


HttpHandler = Callable[[HttpRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class HttpError(Exception):
    """A request that gets an error response (status, machine code, readable reason)."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


class RoutingConnection(ServerConnection):
    """A websockets connection that first looks at the request head (see module doc)."""

    http_handler: HttpHandler  # set by `routing_connection`

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # websockets' own connection_made (which starts its handshake task) waits
        # until we know the request is one for websockets
        self._raw_transport = transport
        self._head = bytearray()
        self._mode = "head"  # head: reading it; websocket: websockets' from here on; done: not ours
        self._timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_S, self._too_slow)

    def data_received(self, data: bytes) -> None:
        if self._mode == "websocket":
            super().data_received(data)
            return
        if self._mode == "done":
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self._refuse(431, "request head too large")
            return
        self._timer.cancel()
        buffered, self._head = bytes(self._head), bytearray()
        if buffered.split(b" ", 1)[0] == b"GET":
            self._mode = "websocket"
            super().connection_made(self._raw_transport)
            super().data_received(buffered)
            return
        try:
            request = parse_head(buffered[:end])
        except ValueError as e:
            self._refuse(400, str(e))
            return
        self._mode = "done"
        self._to_stream(request, buffered[end + 4:])

    def eof_received(self) -> bool | None:
        if self._mode == "websocket":
            return super().eof_received()
        return None  # closes the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._mode == "websocket":
            super().connection_lost(exc)
        else:
            self._mode = "done"
            self._timer.cancel()

    def _too_slow(self) -> None:
        if self._mode == "head":
            self._mode = "done"
            self._raw_transport.abort()

    def _refuse(self, status: int, reason: str) -> None:
        self._mode = "done"
        self._timer.cancel()
        t = self._raw_transport
        t.write(response_bytes(status, json_body(status, "BAD_REQUEST", reason), "application/json"))
        t.close()

    def _to_stream(self, request: HttpRequest, body_start: bytes) -> None:
        """Move the socket to an asyncio stream and run the HTTP handler on it."""
        loop = asyncio.get_running_loop()
        transport = self._raw_transport
        reader = asyncio.StreamReader(limit=READ_LIMIT, loop=loop)
        proto = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport.set_protocol(proto)
        proto.connection_made(transport)
        writer = asyncio.StreamWriter(transport, proto, reader, loop)  # type: ignore[arg-type]
        if body_start:
            proto.data_received(body_start)
        loop.create_task(_serve(self.http_handler, request, reader, writer))


def routing_connection(handler: HttpHandler) -> type[ServerConnection]:
    """The `create_connection` class for `serve()` that sends bodies to `handler`."""
    return type("RoutingConnection", (RoutingConnection,), {"http_handler": staticmethod(handler)})


async def _serve(handler: HttpHandler, request: HttpRequest, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    try:
        await handler(request, reader, writer)
    except HttpError as e:
        with contextlib.suppress(ConnectionError):
            await respond_error(writer, e)
            await drain_body(reader)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        with contextlib.suppress(Exception):
            await respond_error(writer, HttpError(500, "INTERNAL_ERROR", "internal error"))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def parse_head(head: bytes) -> HttpRequest:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise ValueError(f"invalid HTTP request line {lines[0][:80]!r}")
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"invalid header line {line[:80]!r}")
        headers[name] = value.strip()
    return HttpRequest(parts[0], parts[1], headers)


async def read_body(request: HttpRequest, reader: asyncio.StreamReader,
                    limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives (Content-Length or chunked); 413 past `limit`."""
    h = request.headers
    if "chunked" in h.get("Transfer-Encoding", "").lower():
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise HttpError(400, "BAD_REQUEST", "malformed chunked body") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return
            total += size
            if total > limit:
                raise HttpError(413, "PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")
            left = size
            while left:
                chunk = await reader.read(min(left, READ_LIMIT))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(chunk)
                yield chunk
            await reader.readexactly(2)
    if "Transfer-Encoding" in h:
        raise HttpError(501, "NOT_IMPLEMENTED", "only chunked transfer coding is supported")
    try:
        left = int(h.get("Content-Length", "0"))
    except ValueError:
        raise HttpError(400, "BAD_REQUEST", "Content-Length is not a number") from None
    if left > limit:
        raise HttpError(413, "PAYLOAD_TOO_LARGE", f"the body is {left} bytes; the limit is {limit}")
    while left > 0:
        chunk = await reader.read(min(left, READ_LIMIT))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(chunk)
        yield chunk


async def send_continue(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """Answer `Expect: 100-continue` (curl sends it for large uploads) once the request is accepted."""
    if request.headers.get("Expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()


def json_body(status: int, code: str, reason: str) -> bytes:
    """Deepgram's error body (`err_code`, `err_msg`) plus `description`, as our websocket errors."""
    return (json.dumps({"err_code": code, "err_msg": reason, "description": reason,
                        "status": status}) + "\n").encode()


def response_bytes(status: int, body: bytes, content_type: str,
                   headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    phrase = http.HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", "Connection: close", "Cache-Control: no-cache",
             *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def respond(writer: asyncio.StreamWriter, status: int, doc: Any,
                  headers: tuple[tuple[str, str], ...] = ()) -> None:
    writer.write(response_bytes(status, (json.dumps(doc) + "\n").encode(), "application/json", headers))
    await writer.drain()


async def respond_error(writer: asyncio.StreamWriter, e: HttpError) -> None:
    headers = (("Retry-After", "5"),) if e.status in (429, 503) else ()
    writer.write(response_bytes(e.status, json_body(e.status, e.code, e.reason), "application/json",
                                headers))
    await writer.drain()


async def drain_body(reader: asyncio.StreamReader, limit: int = 1 << 20) -> None:
    """Read (and drop) what is left of a refused body, so the client sees the answer, not a reset."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            while limit > 0 and (chunk := await reader.read(READ_LIMIT)):
                limit -= len(chunk)
