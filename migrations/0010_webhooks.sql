-- Webhooks (docs/WEBHOOKS.md): subscriptions, the outbox, deliveries and their attempts.
--
-- Every event is written by PostgreSQL itself, in the transaction of the change it announces:
-- triggers on audit_log (campaign and creative changes), generated_files (bulk sheets) and jobs
-- (a report refresh or a sync that succeeded, a job that failed for good) call
-- webhook_publish(). A change that rolls back announces nothing; a committed one is in the outbox.
-- The delivery worker (service/webhook_dispatcher) fans each outbox event out to the webhooks
-- subscribed to it, in commit order, and sends each webhook's deliveries in that order.

CREATE TABLE webhooks (
  id                 text PRIMARY KEY CHECK (id ~ '^wh_[0-9a-f]{12}$'),
  url                text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
  events             text[] NOT NULL CHECK (cardinality(events) >= 1),
  secret             text NOT NULL CHECK (char_length(secret) BETWEEN 16 AND 512),
  description        text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
  active             boolean NOT NULL DEFAULT true,
  created_by         text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The worker's state: when the oldest pending delivery may be sent (NULL: none pending), how far
  -- the deliveries are finished (the next ones are read from there: the pending index is not
  -- walked through the finished ones), who is sending this webhook's deliveries now (one sender
  -- at a time keeps them in order), since when every attempt has failed, and why the webhook was
  -- switched off by the worker.
  due_at             timestamptz,
  cursor_seq         bigint NOT NULL DEFAULT 0,  -- every delivery up to this seq is finished
  lease_owner        text,
  lease_expires_at   timestamptz,
  failing_since      timestamptz,
  deactivated_reason text
);
CREATE INDEX webhooks_due_idx ON webhooks (due_at) WHERE active AND due_at IS NOT NULL;

-- The outbox: events committed and not yet fanned out to the subscribed webhooks.
CREATE TABLE webhook_events (
  seq        bigserial PRIMARY KEY,
  event      text NOT NULL,
  data       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One event for one webhook. `id` is the delivery id of the body and headers: the same on every
-- attempt, so a receiver can drop duplicates. `seq` is the order per webhook: deliveries are only
-- inserted (or queued again) under one advisory lock, so seqs grow in commit order.
CREATE TABLE webhook_deliveries (
  id               text PRIMARY KEY CHECK (id ~ '^dlv_[0-9a-f]{32}$'),
  seq              bigserial NOT NULL,
  webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event            text NOT NULL,
  data             jsonb NOT NULL,
  event_at         timestamptz NOT NULL,  -- the commit of the change (the body's timestamp)
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_status_code integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at      timestamptz,
  CHECK ((status = 'pending') = (finished_at IS NULL))
);
-- The next delivery of a webhook: the lowest pending seq.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (webhook_id, seq) WHERE status = 'pending';

-- Every attempt of every delivery (GET /api/webhooks/{id}/deliveries), newest first.
CREATE TABLE webhook_attempts (
  id          bigserial PRIMARY KEY,
  delivery_id text NOT NULL,  -- no foreign key: both go with their webhook
  webhook_id  text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event       text NOT NULL,
  attempt     integer NOT NULL CHECK (attempt >= 1),
  status_code integer,
  error       text,
  duration_ms double precision NOT NULL CHECK (duration_ms >= 0),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, created_at DESC, id DESC);

-- Whether any active webhook listens to `ev`: without one, an event costs one look at a small
-- table and nothing is written. The triggers call it as an expression and insert the event
-- themselves (a PERFORM of a function costs several times a plain INSERT).
CREATE FUNCTION webhook_wanted(ev text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM webhooks WHERE active AND ev = ANY (events))
$$;

CREATE FUNCTION webhook_publish(ev text, payload jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO webhook_events (event, data) SELECT ev, payload WHERE webhook_wanted(ev)
$$;

-- campaign.created / .updated / .deleted from every campaign audit entry (any change of a campaign
-- writes one), creative.processed from a creative's processing (create, reprocess, failure).
CREATE FUNCTION webhook_audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ev text;
BEGIN
  IF NEW.entity_type = 'campaign' THEN
    ev := CASE NEW.action WHEN 'create' THEN 'campaign.created' WHEN 'delete' THEN 'campaign.deleted'
                          ELSE 'campaign.updated' END;
    IF webhook_wanted(ev) THEN
      INSERT INTO webhook_events (event, data) VALUES (ev, jsonb_build_object(
        'campaign_id', NEW.entity_id, 'action', NEW.action, 'actor', NEW.actor, 'changes', NEW.changes)
        || coalesce((SELECT jsonb_build_object('name', c.name, 'status', c.status, 'version', c.version,
                                               'advertiser_id', c.advertiser_id)
                     FROM campaigns c WHERE c.id = NEW.entity_id), '{}'::jsonb));
    END IF;
  ELSIF NEW.entity_type = 'creative' AND NEW.action IN ('create', 'reprocess', 'processing_failed') THEN
    IF webhook_wanted('creative.processed') THEN
      INSERT INTO webhook_events (event, data) VALUES ('creative.processed', jsonb_build_object(
        'creative_id', NEW.entity_id, 'action', NEW.action, 'actor', NEW.actor, 'changes', NEW.changes)
        || coalesce((SELECT jsonb_build_object('name', c.name, 'status', c.status,
                                               'creative_type', c.creative_type,
                                               'amazon_dsp_ready', c.amazon_dsp_ready)
                     FROM creatives c WHERE c.id = NEW.entity_id), '{}'::jsonb));
    END IF;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_webhooks AFTER INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION webhook_audit_event();

CREATE FUNCTION webhook_file_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM webhook_publish('bulk.sheet.generated', jsonb_build_object(
    'sheet_id', NEW.id, 'filename', NEW.filename, 'content_type', NEW.content_type,
    'file_size', NEW.size, 'record_count', NEW.record_count, 'sheets', NEW.sheets,
    'created_by', NEW.created_by,
    'expires_at', to_char(NEW.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
  RETURN NULL;
END
$$;
CREATE TRIGGER generated_files_webhooks AFTER INSERT ON generated_files
  FOR EACH ROW WHEN (NEW.kind = 'bulk_sheet') EXECUTE FUNCTION webhook_file_event();

-- report.generated and integration.sync.completed when those jobs succeed; error.critical when any
-- job has failed for good (its retries are spent).
CREATE FUNCTION webhook_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  body jsonb := jsonb_build_object('job_id', NEW.id, 'kind', NEW.kind, 'attempts', NEW.attempts,
                                   'created_by', NEW.created_by);
BEGIN
  IF NEW.status = 'succeeded' AND NEW.kind = 'report_refresh' THEN
    PERFORM webhook_publish('report.generated', body || jsonb_build_object('result', NEW.result));
  ELSIF NEW.status = 'succeeded' AND NEW.kind = 'amazon_sync' THEN
    PERFORM webhook_publish('integration.sync.completed', body || jsonb_build_object('result', NEW.result));
  ELSIF NEW.status = 'failed' THEN
    PERFORM webhook_publish('error.critical', body || jsonb_build_object(
      'source', 'job', 'error', NEW.error, 'payload', NEW.payload));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER jobs_webhooks AFTER UPDATE OF status ON jobs
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('succeeded', 'failed'))
  EXECUTE FUNCTION webhook_job_event();
