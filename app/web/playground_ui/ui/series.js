// Whether a query result is a series worth a chart: exactly one label column (a category, or a date
// or time) and one or more numeric columns, over at least two rows. Time-like labels make a line
// chart, categories a bar chart. Id columns are numbers but not measurements, so they are left out.

const MAX_POINTS = 500;
const MAX_SERIES = 6;
const TIME_LIKE = /^\d{4}-\d{2}(-\d{2})?([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/;
const ID_COLUMN = /(^|_)id$/i;

/** A number from a result cell (numbers, and the numeric strings PostgreSQL's numeric becomes), else null. */
export function numeric(value) {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && /^\s*-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value)) return Number(value);
  return null;
}

export function isTimeLike(value) {
  return typeof value === "string" && TIME_LIKE.test(value.trim());
}

/** The columns of `rows`, in the order they first appear. */
export function columnsOf(rows) {
  const seen = new Set();
  for (const row of rows) {
    if (row && typeof row === "object") for (const key of Object.keys(row)) seen.add(key);
  }
  return [...seen];
}

/**
 * `{kind: "line"|"bar", label, values: [column...]}` when `rows` is a series, else null.
 * @param {Record<string, unknown>[]} rows
 */
export function detectSeries(rows) {
  if (!Array.isArray(rows) || rows.length < 2 || rows.length > MAX_POINTS) return null;
  const columns = columnsOf(rows);
  if (columns.length < 2) return null;
  const numericColumns = columns.filter((column) => rows.every((row) => {
    const value = row?.[column];
    return value === null || value === undefined || numeric(value) !== null;
  }) && rows.some((row) => numeric(row?.[column]) !== null));
  const labels = columns.filter((column) => !numericColumns.includes(column));
  const values = numericColumns.filter((column) => !ID_COLUMN.test(column)).slice(0, MAX_SERIES);
  if (labels.length !== 1 || values.length === 0) return null;
  const [label] = labels;
  const labelValues = rows.map((row) => row?.[label]);
  if (labelValues.some((value) => value !== null && typeof value === "object")) return null;
  const kind = labelValues.every(isTimeLike) ? "line" : "bar";
  return { kind, label, values };
}

/** What renderChart() takes, for a result detectSeries() accepted. */
export function chartSpec(rows, series, title) {
  return {
    kind: series.kind,
    title,
    labels: rows.map((row) => (row?.[series.label] === null || row?.[series.label] === undefined
      ? "NULL" : String(row[series.label]))),
    series: series.values.map((name) => ({ name, values: rows.map((row) => numeric(row?.[name]) ?? 0) })),
  };
}
