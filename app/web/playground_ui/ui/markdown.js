// Markdown from the model, turned into DOM nodes with createElement and text nodes only. Nothing the
// model writes is ever parsed as HTML: a `<script>` or `<img onerror>` in its answer is shown as the
// characters it is. Links are made only for http(s) URLs, and open in a new tab without a referrer.
//
// The subset: paragraphs, ATX headings, emphasis (** __ * _), ~~strike~~, `code`, fenced code blocks,
// nested lists, block quotes, horizontal rules, GFM pipe tables, [links](https://...) and bare URLs.
// An unclosed fence or emphasis (an answer still streaming) renders as far as it goes.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TABLE_DIVIDER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const BARE_URL = /^https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"]/i;
// Headings inside an answer start below the page's own h1/h2.
const HEADING_OFFSET = 2;

/** The Markdown `text` as a DocumentFragment of safe nodes. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text ?? "").replace(/\r\n?/g, "\n").split("\n"), fragment);
  return fragment;
}

function renderBlocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      i = codeBlock(lines, i, fence, parent);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1].length + HEADING_OFFSET);
      parent.append(withInline(`h${level}`, heading[2]));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(document.createElement("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
      const quote = document.createElement("blockquote");
      renderBlocks(quoted, quote);
      parent.append(quote);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      i = list(lines, i, parent);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      i = table(lines, i, parent);
      continue;
    }
    i = paragraph(lines, i, parent);
  }
}

function startsBlock(line, next) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || LIST_ITEM.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_DIVIDER.test(next) && next.includes("-"));
}

function paragraph(lines, i, parent) {
  const parts = [];
  while (i < lines.length && lines[i].trim() && (parts.length === 0 || !startsBlock(lines[i], lines[i + 1]))) {
    parts.push(lines[i].trim());
    i += 1;
  }
  parent.append(withInline("p", parts.join("\n")));
  return i;
}

function codeBlock(lines, i, fence, parent) {
  const marker = fence[1];
  const body = [];
  i += 1;
  while (i < lines.length && !lines[i].trim().startsWith(marker)) body.push(lines[i++]);
  const pre = document.createElement("pre");
  const code = document.createElement("code");
  if (fence[2]) code.dataset.language = fence[2];
  code.textContent = body.join("\n");
  pre.append(code);
  parent.append(pre);
  return i + 1; // past the closing fence (or the end)
}

function list(lines, i, parent) {
  const first = LIST_ITEM.exec(lines[i]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const element = document.createElement(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) element.start = parseInt(first[2], 10);
  let item = null;
  let itemLines = [];
  const flush = () => {
    if (!item) return;
    const [head, ...rest] = itemLines;
    item.append(...inline(head));
    if (rest.length) renderBlocks(rest, item);
    element.append(item);
  };
  while (i < lines.length) {
    const line = lines[i];
    const match = LIST_ITEM.exec(line);
    if (match && match[1].length <= indent) {
      if (/\d/.test(match[2]) !== ordered) break;
      flush();
      item = document.createElement("li");
      itemLines = [match[3]];
      i += 1;
      continue;
    }
    if (!line.trim()) {
      // A blank line ends the list unless the next line goes on inside it.
      const next = lines[i + 1];
      if (next === undefined || (!/^\s/.test(next) && !LIST_ITEM.test(next))) break;
      i += 1;
      continue;
    }
    if (/^\s/.test(line) || match) {
      itemLines.push(line.slice(Math.min(line.length - line.trimStart().length, indent + 2)));
      i += 1;
      continue;
    }
    break;
  }
  flush();
  parent.append(element);
  return i;
}

function table(lines, i, parent) {
  const header = cells(lines[i]);
  const aligns = cells(lines[i + 1]).map((cell) =>
    cell.startsWith(":") && cell.endsWith(":") ? "center" : cell.endsWith(":") ? "right" : "");
  const element = document.createElement("table");
  const head = element.createTHead().insertRow();
  header.forEach((text, column) => {
    const th = document.createElement("th");
    th.scope = "col";
    if (aligns[column]) th.dataset.align = aligns[column];
    th.append(...inline(text));
    head.append(th);
  });
  const body = element.createTBody();
  i += 2;
  while (i < lines.length && lines[i].includes("|") && lines[i].trim()) {
    const row = body.insertRow();
    const values = cells(lines[i]);
    header.forEach((_, column) => {
      const td = row.insertCell();
      if (aligns[column]) td.dataset.align = aligns[column];
      td.append(...inline(values[column] ?? ""));
    });
    i += 1;
  }
  const wrapper = document.createElement("div");
  wrapper.className = "table-scroll";
  wrapper.append(element);
  parent.append(wrapper);
  return i;
}

function cells(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function withInline(tag, text) {
  const element = document.createElement(tag);
  element.append(...inline(text));
  return element;
}

/** Inline Markdown as a list of nodes (text nodes and a few elements). */
export function inline(text) {
  const nodes = [];
  let plain = "";
  const flushText = () => {
    if (plain) nodes.push(document.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!|~<>]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === "\n") {
      flushText();
      nodes.push(document.createElement("br"));
      i += 1;
      continue;
    }
    if (ch === "`") {
      const run = /^`+/.exec(rest)[0];
      const end = text.indexOf(run, i + run.length);
      if (end > i) {
        flushText();
        const code = document.createElement("code");
        code.textContent = text.slice(i + run.length, end).replace(/^ (.+) $/, "$1");
        nodes.push(code);
        i = end + run.length;
        continue;
      }
    }
    const emphasis = /^(\*\*|__|~~|\*|_)/.exec(rest);
    if (emphasis && !(ch === "_" && /\w/.test(text[i - 1] || ""))) {
      const marker = emphasis[1];
      const end = closing(text, marker, i + marker.length);
      if (end > i + marker.length) {
        flushText();
        const tag = marker === "~~" ? "del" : marker.length === 2 ? "strong" : "em";
        nodes.push(withInline(tag, text.slice(i + marker.length, end)));
        i = end + marker.length;
        continue;
      }
    }
    if (ch === "[") {
      const link = /^\[([^\]\n]*)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"]*")?\s*\)/.exec(rest);
      if (link) {
        flushText();
        nodes.push(...linkNodes(link[1], link[2]));
        i += link[0].length;
        continue;
      }
    }
    if ((ch === "h" || ch === "H") && !/\w/.test(text[i - 1] || "")) {
      const url = BARE_URL.exec(rest);
      if (url) {
        flushText();
        nodes.push(anchor(url[0], [document.createTextNode(url[0])]));
        i += url[0].length;
        continue;
      }
    }
    plain += ch;
    i += 1;
  }
  flushText();
  return nodes;
}

function closing(text, marker, from) {
  if (/\s/.test(text[from] || " ")) return -1;
  // `*` must not match the first star of a `**`; `_` inside a word (snake_case, __dunder) closes nothing.
  const skip = (at) => (marker.length === 1 && text[at + 1] === marker[0]) ||
    (marker[0] === "_" && /\w/.test(text[at + marker.length] || "")) || /\s/.test(text[at - 1]);
  let at = text.indexOf(marker, from);
  while (at !== -1 && skip(at)) at = text.indexOf(marker, at + 1);
  return at;
}

function linkNodes(label, target) {
  const content = inline(label || target);
  if (safeUrl(target)) return [anchor(target, content)];
  // Not http(s) (javascript:, data:, relative...): the label stays, the target is shown as text.
  return [...content, document.createTextNode(` (${target})`)];
}

function anchor(href, content) {
  const a = document.createElement("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.append(...content);
  return a;
}

export function safeUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
