// One call's event feed over a websocket that comes back by itself.
//
// Why: the agent must never have to reload the overlay. Every (re)connect asks for
// `since=<last durable id applied>`, so the server replays exactly what was missed;
// the model (model.js) skips anything at or below that id, so nothing is shown twice.
// Feedback clicked while the socket is down is queued and sent on reconnect.

import { eventsUrl } from "./urls.js";

const MAX_QUEUE = 100;

export class CallFeed {
  constructor({
    callId, token = "", lastId = () => null, onEvent, onState = () => {},
    location = window.location, keepAliveMs = 15000, maxBackoffMs = 5000,
  }) {
    Object.assign(this, { callId, token, lastId, onEvent, onState, location, keepAliveMs, maxBackoffMs });
    this.ws = null;
    this.state = "idle"; // connecting | live | reconnecting | closed
    this.connects = 0; // connections opened (1 + reconnects)
    this.attempt = 0; // failures since the last open
    this.lastUrl = "";
    this.lastClose = null;
    this.queue = [];
    this.stopped = true;
    this._retry = null;
    this._keepAlive = null;
  }

  start() {
    this.stopped = false;
    this._connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this._retry);
    clearInterval(this._keepAlive);
    if (this.ws) this.ws.close(1000, "closed by the page");
    this.ws = null;
    this._setState("closed");
  }

  /** Send a message; queued (bounded) while disconnected. True if sent now. */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    this.queue.push(msg);
    if (this.queue.length > MAX_QUEUE) this.queue.shift();
    return false;
  }

  /** Drop the connection as a network failure would (tests, "reconnect now"). */
  drop() {
    if (this.ws) this.ws.close(4000, "dropped by the page");
  }

  _connect() {
    const url = eventsUrl(this.location, this.callId, { since: this.lastId(), token: this.token });
    this.lastUrl = url;
    this._setState(this.connects ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.connects++;
      this.attempt = 0;
      this._setState("live");
      const pending = this.queue.splice(0);
      for (const m of pending) ws.send(JSON.stringify(m));
      clearInterval(this._keepAlive);
      this._keepAlive = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"KeepAlive"}');
      }, this.keepAliveMs);
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      this.onEvent(e);
    };
    ws.onerror = () => {}; // a close event always follows
    // Every close but stop() reconnects, 1000 included: a node shutting down closes with
    // 1001 ("reconnect with since") and the load balancer sends the retry to another node.
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      clearInterval(this._keepAlive);
      this.ws = null;
      this.lastClose = { code: ev.code, reason: ev.reason };
      if (this.stopped) return;
      this._scheduleRetry();
    };
  }

  _scheduleRetry() {
    this._setState("reconnecting");
    const base = Math.min(this.maxBackoffMs, 250 * 2 ** this.attempt++);
    clearTimeout(this._retry);
    this._retry = setTimeout(() => this._connect(), base * (0.5 + Math.random() / 2));
  }

  _setState(s) {
    if (s === this.state) return;
    this.state = s;
    this.onState(s, this);
  }
}
