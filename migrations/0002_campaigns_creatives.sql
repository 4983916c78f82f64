-- Campaigns, creatives and their associations (issues 6 and 7), plus the delivery figures that
-- reports store (issue 7 reads them for a campaign's performance). The rules of the contract are
-- constraints here too, so that no code path can store a state the API would refuse.

CREATE EXTENSION IF NOT EXISTS pg_trgm;  -- trusted extension: `q` searches names by substring

CREATE TABLE campaigns (
  id                 text PRIMARY KEY CHECK (id ~ '^camp_[0-9a-f]{12}$'),
  name               text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
  advertiser_id      text NOT NULL CHECK (advertiser_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  status             text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'ready', 'active', 'paused', 'completed', 'processing', 'error')),
  -- The status to return to when a sync that showed `processing` ends.
  status_before_sync text CHECK (status_before_sync IN ('draft', 'ready', 'active', 'paused', 'completed', 'error')),
  phase              text NOT NULL CHECK (phase IN ('awareness', 'consideration', 'conversion')),
  viewability_phase  text NOT NULL CHECK (viewability_phase IN ('phase_1', 'phase_2')),
  viewability_config jsonb NOT NULL CHECK (jsonb_typeof(viewability_config) = 'object'),
  goal_kpi           text NOT NULL
                     CHECK (goal_kpi IN ('viewability', 'ctr', 'conversions', 'reach', 'video_completion')),
  budget             numeric(14, 2) NOT NULL CHECK (budget > 0 AND budget <= 1000000000),
  spent              numeric(14, 2) NOT NULL DEFAULT 0 CHECK (spent >= 0),
  currency           text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  start_date         date NOT NULL,
  end_date           date NOT NULL,
  targeting          jsonb NOT NULL CHECK (jsonb_typeof(targeting) = 'object'),
  bidding            jsonb NOT NULL CHECK (jsonb_typeof(bidding) = 'object'),
  amazon_campaign_id text UNIQUE,
  kargo_campaign_id  text UNIQUE,
  sync_status        text NOT NULL DEFAULT 'not_synced'
                     CHECK (sync_status IN ('not_synced', 'syncing', 'synced', 'error')),
  last_synced_at     timestamptz,
  version            integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_by         text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (start_date < end_date),
  CHECK (spent <= budget)
);
-- Lists are newest first, then id; every filter of GET /api/campaigns has an index.
CREATE INDEX campaigns_created_idx ON campaigns (created_at DESC, id DESC);
CREATE INDEX campaigns_status_idx ON campaigns (status, created_at DESC, id DESC);
CREATE INDEX campaigns_phase_idx ON campaigns (phase, created_at DESC, id DESC);
CREATE INDEX campaigns_viewability_phase_idx ON campaigns (viewability_phase, created_at DESC, id DESC);
CREATE INDEX campaigns_advertiser_idx ON campaigns (advertiser_id, created_at DESC, id DESC);
CREATE INDEX campaigns_name_trgm_idx ON campaigns USING gin (lower(name) gin_trgm_ops);

