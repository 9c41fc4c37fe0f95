"""What `RedisBus` keeps in Redis and how: key names, Lua scripts, stream ids.

Kept apart from the bus so the storage format can be read (and changed) in one
place; every other part of the Redis bus only names keys through `KeyLayout`.

Layout (prefix `souffleur:` by default, `SOUFFLEUR_REDIS_PREFIX`):

  {p}call:{id}:events   Stream, the call's durable log; entry id = event id
  {p}call:{id}:payloads hash, entry id -> the event as stored (redacted)
  {p}call:{id}:live     pub/sub channel: every event of the call, durable ones
                        with their id and the id before them, transient ones bare
  {p}call:{id}          hash, call state (owner node, started, ended, meta)
  {p}calls              sorted set of call ids by start time (listing)
  {p}node:{node}        pub/sub channel, control messages for one node (feedback)
  {p}controls           hash, supervisor control id -> the control (JSON); no expiry
  {p}controls:version   counter, increased by every change of the controls
  {p}controls:changed   pub/sub channel: the new version after each change
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streaming.service.bus import CallInfo

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)  # BusyLoadingError included
StreamId = tuple[int, int]

# Append one durable event: explicit id unless another writer is ahead (a retry
# of this writer's append that already landed is a no-op), the payload in the
# call's payload hash (mutable: a name captured later is redacted retroactively),
# then the live message carrying the previous id so subscribers can tell whether
# they missed one. ARGV[2] is what is stored (redacted), ARGV[4] what live
# desktops get ('' = the same), ARGV[5] the writer.
APPEND = """
local function parse(id)
  local d = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1))
end
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if #top > 0 then prev = top[1][1] end
local id = ARGV[1]
local am, as = parse(id)
local bm, bs = parse(prev)
local live = ARGV[2]
if ARGV[4] ~= '' then live = ARGV[4] end
if am > bm or (am == bm and as > bs) then
  redis.call('XADD', KEYS[1], id, 'w', ARGV[5])
else
  local same = redis.call('XRANGE', KEYS[1], id, id)
  if #same > 0 and same[1][2][2] == ARGV[5] then
    return {id, 0}
  end
  id = redis.call('XADD', KEYS[1], '*', 'w', ARGV[5])
end
redis.call('HSET', KEYS[3], id, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('PUBLISH', KEYS[2], prev .. '\\n' .. id .. '\\n' .. live)
return {id, 1}
"""

# A stored event redacted again (a value captured after it was said); never creates one.
REWRITE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""

# Entries (last, upto] with their payloads, in one round trip.
READ = """
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
local out = {}
for _, e in ipairs(entries) do
  out[#out + 1] = e[1]
  out[#out + 1] = redis.call('HGET', KEYS[2], e[1]) or ''
end
return out
"""

END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'ended', 'ended', ARGV[1], 'end_meta', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[3])
redis.call('PUBLISH', KEYS[3], '\\n\\n' .. ARGV[4])
return 1
"""

SYNC = """
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #top > 0 then id = top[1][1] end
redis.call('PUBLISH', KEYS[2], 'sync\\n' .. id .. '\\n')
return id
"""


class KeyLayout:
    """The key names of one deployment (its prefix), as in the table above."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def events(self, call_id: str) -> str:
        return self.key("call", call_id, "events")

    def payloads(self, call_id: str) -> str:
        return self.key("call", call_id, "payloads")

    def live(self, call_id: str) -> str:
        return self.key("call", call_id, "live")

    def call(self, call_id: str) -> str:
        return self.key("call", call_id)

    def node(self, node: str) -> str:
        return self.key("node", node)

    def controls(self) -> str:
        return self.key("controls")

    def controls_version(self) -> str:
        return self.key("controls", "version")

    def controls_changed(self) -> str:
        return self.key("controls", "changed")

    def call_of_live(self, channel: str) -> str:
        """The call id a live channel belongs to (inverse of `live`)."""
        return channel[len(self.key("call", "")):-len(":live")]


def parse_id(s: str | None) -> StreamId:
    """A stream id (`ms-seq`) as a comparable tuple; unknown forms mean 'from the start'."""
    if not s or s in ("0", "$"):
        return (0, 0)
    ms, _, seq = str(s).partition("-")
    try:
        return (int(ms), int(seq or 0))
    except ValueError:
        return (0, 0)


def format_id(t: StreamId) -> str:
    return f"{t[0]}-{t[1]}"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        p = urlsplit(url)
    except ValueError:
        return url
    if p.password is None:
        return url
    host = p.hostname or ""
    netloc = f"{p.username or ''}:***@{host}" + (f":{p.port}" if p.port else "")
    return urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


def info_from_hash(h: dict[str, str]) -> CallInfo:
    """A call's state hash (`{p}call:{id}`) back as `CallInfo`."""
    meta = json.loads(h.get("meta") or "{}")
    meta.update(json.loads(h.get("end_meta") or "{}"))
    return CallInfo(
        call_id=h["call_id"],
        status=h.get("status", "active"),
        started=float(h.get("started") or 0.0),
        ended=float(h["ended"]) if h.get("ended") else None,
        node=h.get("node", ""),
        meta=meta,
    )
