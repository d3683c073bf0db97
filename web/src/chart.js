// A small hand-drawn SVG chart: the close price of recent bars, with buy and sell signals marked.

import { svg, epochSeconds } from "./dom.js";

const W = 720;
const H = 240;
const PAD = { left: 56, right: 12, top: 12, bottom: 24 };

// A signal is drawn at the market time of the event it answered (event_ts), which is on the bars' clock.
export const timeOf = (x) => epochSeconds(x.event_ts ?? x.ts ?? x.time);
const clock = (t) => new Date(t * 1000).toLocaleTimeString();
const priceOf = (bar) => Number(bar.close ?? bar.c ?? bar.price);

/** The symbol a subscription names (`bars.BTC-USD`, `trades.binance.BTC-USDT`), or undefined (`trades`). */
export const symbolOf = (subscription) =>
  String(subscription).split(".").slice(1).find((part) => /^[A-Z0-9]/.test(part));

/**
 * The symbols a strategy's chart can show, in a stable order: those its subscriptions name, then any other its
 * signals were for (sorted). The chart starts at the first and changes only when the user picks another.
 */
export function chartSymbols(subscriptions, signals) {
  const subscribed = [...new Set(subscriptions.map(symbolOf).filter(Boolean))];
  const others = [...new Set(signals.map((s) => s.symbol).filter((s) => s && !subscribed.includes(s)))].sort();
  return [...subscribed, ...others];
}

/**
 * `{chart, outside}`: the chart as an <svg> with a text alternative, and how many signals fall outside the
 * bars' time range (not drawn); null when there is nothing to draw.
 */
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
  const ofSymbol = signals
    .filter((s) => (s.symbol ?? symbol) === symbol)
    .map((s) => ({ t: timeOf(s), side: String(s.side || "").toLowerCase() }));
  const marks = ofSymbol.filter((s) => Number.isFinite(s.t) && s.t >= t0 && s.t <= t1);
  const line = points.map(([t, p]) => `${x(t).toFixed(1)},${y(p).toFixed(1)}`).join(" ");
  const fmt = (p) => p.toLocaleString(undefined, { maximumFractionDigits: 2 });
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": "chart-title" },
    svg("title", { id: "chart-title" },
      `${symbol}: close from ${fmt(points[0][1])} to ${fmt(points[points.length - 1][1])}, ` +
      `range ${fmt(lo)}–${fmt(hi)}; ${marks.length} signal(s) in view`),
    svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(lo), y2: y(lo), class: "axis" }),
    svg("line", { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom, class: "axis" }),
    svg("text", { x: PAD.left - 6, y: y(hi) + 4, class: "tick", "text-anchor": "end" }, fmt(hi)),
    svg("text", { x: PAD.left - 6, y: y(lo) + 4, class: "tick", "text-anchor": "end" }, fmt(lo)),
    svg("text", { x: PAD.left, y: H - 6, class: "tick" }, clock(t0)),
    svg("text", { x: W - PAD.right, y: H - 6, class: "tick", "text-anchor": "end" }, clock(t1)),
    svg("polyline", { points: line, class: "price" }),
    marks.map((m) => {
      const cx = x(m.t);
      const cy = y(priceAt(m.t));
      const label = `${m.side} at ${clock(m.t)}`;
      if (m.side === "flat") return svg("circle", { cx, cy, r: 4, class: "flat" }, svg("title", {}, label));
      const up = m.side === "buy";
      const d = up ? `M${cx},${cy - 7} l6,10 h-12 z` : `M${cx},${cy + 7} l6,-10 h-12 z`;
      return svg("path", { d, class: up ? "buy" : "sell" }, svg("title", {}, label));
    }),
  );
  return { chart, outside: ofSymbol.length - marks.length };
}

/** The equity curve of a backtest ([[iso time, equity], ...]) as an <svg> with a text alternative; null if empty. */
export function equityChart(equity, capital) {
  const points = equity.map(([t, v]) => [Date.parse(t) / 1000, Number(v)]).filter(([t, v]) => Number.isFinite(t + v));
  if (points.length < 2) return null;
  const LEFT = 84; // room for six-figure equity labels
  const t0 = points[0][0];
  const t1 = points[points.length - 1][0];
  const values = points.map(([, v]) => v);
  const lo = Math.min(capital, ...values);
  const hi = Math.max(capital, ...values);
  const x = (t) => LEFT + ((t - t0) / (t1 - t0 || 1)) * (W - LEFT - PAD.right);
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo || 1)) * (H - PAD.top - PAD.bottom);
  const fmt = (v) => v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  const line = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": "equity-title" },
    svg("title", { id: "equity-title" },
      `Equity from ${fmt(values[0])} to ${fmt(values[values.length - 1])}, range ${fmt(lo)}–${fmt(hi)}`),
    svg("line", { x1: LEFT, x2: W - PAD.right, y1: y(capital), y2: y(capital), class: "axis" }),
    svg("line", { x1: LEFT, x2: LEFT, y1: PAD.top, y2: H - PAD.bottom, class: "axis" }),
    svg("text", { x: LEFT - 6, y: y(hi) + 4, class: "tick", "text-anchor": "end" }, fmt(hi)),
    svg("text", { x: LEFT - 6, y: y(lo) + 4, class: "tick", "text-anchor": "end" }, fmt(lo)),
    svg("text", { x: LEFT, y: H - 6, class: "tick" }, clock(t0)),
    svg("text", { x: W - PAD.right, y: H - 6, class: "tick", "text-anchor": "end" }, clock(t1)),
    svg("polyline", { points: line, class: "price" }),
  );
}
