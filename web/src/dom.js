// A tiny DOM builder: text always goes in as text nodes, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

export function shortSha(sha) {
  return sha ? String(sha).slice(0, 8) : "—";
}

/** Seconds since the epoch from seconds, milliseconds, microseconds or nanoseconds (the feed uses ns). */
export function epochSeconds(value) {
  if (typeof value !== "number") return Date.parse(value) / 1000;
  const scale = [1e17, 1e14, 1e11].findIndex((limit) => Math.abs(value) >= limit);
  return scale < 0 ? value : value / [1e9, 1e6, 1e3][scale];
}

export function formatTime(value) {
  if (value === undefined || value === null || value === "") return "—";
  const ms = epochSeconds(value) * 1000;
  if (Number.isNaN(ms)) return String(value);
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A diff as a <pre> with added and removed lines marked (by class, and by the +/- the text already has). */
export function diffBlock(text, label) {
  const lines = String(text || "").split("\n");
  return h(
    "pre",
    { class: "diff", tabindex: "0", "aria-label": label },
    lines.map((line) => {
      const cls = line.startsWith("+") && !line.startsWith("+++") ? "add"
        : line.startsWith("-") && !line.startsWith("---") ? "del"
        : line.startsWith("@@") ? "hunk" : "";
      return h("span", { class: cls }, line, "\n");
    }),
  );
}
