// The admin view's usage: requests and tokens per UTC day (client.admin.ai.getUsage), summed over
// chatbots and users, as a bar chart and a table. The server keeps a row per day, chatbot and user,
// so the page reads every row of the span (pages of 1000) and adds them up per day.

import { renderChart } from "./chart.js";
import { el, emptyRow, errorContent, formatNumber, setStatus } from "./admin_dom.js";

const PAGE = 1000;
const MAX_PAGES = 50; // 50,000 (day, chatbot, user) rows; past that the totals row still has the whole
const DAY_MS = 86_400_000;
const COUNTS = ["requests", "prompt_tokens", "completion_tokens", "total_tokens", "errors", "cancelled"];
const SHORT_DAY = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

export class UsageSection {
  /** @param {{admin: () => any, onAuthFailure: (error: any) => void}} options */
  constructor({ admin, onAuthFailure }) {
    this.admin = admin;
    this.onAuthFailure = onAuthFailure;
    this.form = document.getElementById("usage-form");
    this.days = document.getElementById("usage-days");
    this.metric = document.getElementById("usage-metric");
    this.status = document.getElementById("usage-status");
    this.chart = document.getElementById("usage-chart");
    this.body = document.querySelector("#usage-table tbody");
    this.foot = document.querySelector("#usage-table tfoot");
    this.perDay = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
    this.days.addEventListener("change", () => this.load());
    // Switching the metric redraws what was read; no need to ask the server again.
    this.metric.addEventListener("change", () => this.perDay && this.draw());
    // The chart is laid out for the width it is drawn at (text stays readable); a much narrower or
    // wider box gets a new drawing rather than a scaled one.
    this.drawnWidth = 0;
    new ResizeObserver(() => {
      const width = this.chart.clientWidth;
      if (this.perDay && width && Math.abs(width - this.drawnWidth) > this.drawnWidth * 0.2) this.draw();
    }).observe(this.chart);
  }

  clear() {
    this.perDay = null;
    this.chart.replaceChildren();
    this.body.replaceChildren();
    this.foot.replaceChildren();
    setStatus(this.status, "");
  }

  async load() {
    const days = Number(this.days.value) || 14;
    const span = daySpan(days, new Date());
    setStatus(this.status, "", "Loading usage…");
    const rows = [];
    let totals = null;
    let partial = false;
    for (let page = 0; ; page += 1) {
      const { data, error } = await this.admin().getUsage({ since: span[0], until: span[span.length - 1], limit: PAGE, offset: page * PAGE });
      if (error) {
        setStatus(this.status, "error", errorContent("Could not read the usage", error));
        this.onAuthFailure(error);
        return;
      }
      rows.push(...(data.usage || []));
      totals = data.totals || totals;
      if (!data.has_more) break;
      if (page + 1 >= MAX_PAGES) {
        partial = true;
        break;
      }
    }
    this.perDay = perDay(span, rows);
    this.totals = totals;
    this.draw();
    const active = this.perDay.filter((day) => day.requests > 0).length;
    setStatus(this.status, partial ? "error" : "",
      `${formatNumber(totals?.requests ?? 0)} requests and ${formatNumber(totals?.total_tokens ?? 0)} tokens ` +
      `over the last ${days} days (UTC), on ${active} of them.`,
      partial ? " The chart shows only part of it: there are too many rows to read them all." : null);
  }

  draw() {
    const tokens = this.metric.value !== "requests";
    const days = this.perDay;
    this.chart.replaceChildren();
    this.drawnWidth = this.chart.clientWidth;
    renderChart(this.chart, {
      kind: "bar",
      title: tokens ? `Tokens per day (UTC), last ${days.length} days` : `Requests per day (UTC), last ${days.length} days`,
      labels: days.map((day) => SHORT_DAY.format(new Date(`${day.day}T00:00:00Z`))),
      series: tokens
        ? [{ name: "Prompt tokens", values: days.map((day) => day.prompt_tokens) },
          { name: "Completion tokens", values: days.map((day) => day.completion_tokens) }]
        : [{ name: "Requests", values: days.map((day) => day.requests) }],
    });
    const used = days.filter((day) => day.requests > 0 || day.total_tokens > 0).reverse();
    this.body.replaceChildren(...(used.length ? used.map((day) => el("tr", { "data-day": day.day },
      el("th", { scope: "row" }, day.day), ...COUNTS.map((key) => el("td", { class: "num" }, formatNumber(day[key])))))
      : [emptyRow(COUNTS.length + 1, "No usage in these days.")]));
    const totals = this.totals;
    this.foot.replaceChildren(...(totals ? [el("tr", {}, el("th", { scope: "row" }, "Total"),
      ...COUNTS.map((key) => el("td", { class: "num" }, formatNumber(totals[key]))))] : []));
  }
}

/** The UTC days from `count - 1` days ago to today, as YYYY-MM-DD, oldest first. */
export function daySpan(count, now) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: count }, (_, i) => new Date(today - (count - 1 - i) * DAY_MS).toISOString().slice(0, 10));
}

/** Rows of (day, chatbot, user) summed per day, with a zero for every day of `span` nobody used. */
export function perDay(span, rows) {
  const byDay = new Map(span.map((day) => [day, { day, ...Object.fromEntries(COUNTS.map((key) => [key, 0])) }]));
  for (const row of rows) {
    const day = byDay.get(row.day);
    if (!day) continue;
    for (const key of COUNTS) day[key] += Number(row[key]) || 0;
  }
  return [...byDay.values()];
}
