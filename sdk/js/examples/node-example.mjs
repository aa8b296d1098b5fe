// Ask the SQL assistant one question from Node and print the streamed answer, its progress and the
// rows of every query it ran. This is the documentation's Node example, with its values taken from
// the environment and an exit once the answer is complete.
//
//   FLUXBASE_TOKEN=$(.venv/bin/fluxbase token --user a11ce000-0000-4000-8000-000000000001) \
//   FLUXBASE_ANON_KEY=$(.venv/bin/fluxbase token --role anon) node sdk/js/examples/node-example.mjs
//
// In a project that installed the SDK, import it by its package name instead of this path.
import { createClient } from "../src/index.js";

const url = process.env.FLUXBASE_URL || "http://localhost:8080";
const question = process.argv[2] || "Show me the top 10 users by order count";

const client = createClient(url, process.env.FLUXBASE_ANON_KEY);

// Which chatbots may we talk to?
const { data: chatbots, error } = await client.ai.listChatbots();
if (error) {
  console.error(`Could not list chatbots: ${error.message} (${error.code})`);
  process.exit(1);
}
console.log("Available chatbots:", chatbots.map((bot) => bot.name).join(", "));

const chat = client.ai.createChat({
  token: process.env.FLUXBASE_TOKEN,
  onContent: (delta, conversationId) => {
    process.stdout.write(delta);
  },
  onProgress: (step, message, conversationId) => {
    console.log(`[${step}] ${message}`);
  },
  onQueryResult: (query, summary, rowCount, data, conversationId) => {
    console.log(`Query: ${query}`);
    console.log(`Summary: ${summary}`);
    console.log(`Rows: ${rowCount}`);
    console.log("Data:", data);
  },
  onDone: (usage, conversationId) => {
    console.log(`\nTokens used: ${usage?.total_tokens}`);
    chat.disconnect();
  },
  onError: (error, code, conversationId) => {
    console.error(`Error: ${error} (${code})`);
    process.exitCode = 1;
    chat.disconnect();
  },
});

await chat.connect();
const conversationId = await chat.startChat("sql-assistant");
chat.sendMessage(conversationId, question);
