-- campaign_performance() builds JSON with json_build_object, which is STABLE, not IMMUTABLE. A SQL
-- function declared IMMUTABLE whose body is only STABLE is never inlined by the planner, so every
-- campaign resource paid a function call (~30 us) per performance object: once for the campaign,
-- once per creative of the detail view, once per campaign of a list page. Declared STABLE, it is
-- inlined into the statements that use it. Same results.
ALTER FUNCTION campaign_performance(bigint, bigint, bigint, numeric) STABLE;
