// One execution: its steps with progress and counts, every target of a step as a cell of a
// grid (canvas) or a row of a timeline, a target's detail; kept live by the execution's
// long-poll. The URL names the step, the view and the target: it can be pasted into a chat.

import { get, watch } from "../api.js";
import { TERMINAL, badge, duration, h, legend, number, progressBar, replace, table, time } from "../dom.js";
import { TargetGrid } from "../grid.js";
import { Timeline } from "../timeline.js";
import { executionActions } from "./actions.js";

const CODES_PAGE = 100000;
const TIMELINE_PAGE = 10000;

async function lifecycleCodes(id, stepId) {
  let codes = "";
  let total = Infinity;
  while (codes.length < total) {
    const page = await get(`executions/${id}/steps/${stepId}/lifecycles?start=${codes.length}&count=${CODES_PAGE}`);
    total = page.total;
    codes += page.codes;
    if (!page.codes.length) break;
  }
  return codes;
}

export async function executionView(ctx, id) {
  const { main, params } = ctx;
  const state = {
    step: Number(params.get("step")) || null,
    view: params.get("view") === "timeline" ? "timeline" : "grid",
    target: params.has("target") ? Number(params.get("target")) : null,
    execution: null,
  };
  const header = h("div", { class: "execution-header" });
  const stepsBox = h("section", { "aria-labelledby": "steps-title" });
  const stepTitle = h("h2", { id: "targets-title" }, "Targets");
  const stepLegend = h("div");
  const gridButton = h("button", { type: "button", "aria-pressed": "true", onclick: () => show("grid") }, "Grid");
  const timelineButton = h("button", { type: "button", "aria-pressed": "false", onclick: () => show("timeline") }, "Timeline");
  const grid = new TargetGrid({ label: "Targets of the step, one cell each, coloured by lifecycle; arrow keys move, Enter opens a target", onOpen: (ordinal) => openTarget(ordinal) });
  const timeline = new Timeline({ label: "Timeline of the step's target attempts, retries and waits", onOpen: (ordinal) => openTarget(ordinal) });
  const viewBox = h("div", { class: "view-box" }, grid.element);
  const detail = h("aside", { class: "detail", "aria-labelledby": "detail-title", hidden: true });
  const targetsBox = h("section", { "aria-labelledby": "targets-title", class: "targets" },
    stepTitle, h("div", { class: "toolbar", role: "group", "aria-label": "View" }, gridButton, timelineButton), stepLegend, viewBox);

  replace(main, header, stepsBox, h("div", { class: "split" }, targetsBox, detail));

  function syncUrl() {
    const search = new URLSearchParams();
    if (state.step) search.set("step", state.step);
    if (state.view === "timeline") search.set("view", "timeline");
    if (state.target !== null) search.set("target", state.target);
    const text = search.toString();
    history.replaceState(null, "", `${location.pathname}${text ? `?${text}` : ""}`);
  }

  function show(view) {
    state.view = view;
    gridButton.setAttribute("aria-pressed", String(view === "grid"));
    timelineButton.setAttribute("aria-pressed", String(view === "timeline"));
    replace(viewBox, view === "grid" ? grid.element : timeline.element);
    syncUrl();
    refreshTargets();
  }

  function renderHeader(execution) {
    const counts = {};
    for (const step of execution.steps) for (const [lc, n] of Object.entries(step.progress?.counts || {})) counts[lc] = (counts[lc] || 0) + n;
    replace(header,
      h("p", { class: "crumbs" }, h("a", { href: "./" }, "Overview"), " / ", h("a", { href: `jobs/${encodeURIComponent(execution.job_name)}` }, execution.job_name)),
      h("h1", {}, `${execution.job_name} `, h("span", { class: "muted" }, `v${execution.job_version}`), " ", badge(execution.lifecycle)),
      h("dl", { class: "facts" },
        h("dt", {}, "Execution"), h("dd", { class: "mono" }, execution.job_execution_id),
        h("dt", {}, "Created"), h("dd", {}, time(execution.create_time)),
        h("dt", {}, "Ended"), h("dd", {}, time(execution.end_time)),
        h("dt", {}, "Duration"), h("dd", {}, duration(execution.start_time, execution.end_time)),
        execution.rerun_of_job_execution_id ? [h("dt", {}, "Rerun of"), h("dd", {}, h("a", { href: `executions/${execution.rerun_of_job_execution_id}`, class: "mono" }, execution.rerun_of_job_execution_id))] : null,
        execution.reruns?.length ? [h("dt", {}, "Reruns"), h("dd", {}, execution.reruns.map((rid) => [h("a", { href: `executions/${rid}`, class: "mono" }, rid.slice(0, 8)), " "]))] : null,
        execution.last_message ? [h("dt", {}, "Message"), h("dd", {}, execution.last_message)] : null),
      ctx.mayAct ? executionActions(ctx, execution, counts) : null);
  }

  function renderSteps(execution) {
    replace(stepsBox, h("h2", { id: "steps-title" }, "Steps"), table(["Step", "Lifecycle", "Progress", "Targets by lifecycle", "Duration"],
      execution.steps.map((step) => {
        const p = step.progress || { targets: 0, counts: {} };
        const done = Object.entries(p.counts).filter(([lc]) => TERMINAL.has(lc)).reduce((a, [, n]) => a + n, 0);
        return h("tr", { class: step.step_id === state.step ? "selected" : "" },
          h("td", {}, h("button", { type: "button", class: "link", "aria-pressed": String(step.step_id === state.step), onclick: () => selectStep(step.step_id) }, `${step.step_id}. ${step.step_name}`)),
          h("td", {}, badge(step.lifecycle)),
          h("td", { class: "progress-cell" }, progressBar(p.counts, p.targets, `${done} of ${p.targets} targets done`), h("span", { class: "small" }, `${number(done)} / ${number(p.targets)}`)),
          h("td", { class: "small" }, Object.entries(p.counts).map(([lc, n]) => `${lc} ${number(n)}`).join(", ") || "—"),
          h("td", {}, duration(step.start_time, step.end_time)));
      })));
  }

  function selectStep(stepId) {
    state.step = stepId;
    state.target = null;
    detail.hidden = true;
    syncUrl();
    renderSteps(state.execution);
    refreshTargets();
  }

  let targetsRun = 0;
  async function refreshTargets() {
    const execution = state.execution;
    if (!execution || !state.step) return;
    const run = ++targetsRun;
    const step = execution.steps.find((s) => s.step_id === state.step);
    const total = step?.progress?.targets || 0;
    stepTitle.textContent = `Targets of step ${state.step}${step ? ` (${step.step_name})` : ""}: ${number(total)}`;
    replace(stepLegend, legend(step?.progress?.counts || {}));
    if (state.view === "grid") {
      const codes = total ? await lifecycleCodes(id, state.step) : "";
      if (run === targetsRun) grid.update(codes);
    } else {
      const data = await get(`executions/${id}/steps/${state.step}/timeline?count=${TIMELINE_PAGE}`);
      if (run === targetsRun) timeline.update(data);
    }
  }

  let detailRun = 0;
  async function openTarget(ordinal) {
    state.target = ordinal;
    syncUrl();
    const run = ++detailRun;
    const [output, script] = await Promise.all([
      get(`executions/${id}/steps/${state.step}/targets/${ordinal}/output`),
      get(`executions/${id}/steps/${state.step}/targets/${ordinal}/script`).catch(() => null),
    ]);
    if (run !== detailRun) return;
    renderDetail(output, script);
    performance.mark("sqlfleet:target-shown");
  }

  function renderDetail(output, script) {
    const t = output.target;
    const failed = ["Failed", "TimedOut", "WaitingForRetry"].includes(t.lifecycle) && t.last_message;
    const sets = (output.result_sets || []).length ? output.result_sets : (output.result ? [output.result] : []);
    detail.hidden = false;
    replace(detail,
      h("div", { class: "detail-head" },
        h("h2", { id: "detail-title" }, `Target ${t.target_ordinal}`),
        h("button", { type: "button", class: "link", "aria-label": "Close target detail", onclick: () => { detail.hidden = true; state.target = null; syncUrl(); } }, "Close")),
      h("p", {}, badge(t.lifecycle), " ", h("strong", {}, t.target_database_name || "(server)"), " on ", t.target_server_name,
        t.target_engine ? h("span", { class: "muted" }, ` (${t.target_engine})`) : null),
      h("dl", { class: "facts" },
        h("dt", {}, "Attempts"), h("dd", {}, `${t.current_attempts}${t.max_attempts ? ` of ${t.max_attempts}` : ""}`),
        h("dt", {}, "Started"), h("dd", {}, time(t.start_time)),
        h("dt", {}, "Ended"), h("dd", {}, time(t.end_time)),
        t.next_attempt_start_time ? [h("dt", {}, "Next attempt"), h("dd", {}, time(t.next_attempt_start_time))] : null),
      failed ? [h("h3", {}, "Error"), h("pre", { class: "error-text", "data-testid": "target-error" }, t.last_message), errorDetail(output.error)] : null,
      h("h3", {}, "Attempts"),
      table(["#", "Started", "Ended", "Took", "Outcome", "Message"], output.attempts.map((a) => h("tr", {},
        h("td", {}, a.attempt), h("td", {}, time(a.start_time)), h("td", {}, time(a.end_time)),
        h("td", {}, a.end_time ? duration(a.start_time, a.end_time) : ""),
        h("td", {}, a.lifecycle === "WaitingForRetry" ? "failed, retried" : a.lifecycle),
        h("td", { class: "message" }, a.message || "")))),
      h("h3", {}, `Messages (${output.messages.length})`),
      output.messages.length
        ? h("ol", { class: "messages", "data-testid": "target-messages" }, output.messages.map((m) => h("li", {}, h("span", { class: "muted small" }, `attempt ${m.attempt} · `, time(m.recorded_time), " "), m.message)))
        : h("p", { class: "muted" }, "No messages."),
      h("h3", {}, sets.length > 1 ? `Result sets (${sets.length})` : "Result set"),
      sets.length
        ? sets.map((result, index) => [sets.length > 1 ? h("h4", {}, `Result set ${index + 1}`) : null, resultTable(result)])
        : h("p", { class: "muted" }, "No result set."),
      (output.affected_rows || []).length
        ? h("p", { class: "muted small", "data-testid": "target-affected-rows" }, `Rows affected: ${output.affected_rows.join(", ")}`)
        : null,
      h("h3", {}, "SQL that ran"),
      script ? [
        h("pre", { class: "sql", "data-testid": "target-sql" }, script.script),
        h("details", {}, h("summary", {}, "Script variables and parameters"),
          table(["Name", "Value"], Object.entries(script.variables).map(([name, value]) => h("tr", {}, h("td", { class: "mono" }, `$(${name})`), h("td", {}, value)))),
          Object.keys(script.parameters).length
            ? table(["Parameter", "Value"], Object.entries(script.parameters).map(([name, value]) => h("tr", {}, h("td", { class: "mono" }, name), h("td", {}, value))))
            : h("p", { class: "muted" }, "The job has no parameters.")),
      ] : h("p", { class: "muted" }, "Not available."));
  }

  function errorDetail(error) {
    if (!error) return null;
    const parts = [["SQLSTATE", error.sqlstate], ["error", error.number], ["line", error.line], ["class", error.error_class]]
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([name, value]) => `${name} ${value}`);
    return parts.length ? h("p", { class: "muted small", "data-testid": "target-error-detail" }, parts.join(" · ")) : null;
  }

  function resultTable(result) {
    const rows = result.rows.slice(0, 200);
    return [
      table(result.columns.map((c) => c.name), rows.map((row) => h("tr", {}, row.map((value) => h("td", {}, value === null ? h("span", { class: "muted" }, "NULL") : String(value)))))),
      h("p", { class: "muted small" }, `${number(result.row_count)} row(s) kept${result.truncated ? " (truncated)" : ""}${result.rows.length > rows.length ? `; the first ${rows.length} shown` : ""}.`),
    ];
  }

  const stop = watch(`executions/${id}`, { targets: "false" }, async (execution) => {
    const first = !state.execution;
    state.execution = execution;
    if (!state.step || !execution.steps.some((s) => s.step_id === state.step)) {
      const running = execution.steps.filter((s) => s.progress?.targets);
      state.step = (running[running.length - 1] || execution.steps[0])?.step_id || null;
    }
    renderHeader(execution);
    renderSteps(execution);
    if (first) {
      show(state.view);
      if (state.target !== null) openTarget(state.target).catch(() => {});
    } else {
      refreshTargets();
      if (state.target !== null && !detail.hidden) openTarget(state.target).catch(() => {});
    }
  }, (error) => {
    if (error.status === 401) ctx.onKeyRefused();
    else replace(header, h("p", { class: "error", role: "alert" }, error.status === 404 ? `Execution ${id} does not exist (or was removed).` : error.message));
  });
  return () => {
    stop();
    grid.destroy();
    timeline.destroy();
  };
}
