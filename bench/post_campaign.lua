-- wrk script for scripts/bench.sh: POST /api/campaigns with a valid body (the token comes from
-- bench.sh's -H "Authorization: ..." argument).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Bench POST","advertiser_id":"bench_post","budget":500,' ..
           '"start_date":"2026-03-01","end_date":"2026-03-31"}'
