// node --test web/test: the metric history the console charts are drawn from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { METRICS, MetricsHistory, Ring, sampleOf } from "../src/series.js";

const running = (extra = {}) => ({
  state: "Running", events_per_s: 250.5, lag_ms_p99: 1.25, cpu_pct: 12.5, rss_mb: 48.2, restarts: 0, signals: 10,
  ...extra,
});

test("a ring keeps the newest items in order and never more than its capacity", () => {
  const ring = new Ring(3);
  assert.deepEqual(ring.items(), []);
  assert.equal(ring.last(), undefined);
  for (let i = 1; i <= 7; i++) ring.push(i);
  assert.deepEqual(ring.items(), [5, 6, 7]);
  assert.equal(ring.length, 3);
  assert.equal(ring.last(), 7);
  assert.throws(() => new Ring(0), RangeError);
});

test("every charted metric comes from a status field or the signal count", () => {
  const sample = sampleOf(running(), { at: 0, signals: 4 }, 2);
  for (const { key } of METRICS) assert.ok(key in sample, key);
  assert.equal(sample.events_per_s, 250.5);
  assert.equal(sample.lag_ms_p99, 1.25);
  assert.equal(sample.cpu_pct, 12.5);
  assert.equal(sample.rss_mb, 48.2);
  assert.equal(sample.restarts, 0);
  assert.equal(sample.signals_per_s, 3); // (10 - 4) signals over 2 s
});

test("signals/s needs a previous count that is not larger; a stopped strategy is a gap, not a zero", () => {
  assert.equal(sampleOf(running(), undefined, 5).signals_per_s, null);
  assert.equal(sampleOf(running({ signals: 2 }), { at: 1, signals: 9 }, 2).signals_per_s, null); // runtime restarted
  const down = sampleOf({ state: "Unknown", message: "the local runtime is not running" }, { at: 1, signals: 1 }, 2);
  assert.equal(down.events_per_s, null);
  assert.equal(down.cpu_pct, null);
  assert.equal(down.signals_per_s, null);
  const failed = sampleOf({ state: "CrashLoopBackOff", restarts: 4, cpu_pct: 0 }, undefined, 3);
  assert.equal(failed.restarts, 4); // restarts are known while it is down
  assert.equal(failed.cpu_pct, null);
  assert.equal(sampleOf(running({ lag_ms_p99: null }), undefined, 1).lag_ms_p99, null); // no event in the window
});

test("the history is per strategy, bounded, and in uPlot's aligned layout", () => {
  const history = new MetricsHistory(4);
  for (let t = 1; t <= 6; t++) {
    history.add([
      { name: "a", status: running({ signals: t * 2, cpu_pct: t }) },
      { name: "b", status: { state: "Unknown" } },
      { name: "no-status" },
    ], t);
  }
  assert.deepEqual(history.series("a", "cpu_pct"), [[3, 4, 5, 6], [3, 4, 5, 6]]);
  assert.deepEqual(history.series("a", "signals_per_s"), [[3, 4, 5, 6], [2, 2, 2, 2]]);
  assert.deepEqual(history.series("b", "events_per_s"), [[3, 4, 5, 6], [null, null, null, null]]);
  assert.deepEqual(history.series("no-status", "cpu_pct"), [[], []]);
  assert.equal(history.latest("a", "rss_mb"), 48.2);
  assert.equal(history.latest("b", "rss_mb"), null);
  history.add([{ name: "a", status: running({ cpu_pct: 99 }) }], 6); // the same instant again: not a new sample
  history.add([{ name: "a", status: running({ cpu_pct: 99 }) }], 5.5); // an older one: neither
  assert.equal(history.latest("a", "cpu_pct"), 6);
});
