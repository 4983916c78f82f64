-- wrk script for scripts/bench.sh: POST /api/creatives/process with one creative_config whose
-- snippet_url (BENCH_SNIPPET_URL: the sandbox's runway snippet) kargo-dsp fetches through its Kargo
-- client, transforms and stores, one creative row per request. The token comes from bench.sh's
-- -H "Authorization: ..." argument.
local snippet_url = os.getenv("BENCH_SNIPPET_URL")
assert(snippet_url, "BENCH_SNIPPET_URL is not set")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"creative_config":{"name":"Bench runway","format":"runway","dimensions":"320x50",' ..
           '"snippet_url":"' .. snippet_url .. '",' ..
           '"viewability_config":{"phase":"phase_1","vendors":["double_verify"]}}}'
