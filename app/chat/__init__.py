"""Conversations and turns: what the socket and the worker share."""
