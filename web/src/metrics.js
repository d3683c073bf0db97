// Metric charts of one strategy (uPlot on canvas), redrawn from the in-browser history (series.js).

/*! uPlot v1.6.32, Copyright (c) 2025, Leon Sorokin, MIT Licensed: https://github.com/leeoniya/uPlot
 * (its own header is not a legal comment, so the build would drop it; this one goes to app.js.LEGAL.txt) */
import uPlot from "uplot";
import { h } from "./dom.js";
import { METRICS, history } from "./series.js";

const HEIGHT = 160;
const fmt = (value) => value.toLocaleString(undefined, { maximumFractionDigits: value < 10 ? 2 : 1 });

/** What a screen reader hears, and what the chart's title says: the metric and its newest value. */
export function describe(name, metric) {
  const value = history.latest(name, metric.key);
  const count = history.samples(name).length;
  const now = value === null ? "no value yet" : `${fmt(value)}${metric.unit ? ` ${metric.unit}` : ""}`;
  return `${metric.title} of ${name}: ${now} (${count} samples)`;
}

function colors() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return { fg: read("--muted", "#57606a"), grid: read("--line", "#d0d7de"), line: read("--accent", "#0b57d0") };
}

function options(metric, width, c) {
  const axis = { stroke: c.fg, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
  return {
    width,
    height: HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [Math.min(0, lo ?? 0), hi > 0 ? hi * 1.1 : 1] } },
    axes: [axis, { ...axis, size: 56, values: (u, ticks) => ticks.map((t) => fmt(t)) }],
    series: [{}, { label: metric.title, stroke: c.line, width: 1.5, spanGaps: false, points: { show: false } }],
  };
}

/**
 * The charts of one strategy: `{element, update, destroy}`. `update()` redraws each chart from the history;
 * each chart is an image named by its newest value, and carries its sample count for tests and tools.
 */
export function metricsPanel(name) {
  const element = h("div", { class: "metric-grid" });
  const charts = METRICS.map((metric) => {
    const plotHost = h("div", { class: "metric-plot" });
    const figure = h("figure", { class: "metric card", role: "img", "data-metric": metric.key },
      h("figcaption", {}, metric.unit && !metric.title.endsWith(metric.unit) ? `${metric.title} (${metric.unit})` : metric.title), plotHost);
    element.append(figure);
    return { metric, figure, plotHost, plot: null };
  });
  const update = () => {
    const c = colors();
    for (const chart of charts) {
      const data = history.series(name, chart.metric.key);
      chart.figure.setAttribute("aria-label", describe(name, chart.metric));
      chart.figure.dataset.samples = String(data[0].length);
      if (!chart.plot) {
        if (!chart.plotHost.isConnected) continue; // sized from the page: drawn once it is in the page
        const width = Math.max(240, Math.floor(chart.plotHost.clientWidth || 360));
        chart.plot = new uPlot(options(chart.metric, width, c), data, chart.plotHost);
      } else {
        chart.plot.setData(data);
      }
    }
  };
  const destroy = () => charts.forEach((chart) => chart.plot?.destroy());
  return { element, update, destroy };
}
