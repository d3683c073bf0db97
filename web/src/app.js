// The stratops web console: a hash-routed single page over the HTTP API.

import * as yamlLib from "js-yaml";
import { call, session, subscribe, ApiError } from "./api.js";
import { h, shortSha, formatTime, diffBlock } from "./dom.js";
import { createEditor, showProblems, goToLine } from "./editor.js";
import { lineOfField } from "./fields.js";
import { chartSymbols, equityChart, priceChart } from "./chart.js";
import { history as metricHistory } from "./series.js";
import { metricsPanel } from "./metrics.js";
import { reviewPanel } from "./review.js";

const POLL_MS = 3000;
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const statusLine = document.getElementById("status");
let me = null; // {tenant, admin} of the token
let cleanup = () => {};
let visits = 0; // counts page changes: a page still loading when the user has moved on must not draw
const LEFT = Symbol("left the page");

const NEW_STRATEGY_SPEC = (tenant) => `apiVersion: stratops.io/v1
kind: Strategy
metadata: {name: my-strategy, tenant: ${tenant}}
spec:
  code: {class: MyStrategy}
  subscriptions: ["trades.BTC-USD"]
  params: {window: 20}
  resources: {cpu: 250m, memory: 256Mi}
`;
const NEW_STRATEGY_CODE = `from executor import Strategy


class MyStrategy(Strategy):
    def on_trade(self, trade):
        pass
`;

// --- shell -----------------------------------------------------------------------

function announce(text) {
  statusLine.textContent = text;
}

function tenant() {
  return me.tenant;
}

function page(title, ...children) {
  const heading = h("h1", { tabindex: "-1" }, title);
  main.replaceChildren(heading, ...children.flat().filter(Boolean));
  document.title = `${title} · stratops`;
  heading.focus();
}

function problemBox(err) {
  const p = err instanceof ApiError ? err.problem : { title: String(err.message || err) };
  const items = (p.errors || []).map((e) =>
    h("li", {}, e.where ? h("code", {}, e.where) : null, e.where ? ": " : null, e.what || "",
      e.fix ? h("span", { class: "fix" }, ` — ${e.fix}`) : null));
  return h("div", { class: "problem", role: "alert" },
    h("strong", {}, p.title || "Error"), p.detail && p.detail !== p.title ? h("p", {}, p.detail) : null,
    items.length ? h("ul", {}, items) : null);
}

/** `call` for a page's own data: gives up (throws LEFT) when the user went to another page meanwhile. */
async function load(...args) {
  const visit = visits;
  const data = await call(...args);
  if (visit !== visits) throw LEFT;
  return data;
}

/** Run `fn` now, then POLL_MS after each run while the tab is visible; `stop` ends it, even mid-run. */
function poll(fn, every = POLL_MS) {
  let timer;
  let stopped = false;
  const tick = async () => {
    if (!document.hidden) await fn();
    if (!stopped) timer = setTimeout(tick, every);
  };
  return { first: tick(), stop: () => ((stopped = true), clearTimeout(timer)) };
}

function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}

const route = (...parts) => `#/${parts.map(encodeURIComponent).join("/")}`;

function renderNav() {
  const current = location.hash.split("/")[1] || "fleet";
  // Following the link of the page already shown starts it afresh (no hashchange fires for it).
  const again = (event) => event.currentTarget.getAttribute("href") === location.hash && show();
  const item = (href, text, key) =>
    h("li", {}, h("a", { href, "aria-current": current === key ? "page" : null, onclick: again }, text));
  nav.replaceChildren(
    h("ul", {},
      item("#/fleet", "Fleet", "fleet"),
      item("#/new", "New strategy", "new"),
      item("#/reviews", "Reviews", "reviews")),
    h("span", { class: "who" }, me.admin ? "Admin, tenant: " : "Tenant: ", h("strong", { id: "tenant-name" }, tenant())),
    h("button", { type: "button", onclick: signOut }, "Sign out"),
  );
}

// --- sign in ---------------------------------------------------------------------

function signInPage(error) {
  nav.replaceChildren();
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help" });
  const form = h("form", { class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    session.token = input.value.trim();
    await start();
  } },
    h("label", { for: "token" }, "Tenant token"),
    input,
    h("p", { id: "token-help", class: "hint" }, "Kept in this browser tab only (session storage) until you sign out."),
    h("button", { type: "submit" }, "Sign in"));
  page("Sign in", error ? problemBox(error) : null, form);
  input.focus();
}

function signOut(error) {
  session.clear(); // token, admin tenant and drafts
  me = null;
  history.replaceState(null, "", "#/fleet"); // no hashchange: it would redraw the sign-in page without the error
  signInPage(error instanceof Error ? error : undefined);
}

// An admin token works on one tenant at a time, chosen here (tenant tokens never see this form).
function tenantPage() {
  const input = h("input", { id: "tenant", name: "tenant", required: true, pattern: "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?",
    autocomplete: "off", "aria-describedby": "tenant-help" });
  const form = h("form", { class: "card narrow", onsubmit: (event) => {
    event.preventDefault();
    session.adminTenant = input.value.trim();
    start();
  } },
    h("label", { for: "tenant" }, "Tenant"),
    input,
    h("p", { id: "tenant-help", class: "hint" }, "This is an admin token: name the tenant whose strategies to work on."),
    h("button", { type: "submit" }, "Continue"));
  page("Choose a tenant", form);
  input.focus();
}

