// Every call the console makes to the stratops HTTP API goes through this module.
// ROUTES is the single list of those calls; the build writes it to api-routes.json so the
// Python tests can hold it against the service's routes and its auth tests.

export const ROUTES = {
  whoami: ["GET", "/v1/whoami"],
  strategies: ["GET", "/v1/tenants/{t}/strategies"],
  events: ["GET", "/v1/tenants/{t}/events"],
  strategy: ["GET", "/v1/tenants/{t}/strategies/{n}"],
  deploy: ["PUT", "/v1/tenants/{t}/strategies/{n}"],
  check: ["POST", "/v1/tenants/{t}/strategies/{n}/check"],
  stop: ["DELETE", "/v1/tenants/{t}/strategies/{n}"],
  history: ["GET", "/v1/tenants/{t}/strategies/{n}/history"],
  rollback: ["POST", "/v1/tenants/{t}/strategies/{n}/rollback"],
  diff: ["GET", "/v1/tenants/{t}/strategies/{n}/diff"],
  signals: ["GET", "/v1/tenants/{t}/strategies/{n}/signals"],
  logs: ["GET", "/v1/tenants/{t}/strategies/{n}/logs"],
  restart: ["POST", "/v1/tenants/{t}/strategies/{n}/restart"],
  reviews: ["GET", "/v1/tenants/{t}/reviews"],
  review: ["GET", "/v1/tenants/{t}/reviews/{branch}"],
  merge: ["POST", "/v1/tenants/{t}/reviews/{branch}/merge"],
  approve: ["POST", "/v1/tenants/{t}/reviews/{branch}/approve"],
  comment: ["POST", "/v1/tenants/{t}/reviews/{branch}/comments"],
  close: ["POST", "/v1/tenants/{t}/reviews/{branch}/close"],
  bars: ["GET", "/v1/market/{symbol}/bars"],
  backtest: ["POST", "/v1/tenants/{t}/backtests"],
  backtestJob: ["GET", "/v1/tenants/{t}/backtests/{id}"],
};

// The token (and, for an admin token, the tenant worked on) live in this tab's session storage only.
const stored = (key) => ({
  get: () => sessionStorage.getItem(key),
  set: (value) => (value ? sessionStorage.setItem(key, value) : sessionStorage.removeItem(key)),
});
const TOKEN = stored("stratops.token");
const TENANT = stored("stratops.tenant");

export const session = {
  get token() {
    return TOKEN.get();
  },
  set token(value) {
    TOKEN.set(value);
  },
  get adminTenant() {
    return TENANT.get();
  },
  set adminTenant(value) {
    TENANT.set(value);
  },
  // Drafts: what is in the editors and not deployed yet, per tenant and strategy, so leaving the page loses nothing.
  draft(key) {
    return JSON.parse(sessionStorage.getItem(`stratops.draft.${key}`) || "null");
  },
  saveDraft(key, value) {
    const item = `stratops.draft.${key}`;
    if (value) sessionStorage.setItem(item, JSON.stringify(value));
    else sessionStorage.removeItem(item);
  },
  clear() {
    Object.keys(sessionStorage).filter((k) => k.startsWith("stratops.")).forEach((k) => sessionStorage.removeItem(k));
  },
};

/** An API error: the RFC 9457 problem details the service returned (or one made up for a network failure). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function path(route, params) {
  const [, template] = ROUTES[route];
  return template.replace(/\{(\w+)\}/g, (_, key) => {
    if (params[key] === undefined || params[key] === "") throw new Error(`missing ${key} for ${route}`);
    return encodeURIComponent(params[key]);
  });
}

/** Call one route: params fill the path, query becomes the query string, body is sent as JSON. */
export async function call(route, params = {}, { query, body } = {}) {
  const [method] = ROUTES[route];
  let url = path(route, params);
  if (query) {
    const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null));
    if ([...qs].length) url += `?${qs}`;
  }
  const headers = { Accept: "application/json, application/problem+json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { title: "The service cannot be reached", detail: String(err.message || err) });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { title: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, data && typeof data === "object" ? data : {});
  return data;
}

/**
 * Follow a server-sent event route (fetch, so the token goes in the Authorization header, which
 * EventSource cannot send). `onEvent(name, data)` for each event; `onDown(error)` when the stream
 * breaks, after which it reconnects every `retryMs` until `close()`.
 */
export function subscribe(route, params, { onEvent, onDown, retryMs = 3000 }) {
  let closed = false;
  let controller = null;
  let timer = null;
  const connect = async () => {
    controller = new AbortController();
    try {
      const response = await fetch(path(route, params), { headers: { Accept: "text/event-stream",
        Authorization: `Bearer ${session.token}` }, signal: controller.signal });
      if (!response.ok) {
        const text = await response.text();
        let problem = {};
        try {
          problem = JSON.parse(text);
        } catch {
          problem = { title: text.slice(0, 200) };
        }
        throw new ApiError(response.status, problem);
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of frame.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          }
          if (data.length) onEvent(name, JSON.parse(data.join("\n")));
        }
      }
      if (!closed) onDown(null); // the server ended the stream (it does every 10 minutes): reconnect
    } catch (err) {
      if (closed) return;
      onDown(err instanceof ApiError ? err : new ApiError(0, { title: "The service cannot be reached",
        detail: String(err.message || err) }));
    }
    if (!closed) timer = setTimeout(connect, retryMs);
  };
  connect();
  return { close: () => ((closed = true), clearTimeout(timer), controller && controller.abort()) };
}
