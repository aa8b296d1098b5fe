// Types of fluxbase-ai-sdk (hand-written; the SDK itself is plain JavaScript, src/*.js).
// Names follow Fluxbase's SDK (sdk/src/types.ts) where it has the same thing.

// -- results and errors -----------------------------------------------------------------------------

/** What every REST call resolves to; it never rejects. */
export interface Result<T> {
  data: T | null;
  error: FluxbaseError | null;
}

export declare class FluxbaseError extends Error {
  constructor(message: string, info?: { code?: string; status?: number; retryAfter?: number; field?: string;
    details?: unknown; cause?: unknown });
  /** The server's code (docs/chat.md lists them), or one of CLIENT_CODES. */
  code?: string;
  /** HTTP status, for REST calls and refused upgrades. */
  status?: number;
  /** Seconds to wait before trying again, when a wait helps (limits, SERVICE_UNAVAILABLE). */
  retryAfter?: number;
  /** The request field a 400 is about. */
  field?: string;
  /** The server's whole answer. */
  details?: unknown;
}

export declare const CLIENT_CODES: Readonly<{
  NETWORK_ERROR: "NETWORK_ERROR";
  TIMEOUT: "TIMEOUT";
  CONNECTION_FAILED: "CONNECTION_FAILED";
  CONNECTION_LOST: "CONNECTION_LOST";
  NOT_CONNECTED: "NOT_CONNECTED";
  DISCONNECTED: "DISCONNECTED";
}>;

// -- chatbots ---------------------------------------------------------------------------------------

