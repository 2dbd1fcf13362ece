// A Gantt chart of a step's targets: one row per target (virtualised: only the rows in view
// are drawn), a bar per attempt coloured by how it ended, a thin line for each wait between
// attempts, a dashed one for the wait of a target that waits for its next attempt now.

import { COLOURS, LIFECYCLES, announce, h } from "./dom.js";

const ROW = 14;
const LABEL = 64;
const AXIS = 22;
const FAILED = COLOURS[LIFECYCLES.indexOf("Failed")];
const WAITING = COLOURS[LIFECYCLES.indexOf("WaitingForRetry")];

function seconds(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
  return `${Math.round(ms / 60000)} min`;
}

export class Timeline {
  constructor({ label, onOpen }) {
    this.data = null;
    this.focus = -1;
    this.onOpen = onOpen;
    this.canvas = h("canvas", { class: "timeline-canvas", role: "img", "aria-label": label });
    this.spacer = h("div");
    this.scroller = h("div", { class: "timeline", tabindex: 0, "aria-label": `${label}; arrow keys move, Enter opens a target` }, this.canvas, this.spacer);
    this.element = h("div", {}, this.scroller);
    this.scroller.addEventListener("scroll", () => this.draw());
    this.scroller.addEventListener("click", (event) => {
      const index = this.rowAt(event);
      if (index >= 0) this.onOpen(this.data.targets[index].ordinal);
    });
    this.scroller.addEventListener("keydown", (event) => this.key(event));
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.scroller);
  }

  destroy() {
    this.resize.disconnect();
  }

  update(data) {
    this.data = data;
    this.draw();
  }

  rowAt(event) {
    if (!this.data) return -1;
    const box = this.scroller.getBoundingClientRect();
    const y = event.clientY - box.top - AXIS + this.scroller.scrollTop;
    const index = Math.floor(y / ROW);
    return index >= 0 && index < this.data.targets.length ? index : -1;
  }

  key(event) {
    if (!this.data?.targets.length) return;
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 20, PageUp: -20 };
    if (event.key in moves) {
      event.preventDefault();
      this.focus = Math.max(0, Math.min(this.data.targets.length - 1, this.focus + moves[event.key]));
      const top = this.focus * ROW;
      const view = this.scroller.clientHeight - AXIS;
      if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
      else if (top + ROW > this.scroller.scrollTop + view) this.scroller.scrollTop = top + ROW - view;
      this.draw();
      const target = this.data.targets[this.focus];
      announce(`Target ${target.ordinal}: ${LIFECYCLES[target.code]}, ${target.attempts} attempt(s)`);
    } else if (event.key === "Enter" && this.focus >= 0) {
      this.onOpen(this.data.targets[this.focus].ordinal);
    }
  }

  draw() {
    if (!this.data) return;
    const targets = this.data.targets;
    const width = Math.max(200, this.scroller.clientWidth);
    const height = Math.min(420, AXIS + targets.length * ROW + 2);
    this.scroller.style.height = `${height}px`;
    this.spacer.style.height = `${Math.max(0, AXIS + targets.length * ROW - height)}px`;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const context = this.canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    let span = 1;
    for (const t of targets) span = Math.max(span, t.end ?? this.data.now, t.retry_at ?? 0);
    const scale = (width - LABEL - 8) / span;
    const x = (ms) => LABEL + Math.max(0, ms) * scale;
    // Axis.
    context.fillStyle = "#444";
    context.font = "11px system-ui, sans-serif";
    const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000]
      .find((s) => span / s <= 8) || 3600000;
    for (let t = 0; t <= span; t += step) {
      context.fillRect(x(t), AXIS - 6, 1, 6);
      context.fillText(seconds(t), x(t) + 2, 12);
    }
    const first = Math.floor(this.scroller.scrollTop / ROW);
    const count = Math.ceil((height - AXIS) / ROW) + 1;
    for (let index = first; index < Math.min(targets.length, first + count); index += 1) {
      const t = targets[index];
      const y = AXIS + (index - first) * ROW - (this.scroller.scrollTop % ROW);
      if (y < AXIS - ROW) continue;
      if (index === this.focus) {
        context.fillStyle = "#e8f0fe";
        context.fillRect(0, y, width, ROW);
      }
      context.fillStyle = "#333";
      context.fillText(`#${t.ordinal}`, 4, y + ROW - 3);
      let previousEnd = null;
      for (const attempt of t.earlier) {
        if (previousEnd !== null) this.wait(context, x(previousEnd), x(attempt.start ?? previousEnd), y, false);
        context.fillStyle = FAILED;
        context.fillRect(x(attempt.start ?? attempt.end), y + 2, Math.max(2, (attempt.end - (attempt.start ?? attempt.end)) * scale), ROW - 4);
        previousEnd = attempt.end;
      }
      const lifecycle = LIFECYCLES[t.code];
      if (lifecycle === "WaitingForRetry") {
        if (previousEnd !== null && t.retry_at !== null) this.wait(context, x(previousEnd), x(t.retry_at), y, true);
        continue;
      }
      if (t.attempt_start === null) continue;
      if (previousEnd !== null) this.wait(context, x(previousEnd), x(t.attempt_start), y, false);
      const end = t.end ?? this.data.now;
      context.fillStyle = COLOURS[t.code] || COLOURS[0];
      context.fillRect(x(t.attempt_start), y + 2, Math.max(2, (end - t.attempt_start) * scale), ROW - 4);
    }
    this.canvas.style.transform = `translateY(${this.scroller.scrollTop}px)`;
    this.canvas.dataset.drawn = String(targets.length);
  }

  wait(context, from, to, y, dashed) {
    context.strokeStyle = dashed ? WAITING : "#8a8f98";
    context.lineWidth = 1;
    context.setLineDash(dashed ? [3, 2] : []);
    context.beginPath();
    context.moveTo(from, y + ROW / 2);
    context.lineTo(Math.max(from + 1, to), y + ROW / 2);
    context.stroke();
    context.setLineDash([]);
  }
}