CREATE TABLE creatives (
  id                  text PRIMARY KEY CHECK (id ~ '^crv_[0-9a-f]{12}$'),
  name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
  format              text NOT NULL CHECK (format IN ('runway', 'instream_video', 'enhanced_preroll', 'audio')),
  media_type          text NOT NULL CHECK (media_type IN ('display', 'video', 'audio')),
  dimensions          text CHECK (dimensions ~ '^[0-9]{1,4}x[0-9]{1,4}$'),
  width               integer CHECK (width BETWEEN 1 AND 4096),
  height              integer CHECK (height BETWEEN 1 AND 4096),
  device_type         text NOT NULL DEFAULT 'mobile' CHECK (device_type IN ('desktop', 'mobile', 'tablet', 'ctv')),
  snippet_url         text NOT NULL,
  duration            numeric(6, 3) CHECK (duration >= 1 AND duration <= 600),
  vast_version        text CHECK (vast_version IN ('2.0', '3.0', '4.0', '4.1', '4.2')),
  branded_canvas      boolean NOT NULL DEFAULT false,
  cache_buster        boolean NOT NULL DEFAULT true,
  amazon_macros       boolean NOT NULL DEFAULT true,
  click_tracking      boolean NOT NULL DEFAULT true,
  viewability_config  jsonb NOT NULL CHECK (jsonb_typeof(viewability_config) = 'object'),
  status              text NOT NULL CHECK (status IN ('processed', 'failed', 'uploaded', 'approved', 'rejected')),
  creative_type       text,
  amazon_dsp_ready    boolean NOT NULL DEFAULT false,
  original_snippet    text,
  processed_code      text,
  processing_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  advertiser_id       text CHECK (advertiser_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  amazon_creative_id  text UNIQUE,
  upload_status       text CHECK (upload_status IN ('pending', 'uploading', 'uploaded', 'failed')),
  approval_status     text CHECK (approval_status IN ('PENDING', 'APPROVED', 'REJECTED')),
  approval_reasons    jsonb,
  created_by          text NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Video and audio need a duration; display needs its size.
  CHECK (media_type = 'display' OR duration IS NOT NULL),
  CHECK (media_type <> 'display' OR dimensions IS NOT NULL),
  CHECK (NOT amazon_dsp_ready OR processed_code IS NOT NULL)
);
CREATE INDEX creatives_created_idx ON creatives (created_at DESC, id DESC);
CREATE INDEX creatives_format_idx ON creatives (format, created_at DESC, id DESC);
CREATE INDEX creatives_media_type_idx ON creatives (media_type, created_at DESC, id DESC);
CREATE INDEX creatives_status_idx ON creatives (status, created_at DESC, id DESC);

-- One row per campaign-creative association; each becomes one Amazon DSP ad group.
CREATE TABLE campaign_creatives (
  campaign_id        text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  creative_id        text NOT NULL REFERENCES creatives (id) ON DELETE RESTRICT,
  ad_group_name      text NOT NULL CHECK (char_length(ad_group_name) BETWEEN 1 AND 255),
  ad_group_type      text NOT NULL CHECK (ad_group_type IN ('DISPLAY', 'ONLINE_VIDEO', 'STREAMING_TV', 'AUDIO')),
  budget             numeric(14, 2) CHECK (budget > 0),
  bid                numeric(10, 2) CHECK (bid > 0),
  status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  amazon_ad_group_id text UNIQUE,
  amazon_associated  boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (campaign_id, creative_id)
);
CREATE INDEX campaign_creatives_creative_idx ON campaign_creatives (creative_id);

-- Daily delivery per campaign, as the Amazon DSP reports give it (issue 7 sums it).
CREATE TABLE campaign_performance_daily (
  campaign_id text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  day         date NOT NULL,
  impressions bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
  clicks      bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
  conversions bigint NOT NULL DEFAULT 0 CHECK (conversions >= 0),
  spend       numeric(14, 2) NOT NULL DEFAULT 0 CHECK (spend >= 0),
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (campaign_id, day)
);

-- Daily viewability per campaign and vendor.
CREATE TABLE campaign_viewability_daily (
  campaign_id            text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  day                    date NOT NULL,
  vendor                 text NOT NULL CHECK (vendor IN ('double_verify', 'ias')),
  impressions            bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
  measurable_impressions bigint NOT NULL DEFAULT 0 CHECK (measurable_impressions >= 0),
  viewable_impressions   bigint NOT NULL DEFAULT 0 CHECK (viewable_impressions >= 0),
  avg_time_in_view       double precision NOT NULL DEFAULT 0 CHECK (avg_time_in_view >= 0),
  updated_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (campaign_id, day, vendor)
);

-- A campaign's performance document from its summed delivery: the one place the ratios are
-- computed (contract section 3: a ratio is 0 when its divisor is 0; ctr and conversion_rate are
-- percentages).
CREATE FUNCTION campaign_performance(impressions bigint, clicks bigint, conversions bigint, spend numeric)
RETURNS json LANGUAGE sql IMMUTABLE AS $$
  SELECT json_build_object(
    'impressions', impressions,
    'clicks', clicks,
    'conversions', conversions,
    'spend', round(spend, 2)::float8,
    'ctr', CASE WHEN impressions = 0 THEN 0 ELSE round(clicks * 100.0 / impressions, 4)::float8 END,
    'conversion_rate', CASE WHEN clicks = 0 THEN 0 ELSE round(conversions * 100.0 / clicks, 4)::float8 END,
    'cost_per_click', CASE WHEN clicks = 0 THEN 0 ELSE round(spend / clicks, 2)::float8 END,
    'cost_per_conversion', CASE WHEN conversions = 0 THEN 0 ELSE round(spend / conversions, 2)::float8 END)
$$;