export interface AIChatbotSummary {
  id: string;
  name: string;
  namespace: string;
  description?: string;
  enabled: boolean;
  is_public: boolean;
  source: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface AIChatbotLookupResponse {
  chatbot?: AIChatbotSummary;
  ambiguous: boolean;
  namespaces?: string[];
  error?: string;
}

/** The admin view of a chatbot; `config` holds every annotation's effective value. */
export interface AIChatbot extends AIChatbotSummary {
  title?: string;
  content_hash?: string;
  system_prompt: string;
  code?: string;
  tools: unknown[];
  config: Record<string, unknown>;
  warnings?: unknown[];
  [key: string]: unknown;
}

export interface SyncChatbotsOptions {
  namespace?: string;
  chatbots?: { name: string; code: string; [key: string]: unknown }[];
  options?: { delete_missing?: boolean; dry_run?: boolean };
}

export interface SyncChatbotsResult {
  message?: string;
  namespace: string;
  summary: { created: number; updated: number; deleted: number; unchanged: number; errors: number };
  details: { created: string[]; updated: string[]; deleted: string[]; unchanged: string[] };
  errors: { name: string; error: string }[];
  dry_run: boolean;
  [key: string]: unknown;
}

// -- providers --------------------------------------------------------------------------------------

export type AIProviderType = "openai" | "azure" | "ollama";

export interface AIProvider {
  id: string;
  name: string;
  display_name: string;
  provider_type: AIProviderType;
  is_default: boolean;
  enabled: boolean;
  use_for_embeddings: boolean | null;
  embedding_model: string | null;
  /** `api_key` is always "***". */
  config: Record<string, string>;
  from_config: boolean;
  read_only: boolean;
  created_at: string | null;
  updated_at: string | null;
}

export interface CreateAIProviderRequest {
  name: string;
  provider_type: AIProviderType;
  config: Record<string, string | number>;
  display_name?: string;
  is_default?: boolean;
  enabled?: boolean;
  embedding_model?: string | null;
  use_for_embeddings?: boolean;
}

export interface UpdateAIProviderRequest {
  display_name?: string;
  enabled?: boolean;
  config?: Record<string, string | number>;
  embedding_model?: string | null;
}

// -- conversations ----------------------------------------------------------------------------------

export interface AIUserConversationSummary {
  id: string;
  chatbot: string;
  namespace: string;
  title?: string | null;
  preview: string;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface AIUserQueryResult {
  query?: string;
  summary: string;
  row_count: number;
  data?: Record<string, unknown>[];
}

export interface AIUserMessage {
  id: string;
  role: "user" | "assistant";
  content: string;
  timestamp: string;
  query_results?: AIUserQueryResult[];
  usage?: AIUsageStats;
}

export interface AIUserConversationDetail {
  id: string;
  chatbot: string;
  namespace: string;
  title?: string | null;
  created_at: string;
  updated_at: string;
  messages: AIUserMessage[];
}

export interface ListConversationsOptions {
  chatbot?: string;
  namespace?: string;
  /** Default 50, at most 100. */
  limit?: number;
  offset?: number;
}

export interface Page {
  total: number;
  has_more: boolean;
  limit: number;
  offset: number;
}

export interface ListConversationsResult extends Page {
  conversations: AIUserConversationSummary[];
}

export interface MessagesPage extends Page {
  messages: AIUserMessage[];
}

// -- chat -------------------------------------------------------------------------------------------

export interface AIUsageStats {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  /** Counted with a tokenizer because the provider reported none. */
  estimated?: boolean;
}

export type AIChatEventType =
  | "connected" | "disconnected" | "reconnecting"
  | "chat_started" | "authenticated" | "progress" | "content" | "query_result" | "tool_result"
  | "approval_required" | "approval_result" | "events_lost" | "done" | "cancelled" | "error";

/** What onEvent gets: Fluxbase's AIChatEvent fields, this server's additions, and the raw event. */
export interface AIChatEvent {
  type: AIChatEventType;
  conversationId?: string;
  chatbot?: string;
  step?: string;
  message?: string;
  delta?: string;
  query?: string;
  summary?: string;
  rowCount?: number;
  data?: Record<string, any>[];
  usage?: AIUsageStats;
  error?: string;
  code?: string;
  seq?: number;
  messageId?: string;
  resumed?: boolean;
  tool?: string;
  truncated?: boolean;
  replayTruncated?: boolean;
  rowsKept?: number;
  retryAfter?: number;
  limit?: string;
  firstSeq?: number;
  lastSeq?: number;
  /** On an ending after a loss: the whole answer as stored, to show instead of what was streamed. */
  content?: string;
  recovered?: boolean;
  /** `authenticated`: Unix seconds; `approval_required`: an ISO 8601 time. */
  expiresAt?: number | string;
  /** `approval_required` / `approval_result` (docs/approval.md). */
  approvalId?: string;
  description?: string;
  sql?: string;
  preview?: ApprovalPreview;
  decision?: ApprovalDecision;
  /** `connected`: the socket re-attached conversations of a dropped one. */
  reconnected?: boolean;
  /** `reconnecting`: which try, and the wait before it (ms). */
  attempt?: number;
  delay?: number;
  /** `disconnected`: no reconnect follows (disconnect(), or every attempt failed). */
  final?: boolean;
  reason?: string;
  raw?: Record<string, unknown>;
}

/** The `preview` of an approval: the rows a SQL write would change, the exact HTTP request, or the arguments. */
export type ApprovalPreview =
  | { kind: "sql"; operation: string; row_count: number; columns: string[]; rows: Record<string, any>[]; truncated: boolean }
  | { kind: "request"; method: string; url: string; function?: string; params?: Record<string, string>;
      headers: Record<string, string>; body: unknown }
  | { kind: "call"; arguments: unknown };

export type ApprovalDecision = "approved" | "denied" | "expired" | "cancelled";

/** A tool call waiting for the user's approve() or deny(). */
export interface AIApproval {
  approvalId: string;
  tool: string;
  description: string;
  /** The statement laid out for reading (SQL tools). */
  sql?: string;
  preview: ApprovalPreview;
  /** ISO 8601: after it, the call is not run and the model is told so. */
  expiresAt: string;
  messageId?: string;
}

export interface QueryResultDetails {
  /** Why the statement was refused or failed, e.g. "Table not allowed: secrets". */
  error?: string;
  truncated?: boolean;
  replayTruncated?: boolean;
  rowsKept?: number;
  messageId?: string;
}

export interface ErrorDetails {
  retryAfter?: number;
  limit?: string;
  field?: string;
  messageId?: string;
  content?: string;
}

export interface AIChatOptions {
  /** The user's JWT (sent as ?token=); without one the socket is anonymous. */
  token?: string | null;
  onEvent?: (event: AIChatEvent) => void;
  onContent?: (delta: string, conversationId: string) => void;
  onProgress?: (step: string, message: string, conversationId: string) => void;
  onQueryResult?: (query: string, summary: string, rowCount: number, data: Record<string, any>[],
    conversationId: string, details: QueryResultDetails) => void;
  onDone?: (usage: AIUsageStats | undefined, conversationId: string) => void;
  onError?: (error: string, code: string | undefined, conversationId: string | undefined,
    details: ErrorDetails) => void;
  /** Additions: a non-SQL tool's result, and the end of a cancelled turn. */
  onToolResult?: (tool: string, data: unknown, error: string | undefined, conversationId: string) => void;
  onCancelled?: (conversationId: string) => void;
  /** A tool call waits for the user: answer with approve() or deny() (docs/approval.md). */
  onApprovalRequired?: (approval: AIApproval, conversationId: string) => void;
  /** How it ended; `reason` is the user's, on a deny. */
  onApprovalResult?: (approvalId: string, decision: ApprovalDecision, conversationId: string, reason?: string) => void;
  /** Reconnect tries after a drop (0: none). Default 10. */
  reconnectAttempts?: number;
  /** First wait before a reconnect, in ms, doubled each try (with jitter). Default 500. */
  reconnectDelay?: number;
  /** Longest wait between tries, in ms. Default 10000. */
  maxReconnectDelay?: number;
  /** A WebSocket constructor with the browser API (default: the platform's, else the `ws` package). */
  WebSocket?: unknown;
  /** Defaults to the client's ws(s)://host/ai/ws. */
  wsUrl?: string;
}

export interface StartChatOptions {
  /** Resume from this seq instead of the highest this chat has seen of the conversation. */
  lastSeq?: number;
}

export declare class FluxbaseAIChat {
  constructor(options: AIChatOptions & { wsUrl: string });
  connect(): Promise<void>;
  disconnect(): void;
  isConnected(): boolean;
  startChat(chatbot: string, namespace?: string, conversationId?: string, options?: StartChatOptions): Promise<string>;
  sendMessage(conversationId: string, content: string): void;
  cancel(conversationId: string): void;
  approve(conversationId: string, approvalId: string): void;
  deny(conversationId: string, approvalId: string, reason?: string): void;
  setToken(token: string): void;
  getAccumulatedContent(conversationId: string): string;
  getLastSeq(conversationId: string): number | null;
}

// -- clients ----------------------------------------------------------------------------------------

export declare class FluxbaseAI {
  listChatbots(): Promise<Result<AIChatbotSummary[]>>;
  getChatbot(id: string): Promise<Result<AIChatbotSummary>>;
  lookupChatbot(name: string, namespace?: string): Promise<Result<AIChatbotLookupResponse>>;
  createChat(options?: AIChatOptions): FluxbaseAIChat;
  listConversations(options?: ListConversationsOptions): Promise<Result<ListConversationsResult>>;
  getConversation(id: string): Promise<Result<AIUserConversationDetail>>;
  getConversationMessages(id: string, options?: { limit?: number; offset?: number }): Promise<Result<MessagesPage>>;
  updateConversation(id: string, updates: { title: string }): Promise<Result<AIUserConversationDetail>>;
  renameConversation(id: string, title: string): Promise<Result<AIUserConversationDetail>>;
  deleteConversation(id: string): Promise<Result<{ deleted: true; id: string }>>;
}

export interface UsageFilters {
  chatbot?: string;
  namespace?: string;
  chatbot_id?: string;
  user_id?: string;
  since?: string;
  until?: string;
  limit?: number;
  offset?: number;
}

export interface AuditFilters {
  chatbot_id?: string;
  conversation_id?: string;
  user_id?: string;
  verdict?: string;
  success?: boolean;
  since?: string;
  until?: string;
  limit?: number;
  offset?: number;
}

export declare class FluxbaseAdminAI {
  listChatbots(namespace?: string): Promise<Result<AIChatbot[]>>;
  getChatbot(id: string): Promise<Result<AIChatbot>>;
  updateChatbot(id: string, updates: { enabled?: boolean; config?: Record<string, unknown>; reset_config?: boolean }):
    Promise<Result<AIChatbot>>;
  toggleChatbot(id: string, enabled: boolean): Promise<Result<AIChatbot>>;
  deleteChatbot(id: string): Promise<Result<null>>;
  sync(options?: SyncChatbotsOptions): Promise<Result<SyncChatbotsResult>>;
  listProviders(): Promise<Result<AIProvider[]>>;
  getProvider(id: string): Promise<Result<AIProvider>>;
  createProvider(params: CreateAIProviderRequest): Promise<Result<AIProvider>>;
  updateProvider(id: string, updates: UpdateAIProviderRequest): Promise<Result<AIProvider>>;
  setDefaultProvider(id: string): Promise<Result<AIProvider>>;
  deleteProvider(id: string): Promise<Result<{ deleted: true; id: string }>>;
  testProvider(id: string): Promise<Result<{ success: boolean; [key: string]: unknown }>>;
  setEmbeddingProvider(id: string): Promise<Result<AIProvider>>;
  clearEmbeddingProvider(id: string): Promise<Result<AIProvider>>;
  getUsage(filters?: UsageFilters): Promise<Result<{ usage: Record<string, unknown>[]; totals: Record<string, number> } & Page>>;
  getAuditLog(filters?: AuditFilters): Promise<Result<{ entries: Record<string, unknown>[] } & Page>>;
  listConversations(filters?: { chatbot_id?: string; user_id?: string; limit?: number; offset?: number }):
    Promise<Result<{ conversations: Record<string, unknown>[] } & Page>>;
  getConversationMessages(id: string, options?: { limit?: number; offset?: number }):
    Promise<Result<{ messages: Record<string, unknown>[] } & Page>>;
}

export declare class FluxbaseAdmin {
  ai: FluxbaseAdminAI;
}

export interface FluxbaseClientOptions {
  /** Extra headers on every REST request. */
  headers?: Record<string, string>;
  /** REST timeout in ms (default 30000; 0: none). */
  timeout?: number;
  /** A user JWT for REST calls from the start (same as setAuthToken). */
  auth?: { token?: string };
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** The WebSocket constructor chats use (default: the platform's, else the `ws` package). */
  WebSocket?: unknown;
}

export declare class FluxbaseClient {
  constructor(url: string, key?: string, options?: FluxbaseClientOptions);
  readonly url: string;
  ai: FluxbaseAI;
  admin: FluxbaseAdmin;
  setAuthToken(token: string | null): void;
  getAuthToken(): string | null;
}

export declare function createClient(url: string, key?: string, options?: FluxbaseClientOptions): FluxbaseClient;
