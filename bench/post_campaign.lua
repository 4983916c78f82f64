-- wrk script for scripts/bench.sh: POST /api/campaigns with a valid body (the token comes from
-- bench.sh's -H "Authorization: ..." argument). The dates come from bench.sh
-- (BENCH_CAMPAIGN_START, BENCH_CAMPAIGN_END: a month starting tomorrow, UTC), so that the
-- campaigns never end in the past.
local start_date = os.getenv("BENCH_CAMPAIGN_START")
local end_date = os.getenv("BENCH_CAMPAIGN_END")
assert(start_date and end_date, "BENCH_CAMPAIGN_START and BENCH_CAMPAIGN_END are not set")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Bench POST","advertiser_id":"bench_post","budget":500,' ..
           '"start_date":"' .. start_date .. '","end_date":"' .. end_date .. '"}'
