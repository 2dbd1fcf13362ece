// The API client of the page: the function key (kept in sessionStorage, sent as
// x-functions-key, never in a URL), JSON in and out, errors as ApiError, long-polls.

const KEY = "sqlfleet.key";
export const apiBase = new URL("../", document.baseURI).pathname; // "/api/"

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// A key in the URL fragment (#key=...) is taken once and removed from the address bar.
export function takeKeyFromFragment() {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
  history.replaceState(history.state, "", location.pathname + location.search);
}

export function key() {
  return sessionStorage.getItem(KEY);
}

export function setKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export async function api(method, path, body, { signal } = {}) {
  const headers = { Accept: "application/json" };
  const stored = key();
  if (stored) headers["x-functions-key"] = stored;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(apiBase + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: "no-store",
    credentials: "omit",
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path, options) => api("GET", path, undefined, options);

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Calls onChange(document) now and each time the document's version changes, through the
// API's long-poll (since + wait): no request is made while nothing changes. Returns stop().
export function watch(path, params, onChange, onError) {
  const controller = new AbortController();
  let stopped = false;
  (async () => {
    let version = null;
    let failures = 0;
    while (!stopped) {
      try {
        const document = await get(path + query({ ...params, since: version, wait: version ? 25 : undefined }), {
          signal: controller.signal,
        });
        failures = 0;
        if (document.version !== version) {
          version = document.version;
          await onChange(document);
        }
      } catch (error) {
        if (stopped || error.name === "AbortError") return;
        failures += 1;
        onError?.(error);
        if (error.status === 401 || error.status === 404) return;
        // Back off after errors (host restarting, network): 1 s, 2 s, ... up to 15 s.
        await new Promise((resolve) => setTimeout(resolve, Math.min(15000, 1000 * failures)));
      }
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}
