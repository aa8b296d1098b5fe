// One query result as a panel: what ran (laid out for reading, and the exact statement), the row
// count, a table whose column headers sort it, an error when the statement was refused or failed,
// and a chart when the rows are a series (series.js). Every value is written as text.

import { renderChart } from "./chart.js";
import { chartSpec, columnsOf, detectSeries, numeric } from "./series.js";

let panels = 0;

/**
 * @param {{query: string, summary?: string, rowCount?: number, data?: object[], error?: string,
 *          truncated?: boolean}} result
 * @param {{formatSql?: (sql: string) => Promise<string|null>}} [options]
 */
export function renderResult(result, options = {}) {
  panels += 1;
  const id = `result-${panels}`;
  const rows = Array.isArray(result.data) ? result.data : [];
  const section = element("section", "result");
  section.setAttribute("aria-labelledby", `${id}-title`);
  const title = element("h3", "result-title", result.error ? "Query refused or failed" : "Query result");
  title.id = `${id}-title`;
  section.append(title);

  const facts = element("p", "result-facts");
  if (!result.error) {
    const count = result.rowCount ?? rows.length;
    facts.append(element("span", "row-count", `${count} ${count === 1 ? "row" : "rows"}`));
    if (result.truncated) facts.append(" ", element("span", "truncated", `(showing the first ${rows.length})`));
  }
  if (result.summary) facts.append(" ", element("span", "summary", result.summary));
  if (facts.childNodes.length) section.append(facts);
  if (result.error) {
    const error = element("p", "error-text result-error", result.error);
    error.setAttribute("role", "alert");
    section.append(error);
  }
  if (result.query) section.append(sqlPanel(result.query, options.formatSql));

  const series = result.error ? null : detectSeries(rows);
  if (series) {
    const chart = element("figure", "result-chart"); // the <svg> carries its own title and description
    section.append(chart);
    try {
      renderChart(chart, chartSpec(rows, series, `${series.values.join(", ")} by ${series.label}`));
    } catch (error) {
      chart.append(element("p", "error-text", `The chart could not be drawn: ${error.message}`));
    }
  }
  if (rows.length) section.append(sortableTable(rows, `${id}-title`));
  else if (!result.error && !Array.isArray(result.data) && (result.rowCount ?? 0) > 0) {
    // A conversation's history keeps each query and its row count, never its rows (docs/playground.md).
    section.append(element("p", "help rows-not-kept", "The rows are not kept in the history; ask again to see them."));
  }
  return section;
}

function sqlPanel(query, formatSql) {
  const details = element("details", "sql");
  details.open = true;
  details.append(element("summary", "", "SQL"));
  const pretty = element("pre", "sql-pretty");
  const code = element("code", "", query);
  pretty.append(code);
  details.append(pretty);
  const exact = element("details", "sql-exact");
  exact.append(element("summary", "", "Exact statement that ran"));
  const exactPre = element("pre", "");
  exactPre.append(element("code", "", query));
  exact.append(exactPre);
  details.append(exact);
  if (formatSql) {
    formatSql(query).then((text) => {
      if (text) code.textContent = text;
      pretty.dataset.formatted = text ? "true" : "false";
    });
  }
  return details;
}

/** A table of `rows` whose header buttons sort it (asc, then desc), numbers as numbers, NULLs last. */
export function sortableTable(rows, labelledBy) {
  const columns = columnsOf(rows);
  const wrapper = element("div", "table-scroll");
  const table = element("table", "result-table");
  if (labelledBy) table.setAttribute("aria-labelledby", labelledBy);
  const headRow = table.createTHead().insertRow();
  const body = table.createTBody();
  const order = rows.map((row, index) => index);
  let sorted = { column: null, direction: "none" };

  const draw = () => {
    body.replaceChildren();
    for (const index of order) {
      const tr = body.insertRow();
      for (const column of columns) {
        const value = rows[index]?.[column];
        const td = tr.insertCell();
        if (value === null || value === undefined) {
          td.className = "null";
          td.textContent = "NULL";
        } else {
          if (numeric(value) !== null) td.className = "number";
          td.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
        }
      }
    }
  };

  const headers = columns.map((column) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.setAttribute("aria-sort", "none");
    const button = element("button", "sort", column);
    button.type = "button";
    button.title = `Sort by ${column}`;
    button.addEventListener("click", () => {
      const direction = sorted.column === column && sorted.direction === "ascending" ? "descending" : "ascending";
      sorted = { column, direction };
      order.sort((a, b) => compare(rows[a]?.[column], rows[b]?.[column], direction) || a - b);
      for (const header of headers) header.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", direction);
      draw();
    });
    th.append(button);
    headRow.append(th);
    return th;
  });
  draw();
  wrapper.append(table);
  return wrapper;
}

function compare(a, b, direction) {
  const aMissing = a === null || a === undefined;
  const bMissing = b === null || b === undefined;
  if (aMissing || bMissing) return aMissing === bMissing ? 0 : aMissing ? 1 : -1; // NULLs last either way
  const sign = direction === "descending" ? -1 : 1;
  const x = numeric(a);
  const y = numeric(b);
  if (x !== null && y !== null) return sign * (x - y);
  const text = (value) => (typeof value === "object" ? JSON.stringify(value) : String(value));
  return sign * text(a).localeCompare(text(b), undefined, { numeric: true, sensitivity: "base" });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
