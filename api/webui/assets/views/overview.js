// Overview: jobs (schedule, next run, last outcome) and executions, newest first, with filters,
// counts by lifecycle and live refresh through the executions list's long-poll.

import { get, watch } from "../api.js";
import { LIFECYCLES, badge, describeSchedule, duration, h, legend, number, replace, table, time } from "../dom.js";
import { startButton } from "./actions.js";

function toUtc(localValue) {
  return localValue ? new Date(localValue).toISOString() : undefined;
}

export async function overview(ctx) {
  const { main, params } = ctx;
  const filters = {
    job_name: params.get("job") || "",
    lifecycle: params.get("lifecycle") || "",
    from: params.get("from") || "",
    to: params.get("to") || "",
  };
  const jobsBox = h("section", { "aria-labelledby": "jobs-title" }, h("h2", { id: "jobs-title" }, "Jobs"), h("p", { class: "muted" }, "Loading…"));
  const counts = h("div", { class: "counts", "aria-live": "polite" });
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const jobSelect = h("select", { id: "f-job", name: "job" }, h("option", { value: "" }, "All jobs"));
  const lifecycleSelect = h("select", { id: "f-lifecycle", name: "lifecycle" }, h("option", { value: "" }, "Any lifecycle"),
    LIFECYCLES.map((lc) => h("option", { value: lc, selected: lc === filters.lifecycle }, lc)));
  const from = h("input", { id: "f-from", name: "from", type: "datetime-local", value: filters.from, step: 1 });
  const to = h("input", { id: "f-to", name: "to", type: "datetime-local", value: filters.to, step: 1 });
  const form = h("form", { class: "filters", "aria-label": "Filter executions", onchange: apply, onsubmit: (e) => { e.preventDefault(); apply(); } },
    h("label", { for: "f-job" }, "Job"), jobSelect,
    h("label", { for: "f-lifecycle" }, "Lifecycle"), lifecycleSelect,
    h("label", { for: "f-from" }, "Created from (your time)"), from,
    h("label", { for: "f-to" }, "to"), to,
    h("button", { type: "button", class: "link", onclick: () => ctx.navigate("./") }, "Clear"));

  replace(main,
    h("h1", {}, "Overview"),
    jobsBox,
    h("section", { "aria-labelledby": "executions-title" },
      h("h2", { id: "executions-title" }, "Executions"), form, counts, list));

  function apply() {
    const search = new URLSearchParams();
    if (jobSelect.value) search.set("job", jobSelect.value);
    if (lifecycleSelect.value) search.set("lifecycle", lifecycleSelect.value);
    if (from.value) search.set("from", from.value);
    if (to.value) search.set("to", to.value);
    const text = search.toString();
    ctx.navigate(text ? `./?${text}` : "./", { replaceState: true });
  }

  async function loadJobs() {
    const jobs = (await get("job-summaries")).value;
    const names = jobs.map((job) => job.name);
    if (jobSelect.options.length !== names.length + 1) {
      replace(jobSelect, h("option", { value: "" }, "All jobs"),
        names.map((name) => h("option", { value: name, selected: name === filters.job_name }, name)));
    }
    replace(jobsBox, h("h2", { id: "jobs-title" }, "Jobs"), table(
      ["Job", "Schedule", "Next run", "Last outcome", "Active", ctx.mayAct ? "Actions" : null].filter(Boolean),
      jobs.map((job) => h("tr", {},
        h("td", {}, h("a", { href: `jobs/${encodeURIComponent(job.name)}` }, job.name),
          job.description ? h("div", { class: "muted small" }, job.description) : null),
        h("td", {}, describeSchedule(job.schedule), job.enabled ? "" : h("span", { class: "muted" }, " (disabled)")),
        h("td", {}, time(job.next_run_time)),
        h("td", {}, job.last_execution
          ? h("a", { href: `executions/${job.last_execution.job_execution_id}` }, badge(job.last_execution.lifecycle), " ", time(job.last_execution.create_time))
          : h("span", { class: "muted" }, "never run")),
        h("td", {}, number(job.active_executions)),
        ctx.mayAct ? h("td", {}, startButton(ctx, job.name)) : null))));
  }

  const stopJobs = { pending: null };
  await loadJobs();
  const stop = watch("executions", {
    job_name: filters.job_name, lifecycle: filters.lifecycle, create_time_min: toUtc(filters.from),
    create_time_max: toUtc(filters.to), counts: "true", top: 100,
  }, (page) => {
    const total = Object.values(page.counts || {}).reduce((a, b) => a + b, 0);
    replace(counts, h("p", {}, `${number(total)} execution(s)`, filters.job_name ? ` of ${filters.job_name}` : ""), legend(page.counts || {}));
    replace(list, table(["Execution", "Job", "Lifecycle", "Created", "Duration", "Message"],
      page.items.map((execution) => h("tr", {},
        h("td", {}, h("a", { href: `executions/${execution.job_execution_id}`, class: "mono" }, execution.job_execution_id.slice(0, 8)),
          execution.rerun_of_job_execution_id ? h("span", { class: "tag small" }, "rerun") : null),
        h("td", {}, execution.job_name, h("span", { class: "muted" }, ` v${execution.job_version}`)),
        h("td", {}, badge(execution.lifecycle)),
        h("td", {}, time(execution.create_time)),
        h("td", {}, duration(execution.start_time, execution.end_time)),
        h("td", { class: "message" }, execution.last_message || "")))),
      page.continuation ? h("p", { class: "muted" }, "Showing the newest 100; narrow the filters to see older ones.") : null);
    clearTimeout(stopJobs.pending);
    stopJobs.pending = setTimeout(() => loadJobs().catch(() => {}), 300);
  }, (error) => replace(list, h("p", { class: "error", role: "alert" }, error.message)));
  return () => {
    stop();
    clearTimeout(stopJobs.pending);
  };
}
