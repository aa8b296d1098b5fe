-- Knowledge bases for retrieval: bases, their documents, and the documents' embedded chunks.
-- The dimension belongs to the base (384 for the local model, 1536 for text-embedding-3-small...),
-- so the embedding column is an untyped `vector` and each common dimension has a partial HNSW
-- expression index; app/knowledge/repository.py queries with the same cast and predicate, which is
-- what lets the planner use it. Other dimensions work, searched exactly (no index).
CREATE TABLE IF NOT EXISTS ai.knowledge_bases (
  id uuid PRIMARY KEY,
  namespace text NOT NULL DEFAULT 'default',
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  embedder text NOT NULL DEFAULT 'local',
  embedding_model text NOT NULL,
  embedding_dimensions integer NOT NULL,
  chunk_size integer NOT NULL,
  chunk_overlap integer NOT NULL,
  chunk_strategy text NOT NULL DEFAULT 'recursive',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT knowledge_bases_name_per_namespace UNIQUE (namespace, name),
  CONSTRAINT knowledge_bases_dimensions CHECK (embedding_dimensions BETWEEN 1 AND 16000),
  CONSTRAINT knowledge_bases_chunking CHECK (chunk_strategy IN ('recursive', 'paragraph', 'sentence', 'fixed')),
  CONSTRAINT knowledge_bases_chunk_size CHECK (chunk_size > 0 AND chunk_overlap >= 0 AND chunk_overlap < chunk_size)
);

CREATE TABLE IF NOT EXISTS ai.documents (
  id uuid PRIMARY KEY,
  kb_id uuid NOT NULL REFERENCES ai.knowledge_bases (id) ON DELETE CASCADE,
  title text NOT NULL,
  content text NOT NULL,
  content_hash text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- No owner: every user of the base sees it; an owner: only that user (retrieval filters on it).
  owner_id uuid,
  tags text[] NOT NULL DEFAULT '{}',
  source text NOT NULL DEFAULT 'text',
  size_bytes bigint NOT NULL DEFAULT 0,
  status text NOT NULL DEFAULT 'pending',
  error text,
  chunk_count integer NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  -- Set when a worker claims the document; beat re-queues documents left in processing too long.
  processing_started_at timestamptz,
  indexed_at timestamptz,
  -- clock_timestamp: documents added in one transaction still list in the order they were added.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT documents_status CHECK (status IN ('pending', 'processing', 'indexed', 'failed')),
  CONSTRAINT documents_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
-- The same content added twice to a base (for the same owner) is the same document.
CREATE UNIQUE INDEX IF NOT EXISTS documents_one_per_hash
  ON ai.documents (kb_id, content_hash, owner_id) NULLS NOT DISTINCT;
CREATE INDEX IF NOT EXISTS documents_by_kb ON ai.documents (kb_id, created_at DESC, id);
CREATE INDEX IF NOT EXISTS documents_processing ON ai.documents (processing_started_at) WHERE status = 'processing';

CREATE TABLE IF NOT EXISTS ai.chunks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kb_id uuid NOT NULL REFERENCES ai.knowledge_bases (id) ON DELETE CASCADE,
  document_id uuid NOT NULL REFERENCES ai.documents (id) ON DELETE CASCADE,
  -- Copied from the document so retrieval filters without a join before the index scan.
  owner_id uuid,
  position integer NOT NULL,
  content text NOT NULL,
  token_count integer NOT NULL,
  dimensions integer NOT NULL,
  embedding vector NOT NULL,
  CONSTRAINT chunks_dimensions CHECK (vector_dims(embedding) = dimensions)
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON ai.chunks (document_id, position);
CREATE INDEX IF NOT EXISTS chunks_by_kb ON ai.chunks (kb_id);
CREATE INDEX IF NOT EXISTS chunks_hnsw_384 ON ai.chunks
  USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384;
CREATE INDEX IF NOT EXISTS chunks_hnsw_768 ON ai.chunks
  USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dimensions = 768;
CREATE INDEX IF NOT EXISTS chunks_hnsw_1024 ON ai.chunks
  USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dimensions = 1024;
CREATE INDEX IF NOT EXISTS chunks_hnsw_1536 ON ai.chunks
  USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dimensions = 1536;

REVOKE ALL ON ai.knowledge_bases, ai.documents, ai.chunks FROM PUBLIC;
