// Bar and line charts as SVG, for query results that are a series and for the admin view's usage.
//
// Labels and series names can come from rows a model's query returned, so they are untrusted: every
// piece of text goes in through textContent, every element through createElementNS, and no markup
// string is ever parsed. Colours are the theme's --chart-1..4, set through element.style (the
// playground's CSP allows no inline style attributes, and CSSOM writes are not those).

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["var(--chart-1)", "var(--chart-2)", "var(--chart-3)", "var(--chart-4)"];
const DASHES = ["", "6 3", "2 3", "8 3 2 3"]; // a fifth series and on: the colours again, dashed
const HEIGHT = 320;
const MIN_WIDTH = 320;
const DEFAULT_WIDTH = 720;
const FONT_PX = 12;
const CHAR_PX = 7; // a generous average glyph width at FONT_PX, for laying out text before it is drawn
const MAX_LABEL_CHARS = 18;
const MAX_POINT_MARKERS = 80;
const MAX_DESCRIBED_POINTS = 100;

let chartCount = 0;

/**
 * Draws a chart into `container` and returns its <svg>.
 * @param {Element} container
 * @param {{kind: "bar"|"line", title?: string, labels: unknown[], series: {name?: string, values: (number|null)[]}[]}} spec
 * @returns {SVGSVGElement}
 */
export function renderChart(container, spec) {
  const chart = normalise(spec);
  const id = `fluxbase-chart-${++chartCount}`;
  const width = Math.max(MIN_WIDTH, Math.round(container?.clientWidth || DEFAULT_WIDTH));
  const svg = node("svg", {
    viewBox: `0 0 ${width} ${HEIGHT}`, role: "img", preserveAspectRatio: "xMidYMid meet",
    "aria-labelledby": `${id}-title ${id}-desc`, class: `chart chart-${chart.kind}`,
  });
  // The viewBox keeps it in proportion when the page narrows; the width follows the container.
  svg.style.width = "100%";
  svg.style.height = "auto";
  svg.style.maxWidth = `${Math.max(width, DEFAULT_WIDTH)}px`;
  svg.style.display = "block";
  svg.style.fontFamily = "var(--font, sans-serif)";
  svg.style.fontSize = `${FONT_PX}px`;
  text(svg, "title", chart.title || `${chart.kind === "bar" ? "Bar" : "Line"} chart`, { id: `${id}-title` });
  text(svg, "desc", describe(chart), { id: `${id}-desc` });

  const legendRows = chart.series.length > 1 ? legendLayout(chart.series, width - 24) : [];
  const top = (chart.title ? 30 : 12) + legendRows.length * 20 + 8;
  const scale = valueScale(chart);
  const tickWidth = Math.max(...scale.ticks.map((tick) => formatNumber(tick).length)) * CHAR_PX;
  const plot = { left: Math.max(40, tickWidth + 14), right: width - 16, top, bottom: HEIGHT - 36 };
  plot.width = Math.max(1, plot.right - plot.left);
  plot.height = Math.max(1, plot.bottom - plot.top);
  const y = (value) => plot.bottom - ((value - scale.min) / (scale.max - scale.min)) * plot.height;

  if (chart.title) {
    const heading = text(svg, "text", chart.title, { x: width / 2, y: 20, "text-anchor": "middle", class: "chart-title" });
    heading.style.fontWeight = "600";
    heading.style.fill = "var(--fg, #000)";
  }
  drawLegend(svg, chart.series, legendRows, (chart.title ? 30 : 12) + 4);
  drawValueAxis(svg, scale, plot, y);
  const slot = plot.width / Math.max(1, chart.labels.length);
  drawCategoryAxis(svg, chart.labels, plot, slot);
  if (chart.kind === "bar") drawBars(svg, chart, plot, slot, y, scale);
  else drawLines(svg, chart, plot, slot, y);
  // The zero line over the bars' bases, so where positive turns negative is plain.
  if (scale.min < 0 && scale.max > 0) {
    line(svg, plot.left, y(0), plot.right, y(0), "var(--fg, #000)", "chart-zero");
  }
  line(svg, plot.left, plot.top, plot.left, plot.bottom, "var(--fg-soft, #666)", "chart-axis");
  container.append(svg);
  return svg;
}

/** "Nice" ticks (1, 2, 2.5 or 5 times a power of ten) spanning [low, high], about `count` of them. */
export function niceTicks(low, high, count = 5) {
  if (!Number.isFinite(low) || !Number.isFinite(high)) throw new RangeError("ticks need finite bounds");
  if (low > high) [low, high] = [high, low];
  if (low === high) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const rough = (high - low) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= rough) || 10 * power;
  const start = Math.floor(low / step) * step;
  const end = Math.ceil(high / step) * step;
  const ticks = [];
  for (let i = 0; start + i * step <= end + step / 2; i += 1) ticks.push(round(start + i * step, step));
  return ticks;
}

