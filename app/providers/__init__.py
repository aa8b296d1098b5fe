"""Talking to LLMs: one `stream(messages, tools, options)` interface, several configurations."""