/** Show an error where it happened; an expired or revoked token (401) signs out instead. */
function failed(err, host) {
  if (err instanceof ApiError && err.status === 401) return signOut(err);
  host.replaceChildren(problemBox(err));
}

async function start() {
  if (!session.token) return signInPage();
  try {
    me = await call("whoami");
  } catch (err) {
    session.token = null;
    return signInPage(err);
  }
  if (!me.tenant && me.admin) {
    if (!session.adminTenant) return tenantPage();
    me = { ...me, tenant: session.adminTenant };
  }
  if (!me.tenant) return signOut(new Error("This token has no tenant: the console works on one tenant's strategies."));
  show();
}

// --- router ----------------------------------------------------------------------

const PAGES = {
  fleet: fleetPage,
  new: () => editorPage(null),
  edit: editorPage,
  history: historyPage,
  signals: signalsPage,
  logs: logsPage,
  metrics: metricsPage,
  reviews: reviewsPage,
  review: reviewPage,
};

function show() {
  cleanup();
  cleanup = () => {};
  visits += 1;
  if (!me) return start();
  const [, name = "fleet", ...args] = location.hash.split("/");
  renderNav();
  const render = PAGES[name] || fleetPage;
  render(...args.map(decodeURIComponent)).catch((err) => {
    if (err === LEFT) return;
    const host = h("div", {});
    page("Cannot show this page", host, h("p", {}, link("#/fleet", "Back to the fleet")));
    failed(err, host);
  });
}

// --- fleet -----------------------------------------------------------------------

function resources(r = {}) {
  return [r.cpu && `${r.cpu} CPU`, r.memory && `${r.memory}`].filter(Boolean).join(", ") || "—";
}

function lastSignal(s) {
  if (!s) return "—";
  return `${s.side || ""} ${s.symbol || ""} · ${formatTime(s.ts)}`.trim();
}

function syncText(sync) {
  if (!sync) return "—";
  return sync.status === "Synced" ? `Synced at ${shortSha(sync.revision)}` : sync.status;
}

function fleetRow(row) {
  const st = row.status || {};
  const state = st.state || "Not running";
  const sync = row.sync || null;
  return h("tr", {},
    h("th", { scope: "row" }, link(route("edit", row.name), row.name)),
    h("td", {}, h("span", { class: `state state-${state.toLowerCase().replace(/\W/g, "")}` }, state),
      st.message ? h("div", { class: "hint" }, st.message) : null),
    h("td", {}, h("span", { class: `sync sync-${(sync?.status || "").toLowerCase()}` }, syncText(sync)),
      sync?.message ? h("div", { class: "hint" }, sync.message) : null),
    h("td", {}, h("code", {}, shortSha(row.revision || st.revision))),
    h("td", {}, resources(row.resources)),
    h("td", {}, lastSignal(st.last_signal)),
    h("td", { class: "num" }, st.errors ?? "—"),
    h("td", { class: "num" }, st.restarts ?? "—"),
    h("td", {}, link(route("history", row.name), "History"), " ", link(route("signals", row.name), "Signals"), " ",
      link(route("logs", row.name), "Logs"), " ", link(route("metrics", row.name), "Metrics")));
}

async function fleetPage() {
  const body = h("tbody", {});
  const updated = h("p", { class: "hint", "aria-live": "off" });
  const table = h("table", { class: "grid" },
    h("caption", {}, `Strategies of ${tenant()}`),
    h("thead", {}, h("tr", {}, ["Name", "State", "Sync", "Revision", "Resources", "Last signal", "Errors", "Restarts", "Pages"]
      .map((c) => h("th", { scope: "col" }, c)))),
    body);
  const errors = h("div", {});
  const banner = h("div", { id: "runtime-banner" });
  page("Fleet", banner, updated, errors, table);
  let first = true;
  const draw = (view) => {
    const rows = view.strategies || [];
    body.replaceChildren(...(rows.length ? rows.map(fleetRow)
      : [h("tr", {}, h("td", { colspan: 9 }, "No strategies yet. ", link("#/new", "Write one")))]));
    const rt = view.runtime || { reachable: true };
    banner.replaceChildren(...(rt.reachable ? [] : [h("div", { class: "banner", role: "alert" },
      ...(rt.source === "kubernetes"
        ? [h("strong", {}, "The cluster cannot be reached. "), `${rt.message || ""}. `]
        : [h("strong", {}, "The runtime is not running. "), "Start it with ", h("code", {}, "stratops up"), ". "]),
      "States below are unknown until it answers.")]));
    updated.textContent = `Updated ${new Date().toLocaleTimeString()} · live`;
    errors.replaceChildren();
    if (first) announce(`${rows.length} strategies`);
    first = false;
  };
  // The first view by a plain request (a page that draws at once), then pushed updates (server-sent events).
  try {
    draw({ strategies: await load("strategies", { t: tenant() }) });
  } catch (err) {
    if (err === LEFT) throw err;
    failed(err, errors);
  }
  const stream = subscribe("events", { t: tenant() }, {
    onEvent: (name, view) => {
      if (name !== "fleet") return;
      metricHistory.add(view.strategies);
      draw(view);
    },
    onDown: (err) => {
      if (err && err.status === 401) return signOut(err);
      if (err) banner.replaceChildren(h("div", { class: "banner", role: "alert" },
        h("strong", {}, "The service cannot be reached. "), "Reconnecting…"));
    },
  });
  cleanup = stream.close;
}

