"""Who may hear a call: API keys for services, signed short-lived tokens for people.

* API keys (`SOUFFLEUR_API_KEYS="role:name:secret,…"`) identify services: a
  softphone integration (`softphone`: may stream audio for calls it starts), a
  batch `worker`, an ops `supervisor` key, or `admin`.
* Tokens are minted per call by a CRM or the softphone for an agent (may read
  and give feedback on that one call) or for a supervisor (all calls, reports):
  `v1.<payload>.<hmac>` with an HMAC-SHA256 over the payload and an expiry,
  signed with `SOUFFLEUR_TOKEN_SECRET`. `souffleur token` mints one.

Credentials come as `Authorization: Token …` (Deepgram's style), `Bearer …`,
or a `token` query parameter (browsers cannot set websocket headers). With
neither keys nor a token secret configured the service runs open, which is only
allowed on a loopback address (see `check_bind`). Pure logic: no I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

ROLES = ("softphone", "agent", "supervisor", "worker", "admin")

# action -> roles allowed (call scoping for tokens is checked separately)
PERMISSIONS: dict[str, set[str]] = {
    "stream": {"softphone", "admin"},
    "transcribe": {"softphone", "worker", "admin"},  # pre-recorded POST /v1/listen
    "read_call": {"agent", "supervisor", "admin"},
    "feedback": {"agent", "supervisor", "admin"},
    "list_calls": {"supervisor", "admin"},
    "report": {"supervisor", "admin"},
    "metrics": {"supervisor", "admin"},
    # supervisor controls on the assistant (mute, threshold, retire): read and change
    "read_controls": {"supervisor", "admin"},
    "change_controls": {"supervisor", "admin"},
}


class AuthError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    role: str
    name: str  # key name or token subject: safe to log, never the secret
    kind: str  # key | token | open
    call_id: str | None = None  # tokens are scoped to one call (agents, softphones)

    @property
    def key_id(self) -> str:
        return f"{self.kind}:{self.name}"


OPEN = Principal("admin", "anonymous", "open")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def mint_token(secret: str, role: str, sub: str, call_id: str | None = None, ttl: float = 3600,
               now: float | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role in ("agent", "softphone") and not call_id:
        raise ValueError(f"a {role} token is scoped to one call: give call_id")
    now = time.time() if now is None else now
    payload = {"sub": sub, "role": role, "iat": int(now), "exp": int(now + ttl)}
    if call_id:
        payload["call"] = call_id
    body = "v1." + _b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return body + "." + _b64(sig)


def verify_token(secret: str, token: str, now: float | None = None) -> dict:
    """The token's payload, or AuthError(401) saying what is wrong with it."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise AuthError(401, "malformed token")
    body = parts[0] + "." + parts[1]
    want = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    try:
        got = _unb64(parts[2])
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, json.JSONDecodeError):
        raise AuthError(401, "malformed token") from None
    if not hmac.compare_digest(want, got):
        raise AuthError(401, "token signature is not valid")
    now = time.time() if now is None else now
    if not isinstance(payload, dict) or payload.get("role") not in ROLES:
        raise AuthError(401, "token has no valid role")
    if float(payload.get("exp", 0)) < now:
        raise AuthError(401, "token expired")
    return payload


def fingerprint(secret: str) -> str:
    """What logs show instead of a credential."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class Authenticator:
    def __init__(self, api_keys: dict[str, tuple[str, str]] | None = None,
                 token_secret: str | None = None) -> None:
        self.api_keys = api_keys or {}  # secret -> (role, name)
        self.token_secret = token_secret or None

    @property
    def open(self) -> bool:
        return not self.api_keys and not self.token_secret

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Authenticator:
        env = os.environ if env is None else env
        return cls(parse_api_keys(env.get("SOUFFLEUR_API_KEYS", "")), env.get("SOUFFLEUR_TOKEN_SECRET") or None)

    def authenticate(self, authorization: str | None, query: str = "") -> Principal:
        if self.open:
            return OPEN
        cred = None
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() in ("token", "bearer") and value.strip():
                cred = value.strip()
        if cred is None:
            cred = (parse_qs(query).get("token") or [None])[-1]
        if not cred:
            raise AuthError(401, "credentials required: 'Authorization: Token <key or token>' or ?token=")
        for secret, (role, name) in self.api_keys.items():
            if hmac.compare_digest(secret.encode(), cred.encode()):
                return Principal(role, name, "key")
        if self.token_secret and cred.startswith("v1."):
            p = verify_token(self.token_secret, cred)
            return Principal(p["role"], str(p.get("sub", "?")), "token", p.get("call"))
        raise AuthError(401, f"unknown API key or token (fingerprint {fingerprint(cred)})")

    @staticmethod
    def authorize(p: Principal, action: str, call_id: str | None = None) -> None:
        if p.role not in PERMISSIONS.get(action, set()):
            raise AuthError(403, f"role {p.role!r} may not {action.replace('_', ' ')}")
        if p.kind == "token" and p.call_id is not None and call_id is not None and p.call_id != call_id:
            raise AuthError(403, f"this token is for another call, not {call_id!r}")


def parse_api_keys(spec: str) -> dict[str, tuple[str, str]]:
    """`role:name:secret,…` -> {secret: (role, name)}."""
    keys: dict[str, tuple[str, str]] = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        role, _, rest = item.partition(":")
        name, _, secret = rest.partition(":")
        if role not in ROLES or not name or len(secret) < 16:
            raise ValueError(f"bad API key entry for {name or '?'!r}: expected role:name:secret "
                             f"with a role in {ROLES} and a secret of 16+ characters")
        keys[secret] = (role, name)
    return keys


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: Authenticator) -> str | None:
    """None if serving is allowed; else why not. Open mode is for loopback only."""
    if auth.open and not is_loopback(host):
        return (f"refusing to listen on {host} without credentials: set SOUFFLEUR_API_KEYS and/or "
                "SOUFFLEUR_TOKEN_SECRET, or bind to 127.0.0.1")
    return None
