// The chat page: sign-in, the chatbot picker, the conversation list, and one chat socket (the SDK's)
// whose callbacks draw the open conversation. What is drawn lives in transcript.js, results.js and
// conversations.js; where the tab stands for a reload lives in resume.js.

import { createClient } from "/playground/sdk/index.js";
import { renderApproval } from "./approval.js";
import { ConversationList } from "./conversations.js";
import { ChatbotPicker, sameBot } from "./picker.js";
import { describeError, describeFailure } from "./errors.js";
import { clearPosition, historyToShow, loadPosition, resumeSeq, savePosition, updatePosition } from "./resume.js";
import { clearSession, demoSignIn, loadSession, pageConfig, saveSession, sessionFromToken, SignInError } from "./session.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const HISTORY_PAGE = 100;
const MAX_HISTORY = 2000;
const STEP_TEXT = { thinking: "Thinking...", querying: "Querying database...", executing: "Running a query...",
  generating: "Writing the answer...", searching_knowledge: "Searching the knowledge base..." };

const state = {
  client: null,
  chat: null,
  token: null, // the signed-in user's, for the page's own API calls
  conversationId: null,
  chatbot: null, // {name, namespace}
  answer: null, // the AssistantMessage being streamed
  lastAnswer: null,
  turnRunning: false,
  opening: false, // a new conversation is being started for the message being sent
  approvals: new Map(), // approval id -> its panel (approval.js), while the page shows it
};

const transcript = new Transcript($("transcript"), { formatSql });
const picker = new ChatbotPicker($("chatbot-select"), $("chatbot-description"));
let conversations = null;

async function main() {
  wireStaticControls();
  let config = { demo_users: [] };
  try {
    config = await pageConfig();
  } catch (error) {
    showSignInError(error.message);
  }
  const buttons = $("demo-buttons");
  for (const user of config.demo_users || []) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `Sign in as ${user}`;
    button.addEventListener("click", () => signIn(() => demoSignIn(user)));
    buttons.append(button);
  }
  $("demo-sign-in").hidden = !(config.demo_users || []).length;
  const stored = loadSession();
  if (stored && (await enter(stored))) return;
  showSignIn();
}

function wireStaticControls() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(async () => sessionFromToken($("token-input").value));
  });
  $("sign-out").addEventListener("click", signOut);
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("cancel").addEventListener("click", cancelTurn);
  $("new-conversation").addEventListener("click", () => newConversation(true));
  picker.onChange((picked) => {
    // Another chatbot is another conversation.
    if (state.conversationId && picked && !sameBot(picked, state.chatbot)) newConversation(false);
  });
  $("sidebar-toggle").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("sidebar-toggle").setAttribute("aria-expanded", String(open));
  });
}

// -- signing in and out -------------------------------------------------------------------------

async function signIn(makeSession) {
  showSignInError("");
  let session;
  try {
    session = await makeSession();
  } catch (error) {
    showSignInError(error instanceof SignInError ? error.message : `Sign-in failed: ${error.message}`);
    return;
  }
  if (await enter(session, true)) $("token-input").value = "";
}

/** Connects as `session`; false (with the reason shown) when the server refuses it. */
async function enter(session, fresh = false) {
  const client = createClient(window.location.origin);
  client.setAuthToken(session.token);
  const chat = client.ai.createChat({ token: session.token, ...chatCallbacks() });
  let chatbots;
  try {
    const listed = await client.ai.listChatbots();
    if (listed.error) throw listed.error;
    chatbots = listed.data;
    await chat.connect();
  } catch (error) {
    chat.disconnect();
    clearSession();
    showSignIn();
    showSignInError(`${fresh ? "Sign-in failed" : "Your saved sign-in no longer works"}: ${describeFailure(error)}`);
    return false;
  }
  Object.assign(state, { client, chat, token: session.token });
  saveSession(session);
  $("signed-in-as").textContent = `Signed in as ${session.label}`;
  $("account").hidden = false;
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("chat-error").textContent = picker.fill(chatbots) ? "" : "No chatbot is available to you.";
  conversations = new ConversationList($("conversation-list"), {
    client, onOpen: openConversation, onDeleted: conversationDeleted, describeError: describeFailure,
  });
  conversations.refresh();
  const position = loadPosition();
  if (position) await resume(position);
  $("message").focus();
  return true;
}