// --- editor ----------------------------------------------------------------------

function specText(spec) {
  const doc = structuredClone(spec);
  if (doc.spec?.code) {
    delete doc.spec.code.inline;
    delete doc.spec.code.file;
  }
  return yamlLib.dump(doc, { flowLevel: 2, lineWidth: 100 });
}

const STATS = [
  ["total_return", "Total return", "pct"], ["sharpe", "Sharpe", "num"], ["sortino", "Sortino", "num"],
  ["max_drawdown", "Max drawdown", "pct"], ["hit_rate", "Hit rate", "pct"], ["exposure", "Exposure", "pct"],
  ["turnover", "Turnover", "num"], ["fills", "Fills", "int"], ["pnl", "PnL", "num"],
];

function backtestView(out) {
  const stats = out.stats || {};
  const show = (v, kind) => (v === null || v === undefined ? "n/a"
    : kind === "pct" ? `${(v * 100).toFixed(2)} %` : kind === "int" ? String(v) : Number(v).toFixed(3));
  const chart = equityChart(out.equity || [], stats.capital || 0);
  return [
    h("table", { class: "stats", "aria-label": "Backtest statistics" },
      h("tbody", {}, STATS.map(([key, label, kind]) => h("tr", {}, h("th", {}, label), h("td", {}, show(stats[key], kind)))))),
    chart || h("p", {}, "No equity curve to draw."),
    (out.warnings || []).length ? h("ul", { class: "warnings" }, out.warnings.map((w) => h("li", {}, w))) : null,
  ];
}

