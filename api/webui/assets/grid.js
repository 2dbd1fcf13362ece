// Every target of a step as one cell of a canvas, coloured by lifecycle: drawn from one
// character per target (GET .../lifecycles), so 10,000 targets or 100,000 are one draw call
// loop, no DOM node each. Keyboard: arrows, Home/End, Page Up/Down move; Enter opens.

import { COLOURS, LIFECYCLES, announce, h } from "./dom.js";

const MAX_HEIGHT = 560;

export class TargetGrid {
  constructor({ label, onOpen }) {
    this.codes = "";
    this.focus = -1;
    this.selected = -1;
    this.onOpen = onOpen;
    this.canvas = h("canvas", { tabindex: 0, role: "img", "aria-label": label, class: "grid-canvas" });
    this.tip = h("div", { class: "grid-tip", hidden: true });
    this.element = h("div", { class: "grid" }, this.canvas, this.tip);
    this.canvas.addEventListener("mousemove", (event) => this.hover(event));
    this.canvas.addEventListener("mouseleave", () => { this.tip.hidden = true; });
    this.canvas.addEventListener("click", (event) => {
      const ordinal = this.at(event);
      if (ordinal >= 0) this.open(ordinal);
    });
    this.canvas.addEventListener("keydown", (event) => this.key(event));
    this.canvas.addEventListener("focus", () => { if (this.focus < 0 && this.codes.length) this.move(0); });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.element);
  }

  destroy() {
    this.resize.disconnect();
  }

  update(codes) {
    this.codes = codes;
    this.draw();
  }

  layout() {
    const width = Math.max(120, this.element.clientWidth || 600);
    const n = Math.max(1, this.codes.length);
    let cell = 24;
    for (; cell > 3; cell -= 1) {
      const columns = Math.floor(width / cell);
      if (Math.ceil(n / columns) * cell <= MAX_HEIGHT) break;
    }
    const columns = Math.max(1, Math.floor(width / cell));
    return { cell, columns, rows: Math.ceil(n / columns), gap: cell >= 6 ? 1 : 0, width };
  }

  draw() {
    const { cell, columns, rows, gap, width } = (this.geometry = this.layout());
    const ratio = window.devicePixelRatio || 1;
    const height = Math.max(cell, rows * cell);
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
    const context = this.canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const codes = this.codes;
    let last = "";
    for (let i = 0; i < codes.length; i += 1) {
      const code = codes.charCodeAt(i) - 48;
      const colour = COLOURS[code] || COLOURS[0];
      if (colour !== last) {
        context.fillStyle = colour;
        last = colour;
      }
      context.fillRect((i % columns) * cell, Math.floor(i / columns) * cell, cell - gap, cell - gap);
    }
    for (const [ordinal, style] of [[this.selected, "#111"], [this.focus, "#0b57d0"]]) {
      if (ordinal < 0 || ordinal >= codes.length) continue;
      context.strokeStyle = style;
      context.lineWidth = 2;
      context.strokeRect((ordinal % columns) * cell + 1, Math.floor(ordinal / columns) * cell + 1, Math.max(2, cell - 2), Math.max(2, cell - 2));
    }
    this.canvas.dataset.drawn = String(codes.length);
    this.canvas.dataset.cell = String(cell);
    this.canvas.dataset.columns = String(columns);
    // For bench/ui_execution.py: when the page first showed a step's targets.
    if (codes.length && !this.marked) {
      this.marked = true;
      performance.mark("sqlfleet:grid-drawn");
    }
  }

  at(event) {
    const { cell, columns } = this.geometry || this.layout();
    const box = this.canvas.getBoundingClientRect();
    const column = Math.floor((event.clientX - box.left) / cell);
    const row = Math.floor((event.clientY - box.top) / cell);
    const ordinal = row * columns + column;
    return column < columns && ordinal >= 0 && ordinal < this.codes.length ? ordinal : -1;
  }

  describe(ordinal) {
    return `Target ${ordinal}: ${LIFECYCLES[this.codes.charCodeAt(ordinal) - 48] || "?"}`;
  }

  hover(event) {
    const ordinal = this.at(event);
    if (ordinal < 0) {
      this.tip.hidden = true;
      return;
    }
    this.tip.textContent = this.describe(ordinal);
    this.tip.hidden = false;
    const box = this.element.getBoundingClientRect();
    this.tip.style.left = `${Math.min(event.clientX - box.left + 12, box.width - 160)}px`;
    this.tip.style.top = `${event.clientY - box.top + 12}px`;
  }

  move(ordinal) {
    this.focus = Math.max(0, Math.min(this.codes.length - 1, ordinal));
    this.draw();
    announce(this.describe(this.focus));
  }

  open(ordinal) {
    this.selected = ordinal;
    this.focus = ordinal;
    this.draw();
    this.onOpen(ordinal);
  }

  key(event) {
    if (!this.codes.length) return;
    const { columns, rows } = this.geometry || this.layout();
    const at = Math.max(0, this.focus);
    const page = columns * Math.max(1, Math.floor(rows / 4));
    const moves = {
      ArrowRight: at + 1, ArrowLeft: at - 1, ArrowDown: at + columns, ArrowUp: at - columns,
      Home: 0, End: this.codes.length - 1, PageDown: at + page, PageUp: at - page,
    };
    if (event.key in moves) {
      event.preventDefault();
      this.move(moves[event.key]);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.open(at);
    }
  }
}
