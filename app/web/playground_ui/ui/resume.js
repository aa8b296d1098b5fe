// Where this tab stands in its open conversation, kept in sessionStorage so a reload picks it up:
// which conversation and chatbot, whether a turn was running, and the seq before that turn began.
//
// On reload the server replays from `turnStartSeq` (docs/chat.md: a last_seq older than the latest
// turn replays the whole latest turn), so the page drops whatever history shows after the last user
// message and lets the replay draw the answer, once, continuing live. With no turn open it resumes
// from `lastSeq`, and nothing already shown is replayed.

const KEY = "fluxbase.playground.chat";

/** `{conversationId, chatbot, namespace, turnOpen, turnStartSeq, lastSeq}` or null. */
export function loadPosition() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return stored && typeof stored.conversationId === "string" && typeof stored.chatbot === "string" ? stored : null;
  } catch {
    return null;
  }
}

export function savePosition(position) {
  sessionStorage.setItem(KEY, JSON.stringify(position));
}

/** Merges `changes` into the stored position (when there is one for that conversation). */
export function updatePosition(conversationId, changes) {
  const position = loadPosition();
  if (!position || position.conversationId !== conversationId) return;
  savePosition({ ...position, ...changes });
}

export function clearPosition() {
  sessionStorage.removeItem(KEY);
}

/**
 * The history to show on resume: all of it, or, with a turn open, up to and including the last user
 * message (the replay brings the answer).
 */
export function historyToShow(messages, turnOpen) {
  if (!turnOpen) return messages;
  let last = -1;
  messages.forEach((message, index) => {
    if (message.role === "user") last = index;
  });
  return messages.slice(0, last + 1);
}

/** The last_seq a resume sends: the seq before the open turn, else the last one seen. */
export function resumeSeq(position) {
  const valid = (seq) => Number.isSafeInteger(seq) && seq >= 0;
  // 0 is older than any turn: the whole latest turn comes back, which is what an open turn needs.
  if (position.turnOpen) return valid(position.turnStartSeq) ? position.turnStartSeq : 0;
  return valid(position.lastSeq) ? position.lastSeq : undefined;
}
