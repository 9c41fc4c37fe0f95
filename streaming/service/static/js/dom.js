// A tiny element builder: h("button", {class: "x", onclick: f}, "text", child…).
// Text always goes in as text nodes, never as HTML: transcripts are untrusted input.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function pct(x) {
  return `${Math.round((Number(x) || 0) * 100)}%`;
}

export const SPEAKERS = { agent: "Agent", customer: "Customer" };

export function speakerLabel(s) {
  return SPEAKERS[s] || String(s || "?");
}
