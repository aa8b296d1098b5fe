// Where a client stands in one conversation, so that no event is delivered twice, whatever the
// reconnects, and a resume asks for exactly what was missed (docs/chat.md, "Resume").
//
// The server numbers every event of a conversation's turns with `seq`. Events only one socket sees
// take no number of their own and carry the seq of what they follow: `chat_started` (whose seq is
// where the socket now stands: adopted), `events_lost`, a refused frame's `error` (no `message_id`),
// and an ending rebuilt from storage (`recovered: true`). Those are never dropped for their seq; an
// ending is dropped only when one for the same message was already delivered.

const ENDINGS = new Set(["done", "cancelled", "error"]);
const REMEMBERED_ENDINGS = 64;

export class ConversationCursor {
  constructor(lastSeq = null) {
    /** Highest seq delivered (or adopted from chat_started); sent as `last_seq` on a resume. */
    this.lastSeq = lastSeq;
    /** Message id of the turn being streamed, null between turns. */
    this.openMessage = null;
    /** Text of the current message, as streamed (or as stored, after a recovery). */
    this.content = "";
    this._contentOf = null;
    this._ended = [];
  }

  /**
   * The position a `chat_started` gives. It stands just before what the server replays, so after a
   * resume from our own position it is that position. It is taken when it is ahead, or when it is
   * behind the `last_seq` we sent (the server could not believe it, and numbers from its own); a
   * resume from further back (`sentLastSeq` below what we have seen) keeps ours, so the replay of
   * what we saw is dropped.
   */
  started(seq, sentLastSeq) {
    if (!Number.isSafeInteger(seq)) return;
    const disbelieved = Number.isSafeInteger(sentLastSeq) && seq < sentLastSeq;
    if (this.lastSeq === null || seq > this.lastSeq || disbelieved) this.lastSeq = seq;
  }

  /** True when `event` is new and should reach the callbacks; updates the position. */
  accept(event) {
    const { type, seq } = event;
    if (type === "chat_started") {
      this.started(seq, undefined);
      return true;
    }
    if (type === "events_lost" || (type === "error" && !event.message_id)) return true;
    const numbered = Number.isSafeInteger(seq);
    if (event.recovered === true && ENDINGS.has(type)) {
      if (this._hasEnded(event.message_id)) return false;
      if (numbered && (this.lastSeq === null || seq > this.lastSeq)) this.lastSeq = seq;
      this._end(event);
      return true;
    }
    if (numbered) {
      if (this.lastSeq !== null && seq <= this.lastSeq) return false;
      this.lastSeq = seq;
    }
    if (ENDINGS.has(type)) {
      if (this._hasEnded(event.message_id)) return false;
      this._end(event);
      return true;
    }
    if (event.message_id) this.openMessage = event.message_id;
    if (type === "content" && typeof event.delta === "string") {
      if (this._contentOf !== event.message_id) {
        // A new turn, or a retried attempt (a new message id): its text starts afresh.
        this._contentOf = event.message_id ?? null;
        this.content = "";
      }
      this.content += event.delta;
    }
    return true;
  }

  /** A turn is streaming here (the last event seen belongs to a turn that has not ended). */
  get turnOpen() {
    return this.openMessage !== null;
  }

  /** Called when the user sends a message: the accumulated text is the next answer's. */
  startTurn() {
    this.content = "";
    this._contentOf = null;
  }

  _hasEnded(messageId) {
    return Boolean(messageId) && this._ended.includes(messageId);
  }

  _end(event) {
    if (typeof event.content === "string" && event.recovered === true) {
      // The whole answer as stored: it replaces what was streamed.
      this.content = event.content;
      this._contentOf = event.message_id ?? null;
    }
    this.openMessage = null;
    if (event.message_id) {
      this._ended.push(event.message_id);
      if (this._ended.length > REMEMBERED_ENDINGS) this._ended.shift();
    }
  }
}
