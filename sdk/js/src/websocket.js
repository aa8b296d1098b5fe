// Which WebSocket to use: the one passed in, the platform's (browsers, Node 22+), or the `ws` package
// (Node 20 has none). `ws` is imported only when needed, so a browser never loads or needs it.

let wsPackage = null;

/** @returns {Promise<any>} a WebSocket constructor with the standard (browser) API */
export async function resolveWebSocket(given) {
  if (given) return given;
  if (typeof globalThis.WebSocket === "function") return globalThis.WebSocket;
  if (!wsPackage) {
    // A variable specifier keeps bundlers for the browser from trying to resolve it.
    const name = "ws";
    wsPackage = import(name).then((module) => module.WebSocket || module.default);
  }
  return wsPackage;
}

export const OPEN = 1;
