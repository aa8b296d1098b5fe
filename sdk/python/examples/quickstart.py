"""The documentation's first example, in Python: list the chatbots, then ask the SQL assistant.

    FLUXBASE_URL=http://localhost:8080 ANON_KEY=... TOKEN=... python sdk/python/examples/quickstart.py

(In development: `ANON_KEY=$(fluxbase token --role anon)`,
`TOKEN=$(fluxbase token --user a11ce000-0000-4000-8000-000000000001)`.)
"""
import os
import sys
import threading

from fluxbase_sdk import create_client

client = create_client(os.environ.get("FLUXBASE_URL", "http://localhost:8080"), os.environ["ANON_KEY"])

# List available chatbots
chatbots = client.ai.list_chatbots()
print("Available chatbots:", [bot["name"] for bot in chatbots])

finished = threading.Event()


def on_done(usage, conversation_id):
    print(f"\nTokens used: {usage.get('total_tokens')}")
    finished.set()


def on_error(error, code, conversation_id):
    print(f"Error: {error} ({code})")
    finished.set()


# Create a chat connection
chat = client.ai.create_chat(
    token=os.environ["TOKEN"],
    on_content=lambda delta, conversation_id: print(delta, end="", flush=True),
    on_progress=lambda step, message, conversation_id: print(f"[{step}] {message}"),
    on_query_result=lambda query, summary, row_count, data, conversation_id: print(
        f"Query: {query}\nSummary: {summary}\nRows: {row_count}\nData: {data}"),
    on_done=on_done,
    on_error=on_error,
)

# Connect and start chatting
chat.connect()
conversation_id = chat.start_chat("sql-assistant")
chat.send_message(conversation_id, "Show me the top 10 users by order count")
finished.wait(120)
chat.disconnect()
sys.exit(0 if finished.is_set() else 1)