function normalise(spec) {
  if (!spec || typeof spec !== "object") throw new TypeError("renderChart needs {kind, labels, series}");
  const kind = spec.kind === "line" ? "line" : spec.kind === "bar" ? "bar" : null;
  if (!kind) throw new TypeError('kind must be "bar" or "line"');
  if (!Array.isArray(spec.labels)) throw new TypeError("labels must be an array");
  if (!Array.isArray(spec.series) || spec.series.length === 0) throw new TypeError("series must be a non-empty array");
  const labels = spec.labels.map((label) => (label === null || label === undefined ? "" : String(label)));
  const series = spec.series.map((one, index) => {
    if (!one || !Array.isArray(one.values)) throw new TypeError(`series[${index}].values must be an array`);
    return {
      name: one.name === null || one.name === undefined ? `Series ${index + 1}` : String(one.name),
      // Anything but a finite number is a gap: a null cell, NaN, a string a query returned.
      values: labels.map((_, i) => (typeof one.values[i] === "number" && Number.isFinite(one.values[i]) ? one.values[i] : null)),
    };
  });
  const title = spec.title === null || spec.title === undefined ? "" : String(spec.title);
  return { kind, title, labels, series };
}

function valueScale(chart) {
  const values = chart.series.flatMap((one) => one.values).filter((value) => value !== null);
  // reduce, not Math.min(...values): spreading a long result overflows the call stack.
  let low = values.length ? values.reduce((a, b) => Math.min(a, b)) : 0;
  let high = values.length ? values.reduce((a, b) => Math.max(a, b)) : 1;
  // Bars grow from zero, so zero is always on the axis; a line may float, unless it is near zero anyway.
  if (chart.kind === "bar" || low > 0 && low < (high - low)) low = Math.min(low, 0);
  if (chart.kind === "bar" || high < 0) high = Math.max(high, 0);
  if (low === 0 && high === 0) high = 1; // nothing but zeros: an axis from 0 up, not one around 0
  const ticks = niceTicks(low, high, 5);
  return { ticks, min: ticks[0], max: ticks[ticks.length - 1] };
}

function drawValueAxis(svg, scale, plot, y) {
  const group = node("g", { class: "chart-y-axis", "aria-hidden": "true" });
  for (const tick of scale.ticks) {
    const at = y(tick);
    line(group, plot.left, at, plot.right, at, "var(--border, #ccc)", "chart-grid");
    line(group, plot.left - 4, at, plot.left, at, "var(--fg-soft, #666)", "chart-tick");
    const label = text(group, "text", formatNumber(tick), { x: plot.left - 7, y: at + 4, "text-anchor": "end" });
    label.style.fill = "var(--fg-soft, #666)";
  }
  svg.append(group);
}

function drawCategoryAxis(svg, labels, plot, slot) {
  const group = node("g", { class: "chart-x-axis", "aria-hidden": "true" });
  line(group, plot.left, plot.bottom, plot.right, plot.bottom, "var(--fg-soft, #666)", "chart-axis");
  const longest = Math.min(MAX_LABEL_CHARS, labels.reduce((most, label) => Math.max(most, label.length), 1));
  // Every label needs its own room: show every step-th one, counted from the last (in a time series
  // the latest point is the one people look for).
  const step = Math.max(1, Math.ceil((longest * CHAR_PX + 8) / slot));
  labels.forEach((label, index) => {
    if ((labels.length - 1 - index) % step !== 0) return;
    const x = plot.left + slot * (index + 0.5);
    line(group, x, plot.bottom, x, plot.bottom + 4, "var(--fg-soft, #666)", "chart-tick");
    const shown = label.length > MAX_LABEL_CHARS ? `${label.slice(0, MAX_LABEL_CHARS - 1)}…` : label;
    // A shortened label keeps its whole text as a tooltip, beside the text (not in it).
    const holder = shown === label ? group : group.appendChild(node("g"));
    const element = text(holder, "text", shown, { x, y: plot.bottom + 18, "text-anchor": "middle", class: "chart-label" });
    element.style.fill = "var(--fg-soft, #666)";
    if (shown !== label) text(holder, "title", label);
  });
  svg.append(group);
}

function drawBars(svg, chart, plot, slot, y, scale) {
  const count = chart.series.length;
  const groupWidth = slot * 0.8;
  const barWidth = Math.max(1, groupWidth / count - (count > 1 ? 1 : 0));
  const base = y(Math.min(Math.max(0, scale.min), scale.max));
  chart.series.forEach((one, s) => {
    const group = node("g", { class: "chart-series", "data-series": String(s) });
    paint(group, s, "fill");
    one.values.forEach((value, i) => {
      if (value === null) return;
      const x = plot.left + slot * i + (slot - groupWidth) / 2 + s * (groupWidth / count);
      // At least a pixel for any value but zero, so a small one is still seen; anchored at the base.
      const height = Math.max(value === 0 ? 0 : 1, Math.abs(y(value) - base));
      const top = value < 0 ? base : base - height;
      const bar = node("rect", { x: fixed(x), y: fixed(top), width: fixed(barWidth), height: fixed(height),
        class: value < 0 ? "chart-bar negative" : "chart-bar" });
      text(bar, "title", pointText(chart, s, i));
      group.append(bar);
    });
    svg.append(group);
  });
}

