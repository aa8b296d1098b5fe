-- Embeddings of table descriptions for schema retrieval (app/chat/schema_retrieval.py), so a
-- 500-table schema is embedded once, not on every turn. Content-addressed: the key is a hash of
-- the embedder's model and the exact description text, so an entry is never stale (an ALTER
-- changes the text, hence the key) and one entry serves every chatbot and role that describe the
-- table alike. Similarity is computed in the worker together with the lexical score, so no index.
CREATE TABLE IF NOT EXISTS ai.table_embeddings (
  fingerprint text PRIMARY KEY,
  model text NOT NULL,
  dimensions integer NOT NULL,
  embedding vector NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT table_embeddings_dimensions CHECK (vector_dims(embedding) = dimensions)
);

REVOKE ALL ON ai.table_embeddings FROM PUBLIC;