async function editorPage(name) {
  let spec = NEW_STRATEGY_SPEC(tenant());
  let code = NEW_STRATEGY_CODE;
  let revision = null;
  if (name) {
    const current = await load("strategy", { t: tenant(), n: name });
    spec = specText(typeof current.spec === "string" ? yamlLib.load(current.spec) : current.spec);
    code = current.code ?? current.spec?.spec?.code?.inline ?? "";
    revision = current.revision;
  }
  const draftKey = `${tenant()}/${name || ""}`;
  const draft = session.draft(draftKey);
  const restored = draft && (draft.code !== code || draft.spec !== spec);
  if (restored) ({ code, spec } = draft);
  const shortcuts = [
    { key: "Mod-Enter", run: () => (check(), true) },
    { key: "Mod-Shift-Enter", run: () => (deploy(false), true) },
  ];
  const codeHost = h("div", { class: "editor", id: "code-editor" });
  const specHost = h("div", { class: "editor", id: "spec-editor" });
  const problems = h("ol", { class: "problems", id: "problems", "aria-label": "Problems" });
  const problemsNote = h("p", { class: "hint" }, "Check runs the full preflight on the server without a commit.");
  const result = h("div", { id: "result", role: "status" });
  const backtestResult = h("div", { id: "backtest-result", role: "status" });
  const paramsForm = h("div", { id: "params-form" },
    h("p", { class: "hint" }, "Check shows the parameters the strategy declares as a form here."));
  let alive = true;
  const button = (text, onclick, keys) => h("button", { type: "button", onclick, "aria-keyshortcuts": keys }, text);
  const discard = () => {
    session.saveDraft(draftKey, null);
    show();
  };
  const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Strategy actions" },
    button("Check", () => check(), "Control+Enter"),
    button("Backtest", () => backtest()),
    button("Deploy", () => deploy(false), "Control+Shift+Enter"),
    button("Deploy for review", () => deploy(true)),
    name ? button("Stop", () => stop()) : null,
    name ? link(route("history", name), "History") : null,
    name ? button("Restart", () => restart()) : null,
    name ? link(route("signals", name), "Signals") : null,
    name ? link(route("logs", name), "Logs") : null,
    name ? link(route("metrics", name), "Metrics") : null);
  page(name ? `Edit ${name}` : "New strategy",
    restored ? h("p", { class: "draft", role: "status" }, "Restored your changes that are not deployed yet. ",
      h("button", { type: "button", onclick: discard }, "Discard them")) : null,
    h("p", { class: "hint" }, revision ? `Deployed revision ${shortSha(revision)}. ` : "",
      "Ctrl+Enter: Check · Ctrl+Shift+Enter: Deploy · Tab indents, Esc then Tab leaves the editor."),
    toolbar,
    h("div", { class: "split" },
      h("section", { "aria-labelledby": "code-h" }, h("h2", { id: "code-h" }, "Code (Python)"), codeHost),
      h("section", { "aria-labelledby": "spec-h" }, h("h2", { id: "spec-h" }, "Spec (YAML)"), specHost)),
    h("section", { "aria-labelledby": "problems-h" }, h("h2", { id: "problems-h" }, "Problems"), problemsNote, problems),
    result,
    h("section", { "aria-labelledby": "params-h" }, h("h2", { id: "params-h" }, "Parameters"), paramsForm),
    h("section", { "aria-labelledby": "backtest-h" }, h("h2", { id: "backtest-h" }, "Backtest"),
      h("p", { class: "hint" }, "Runs the code over the bundled synthetic sample in a sandbox: fills at the next ",
        "quote after each signal, long-only, no fees (see docs/backtest.md)."), backtestResult));
  const saveDraft = () => session.saveDraft(draftKey,
    { code: codeView.state.doc.toString(), spec: specView.state.doc.toString() });
  const common = { shortcuts, onChange: () => saveDraft() };
  const codeView = createEditor(codeHost, { doc: code, language: "python", label: "Strategy code", ...common });
  const specView = createEditor(specHost, { doc: spec, language: "yaml", label: "Strategy spec", ...common });
  const onKey = (event) => {
    if (event.defaultPrevented || !(event.ctrlKey || event.metaKey) || event.key !== "Enter") return;
    event.preventDefault();
    if (event.shiftKey) deploy(false);
    else check();
  };
  document.addEventListener("keydown", onKey);
  cleanup = () => {
    alive = false;
    codeView.destroy();
    specView.destroy();
    document.removeEventListener("keydown", onKey);
  };

  // The document to send: the spec with the code inline; null (and a problem shown) when the YAML is broken.
  const documentToSend = () => {
    let doc;
    try {
      doc = yamlLib.load(specView.state.doc.toString());
    } catch (err) {
      setProblems([{ stage: "spec", severity: "error", field: null, line: (err.mark?.line ?? 0) + 1, inSpec: true,
        message: `YAML: ${err.reason || err.message}` }]);
      return null;
    }
    if (!doc || typeof doc !== "object" || !doc.metadata?.name) {
      setProblems([{ stage: "spec", severity: "error", line: 1, inSpec: true, message: "metadata.name is required" }]);
      return null;
    }
    doc.metadata.tenant ??= tenant();
    doc.spec = { ...(doc.spec || {}) };
    doc.spec.code = { ...(doc.spec.code || {}), inline: codeView.state.doc.toString() };
    delete doc.spec.code.file;
    return doc;
  };

  // Where a finding belongs: code findings carry a line (field spec.code.inline), spec findings a field path.
  const place = (f, specSource) => {
    if (f.inSpec) return f;
    const inCode = f.line && (!f.field || String(f.field).startsWith("spec.code.inline"));
    if (inCode) return { ...f, inSpec: false };
    if (f.field) return { ...f, inSpec: true, line: lineOfField(specSource, f.field) };
    return { ...f, inSpec: false, line: null };
  };

  const setProblems = (findings) => {
    const placed = findings.map((f) => place(f, specView.state.doc.toString()));
    showProblems(codeView, placed.filter((f) => !f.inSpec && f.line));
    showProblems(specView, placed.filter((f) => f.inSpec));
    problemsNote.textContent = placed.length ? "" : "No problems.";
    problems.replaceChildren(...placed.map((f) => {
      const where = f.inSpec ? `spec line ${f.line}${f.field ? ` (${f.field})` : ""}`
        : f.line ? `code line ${f.line}` : f.where || f.stage;
      const target = f.inSpec ? specView : f.line ? codeView : null;
      return h("li", { class: f.severity === "warning" ? "warning" : "error" },
        h("span", { class: "badge" }, `${f.severity || "error"} · ${f.stage || ""}`), " ",
        target ? h("button", { type: "button", class: "linklike", onclick: () => goToLine(target, f.line) }, where)
          : h("code", {}, where),
        ": ", f.message);
    }));
  };

  // A refused deploy lists where/what/fix problems: those naming a spec field or a code line go into the editors.
  const problemFindings = (err) => (err instanceof ApiError ? err.problem.errors || [] : [])
    .map((e) => {
      const where = String(e.where || "");
      const code = where.match(/^(spec\.code\.inline)[^:]*:(\d+):\d+$/);
      const finding = { stage: "deploy", severity: "error", where, message: e.fix ? `${e.what} (${e.fix})` : e.what };
      if (code) return { ...finding, field: code[1], line: Number(code[2]) };
      return /^(spec|metadata)(\.|\[|$)/.test(where) ? { ...finding, field: where } : finding;
    });

  // One request at a time: the actions are disabled while one runs (a double click deploys once).
  let working = false;
  const busy = (text) => {
    if (working) return false;
    working = true;
    toolbar.querySelectorAll("button").forEach((b) => (b.disabled = true));
    result.replaceChildren(h("p", {}, text));
    announce(text);
    return true;
  };
  const idle = () => {
    working = false;
    toolbar.querySelectorAll("button").forEach((b) => (b.disabled = false));
  };

  async function check() {
    const doc = documentToSend();
    if (!doc || !busy("Checking…")) return;
    try {
      const report = await call("check", { t: tenant(), n: doc.metadata.name }, { body: { spec: doc } });
      setProblems(report.findings || []);
      if (report.parameters) showParams(report.parameters, report.params || {});
      const errors = (report.findings || []).filter((f) => f.severity !== "warning").length;
      const text = report.ok ? "Check passed: no errors." : `Check found ${errors} error(s).`;
      result.replaceChildren(h("p", { class: report.ok ? "ok" : "bad" }, text));
      announce(text);
    } catch (err) {
      failed(err, result);
    } finally {
      idle();
    }
  }

  // The declared parameters as a form; a change writes the value into spec.params in the spec editor.
  function showParams(declared, values) {
    const names = Object.keys(declared);
    if (!names.length) {
      paramsForm.replaceChildren(h("p", { class: "hint" }, "The strategy declares no parameters."));
      return;
    }
    const setParam = (name, value) => {
      let doc;
      try {
        doc = yamlLib.load(specView.state.doc.toString()) || {};
      } catch {
        return;
      }
      doc.spec = doc.spec || {};
      doc.spec.params = { ...(doc.spec.params || {}), [name]: value };
      const text = yamlLib.dump(doc, { flowLevel: 2, lineWidth: 100 });
      specView.dispatch({ changes: { from: 0, to: specView.state.doc.length, insert: text } });
    };
    paramsForm.replaceChildren(h("table", { class: "params", "aria-label": "Parameters" }, h("tbody", {},
      names.map((name) => {
        const d = declared[name] || {};
        const value = values[name] ?? d.default;
        const id = `param-${name}`;
        let input;
        if (Array.isArray(d.enum)) {
          input = h("select", { id, onchange: (e) => setParam(name, d.enum[e.target.selectedIndex]) },
            d.enum.map((v) => h("option", { selected: v === value }, String(v))));
        } else if (d.type === "boolean") {
          input = h("input", { id, type: "checkbox", onchange: (e) => setParam(name, e.target.checked) });
          input.checked = Boolean(value);
        } else {
          const numeric = d.type === "integer" || d.type === "number";
          input = h("input", { id, type: numeric ? "number" : "text", min: d.minimum, max: d.maximum,
            step: d.type === "integer" ? "1" : "any",
            onchange: (e) => setParam(name, numeric ? Number(e.target.value) : e.target.value) });
          input.value = value ?? "";
        }
        return h("tr", {}, h("th", {}, h("label", { for: id }, name)), h("td", {}, input),
          h("td", { class: "hint" }, [d.type, d.minimum !== undefined || d.maximum !== undefined
            ? `${d.minimum ?? ""}..${d.maximum ?? ""}` : "", d.description || ""].filter(Boolean).join(" · ")));
      }))));
  }

  // Backtest: start a job, poll it, then show the statistics and the equity curve next to the code.
  async function backtest() {
    const doc = documentToSend();
    if (!doc || !busy("Starting a backtest…")) return;
    try {
      const job = await call("backtest", { t: tenant() }, { body: { spec: doc } });
      setProblems([]);
      let state = job;
      while (alive && (state.state === "queued" || state.state === "running")) {
        const progress = state.state === "running" ? ` ${Math.round((state.progress || 0) * 100)} %` : "";
        backtestResult.replaceChildren(h("p", {}, `Backtest ${state.state}${progress}…`));
        await new Promise((resolve) => setTimeout(resolve, 500));
        state = await call("backtestJob", { t: tenant(), id: job.id });
      }
      if (!alive) return;
      if (state.state === "failed") {
        const why = state.error || {};
        backtestResult.replaceChildren(h("p", { class: "bad" }, why.title || "The backtest failed."),
          h("ul", {}, (why.problems || []).map((p) => h("li", {}, p))));
        announce("Backtest failed");
      } else {
        backtestResult.replaceChildren(...backtestView(state.result).filter(Boolean));
        announce("Backtest done");
      }
      result.replaceChildren();
    } catch (err) {
      setProblems(problemFindings(err));
      failed(err, result);
    } finally {
      idle();
    }
  }

  async function deploy(review) {
    const doc = documentToSend();
    if (!doc || !busy(review ? "Deploying for review…" : "Deploying…")) return;
    try {
      const out = await call("deploy", { t: tenant(), n: doc.metadata.name },
        { query: review ? { review: "true" } : undefined, body: { spec: doc } });
      setProblems([]);
      session.saveDraft(draftKey, null); // deployed (or on its review branch): nothing left to lose
      const next = out.branch && review ? link(route("review", out.branch), `Open review ${out.branch}`)
        : link(route("history", doc.metadata.name), "Open history");
      result.replaceChildren(h("p", { class: "ok" },
        `${out.message || "Deployed"} (commit ${shortSha(out.commit)}${out.branch ? ` on ${out.branch}` : ""}). `, next,
        " · ", link("#/fleet", "Fleet")));
      announce(`Deployed, commit ${shortSha(out.commit)}`);
    } catch (err) {
      setProblems(problemFindings(err));
      failed(err, result);
    } finally {
      idle();
    }
  }

  async function restart() {
    if (!busy("Restarting…")) return;
    try {
      result.replaceChildren(h("p", { class: "ok" }, restartText(await call("restart", { t: tenant(), n: name }))));
      announce(`Restarting ${name}`);
    } catch (err) {
      failed(err, result);
    } finally {
      idle();
    }
  }

  async function stop() {
    const question = `Stop ${name}? This removes it from the fleet in a new commit; history keeps it.`;
    if (working || !window.confirm(question) || !busy("Stopping…")) return;
    try {
      const out = await call("stop", { t: tenant(), n: name });
      result.replaceChildren(h("p", { class: "ok" }, `Stopped (commit ${shortSha(out.commit)}). `,
        link(route("history", name), "Open history"), " · ", link("#/fleet", "Fleet")));
      announce(`Stopped, commit ${shortSha(out.commit)}`);
    } catch (err) {
      failed(err, result);
    } finally {
      idle();
    }
  }
}

