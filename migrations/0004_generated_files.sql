-- Files the service generates for download (contract section 5 bulk sheets; the report exports of
-- section 6 will reuse it): kept in PostgreSQL, not on a local disk, so that any instance serves
-- the download. The bytes are dropped once the file expires (the row stays a while longer, so a
-- late download is 410 Gone rather than 404); see docs/BULK.md.

CREATE TABLE generated_files (
  id           text PRIMARY KEY CHECK (id ~ '^[a-z]+_[0-9a-f]{32}$'),
  kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  filename     text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
  content_type text NOT NULL CHECK (char_length(content_type) BETWEEN 1 AND 255),
  bytes        bytea,  -- NULL once expired
  size         bigint NOT NULL CHECK (size >= 0),
  record_count bigint NOT NULL DEFAULT 0 CHECK (record_count >= 0),
  sheets       jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(sheets) = 'array'),
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at   timestamptz NOT NULL
);
-- The clean-up finds expired files by this index (docs/BULK.md).
CREATE INDEX generated_files_expires_idx ON generated_files (expires_at);
