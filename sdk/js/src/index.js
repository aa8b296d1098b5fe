// fluxbase-ai-sdk: the JavaScript client of the Fluxbase AI chatbot server (README.md).

export { createClient, FluxbaseAdmin, FluxbaseClient } from "./client.js";
export { FluxbaseAI } from "./ai.js";
export { FluxbaseAdminAI } from "./admin_ai.js";
export { FluxbaseAIChat } from "./chat.js";
export { CLIENT_CODES, FluxbaseError } from "./errors.js";
