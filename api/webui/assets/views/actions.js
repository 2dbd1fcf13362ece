// Actions: start, stop, remove, rerun. Only built when the key may act (ctx.mayAct), so a
// read-only key gets no button at all; the API refuses such a key (403) in any case.

import { api } from "../api.js";
import { h } from "../dom.js";

// A modal dialog; resolves with the button chosen (true: confirm) and the form's fields.
export function dialog({ title, body, confirm, danger = false }) {
  return new Promise((resolve) => {
    const element = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" });
    const form = h("form", { method: "dialog" },
      h("h2", { id: "dialog-title" }, title),
      body,
      h("p", { class: "error", role: "alert", hidden: true }),
      h("div", { class: "buttons" },
        h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel"),
        h("button", { type: "submit", value: "confirm", class: danger ? "danger" : "primary" }, confirm)));
    element.append(form);
    element.addEventListener("close", () => {
      const fields = Object.fromEntries(new FormData(form).entries());
      element.remove();
      resolve(element.returnValue === "confirm" ? fields : null);
    });
    document.body.append(element);
    element.showModal();
  });
}

async function act(run, onError) {
  try {
    return await run();
  } catch (error) {
    onError(error);
    return null;
  }
}

function report(error) {
  alertBox(`The request failed: ${error.message}`);
}

function alertBox(text) {
  const box = h("div", { class: "toast error", role: "alert" }, text,
    h("button", { type: "button", class: "link", onclick: () => box.remove() }, "Dismiss"));
  document.body.append(box);
  setTimeout(() => box.remove(), 15000);
}

export function startButton(ctx, jobName) {
  return h("button", { type: "button", class: "primary", "data-action": "start", "aria-label": `Start job ${jobName}`, onclick: async () => {
    const job = await act(() => api("GET", `jobs/${encodeURIComponent(jobName)}`), report);
    if (!job) return;
    const declared = job.parameters || [];
    const fields = await dialog({
      title: `Start ${jobName}`,
      body: [
        h("p", {}, "Runs the job's current version on its targets now."),
        h("fieldset", { class: "parameters", "data-parameters": "" },
          h("legend", {}, "Parameters"),
          declared.length
            ? declared.map((p) => parameterInput(p))
            : h("p", { class: "muted" }, "This job takes no parameters.")),
      ],
      confirm: "Start",
    });
    if (!fields) return;
    const parameters = {};
    for (const p of declared) {
      const value = fields[`parameter:${p.name}`];
      if (value !== undefined && value !== "") parameters[p.name] = value;
    }
    const body = declared.length ? { parameters } : undefined;
    const started = await act(() => api("POST", `jobs/${encodeURIComponent(jobName)}/start`, body), report);
    if (started) ctx.navigate(`executions/${started.job_execution_id}`);
  } }, "Start");
}

// One input per declared parameter: text (password for secrets), empty means its default.
function parameterInput(p) {
  const id = `parameter-${p.name}`;
  const hint = p.default !== null && p.default !== undefined ? `default ${p.default}` : "required";
  return h("p", { class: "field" },
    h("label", { for: id }, `${p.name} (${p.type}${p.secret ? ", secret" : ""})`),
    h("input", {
      id, name: `parameter:${p.name}`, type: p.secret ? "password" : "text",
      autocomplete: "off", placeholder: hint, required: hint === "required",
      "data-parameter": p.name,
    }));
}

export function executionActions(ctx, execution, counts) {
  const id = execution.job_execution_id;
  const buttons = [];
  if (execution.is_active) {
    buttons.push(h("button", { type: "button", class: "danger", "data-action": "stop", disabled: execution.cancel_requested, onclick: async () => {
      if (!(await dialog({ title: "Stop this execution?", body: h("p", {}, "No new target starts; running scripts are cancelled; the rest become Canceled."), confirm: "Stop", danger: true }))) return;
      await act(() => api("POST", `executions/${id}/cancel`), report);
    } }, execution.cancel_requested ? "Stopping…" : "Stop"));
  } else {
    const failed = (counts.Failed || 0) + (counts.TimedOut || 0);
    const notSucceeded = failed + (counts.Canceled || 0) + (counts.Skipped || 0);
    const rerun = (label, action, lifecycles, n) => h("button", { type: "button", "data-action": action, disabled: !n, onclick: async () => {
      if (!(await dialog({ title: `${label}?`, body: h("p", {}, `A new execution of version ${execution.job_version} runs on the ${n} target database(s) that ended ${lifecycles.join(" or ")}.`), confirm: "Rerun" }))) return;
      const started = await act(() => api("POST", `executions/${id}/rerun`, { lifecycles }), report);
      if (started) ctx.navigate(`executions/${started.job_execution_id}`);
    } }, `${label} (${n})`);
    buttons.push(rerun("Rerun failed", "rerun-failed", ["Failed", "TimedOut"], failed));
    buttons.push(rerun("Rerun not succeeded", "rerun-not-succeeded", ["Failed", "TimedOut", "Canceled", "Skipped"], notSucceeded));
    buttons.push(h("button", { type: "button", class: "danger", "data-action": "remove", onclick: async () => {
      if (!(await dialog({ title: "Remove this execution?", body: h("p", {}, "Its history (targets, messages, results) is purged for good."), confirm: "Remove", danger: true }))) return;
      const done = await act(() => api("DELETE", `executions/${id}`).then(() => true), report);
      if (done) ctx.navigate("./");
    } }, "Remove"));
  }
  return h("div", { class: "actions", role: "group", "aria-label": "Actions" }, buttons);
}
