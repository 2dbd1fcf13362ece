// Jobs: the list, a job with its steps and versions, and the difference between two versions.

import { get } from "../api.js";
import { badge, describeSchedule, h, replace, table, time } from "../dom.js";
import { startButton } from "./actions.js";

export async function jobsView(ctx) {
  const jobs = (await get("job-summaries")).value;
  replace(ctx.main, h("h1", {}, "Jobs"),
    table(["Job", "Version", "Steps", "Schedule", "Next run", "Last outcome", ctx.mayAct ? "Actions" : null].filter(Boolean),
      jobs.map((job) => h("tr", {},
        h("td", {}, h("a", { href: `jobs/${encodeURIComponent(job.name)}` }, job.name)),
        h("td", {}, job.job_version), h("td", {}, job.step_count),
        h("td", {}, describeSchedule(job.schedule), job.enabled ? "" : " (disabled)"),
        h("td", {}, time(job.next_run_time)),
        h("td", {}, job.last_execution ? h("a", { href: `executions/${job.last_execution.job_execution_id}` }, badge(job.last_execution.lifecycle)) : "never run"),
        ctx.mayAct ? h("td", {}, startButton(ctx, job.name)) : null))));
}

// A version as lines of text, step by step: what the difference compares.
function versionText(version) {
  const lines = [];
  for (const step of version.steps) {
    lines.push(`step ${step.step_id}: ${step.step_name}`);
    const { command, ...settings } = step;
    for (const [name, value] of Object.entries(settings)) {
      if (["job_name", "job_version", "step_id", "step_name"].includes(name)) continue;
      lines.push(`  ${name}: ${typeof value === "object" && value !== null ? JSON.stringify(value) : value}`);
    }
    lines.push("  command:");
    for (const line of String(command).split("\n")) lines.push(`    ${line}`);
  }
  return lines;
}

// Line difference (longest common subsequence), as [" " | "-" | "+", line] pairs.
export function diffLines(a, b) {
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) for (let j = m - 1; j >= 0; j -= 1) {
    lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push([" ", a[i]]); i += 1; j += 1; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) { out.push(["-", a[i]]); i += 1; }
    else { out.push(["+", b[j]]); j += 1; }
  }
  while (i < n) out.push(["-", a[i++]]);
  while (j < m) out.push(["+", b[j++]]);
  return out;
}

export async function jobView(ctx, name) {
  const path = `jobs/${encodeURIComponent(name)}`;
  const [job, versions] = await Promise.all([get(path), get(`${path}/versions`)]);
  const numbers = versions.value.map((v) => v.job_version);
  const from = h("select", { id: "diff-a" }, numbers.map((v) => h("option", { value: v }, `v${v}`)));
  const to = h("select", { id: "diff-b" }, numbers.map((v) => h("option", { value: v }, `v${v}`)));
  const a = Number(ctx.params.get("a")) || numbers[Math.max(0, numbers.length - 2)];
  const b = Number(ctx.params.get("b")) || numbers[numbers.length - 1];
  from.value = String(a);
  to.value = String(b);
  const diffBox = h("div", { "aria-live": "polite" });
  async function compare() {
    const search = new URLSearchParams({ a: from.value, b: to.value });
    history.replaceState(null, "", `${location.pathname}?${search}`);
    const [left, right] = await Promise.all([get(`${path}/versions/${from.value}`), get(`${path}/versions/${to.value}`)]);
    const lines = diffLines(versionText(left), versionText(right));
    const changed = lines.filter(([mark]) => mark !== " ").length;
    replace(diffBox, h("p", {}, changed ? `${changed} line(s) differ between v${from.value} and v${to.value}.` : `v${from.value} and v${to.value} have the same steps.`),
      h("pre", { class: "diff", "data-testid": "version-diff" }, lines.map(([mark, line]) => h("span", { class: mark === "+" ? "add" : mark === "-" ? "del" : "" }, `${mark} ${line}\n`))));
  }
  replace(ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "jobs" }, "Jobs")),
    h("h1", {}, job.name, " ", h("span", { class: "muted" }, `v${job.job_version}`)),
    job.description ? h("p", {}, job.description) : null,
    h("p", {}, `Schedule: ${describeSchedule(job.schedule)}${job.enabled ? "" : " (disabled)"}; `, "changed ", time(job.modified_time), ". ",
      h("a", { href: `./?job=${encodeURIComponent(job.name)}` }, "Its executions")),
    ctx.mayAct ? h("div", { class: "actions" }, startButton(ctx, job.name)) : null,
    h("h2", {}, "Steps"),
    job.steps.map((step) => h("section", { class: "card" },
      h("h3", {}, `${step.step_id}. ${step.step_name}`),
      h("p", { class: "small" }, `on ${step.target_group_name}`, step.credential_name ? ` as ${step.credential_name}` : "",
        `; retries ${step.retry_attempts}, timeout ${step.step_timeout_seconds} s`, step.max_parallelism ? `, at most ${step.max_parallelism} at once` : "", `, on failure ${step.on_failure}`),
      h("pre", { class: "sql" }, step.command))),
    h("h2", {}, "Versions"),
    table(["Version", "Created", "Steps"], versions.value.map((v) => h("tr", {}, h("td", {}, `v${v.job_version}`), h("td", {}, time(v.created_time)), h("td", {}, v.step_count)))),
    h("h3", {}, "Difference"),
    h("form", { class: "filters", onchange: compare, onsubmit: (e) => { e.preventDefault(); compare(); } },
      h("label", { for: "diff-a" }, "From"), from, h("label", { for: "diff-b" }, "to"), to),
    diffBox);
  await compare();
}
