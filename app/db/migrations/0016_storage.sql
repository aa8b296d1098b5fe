-- Buckets and objects of the storage tools (app/storage). The bytes live in the storage backend
-- (a local folder by default); these rows say who owns each object and who may read it.
-- Server tables: the storage layer reads and writes them with the owner connection and decides
-- access from the end user's id itself, so the end-user roles get no privilege on them.
CREATE TABLE IF NOT EXISTS ai.storage_buckets (
  name text PRIMARY KEY,
  -- private: each object only to its owner; public-read: every caller reads, only the owner writes.
  policy text NOT NULL DEFAULT 'private',
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT storage_buckets_name CHECK (name ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  CONSTRAINT storage_buckets_policy CHECK (policy IN ('private', 'public-read'))
);

CREATE TABLE IF NOT EXISTS ai.storage_objects (
  bucket text NOT NULL REFERENCES ai.storage_buckets (name) ON DELETE CASCADE,
  -- "C": byte order, so listing pages by `key > start_after` and prefix ranges use the primary key.
  key text COLLATE "C" NOT NULL,
  owner_id uuid NOT NULL,
  size bigint NOT NULL,
  content_type text NOT NULL,
  sha256 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, key),
  CONSTRAINT storage_objects_key CHECK (octet_length(key) BETWEEN 1 AND 1024),
  CONSTRAINT storage_objects_size CHECK (size >= 0),
  CONSTRAINT storage_objects_sha256 CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
-- A user's quota sums their objects.
CREATE INDEX IF NOT EXISTS storage_objects_by_owner ON ai.storage_objects (owner_id);

REVOKE ALL ON ai.storage_buckets, ai.storage_objects FROM PUBLIC;
