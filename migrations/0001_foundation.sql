-- Users, the audit trail and idempotency keys (issue 4).

CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  username      text NOT NULL UNIQUE
                CHECK (char_length(username) BETWEEN 1 AND 64 AND username ~ '^[A-Za-z0-9._@-]+$'),
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per create/update/delete/transition, written in the same transaction as the change.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  entity_type text NOT NULL,
  entity_id   text NOT NULL,
  action      text NOT NULL,
  actor       text NOT NULL,
  changes     jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id  text,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, at DESC, id DESC);

-- Replays of POST creates with the same Idempotency-Key (kept 24 h).
CREATE TABLE idempotency_keys (
  actor         text NOT NULL,
  key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 128),
  method        text NOT NULL,
  route         text NOT NULL,
  body_sha256   text NOT NULL,
  status        integer,
  response_body text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
