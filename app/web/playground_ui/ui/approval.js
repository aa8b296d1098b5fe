// A tool call waiting for the user's approval (docs/approval.md) as a panel: what it would do (the
// rows a SQL write would change, the exact request, or the arguments), the SQL, and Approve / Deny
// buttons. The decision that comes back on the stream closes the panel. Every value is text.

import { sortableTable } from "./results.js";

let panels = 0;

/**
 * @param {{approvalId: string, tool: string, description: string, sql?: string, preview?: object,
 *          expiresAt?: string}} approval
 * @param {{onApprove: () => void, onDeny: (reason: string) => void}} actions
 */
export function renderApproval(approval, actions) {
  panels += 1;
  const id = `approval-${panels}`;
  const section = element("section", "result approval");
  section.dataset.approvalId = approval.approvalId;
  section.setAttribute("aria-labelledby", `${id}-title`);
  section.setAttribute("aria-describedby", `${id}-what`);
  const title = element("h3", "result-title", "Approval needed before this runs");
  title.id = `${id}-title`;
  title.tabIndex = -1; // focused when the panel appears, so a screen reader announces it
  section.append(title);
  const what = element("p", "approval-what", `${approval.tool}: ${approval.description || ""}`);
  what.id = `${id}-what`;
  section.append(what);

  const preview = approval.preview || {};
  if (preview.kind === "sql") {
    const count = preview.row_count ?? 0;
    const verb = { INSERT: "would insert", UPDATE: "would change", DELETE: "would delete" }[preview.operation] || "returns";
    const facts = element("p", "result-facts");
    facts.append(element("span", "row-count", `${verb} ${count} ${count === 1 ? "row" : "rows"}`));
    if (preview.truncated) facts.append(" ", element("span", "truncated", `(showing ${preview.rows.length})`));
    section.append(facts);
  }
  if (approval.sql) {
    const details = element("details", "sql");
    details.open = true;
    details.append(element("summary", "", "SQL"));
    const pre = element("pre", "sql-pretty");
    pre.append(element("code", "", approval.sql));
    details.append(pre);
    section.append(details);
  }
  if (preview.kind === "sql" && Array.isArray(preview.rows) && preview.rows.length) {
    section.append(element("p", "approval-rows-label", "The rows as they would be:"));
    section.append(sortableTable(preview.rows, `${id}-title`));
  } else if (preview.kind === "request") {
    const list = element("dl", "approval-request");
    const add = (term, value) => list.append(element("dt", "", term), element("dd", "", value));
    add("Request", `${preview.method} ${preview.url}`);
    for (const [name, value] of Object.entries(preview.headers || {})) add(name, String(value));
    if (preview.body !== null && preview.body !== undefined) add("Body", JSON.stringify(preview.body, null, 2));
    section.append(list);
  } else if (preview.kind === "call") {
    const pre = element("pre", "approval-arguments");
    pre.append(element("code", "", JSON.stringify(preview.arguments, null, 2)));
    section.append(pre);
  }

  const reasonLabel = element("label", "approval-reason-label", "Reason (optional, if you deny)");
  const reason = element("input", "approval-reason");
  reason.type = "text";
  reason.id = `${id}-reason`;
  reason.maxLength = 2000;
  reasonLabel.htmlFor = reason.id;
  const buttons = element("div", "button-row");
  const approve = element("button", "approve", "Approve");
  approve.type = "button";
  const deny = element("button", "danger deny", "Deny");
  deny.type = "button";
  buttons.append(approve, deny);
  const status = element("p", "approval-status");
  status.setAttribute("role", "status");
  if (approval.expiresAt) {
    const when = new Date(approval.expiresAt);
    if (!Number.isNaN(when.getTime())) status.textContent = `Waiting for your answer until ${when.toLocaleTimeString()}.`;
  }
  section.append(reasonLabel, reason, buttons, status);

  const answered = (text) => {
    approve.disabled = true;
    deny.disabled = true;
    reason.disabled = true;
    status.textContent = text;
  };
  approve.addEventListener("click", () => {
    answered("Approved; running it...");
    try {
      actions.onApprove();
    } catch (error) {
      status.textContent = `Could not send the approval: ${error.message}`;
    }
  });
  deny.addEventListener("click", () => {
    answered("Denied.");
    try {
      actions.onDeny(reason.value.trim());
    } catch (error) {
      status.textContent = `Could not send the refusal: ${error.message}`;
    }
  });

  return {
    node: section,
    focus: () => title.focus(),
    /** The decision from the stream: approved, denied, expired or cancelled. */
    decided(decision, why) {
      const text = { approved: "Approved.", denied: "Denied.", expired: "Not answered in time: it was not run.",
        cancelled: "Cancelled: it was not run." }[decision] || decision;
      answered(why && decision === "denied" ? `${text} Reason: ${why}` : text);
      section.dataset.decision = decision;
    },
  };
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
