// Type-checked only (tsc --noEmit, test/types.test.js): the documented calls, written as a
// TypeScript user would, through the package's own name and its `exports` types.
import { createClient, FluxbaseError, type AIChatEvent, type AIChatbotSummary } from "fluxbase-ai-sdk";

declare const anonKey: string;
declare const userToken: string | null;

export async function documentedFlow(): Promise<string> {
  const client = createClient("http://localhost:8080", anonKey);
  const { data: chatbots, error } = await client.ai.listChatbots();
  if (error) throw error;
  const names: string[] = (chatbots ?? []).map((bot: AIChatbotSummary) => bot.name);

  const chat = client.ai.createChat({
    token: userToken,
    onContent: (delta, conversationId) => void `${delta}${conversationId}`,
    onProgress: (step, message, conversationId) => void `[${step}] ${message} ${conversationId}`,
    onQueryResult: (query, summary, rowCount, data, conversationId) => {
      const first: Record<string, unknown> | undefined = data[0];
      void [query.length, summary.length, rowCount + 1, first, conversationId];
    },
    onDone: (usage, conversationId) => void [usage?.total_tokens, conversationId],
    onError: (message, code, conversationId, details) => void [message, code, conversationId, details.retryAfter],
    onEvent: (event: AIChatEvent) => void event.seq,
    reconnectAttempts: 3,
  });
  await chat.connect();
  const conversationId: string = await chat.startChat("sql-assistant");
  chat.sendMessage(conversationId, "Show me the top 10 users by order count");
  chat.cancel(conversationId);
  const seq: number | null = chat.getLastSeq(conversationId);
  chat.disconnect();

  client.setAuthToken(userToken);
  const { data: page } = await client.ai.listConversations({ chatbot: "sql-assistant", limit: 10 });
  await client.ai.renameConversation(conversationId, "Orders");
  const deleted = await client.ai.deleteConversation(conversationId);
  if (deleted.error instanceof FluxbaseError && deleted.error.code === "TURN_IN_PROGRESS") return "busy";

  const admin = createClient("http://localhost:8080", "service-key").admin.ai;
  const { data: report } = await admin.sync({ namespace: "default", options: { dry_run: true } });
  const { data: provider } = await admin.createProvider({
    name: "openai-main", display_name: "OpenAI (Main)", provider_type: "openai", is_default: true,
    config: { api_key: "sk-...", model: "gpt-4o-mini" },
  });
  if (provider) await admin.setDefaultProvider(provider.id);
  await admin.toggleChatbot("id", false);
  return `${names.join()} ${seq} ${page?.total} ${report?.summary.created}`;
}

// Misuse the types must refuse.
export function refusals(): void {
  const client = createClient("http://localhost:8080");
  // @ts-expect-error onQueryResult's first parameter is the query text
  client.ai.createChat({ onQueryResult: (query: number) => query });
  // @ts-expect-error sendMessage takes the conversation id and the text
  client.ai.createChat({}).sendMessage("only-one-argument");
  // @ts-expect-error provider types are openai, azure or ollama
  void client.admin.ai.createProvider({ name: "x", provider_type: "anthropic", config: {} });
}
