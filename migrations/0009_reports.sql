-- Reports pulled from Amazon DSP (job report_refresh, docs/REPORTS.md).
--
-- `spent` is the sum of the spend Amazon reports. Amazon may deliver a little over a budget, and a
-- report must never be refused for saying so: the check `spent <= budget` goes. Editing a budget
-- below what is already spent stays refused by the campaign rules (contract section 3).
DO $$
DECLARE
  name text;
BEGIN
  SELECT con.conname INTO name
  FROM pg_constraint con
  WHERE con.conrelid = 'campaigns'::regclass AND con.contype = 'c'
    AND pg_get_constraintdef(con.oid) = 'CHECK ((spent <= budget))';
  IF name IS NOT NULL THEN
    EXECUTE format('ALTER TABLE campaigns DROP CONSTRAINT %I', name);
  END IF;
END
$$;

-- The newest day a completed pull covered, and when that pull was written: the report age that
-- the staleness gauge reads (seconds since the start of the day after report_through, UTC).
ALTER TABLE campaigns
  ADD COLUMN report_through   date,
  ADD COLUMN report_pulled_at timestamptz;

-- The periodic pull picks campaigns with an Amazon id whose flight overlaps the last days.
CREATE INDEX campaigns_reportable_idx ON campaigns (end_date) WHERE amazon_campaign_id IS NOT NULL;

-- A viewability document from summed measurements: the one place its rates are computed (as
-- campaign_performance() is for delivery). Rates are percentages, 0 when the divisor is 0:
-- measurable_rate = measurable / impressions, viewability_rate = viewable / measurable (the MRC
-- definition: viewable among the measured). avg_time_in_view is in seconds.
CREATE FUNCTION viewability_figures(impressions bigint, measurable bigint, viewable bigint,
                                    avg_time_in_view float8)
RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'impressions', impressions,
    'measurable_impressions', measurable,
    'viewable_impressions', viewable,
    'measurable_rate', CASE WHEN impressions = 0 THEN 0 ELSE round(measurable * 100.0 / impressions, 4)::float8 END,
    'viewability_rate', CASE WHEN measurable = 0 THEN 0 ELSE round(viewable * 100.0 / measurable, 4)::float8 END,
    'avg_time_in_view', round(coalesce(avg_time_in_view, 0)::numeric, 2)::float8)
$$;