function restartText(out) {
  return out.source === "kubernetes"
    ? `Restarting: deleted pod(s) ${(out.deleted_pods || []).join(", ") || "none"}; the Deployment creates new ones.`
    : "Restarting: a new process from the same revision (no commit).";
}

// --- logs ------------------------------------------------------------------------

const LOG_POLL_MS = 2000;
const LOG_LINES = 500;

function logLine(line) {
  let exc = null;
  if (line.msg != null) {
    try {
      exc = JSON.parse(line.text).exc || null;
    } catch {
      exc = null;
    }
  }
  const level = (line.level || "").toLowerCase();
  const text = line.msg != null
    ? `${line.ts != null ? new Date(line.ts * 1000).toISOString() : "-"} ${level.toUpperCase().padEnd(8)} ${line.msg}`
    : line.text;
  return h("div", { class: `log-line${level ? ` log-${level.replace(/\W/g, "")}` : ""}` },
    text, exc ? h("div", { class: "log-exc" }, exc) : null);
}

async function logsPage(name) {
  const panel = h("div", { class: "log-panel", id: "log-panel", role: "log", tabindex: "0",
    "aria-label": `Output of ${name}` });
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true });
  const updated = h("p", { class: "hint", "aria-live": "off" });
  const result = h("div", { role: "status" });
  const errors = h("div", {});
  const restartButton = h("button", { type: "button", onclick: async () => {
    restartButton.disabled = true;
    try {
      result.replaceChildren(h("p", { class: "ok" }, restartText(await call("restart", { t: tenant(), n: name }))));
      announce(`Restarting ${name}`);
    } catch (err) {
      failed(err, result);
    } finally {
      restartButton.disabled = false;
    }
  } }, "Restart");
  page(`Logs of ${name}`,
    h("p", {}, link(route("edit", name), "Edit"), " · ", link(route("history", name), "History"), " · ",
      link(route("signals", name), "Signals")),
    h("div", { class: "toolbar", role: "toolbar", "aria-label": "Log actions" }, restartButton,
      h("label", { for: "log-follow", class: "inline" }, follow, " Follow new lines")),
    result, errors, updated, panel);
  let last = null;
  const refresh = async () => {
    try {
      const out = await call("logs", { t: tenant(), n: name }, { query: { limit: LOG_LINES } });
      const lines = out.lines || [];
      const key = lines.length ? `${lines.length}:${lines[lines.length - 1].text}` : "";
      if (key !== last) {
        last = key;
        panel.replaceChildren(...(lines.length ? lines.map(logLine)
          : [h("p", { class: "hint" }, out.message || "No output yet.")]));
        if (follow.checked) panel.scrollTop = panel.scrollHeight;
      }
      updated.textContent = `The last ${LOG_LINES} lines · updated ${new Date().toLocaleTimeString()} · `
        + `every ${LOG_POLL_MS / 1000} s`;
      errors.replaceChildren();
    } catch (err) {
      failed(err, errors);
    }
  };
  const polling = poll(refresh, LOG_POLL_MS);
  cleanup = polling.stop;
  await polling.first;
}

