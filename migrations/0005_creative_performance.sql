-- Daily delivery per creative within a campaign, as Amazon DSP reports give it by creative. The
-- campaign detail's `creatives[].performance` sums it (zeros until reports exist); the report job
-- of contract section 6 fills it beside campaign_performance_daily.
CREATE TABLE creative_performance_daily (
  campaign_id text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  creative_id text NOT NULL REFERENCES creatives (id) ON DELETE CASCADE,
  day         date NOT NULL,
  impressions bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
  clicks      bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
  conversions bigint NOT NULL DEFAULT 0 CHECK (conversions >= 0),
  spend       numeric(14, 2) NOT NULL DEFAULT 0 CHECK (spend >= 0),
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (campaign_id, creative_id, day)
);
CREATE INDEX creative_performance_daily_creative_idx ON creative_performance_daily (creative_id);
