// A small hand-drawn SVG chart: the close price of recent bars, with buy and sell signals marked.

import { svg } from "./dom.js";

const W = 720;
const H = 240;
const PAD = { left: 56, right: 12, top: 12, bottom: 24 };

export const timeOf = (x) => {
  const t = x.ts ?? x.time ?? x.t ?? x.timestamp;
  return typeof t === "number" ? t : Date.parse(t) / 1000;
};
const priceOf = (bar) => Number(bar.close ?? bar.c ?? bar.price);

/** The chart as an <svg> with a text alternative; null when there is nothing to draw. */
export function priceChart(bars, signals, symbol) {
  const points = bars.map((b) => [timeOf(b), priceOf(b)]).filter(([t, p]) => Number.isFinite(t) && Number.isFinite(p));
  if (points.length < 2) return null;
  points.sort((a, b) => a[0] - b[0]);
  const t0 = points[0][0];
  const t1 = points[points.length - 1][0];
  const prices = points.map(([, p]) => p);
  const lo = Math.min(...prices);
  const hi = Math.max(...prices);
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * (W - PAD.left - PAD.right);
  const y = (p) => PAD.top + (1 - (p - lo) / (hi - lo || 1)) * (H - PAD.top - PAD.bottom);
  const priceAt = (t) => {
    const after = points.findIndex(([pt]) => pt >= t);
    return after <= 0 ? points[Math.max(after, 0)][1] : points[after - 1][1];
  };
  const marks = signals
    .filter((s) => (s.symbol ?? symbol) === symbol)
    .map((s) => ({ t: timeOf(s), side: String(s.side || "").toLowerCase(), price: Number(s.price) }))
    .filter((s) => Number.isFinite(s.t) && s.t >= t0 && s.t <= t1);
  const line = points.map(([t, p]) => `${x(t).toFixed(1)},${y(p).toFixed(1)}`).join(" ");
  const fmt = (p) => p.toLocaleString(undefined, { maximumFractionDigits: 2 });
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": "chart-title" },
    svg("title", { id: "chart-title" },
      `${symbol}: close from ${fmt(points[0][1])} to ${fmt(points[points.length - 1][1])}, ` +
      `range ${fmt(lo)}–${fmt(hi)}; ${marks.length} signal(s) in view`),
    svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(lo), y2: y(lo), class: "axis" }),
    svg("line", { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom, class: "axis" }),
    svg("text", { x: PAD.left - 6, y: y(hi) + 4, class: "tick", "text-anchor": "end" }, fmt(hi)),
    svg("text", { x: PAD.left - 6, y: y(lo) + 4, class: "tick", "text-anchor": "end" }, fmt(lo)),
    svg("polyline", { points: line, class: "price" }),
    marks.map((m) => {
      const cx = x(m.t);
      const cy = y(Number.isFinite(m.price) ? m.price : priceAt(m.t));
      const up = m.side !== "sell";
      const d = up ? `M${cx},${cy - 7} l6,10 h-12 z` : `M${cx},${cy + 7} l6,-10 h-12 z`;
      return svg("path", { d, class: up ? "buy" : "sell" }, svg("title", {}, `${m.side} at ${new Date(m.t * 1000).toLocaleTimeString()}`));
    }),
  );
}
