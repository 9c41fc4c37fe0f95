// Page parameters and the server URLs built from them. A `token` on the page URL is
// passed on to every websocket and API call: browsers cannot set headers on a
// websocket, so the server also accepts `?token=` (see streaming/service/auth.py).

const truthy = (v) => v !== null && !["", "0", "false", "no"].includes(v.toLowerCase());

/** What the page was opened with: /agent?call_id=…&token=…&readonly=1&bench=1&window=N */
export function pageParams(search) {
  const q = new URLSearchParams(search);
  const n = parseInt(q.get("window") || "", 10);
  return {
    callId: q.get("call_id") || "",
    token: q.get("token") || "",
    readonly: truthy(q.get("readonly")),
    bench: truthy(q.get("bench")),
    window: Number.isFinite(n) && n > 0 ? n : null,
  };
}

/** ws(s)://host/v1/calls/{id}/events?wait=true&since=…&token=… */
export function eventsUrl(loc, callId, { since = null, token = "", wait = true } = {}) {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams();
  if (wait) q.set("wait", "true");
  if (since !== null && since !== undefined && since !== "") q.set("since", String(since));
  if (token) q.set("token", token);
  const qs = q.toString();
  return `${proto}//${loc.host}/v1/calls/${encodeURIComponent(callId)}/events${qs ? "?" + qs : ""}`;
}

/** An HTTP API path with the page's token appended. */
export function apiUrl(path, token = "") {
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

/** The agent overlay of a call, optionally read-only (the supervisor's view of it). */
export function overlayUrl(callId, { token = "", readonly = false } = {}) {
  const q = new URLSearchParams({ call_id: callId });
  if (readonly) q.set("readonly", "1");
  if (token) q.set("token", token);
  return `/agent?${q}`;
}
