// Per-strategy metric history kept in the browser: a bounded ring buffer per strategy, fed by the status rows
// that the `fleet` server-sent events push. No DOM here, so node's test runner can check it (web/test).

/** The metrics charted per strategy: status field (or derived value), title, unit. */
export const METRICS = [
  { key: "events_per_s", title: "Events/s", unit: "/s" },
  { key: "lag_ms_p99", title: "Feed lag p99", unit: "ms" },
  { key: "cpu_pct", title: "CPU", unit: "%" },
  { key: "rss_mb", title: "Memory (RSS)", unit: "MB" },
  { key: "restarts", title: "Restarts", unit: "" },
  { key: "signals_per_s", title: "Signals/s", unit: "/s" },
];

/** 10 minutes of samples at the service's one look per second. */
export const HISTORY_SAMPLES = 600;

/** A fixed-size ring buffer: `push` overwrites the oldest item once full; `items()` is oldest first. */
export class Ring {
  constructor(capacity) {
    if (!(capacity >= 1)) throw new RangeError("a ring holds at least one item");
    this.capacity = capacity;
    this.buffer = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(item) {
    const at = (this.start + this.length) % this.capacity;
    this.buffer[at] = item;
    if (this.length < this.capacity) this.length += 1;
    else this.start = (this.start + 1) % this.capacity;
  }

  last() {
    return this.length ? this.buffer[(this.start + this.length - 1) % this.capacity] : undefined;
  }

  items() {
    return Array.from({ length: this.length }, (_, i) => this.buffer[(this.start + i) % this.capacity]);
  }
}

const number = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

/**
 * One sample of a status row at time `at` (epoch seconds). Signals/s is the change of the cumulative `signals`
 * count since `previous`; a count that went down (a restarted runtime) or no previous sample gives null. A
 * strategy that does not run (Unknown runtime, Absent, Failed) gives nulls: a gap in the chart, not a zero.
 */
export function sampleOf(status, previous, at) {
  const running = status?.state === "Running";
  const sample = { at, signals: number(status?.signals) };
  for (const { key } of METRICS) sample[key] = running && key !== "signals_per_s" ? number(status[key]) : null;
  if (number(status?.restarts) !== null) sample.restarts = status.restarts; // known even when not running
  const elapsed = previous ? at - previous.at : 0;
  const counted = previous?.signals ?? null;
  sample.signals_per_s = running && elapsed > 0 && sample.signals !== null && counted !== null
    && sample.signals >= counted ? (sample.signals - counted) / elapsed : null;
  return sample;
}

/** The history of every strategy of one tenant, each bounded to `capacity` samples. */
export class MetricsHistory {
  constructor(capacity = HISTORY_SAMPLES) {
    this.capacity = capacity;
    this.rings = new Map();
  }

  /** Add the rows of one `fleet` event (`[{name, status}]`) as seen at `at` (epoch seconds). */
  add(rows, at = Date.now() / 1000) {
    for (const row of rows || []) {
      if (!row?.name || !row.status) continue;
      let ring = this.rings.get(row.name);
      if (!ring) this.rings.set(row.name, (ring = new Ring(this.capacity)));
      const previous = ring.last();
      if (previous && at <= previous.at) continue; // one sample per instant, time only moves forward
      ring.push(sampleOf(row.status, previous, at));
    }
  }

  /** Samples of one strategy, oldest first. */
  samples(name) {
    return this.rings.get(name)?.items() ?? [];
  }

  /** uPlot's data layout for one metric: [[times...], [values...]]. */
  series(name, key) {
    const samples = this.samples(name);
    return [samples.map((s) => s.at), samples.map((s) => s[key])];
  }

  /** The newest known value of one metric (skipping gaps), or null. */
  latest(name, key) {
    const samples = this.samples(name);
    for (let i = samples.length - 1; i >= 0; i--) if (samples[i][key] !== null) return samples[i][key];
    return null;
  }

  clear() {
    this.rings.clear();
  }
}

/** Strategy -> history for the whole visit of the console (the fleet and metrics pages feed the same one). */
export const history = new MetricsHistory();
