-- Periodic ticks that enqueue work (SYNC_INTERVAL_SECONDS, contract section 6): one row per tick
-- number (seconds since the epoch / interval, by the database clock). Every instance tries to
-- insert the row; the primary key lets exactly one of them win, and only the winner enqueues, in
-- the same transaction.
CREATE TABLE periodic_ticks (
  name    text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  bucket  bigint NOT NULL,
  job_id  text,  -- NULL when the tick found nothing to do
  at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (name, bucket)
);
