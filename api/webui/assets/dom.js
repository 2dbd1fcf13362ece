// Small DOM helpers: elements, times in the viewer's zone (UTC on hover), lifecycle colours.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name in element && name !== "list" && name !== "form") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export const LIFECYCLES = [
  "Created", "InProgress", "WaitingForChildJobExecutions", "WaitingForRetry", "Succeeded",
  "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped",
];
export const TERMINAL = new Set(["Succeeded", "SucceededWithSkipped", "Failed", "TimedOut", "Canceled", "Skipped"]);
// Colours per lifecycle, in LIFECYCLES order; chosen to stay apart for common colour blindness
// (blue/orange axis for running/retrying, green/red told apart by lightness too).
export const COLOURS = [
  "#b8c0cc", "#2f7ed8", "#8e6bbf", "#f0a30a", "#2e9e5b",
  "#63c3a8", "#d64545", "#8c3b12", "#55595f", "#e1e4e8",
];

export function colour(lifecycle) {
  return COLOURS[Math.max(0, LIFECYCLES.indexOf(lifecycle))];
}

export function badge(lifecycle) {
  return h("span", { class: `badge lc-${lifecycle}` }, lifecycle || "—");
}

const LOCAL = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function utcText(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "";
}

// A time in the viewer's zone; its UTC form on hover (title) and for machines (datetime).
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  return h("time", { datetime: date.toISOString(), title: utcText(iso) }, LOCAL.format(date));
}

export function duration(startIso, endIso) {
  if (!startIso) return "";
  const ms = (endIso ? new Date(endIso) : new Date()) - new Date(startIso);
  if (ms < 1000) return `${Math.max(0, ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function number(n) {
  return new Intl.NumberFormat().format(n || 0);
}

export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

export function legend(counts) {
  return h("ul", { class: "legend", "aria-label": "Targets by lifecycle" },
    LIFECYCLES.filter((lc) => !counts || counts[lc]).map((lc) =>
      h("li", {}, h("span", { class: "swatch", style: `background:${colour(lc)}` }),
        counts ? `${lc} ${number(counts[lc])}` : lc)));
}

// A stacked bar of counts per lifecycle.
export function progressBar(counts, total, label) {
  const bar = h("div", { class: "bar", role: "img", "aria-label": label });
  for (const lc of LIFECYCLES) {
    const n = counts?.[lc];
    if (!n || !total) continue;
    bar.append(h("span", { style: `width:${(100 * n) / total}%;background:${colour(lc)}`, title: `${lc}: ${number(n)}` }));
  }
  return bar;
}

export function table(headers, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "None")))));
}

export function describeSchedule(schedule) {
  if (!schedule) return "";
  const zone = schedule.time_zone ? ` (${schedule.time_zone})` : "";
  if (schedule.cron) return `cron ${schedule.cron}${zone}`;
  const type = String(schedule.interval_type).toLowerCase();
  if (type === "once") return "once";
  const unit = type.replace(/s$/, "");
  return (schedule.interval_count === 1 ? `every ${unit}` : `every ${schedule.interval_count} ${type}`) + zone;
}