function signOut() {
  state.chat?.disconnect();
  Object.assign(state, { client: null, chat: null, token: null, conversationId: null, chatbot: null, answer: null,
    lastAnswer: null, turnRunning: false });
  picker.clear();
  clearSession();
  clearPosition();
  transcript.clear();
  state.approvals.clear();
  $("conversation-list").replaceChildren();
  setStatus("");
  updateButtons();
  showSignIn();
}

function showSignIn() {
  $("account").hidden = true;
  $("workspace").hidden = true;
  $("sign-in").hidden = false;
}

function showSignInError(text) {
  $("sign-in-error").textContent = text;
}

// -- conversations ------------------------------------------------------------------------------

function newConversation(focus) {
  state.conversationId = null;
  state.chatbot = null;
  state.answer = null;
  state.turnRunning = false;
  clearPosition();
  transcript.clear();
  state.approvals.clear();
  $("chat-error").textContent = "";
  setStatus("");
  updateButtons();
  conversations?.setCurrent(null);
  if (focus) $("message").focus();
}

async function openConversation(conversation) {
  newConversation(false);
  $("sidebar").classList.remove("open");
  $("sidebar-toggle").setAttribute("aria-expanded", "false");
  picker.show(conversation.chatbot, conversation.namespace);
  const { messages, error } = await loadHistory(conversation.id);
  if (error) {
    $("chat-error").textContent = describeFailure(error);
    conversations.refresh();
    return;
  }
  // A turn still running shows its user message last: its answer comes from the replay.
  const running = messages.length > 0 && messages[messages.length - 1].role === "user";
  await attach({ conversationId: conversation.id, chatbot: conversation.chatbot, namespace: conversation.namespace,
    turnOpen: running, turnStartSeq: 0 }, messages, running ? 0 : undefined);
}

async function resume(position) {
  picker.show(position.chatbot, position.namespace);
  const { messages, error } = await loadHistory(position.conversationId);
  if (error) {
    clearPosition();
    transcript.addNotice(`The conversation this tab had open could not be reopened: ${describeFailure(error)}`);
    return;
  }
  await attach(position, historyToShow(messages, position.turnOpen), resumeSeq(position));
}

/** Every message a conversation shows (docs/conversations.md), a page of 100 at a time. */
async function loadHistory(conversationId) {
  const messages = [];
  for (;;) {
    const { data, error } = await state.client.ai.getConversationMessages(conversationId,
      { limit: HISTORY_PAGE, offset: messages.length });
    if (error) return { messages, error };
    messages.push(...data.messages);
    if (!data.has_more || !data.messages.length || messages.length >= MAX_HISTORY) return { messages, error: null };
  }
}

/** Shows `messages` and re-attaches the socket to the conversation from `lastSeq`. */
async function attach(position, messages, lastSeq) {
  transcript.clear();
  state.approvals.clear();
  transcript.showHistory(messages);
  Object.assign(state, { conversationId: position.conversationId, turnRunning: position.turnOpen, answer: null,
    chatbot: { name: position.chatbot, namespace: position.namespace } });
  savePosition(position);
  conversations.setCurrent(position.conversationId);
  updateButtons();
  if (position.turnOpen) setStatus("Resuming the answer...");
  try {
    await state.chat.startChat(position.chatbot, position.namespace, position.conversationId,
      lastSeq === undefined ? {} : { lastSeq });
  } catch (error) {
    if (state.conversationId !== position.conversationId) return;
    $("chat-error").textContent = describeFailure(error);
    state.turnRunning = false;
    state.conversationId = null;
    clearPosition();
    setStatus("");
    updateButtons();
  }
}

function conversationDeleted(id) {
  if (id === state.conversationId) newConversation(false);
}

// -- a turn -------------------------------------------------------------------------------------

async function send() {
  const input = $("message");
  const text = input.value;
  if (!text.trim() || state.turnRunning || state.opening || !state.chat) return;
  $("chat-error").textContent = "";
  const bot = picker.picked;
  if (!state.conversationId) {
    if (!bot) {
      $("chat-error").textContent = "Pick a chatbot first.";
      return;
    }
    state.opening = true;
    updateButtons();
    try {
      const id = await state.chat.startChat(bot.name, bot.namespace);
      Object.assign(state, { conversationId: id, chatbot: { name: bot.name, namespace: bot.namespace } });
      conversations.setCurrent(id);
    } catch (error) {
      $("chat-error").textContent = describeFailure(error);
      return;
    } finally {
      state.opening = false;
      updateButtons();
    }
  }
  const id = state.conversationId;
  savePosition({ conversationId: id, chatbot: state.chatbot.name, namespace: state.chatbot.namespace,
    turnOpen: true, turnStartSeq: state.chat.getLastSeq(id) ?? 0 });
  transcript.addUser(text);
  input.value = "";
  state.answer = null;
  state.turnRunning = true;
  updateButtons();
  setStatus("Sending...");
  try {
    state.chat.sendMessage(id, text);
  } catch (error) {
    endTurn("error", describeFailure(error));
  }
}

