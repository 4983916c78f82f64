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

-- Pulled rows name their campaign (and creative) without a foreign key. The one writer
-- (store::ReportStore::replace_window) locks the campaigns FOR NO KEY UPDATE and the creatives
-- FOR SHARE in the transaction that copies the rows and drops rows of any that is gone, so a row
-- can only name a live campaign or creative; a foreign key would check that again for every row,
-- which made the COPY of a pull 75 % slower. Deletes still cascade, from these triggers: a
-- campaign or creative deleted takes its rows with it (after the writer's transaction, which its
-- lock waits for).
ALTER TABLE campaign_performance_daily DROP CONSTRAINT campaign_performance_daily_campaign_id_fkey;
ALTER TABLE campaign_viewability_daily DROP CONSTRAINT campaign_viewability_daily_campaign_id_fkey;
ALTER TABLE creative_performance_daily DROP CONSTRAINT creative_performance_daily_campaign_id_fkey,
                                       DROP CONSTRAINT creative_performance_daily_creative_id_fkey;

CREATE FUNCTION drop_campaign_report_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM campaign_performance_daily WHERE campaign_id = OLD.id;
  DELETE FROM campaign_viewability_daily WHERE campaign_id = OLD.id;
  DELETE FROM creative_performance_daily WHERE campaign_id = OLD.id;
  RETURN OLD;
END
$$;
CREATE TRIGGER campaigns_drop_report_rows AFTER DELETE ON campaigns
  FOR EACH ROW EXECUTE FUNCTION drop_campaign_report_rows();

CREATE FUNCTION drop_creative_report_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM creative_performance_daily WHERE creative_id = OLD.id;
  RETURN OLD;
END
$$;
CREATE TRIGGER creatives_drop_report_rows AFTER DELETE ON creatives
  FOR EACH ROW EXECUTE FUNCTION drop_creative_report_rows();
