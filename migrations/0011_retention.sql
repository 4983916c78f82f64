-- Retention (docs/RUNBOOK.md, "Retention"): a periodic job deletes what has outlived its use, in
-- small batches, oldest first. These indexes let each batch find its rows without a scan.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE status IN ('succeeded', 'failed');
CREATE INDEX periodic_ticks_at_idx ON periodic_ticks (at);
CREATE INDEX bulk_uploads_created_idx ON bulk_uploads (created_at);
CREATE INDEX generated_files_bytes_idx ON generated_files (expires_at) WHERE bytes IS NOT NULL;
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finished_at) WHERE status <> 'pending';
CREATE INDEX webhook_attempts_created_idx ON webhook_attempts (created_at);
