// Definitions: credentials (never a secret: the API answers none) and target groups with a
// live preview of the databases they resolve to now.

import { api, get } from "../api.js";
import { h, number, replace, table, time } from "../dom.js";

export async function credentialsView({ main }) {
  const credentials = (await get("credentials")).value;
  replace(main, h("h1", {}, "Credentials"),
    h("p", { class: "muted" }, "Secrets are write-only: no page or API answer ever shows one."),
    table(["Name", "Kind", "User", "Key Vault secret", "Identity client id", "Description", "Changed"],
      credentials.map((c) => h("tr", {},
        h("td", {}, c.name), h("td", {}, c.kind), h("td", {}, c.username || ""),
        h("td", { class: "mono small" }, c.secret_uri || ""), h("td", { class: "mono small" }, c.client_id || ""),
        h("td", {}, c.description || ""), h("td", {}, time(c.modified_time))))));
}

function memberText(m) {
  const where = [m.server_name, m.elastic_pool_name && `pool ${m.elastic_pool_name}`, m.database_name && `db ${m.database_name}`].filter(Boolean).join(" / ");
  return `${m.target_type}${m.engine && m.engine !== "sqlserver" ? ` (${m.engine})` : ""}: ${where}`;
}

export async function groupsView({ main }) {
  const groups = (await get("target-groups")).value;
  replace(main, h("h1", {}, "Target groups"),
    table(["Group", "Members", "Description"], groups.map((g) => h("tr", {},
      h("td", {}, h("a", { href: `target-groups/${encodeURIComponent(g.name)}` }, g.name)),
      h("td", {}, h("ul", { class: "plain" }, g.members.map((m) => h("li", {}, m.membership_type === "exclude" ? h("span", { class: "tag" }, "exclude") : null, " ", memberText(m))))),
      h("td", {}, g.description || "")))));
}

export async function groupView({ main }, name) {
  const group = await get(`target-groups/${encodeURIComponent(name)}`);
  const preview = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Resolving…"));
  async function resolve() {
    replace(preview, h("p", { class: "muted" }, "Resolving…"));
    try {
      const found = (await api("POST", `target-groups/${encodeURIComponent(name)}/preview`)).items;
      replace(preview, h("p", {}, `${number(found.length)} database(s) now, as a step would run on them:`),
        table(["Engine", "Server", "Port", "Database", "Pool"], found.map((t) => h("tr", {},
          h("td", {}, t.engine), h("td", {}, t.server_name), h("td", {}, t.port ?? ""), h("td", {}, t.database_name ?? ""), h("td", {}, t.elastic_pool_name ?? "")))),
        h("p", { class: "muted small" }, "Resolved ", time(new Date().toISOString())));
    } catch (error) {
      replace(preview, h("p", { class: "error", role: "alert" }, error.message));
    }
  }
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "target-groups" }, "Target groups")),
    h("h1", {}, group.name), group.description ? h("p", {}, group.description) : null,
    h("h2", {}, "Members"),
    table(["Membership", "Type", "Engine", "Server", "Pool", "Database", "Refresh credential"], group.members.map((m) => h("tr", {},
      h("td", {}, m.membership_type), h("td", {}, m.target_type), h("td", {}, m.engine), h("td", {}, m.server_name),
      h("td", {}, m.elastic_pool_name || ""), h("td", {}, m.database_name || ""), h("td", {}, m.refresh_credential_name || "")))),
    h("h2", {}, "Preview ", h("button", { type: "button", onclick: resolve }, "Resolve again")),
    preview);
  resolve();
  const timer = setInterval(resolve, 30000);
  return () => clearInterval(timer);
}