function cancelTurn() {
  if (!state.turnRunning || !state.conversationId) return;
  try {
    state.chat.cancel(state.conversationId);
    setStatus("Cancelling...");
    $("cancel").disabled = true;
  } catch (error) {
    $("chat-error").textContent = describeFailure(error);
  }
}

function endTurn(status, errorText) {
  state.answer?.finish(status);
  state.lastAnswer = state.answer; // an ending's recovered text (onEvent, next) goes into it
  if (errorText) transcript.addNotice(errorText);
  state.answer = null;
  state.turnRunning = false;
  if (state.conversationId) {
    updatePosition(state.conversationId, { turnOpen: false, lastSeq: state.chat?.getLastSeq(state.conversationId) ?? undefined });
  }
  updateButtons();
  conversations?.refresh();
}

function answer() {
  if (!state.answer) state.answer = transcript.addAssistant();
  return state.answer;
}

function chatCallbacks() {
  const mine = (id) => Boolean(id) && id === state.conversationId;
  return {
    onContent: (delta, id) => {
      if (mine(id)) answer().appendText(delta);
    },
    onProgress: (step, message, id) => {
      if (mine(id)) setStatus(message || STEP_TEXT[step] || step);
    },
    onQueryResult: (query, summary, rowCount, data, id, details = {}) => {
      if (!mine(id)) return;
      answer().addResult({ query, summary, rowCount, data, error: details.error, truncated: details.truncated });
    },
    onApprovalRequired: (approval, id) => {
      if (!mine(id) || state.approvals.has(approval.approvalId)) return;
      const panel = renderApproval(approval, {
        onApprove: () => state.chat.approve(id, approval.approvalId),
        onDeny: (reason) => state.chat.deny(id, approval.approvalId, reason),
      });
      state.approvals.set(approval.approvalId, panel);
      answer().addPanel(panel.node);
      setStatus("Waiting for your approval...");
      panel.focus();
    },
    onApprovalResult: (approvalId, decision, id, reason) => {
      if (!mine(id)) return;
      state.approvals.get(approvalId)?.decided(decision, reason);
      if (decision === "approved") setStatus("Approved; running it...");
    },
    onDone: (usage, id) => {
      if (!mine(id)) return;
      endTurn("complete");
      setStatus(usage?.total_tokens ? `Answer complete (${usage.total_tokens} tokens).` : "Answer complete.");
    },
    onCancelled: (id) => {
      if (!mine(id)) return;
      endTurn("cancelled");
      setStatus("Answer cancelled.");
    },
    onError: (error, code, id, details = {}) => {
      // A refused start (or connect) also rejects its promise, which shows it; here: a turn's errors.
      if (String(code).startsWith("APPROVAL_")) {
        // An answer refused (already decided, expired): the turn goes on, or has ended by itself.
        $("chat-error").textContent = describeError(error, code, details);
        return;
      }
      if (id ? !mine(id) : !state.turnRunning) {
        if (code === "CONNECTION_LOST") $("chat-error").textContent = describeError(error, code, details);
        return;
      }
      if (!state.turnRunning) return;
      endTurn("error", describeError(error, code, details));
      setStatus("");
    },
    onEvent: (event) => {
      if (event.type === "reconnecting") setStatus(`Connection lost; reconnecting (try ${event.attempt})...`);
      else if (event.type === "connected" && event.reconnected) setStatus("Reconnected.");
      if (event.recovered && typeof event.content === "string" && mine(event.conversationId)) {
        // The answer as stored, after events were lost: it replaces what was streamed.
        (state.answer || state.lastAnswer)?.replaceText(event.content);
      }
    },
  };
}

function updateButtons() {
  $("send").disabled = state.turnRunning || state.opening;
  $("cancel").disabled = !state.turnRunning || !state.conversationId;
}

function setStatus(text) {
  $("status").textContent = text;
}

async function formatSql(sql) {
  if (!state.token) return null;
  try {
    const response = await fetch("/playground/api/format-sql", {
      method: "POST", body: JSON.stringify({ sql }),
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.token}` },
    });
    if (!response.ok) return null;
    return (await response.json()).sql_pretty || null;
  } catch {
    return null;
  }
}

main();