// --- metrics ---------------------------------------------------------------------

// Charts of one strategy's status figures, from the history the pushed `fleet` events fill (series.js).
async function metricsPage(name) {
  const panel = metricsPanel(name);
  const updated = h("p", { class: "hint", "aria-live": "off" },
    "Waiting for the first status update… The charts keep the last 10 minutes seen in this tab.");
  const banner = h("div", {});
  page(`Metrics of ${name}`,
    h("p", {}, link(route("edit", name), "Edit"), " · ", link(route("signals", name), "Signals"), " · ",
      link(route("logs", name), "Logs")),
    banner, updated, panel.element);
  panel.update();
  const stream = subscribe("events", { t: tenant() }, {
    onEvent: (event, view) => {
      if (event !== "fleet") return;
      metricHistory.add(view.strategies);
      const row = (view.strategies || []).find((r) => r.name === name);
      const rt = view.runtime || { reachable: true };
      banner.replaceChildren(...(!row ? [h("div", { class: "banner", role: "alert" }, `${name} is not deployed.`)]
        : rt.reachable ? [] : [h("div", { class: "banner", role: "alert" },
          h("strong", {}, "The runtime cannot be reached. "), "No new figures until it answers.")]));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · live · the last 10 minutes seen in this tab`;
      panel.update();
    },
    onDown: (err) => {
      if (err && err.status === 401) return signOut(err);
      if (err) banner.replaceChildren(h("div", { class: "banner", role: "alert" },
        h("strong", {}, "The service cannot be reached. "), "Reconnecting…"));
    },
  });
  cleanup = () => (stream.close(), panel.destroy());
}

// --- history ---------------------------------------------------------------------

async function historyPage(name) {
  const commits = await load("history", { t: tenant(), n: name });
  const result = h("div", { role: "status" });
  const list = h("ol", { class: "commits" }, commits.map((c, i) => {
    const diffHost = h("div", {});
    const toggle = h("button", { type: "button", "aria-expanded": "false", onclick: async () => {
      if (toggle.getAttribute("aria-expanded") === "true") {
        toggle.setAttribute("aria-expanded", "false");
        return diffHost.replaceChildren();
      }
      toggle.setAttribute("aria-expanded", "true");
      try {
        const d = await call("diff", { t: tenant(), n: name }, { query: { to: c.sha } }); // that commit's change
        diffHost.replaceChildren(diffBlock(d.text ?? "", `Rendered-object diff of ${shortSha(c.sha)}`));
      } catch (err) {
        diffHost.replaceChildren(problemBox(err));
      }
    } }, "Diff");
    // The confirmation opens in the page, right below the button that asked for it (no native confirm()).
    const confirmHost = h("div", {});
    const rollback = h("button", { type: "button", "aria-expanded": "false", onclick: () => {
      const close = () => (confirmHost.replaceChildren(), rollback.setAttribute("aria-expanded", "false"), rollback.focus());
      const yes = h("button", { type: "button", class: "danger", onclick: () => (confirmHost.replaceChildren(), doRollback()) },
        "Roll back");
      confirmHost.replaceChildren(h("div", { class: "confirm", role: "alertdialog", "aria-modal": "false",
        "aria-label": `Roll back to ${shortSha(c.sha)}`, onkeydown: (e) => e.key === "Escape" && close() },
      h("p", {}, `Roll ${name} back to ${shortSha(c.sha)}? This makes a new commit; history keeps the current one.`),
      h("div", { class: "toolbar" }, yes, h("button", { type: "button", onclick: close }, "Cancel"))));
      rollback.setAttribute("aria-expanded", "true");
      yes.focus();
    } }, "Roll back to here");
    const doRollback = async () => {
      try {
        const out = await call("rollback", { t: tenant(), n: name }, { body: { to: c.sha } });
        announce(`Rolled back: commit ${shortSha(out.commit)}`);
        await historyPage(name);
        main.append(h("p", { class: "ok", role: "status" }, `Rolled back to ${shortSha(c.sha)}: commit ${shortSha(out.commit)}.`));
      } catch (err) {
        confirmHost.replaceChildren(problemBox(err));
      }
    };
    return h("li", { class: "card" },
      h("h2", {}, h("code", {}, shortSha(c.sha)), " ", c.message || c.subject || ""),
      h("dl", { class: "meta" },
        h("dt", {}, "Author"), h("dd", {}, c.author || "—"),
        h("dt", {}, "Time"), h("dd", {}, formatTime(c.time ?? c.date)),
        h("dt", {}, "Action"), h("dd", {}, c.action || "—"),
        h("dt", {}, "Digest"), h("dd", {}, h("code", {}, c.digest ? String(c.digest).slice(0, 16) : "—"))),
      h("div", { class: "toolbar" }, toggle, i === 0 ? null : rollback),
      confirmHost,
      diffHost);
  }));
  page(`History of ${name}`, h("p", {}, link(route("edit", name), "Edit"), " · ", link(route("signals", name), "Signals")),
    result, commits.length ? list : h("p", {}, "No commits."));
}

// --- signals ---------------------------------------------------------------------

async function signalsPage(name) {
  const chartHost = h("div", {});
  const body = h("tbody", {});
  const errors = h("div", {});
  const picker = h("select", { id: "chart-symbol", onchange: () => ((chosen = picker.value), refresh()) });
  const pickerRow = h("div", { class: "toolbar", hidden: true },
    h("label", { for: "chart-symbol", class: "inline" }, "Symbol ", picker));
  page(`Signals of ${name}`, h("p", {}, link(route("edit", name), "Edit"), " · ", link(route("history", name), "History"),
    " · ", link(route("metrics", name), "Metrics")),
  errors, pickerRow, chartHost,
  h("table", { class: "grid" }, h("caption", {}, "Last 50 signals, newest first"),
    h("thead", {}, h("tr", {}, ["Time", "Symbol", "Side", "Strength", "Size", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
    body));
  const strategy = await load("strategy", { t: tenant(), n: name });
  const subs = strategy.spec?.spec?.subscriptions || [];
  let chosen = null; // the chart's symbol: the first one offered, then only what the user picks
  const refresh = async () => {
    try {
      const signals = await call("signals", { t: tenant(), n: name }, { query: { limit: 50 } });
      const rows = [...signals].reverse(); // the API answers oldest first
      body.replaceChildren(...(rows.length ? rows.map((s) => h("tr", {},
        h("td", {}, formatTime(s.ts)), h("td", {}, s.symbol ?? "—"), h("td", {}, s.side ?? "—"),
        h("td", { class: "num" }, s.strength ?? "—"), h("td", { class: "num" }, s.size ?? "—"),
        h("td", {}, s.reason ?? ""))) : [h("tr", {}, h("td", { colspan: 6 }, "No signals yet."))]));
      const symbols = chartSymbols(subs, rows);
      chosen ??= symbols[0] ?? null;
      if (symbols.join() !== [...picker.options].map((o) => o.value).join()) {
        picker.replaceChildren(...symbols.map((s) => h("option", { value: s, selected: s === chosen }, s)));
      }
      pickerRow.hidden = symbols.length < 2;
      if (chosen) {
        // Fetched on every refresh: the feed keeps publishing, and new signals answer new bars.
        const bars = await call("bars", { symbol: chosen }, { query: { limit: 600 } });
        const drawn = priceChart(bars, rows, chosen);
        chartHost.replaceChildren(h("div", {}, h("h2", {}, `${chosen} price and signals`),
          drawn?.chart || h("p", {}, "Not enough market data for a chart yet."),
          drawn?.outside ? h("p", { class: "hint" }, `${drawn.outside} of these signals answered market events ` +
            "outside the time range of the market data the service returned; they are listed below, not drawn.") : null));
      }
      errors.replaceChildren();
    } catch (err) {
      failed(err, errors);
    }
  };
  const polling = poll(refresh);
  cleanup = polling.stop;
  await polling.first;
}

// --- reviews ---------------------------------------------------------------------

async function reviewsPage() {
  const reviews = await load("reviews", { t: tenant() });
  page("Reviews", reviews.length
    ? h("table", { class: "grid" }, h("caption", {}, `Review branches of ${tenant()} not merged yet`),
      h("thead", {}, h("tr", {}, ["Branch", "Strategy", "State", "Author", "Time", "Message"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, reviews.map((r) => h("tr", {},
        h("th", { scope: "row" }, link(route("review", r.branch), r.branch)), h("td", {}, r.name),
        h("td", {}, r.state === "closed" ? "closed" : `${r.approvals}/${r.required} approvals`),
        h("td", {}, r.author), h("td", {}, formatTime(r.time)), h("td", {}, r.subject)))))
    : h("p", {}, "No open reviews. Use “Deploy for review” in the editor to open one."));
}

function findingsList(findings, none) {
  if (!findings?.length) return h("p", { class: "ok" }, none);
  return h("ul", {}, findings.map((f) => h("li", { class: f.severity === "warning" ? "warning" : "error" },
    h("span", { class: "badge" }, `${f.severity || "error"} · ${f.stage || ""}`), " ",
    f.where ? h("code", {}, f.where) : null, f.where ? ": " : null, f.message)));
}

function section(title, ...content) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...content);
}

async function reviewPage(branch) {
  const { parts: p = {}, markdown, review } = await load("review", { t: tenant(), branch });
  const verdict = String(p.verdict || "").replace(/\*\*/g, "");
  const timings = Object.entries(p.timings_ms || {}).map(([stage, ms]) => `${stage} ${Math.round(ms)} ms`).join(", ");
  page(`Review ${branch}`,
    h("p", {}, h("strong", { class: p.ok ? "ok" : "bad" }, verdict), p.key ? ` · ${p.key}` : "",
      p.head ? ` · head ${shortSha(p.head)} on main ${shortSha(p.base)}` : ""),
    reviewPanel({ t: tenant(), branch, record: review, me, problemBox, announce,
      fleetLink: () => link("#/fleet", "Fleet") }),
    section("Spec diff", diffBlock(p.spec_diff || "(no change)", "Spec diff")),
    section("Code diff", diffBlock(p.code_diff || "(no change)", "Code diff")),
    section("Rendered-object diff",
      h("ul", {}, (p.objects || []).map((o) => h("li", {}, h("code", {}, o.key), ` ${o.status}`))),
      diffBlock(p.object_diff || "(no change)", "Rendered-object diff")),
    section("Preflight", timings ? h("p", { class: "hint" }, `Stages: ${timings}`) : null,
      findingsList(p.findings, "No findings.")),
    section("Policies", findingsList(p.policy, "All policies pass.")),
    p.quota?.length ? section("Quota", h("ul", {}, p.quota.map((q) => h("li", { class: "error" }, q)))) : null,
    markdown ? h("details", {}, h("summary", {}, "Summary as Markdown (for a pull request)"),
      h("pre", { class: "diff", tabindex: "0" }, markdown)) : null);
}

// --- keyboard and start ------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (!me || !event.altKey || event.ctrlKey || event.metaKey) return;
  const target = { f: "#/fleet", n: "#/new", r: "#/reviews" }[event.key];
  if (target) {
    event.preventDefault();
    location.hash = target;
  }
});
// The skip link moves focus into the page; following its href would be taken as a route by the hash router.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  (main.querySelector("h1") || main).focus();
});
window.addEventListener("hashchange", show);
start();