function drawLines(svg, chart, plot, slot, y) {
  chart.series.forEach((one, s) => {
    const group = node("g", { class: "chart-series", "data-series": String(s) });
    // A gap (null) ends a segment; the line does not pretend to know what is missing.
    let path = "";
    let open = false;
    one.values.forEach((value, i) => {
      if (value === null) {
        open = false;
        return;
      }
      path += `${open ? "L" : "M"}${fixed(plot.left + slot * (i + 0.5))},${fixed(y(value))}`;
      open = true;
    });
    const stroke = node("path", { d: path, fill: "none", class: "chart-line" });
    paint(stroke, s, "stroke");
    stroke.style.strokeWidth = "2";
    if (DASHES[Math.floor(s / COLOURS.length) % DASHES.length]) {
      stroke.style.strokeDasharray = DASHES[Math.floor(s / COLOURS.length) % DASHES.length];
    }
    group.append(stroke);
    const markers = one.values.filter((value) => value !== null).length <= MAX_POINT_MARKERS;
    one.values.forEach((value, i) => {
      if (value === null) return;
      const dot = node("circle", { cx: fixed(plot.left + slot * (i + 0.5)), cy: fixed(y(value)), r: markers ? 3 : 0, class: "chart-point" });
      paint(dot, s, "fill");
      text(dot, "title", pointText(chart, s, i));
      group.append(dot);
    });
    svg.append(group);
  });
}

function legendLayout(series, width) {
  const rows = [[]];
  let used = 0;
  series.forEach((one, index) => {
    const name = one.name.length > 28 ? `${one.name.slice(0, 27)}…` : one.name;
    const itemWidth = 22 + name.length * CHAR_PX + 16;
    if (used + itemWidth > width && rows[rows.length - 1].length) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1].push({ index, name, full: one.name, x: used });
    used += itemWidth;
  });
  return rows;
}

function drawLegend(svg, series, rows, top) {
  if (!rows.length) return;
  const legend = node("g", { class: "chart-legend" });
  rows.forEach((row, r) => {
    row.forEach((item) => {
      const entry = node("g", { transform: `translate(${12 + item.x},${top + r * 20})` });
      const swatch = node("rect", { x: 0, y: 0, width: 14, height: 10, rx: 2 });
      paint(swatch, item.index, "fill");
      entry.append(swatch);
      const label = text(entry, "text", item.name, { x: 20, y: 9 });
      label.style.fill = "var(--fg, #000)";
      if (item.name !== item.full) text(entry, "title", item.full);
      legend.append(entry);
    });
  });
  svg.append(legend);
}

function describe(chart) {
  const kind = chart.kind === "bar" ? "Bar chart" : "Line chart";
  const names = chart.series.map((one) => one.name).join(", ");
  const head = `${kind} of ${chart.labels.length} ${chart.labels.length === 1 ? "point" : "points"}; ` +
    `${chart.series.length === 1 ? "series" : "series:"} ${names}.`;
  const shown = chart.labels.slice(0, MAX_DESCRIBED_POINTS).map((label, i) =>
    `${label || "(blank)"}: ${chart.series.map((one) => `${chart.series.length > 1 ? `${one.name} ` : ""}${one.values[i] === null ? "no value" : formatNumber(one.values[i], true)}`).join(", ")}`);
  const more = chart.labels.length > MAX_DESCRIBED_POINTS ? ` …and ${chart.labels.length - MAX_DESCRIBED_POINTS} more.` : "";
  return `${head} ${shown.join("; ")}${shown.length ? "." : ""}${more}`;
}

function pointText(chart, s, i) {
  const value = chart.series[s].values[i];
  const name = chart.series.length > 1 ? `${chart.series[s].name}: ` : "";
  return `${chart.labels[i] || "(blank)"}, ${name}${formatNumber(value, true)}`;
}

const COMPACT = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
const FULL = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });

function formatNumber(value, full = false) {
  if (!full && Math.abs(value) >= 10_000) return COMPACT.format(value);
  return FULL.format(value);
}

function round(value, step) {
  // 0.1 + 0.2 and friends: keep as many decimals as the step has, no more.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(Math.min(decimals, 12)));
}

function fixed(value) {
  return Math.round(value * 100) / 100;
}

function paint(element, seriesIndex, property) {
  element.style.setProperty(property, COLOURS[seriesIndex % COLOURS.length]);
}

function line(parent, x1, y1, x2, y2, colour, className) {
  const element = node("line", { x1: fixed(x1), y1: fixed(y1), x2: fixed(x2), y2: fixed(y2), class: className });
  element.style.stroke = colour;
  element.style.strokeWidth = "1";
  parent.append(element);
  return element;
}

function node(name, attributes = {}) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function text(parent, name, content, attributes = {}) {
  const element = node(name, attributes);
  element.textContent = content;
  parent.append(element);
  return element;
}
