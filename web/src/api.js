// Every call the console makes to the stratops HTTP API goes through this module.
// ROUTES is the single list of those calls; the build writes it to api-routes.json so the
// Python tests can hold it against the service's routes and its auth tests.

export const ROUTES = {
  whoami: ["GET", "/v1/whoami"],
  strategies: ["GET", "/v1/tenants/{t}/strategies"],
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
  bars: ["GET", "/v1/market/{symbol}/bars"],
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
