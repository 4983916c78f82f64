-- Background jobs (contract section 7): claimed with FOR UPDATE SKIP LOCKED and a lease, so any
-- number of serve/worker processes can run them and a job whose worker died is taken over once
-- its lease expires.

CREATE TABLE jobs (
  id               text PRIMARY KEY CHECK (id ~ '^job_[0-9a-f]{12}$'),
  kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
  result           jsonb,
  error            text,
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
  progress_done    integer NOT NULL DEFAULT 0 CHECK (progress_done >= 0),
  progress_total   integer NOT NULL DEFAULT 0 CHECK (progress_total >= 0),
  run_after        timestamptz NOT NULL DEFAULT clock_timestamp(),
  lease_owner      text,
  lease_expires_at timestamptz,
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at       timestamptz,
  finished_at      timestamptz,
  -- A running job always has a lease; a finished one never does.
  CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
  CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);
-- What workers claim: due queued jobs, and running jobs whose lease expired.
CREATE INDEX jobs_due_idx ON jobs (run_after) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';
-- GET /api/jobs?kind&status, newest first.
CREATE INDEX jobs_list_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_kind_status_idx ON jobs (kind, status, created_at DESC, id DESC);
