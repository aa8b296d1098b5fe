// A minimal chat box in React: the documentation's component, written against this SDK. It opens
// one chat when mounted, streams the assistant's answer into the last line, and closes the socket
// when unmounted. Only the import line differs from the documented example (a bundler resolves it;
// in a project that installed the SDK, import it by its package name).
import { useEffect, useRef, useState } from "react";
import { createClient } from "../src/index.js";

export function ChatInterface() {
  const [messages, setMessages] = useState([]);
  const [input, setInput] = useState("");
  const [conversationId, setConversationId] = useState(null);
  const chatRef = useRef(null);
  const client = createClient("http://localhost:8080", process.env.ANON_KEY);

  useEffect(() => {
    const chat = client.ai.createChat({
      token: localStorage.getItem("access_token"),
      onContent: (delta) => {
        setMessages((previous) => {
          const next = [...previous];
          const last = next.length - 1;
          if (last >= 0 && next[last].startsWith("AI: ")) next[last] += delta;
          else next.push("AI: " + delta);
          return next;
        });
      },
      onQueryResult: (query, summary, rowCount, data) => {
        console.log("Query executed:", { query, summary, rowCount, data });
      },
      onError: (error) => {
        setMessages((previous) => [...previous, `Error: ${error}`]);
      },
    });
    chatRef.current = chat;

    chat.connect()
      .then(() => chat.startChat("sql-assistant"))
      .then((id) => setConversationId(id));

    return () => chat.disconnect();
  }, []);

  const sendMessage = () => {
    if (!input.trim() || !conversationId) return;
    setMessages((previous) => [...previous, `You: ${input}`]);
    chatRef.current.sendMessage(conversationId, input);
    setInput("");
  };

  return (
    <div>
      <div className="messages">
        {messages.map((message, index) => (
          <div key={index}>{message}</div>
        ))}
      </div>
      <input
        value={input}
        onChange={(event) => setInput(event.target.value)}
        onKeyPress={(event) => event.key === "Enter" && sendMessage()}
        placeholder="Ask a question..."
      />
      <button onClick={sendMessage}>Send</button>
    </div>
  );
}
