"""Knowledge bases for retrieval-augmented chat: bases, documents, chunks, embedders and ingestion.

docs/knowledge.md describes the model; nothing here runs at import time (the local model loads on
first use).
"""
