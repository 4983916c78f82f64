-- Bulk sheet uploads that run as jobs (POST /api/bulk/upload-sheet?async=true, docs/BULK.md): the
-- uploaded bytes wait here for a worker, so a restart loses nothing. The report is written in the
-- transaction that applies the sheet (and the bytes dropped), so a job retried after a crash
-- answers that report instead of applying the sheet twice.

CREATE TABLE bulk_uploads (
  id            text PRIMARY KEY CHECK (id ~ '^upload_[0-9a-f]{32}$'),
  filename      text NOT NULL DEFAULT '' CHECK (char_length(filename) <= 255),
  bytes         bytea,  -- NULL once the report is written
  size          bigint NOT NULL CHECK (size >= 0),
  validate_only boolean NOT NULL DEFAULT false,
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  report        jsonb,
  finished_at   timestamptz,
  CHECK ((report IS NULL) = (finished_at IS NULL))
);
