// The page: routes (paths under /api/ui/, so that every view has a URL to paste), the key,
// what the key may do (the page offers no action a read-only key may not take).

import { ApiError, get, key, setKey, takeKeyFromFragment } from "./api.js";
import { h, replace } from "./dom.js";
import { overview } from "./views/overview.js";
import { executionView } from "./views/execution.js";
import { credentialsView, groupsView, groupView } from "./views/groups.js";
import { jobsView, jobView } from "./views/jobs.js";

const base = new URL(document.baseURI).pathname; // "/api/ui/"
const main = document.getElementById("main");
let cleanup = null;
let session = null;

const ROUTES = [
  [/^$/, "overview", (ctx) => overview(ctx)],
  [/^executions\/([0-9a-fA-F-]{36})$/, "overview", (ctx, id) => executionView(ctx, id)],
  [/^jobs$/, "jobs", (ctx) => jobsView(ctx)],
  [/^jobs\/([^/]+)$/, "jobs", (ctx, name) => jobView(ctx, name)],
  [/^target-groups$/, "target-groups", (ctx) => groupsView(ctx)],
  [/^target-groups\/([^/]+)$/, "target-groups", (ctx, name) => groupView(ctx, name)],
  [/^credentials$/, "credentials", (ctx) => credentialsView(ctx)],
];

export function navigate(path, { replaceState = false } = {}) {
  const url = new URL(path, document.baseURI);
  if (replaceState) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

async function render() {
  cleanup?.();
  cleanup = null;
  const relative = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : "";
  const path = decodeURIComponent(relative.replace(/\/$/, ""));
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.toggleAttribute("aria-current", route && link.dataset.nav === route[1]);
    if (route && link.dataset.nav === route[1]) link.setAttribute("aria-current", "page");
  }
  if (!session) {
    try {
      session = await get("access");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return askForKey(key() ? "That key was refused." : "");
      return replace(main, h("p", { class: "error", role: "alert" }, `The API cannot be reached: ${error.message}`));
    }
    document.body.classList.toggle("read-only", !session.may_act);
    replace(document.getElementById("access"), session.may_act ? "" : h("span", { class: "tag" }, "read-only"));
    document.getElementById("forget-key").hidden = !key();
  }
  if (!route) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "./" }, "Back to the overview")));
    return;
  }
  const params = new URLSearchParams(location.search);
  const ctx = { main, mayAct: session.may_act, params, navigate, onKeyRefused: () => askForKey("That key was refused.") };
  try {
    cleanup = (await route[2](ctx, ...path.match(route[0]).slice(1))) || null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return askForKey("That key was refused.");
    replace(main, h("p", { class: "error", role: "alert" }, error.message));
  }
}

function askForKey(problem) {
  session = null;
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true, spellcheck: false });
  const form = h("form", { class: "card narrow", onsubmit: (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    render();
  } },
    h("h1", {}, "Sign in with a function key"),
    problem ? h("p", { class: "error", role: "alert" }, problem) : null,
    h("p", {}, "The page calls SQL Fleet's API with the app's function key (a read-only key shows everything and changes nothing). ",
      "It is kept in this tab only and sent as the x-functions-key header. Locally, `sqlfleet ui` opens the page with it."),
    h("label", { for: "key" }, "Function key"), input,
    h("button", { type: "submit" }, "Open"));
  replace(main, form);
  input.focus();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, document.baseURI);
  if (url.origin !== location.origin || !url.pathname.startsWith(base) || link.target || link.hasAttribute("download")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
  main.focus({ preventScroll: true });
});
window.addEventListener("popstate", render);
document.getElementById("forget-key").addEventListener("click", () => {
  setKey(null);
  session = null;
  render();
});

takeKeyFromFragment();
render();
