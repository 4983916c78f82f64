#!/usr/bin/env bash
# Measures what the Kubernetes resource requests and limits are derived from (deploy/README.md,
# "Sizing"): resident memory (RSS) and CPU of `kargo-dsp serve` and `kargo-dsp worker`, idle and
# under load, with the settings of the production ConfigMap (IO_THREADS=2, DATABASE_POOL_SIZE=10,
# JOB_CONCURRENCY=2, WEBHOOK_CONCURRENCY=8, access log on).
#
#   deploy/kubernetes/measure-sizing.sh            # needs build/kargo-dsp (Release) and wrk
#   SIZING_SECONDS=60 deploy/kubernetes/measure-sizing.sh
#
# Starts a throw-away PostgreSQL and Redis (scripts/lib.sh), runs `migrate up` twice (the
# initContainer: on an empty database, then on a current one), starts the upstream sandbox, one
# `serve` and one `worker`, then runs, each phase while sampling /proc every 100 ms:
#   list     wrk -c64 GET /api/campaigns?limit=20 (authenticated, Redis-cached pages)
#   create   wrk -c64 POST /api/campaigns, 10 webhooks subscribed to campaign.created (both
#            processes deliver them, as with the ConfigMap's WEBHOOK_CONCURRENCY)
#   sheet    16 x POST /api/bulk/generate-sheet of 1000 campaigns, xlsx (the temporary file)
#   report   a report_refresh job, 1000 campaigns x 31 days from the sandbox: once run by
#            `serve` (report-s), once by the worker alone (report-w, `serve` stopped meanwhile)
#   login    wrk -c16 POST /api/auth/token for 15 s (password hashing: the memory peak of
#            `serve`; last, so that its buffers do not inflate the other peaks)
# CPU is (utime + stime) over the phase's wall time, in cores (and per request for wrk phases);
# rss a/b/c is VmRSS at the phase's start / the largest sample / at its end.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$KARGO_ROOT"

BIN="${KARGO_BIN:-$KARGO_ROOT/build/kargo-dsp}"
SECONDS_PER_PHASE="${SIZING_SECONDS:-30}"
[ -x "$BIN" ] || die "$BIN is missing: build it first (Release)"
command -v wrk >/dev/null || die "wrk is missing (scripts/lib.sh ensure_packages installs it)"

TMP=$(mktemp -d /tmp/kargo-sizing.XXXXXX)
PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_throwaway_services "$TMP"
  rm -rf "$TMP"
}
trap cleanup INT TERM EXIT

start_throwaway_services "$TMP"
mkdir -p "$TMP/tmp"
export TMPDIR="$TMP/tmp"
export SECRET_KEY="sizing-secret-key-0123456789abcdef-0123456789"
export ADMIN_USERNAME=sizing-admin ADMIN_PASSWORD=sizing-password-0123456789
export ENVIRONMENT=production LOG_LEVEL=info HOST=127.0.0.1
export IO_THREADS=2 DATABASE_POOL_SIZE=10 JOB_CONCURRENCY=2 WEBHOOK_CONCURRENCY=8
# Nothing refused: a 429 is cheaper than a real answer.
export RATE_LIMIT_PER_MINUTE=100000000
export SYNC_INTERVAL_SECONDS=0 REPORT_INTERVAL_SECONDS=0 REPORT_POLL_INITIAL_MS=10 REPORT_POLL_MAX_MS=50
export WEBHOOK_ALLOW_PRIVATE=true
PORT=$(free_port)
WORKER_PORT=$(free_port)
SANDBOX_PORT=$(free_port)
export PORT WORKER_PORT
SANDBOX_URL="http://127.0.0.1:$SANDBOX_PORT"
export AMAZON_DSP_BASE_URL="$SANDBOX_URL" AMAZON_LWA_TOKEN_URL="$SANDBOX_URL/auth/o2/token"
export AMAZON_CLIENT_ID=sandbox-client AMAZON_CLIENT_SECRET=sandbox-secret AMAZON_REFRESH_TOKEN=sandbox-refresh
export AMAZON_PROFILE_ID=sizing-profile KARGO_API_BASE_URL="$SANDBOX_URL" KARGO_API_KEY=sizing-key
export KARGO_SNIPPET_HOSTS="127.0.0.1:$SANDBOX_PORT"

# The initContainer's work: every migration on an empty database, then again with nothing to do.
(cd "$TMP" && /usr/bin/time -f '%M %e %U %S' -o "$TMP/migrate-1.time" "$BIN" migrate up) >/dev/null
(cd "$TMP" && /usr/bin/time -f '%M %e %U %S' -o "$TMP/migrate-2.time" "$BIN" migrate up) >/dev/null
for run in 1 2; do
  read -r kb wall user sys <"$TMP/migrate-$run.time"
  awk -v r="$run" -v kb="$kb" -v w="$wall" -v c="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" 'BEGIN {
    printf "migrate  %s: peak rss %.1f MB, %.2f s, cpu %.2f s\n", (r == 1 ? "all migrations" : "nothing to do "), kb / 1024, w, c }'
done
(cd "$TMP" && exec "$BIN" sandbox --host 127.0.0.1 --port "$SANDBOX_PORT") >"$TMP/sandbox.log" 2>&1 &
PIDS+=("$!")
(cd "$TMP" && exec "$BIN" serve) >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
(cd "$TMP" && exec "$BIN" worker) >"$TMP/worker.log" 2>&1 &
WORKER_PID=$!
PIDS+=("$WORKER_PID")
URL="http://127.0.0.1:$PORT"
wait_http "$URL/health/ready" 30 || die "serve did not become ready: $(tail -5 "$TMP/serve.log")"
wait_http "http://127.0.0.1:$WORKER_PORT/health/ready" 30 || die "worker did not become ready"
wait_http "$SANDBOX_URL/snippet/dm/81298" 30 || die "the sandbox did not start"

TOKEN=""
for _ in $(seq 1 100); do
  TOKEN=$(curl -sS -X POST "$URL/api/auth/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$ADMIN_USERNAME\",\"password\":\"$ADMIN_PASSWORD\"}" 2>/dev/null |
    grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 || true)
  [ -n "$TOKEN" ] && break
  sleep 0.1
done
[ -n "$TOKEN" ] || die "no token from POST /api/auth/token"
AUTH=(-H "Authorization: Bearer $TOKEN")

BENCH_CAMPAIGN_START=$(date -u -d '+1 day' +%F)
BENCH_CAMPAIGN_END=$(date -u -d '+31 days' +%F)
export BENCH_CAMPAIGN_START BENCH_CAMPAIGN_END
BODY='{"name":"Sizing campaign","advertiser_id":"sizing","budget":1000,"start_date":"'"$BENCH_CAMPAIGN_START"'","end_date":"'"$BENCH_CAMPAIGN_END"'"}'
for _ in $(seq 1 25); do
  CAMPAIGN_ID=$(curl -fsS -X POST "$URL/api/campaigns" "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d "$BODY" | grep -o 'camp_[0-9a-f]\{12\}' | head -1)
done

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# phase NAME COMMAND...: runs COMMAND while sampling both processes; prints one line per process.
phase() {
  local name="$1" s0 w0 s1 w1 t0 t1 out="$TMP/phase-$1.txt" rs0 rw0
  shift
  rs0=$(rss_kb "$SERVE_PID"); rw0=$(rss_kb "$WORKER_PID")
  s0=$(cpu_ticks "$SERVE_PID"); w0=$(cpu_ticks "$WORKER_PID"); t0=$(date +%s%N)
  (
    while :; do
      echo "$(rss_kb "$SERVE_PID") $(rss_kb "$WORKER_PID")"
      sleep 0.1
    done
  ) >"$TMP/samples-$name.txt" &
  local sampler=$!
  "$@" >"$out" 2>&1 || { kill "$sampler"; cat "$out" >&2; die "phase $name failed"; }
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  s1=$(cpu_ticks "$SERVE_PID"); w1=$(cpu_ticks "$WORKER_PID"); t1=$(date +%s%N)
  local rps p99
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  awk -v n="$name" -v s="$((s1 - s0))" -v w="$((w1 - w0))" -v hz="$HZ" -v ns="$((t1 - t0))" \
      -v rps="${rps:--}" -v p99="${p99:--}" -v rs0="$rs0" -v rw0="$rw0" \
      -v rs1="$(rss_kb "$SERVE_PID")" -v rw1="$(rss_kb "$WORKER_PID")" '
    { if ($1 > sp) sp = $1; if ($2 > wp) wp = $2 }
    END {
      wall = ns / 1e9
      printf "%-8s %5.1f s | serve: cpu %.2f cores (%.0f us/req), rss %.0f/%.0f/%.0f MB | worker: cpu %.2f cores, rss %.0f/%.0f/%.0f MB | %s req/s, p99 %s\n",
        n, wall, s / hz / wall, (rps > 0 ? 1e6 * s / hz / wall / rps : 0), rs0 / 1024, sp / 1024, rs1 / 1024,
        w / hz / wall, rw0 / 1024, wp / 1024, rw1 / 1024, rps, p99
    }' "$TMP/samples-$name.txt"
}

sleep 2
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the phases"
printf 'idle     serve rss %.1f MB, worker rss %.1f MB\n' \
  "$(awk -v k="$(rss_kb "$SERVE_PID")" 'BEGIN { print k / 1024 }')" \
  "$(awk -v k="$(rss_kb "$WORKER_PID")" 'BEGIN { print k / 1024 }')"

WRK=(wrk -t2 --latency -d"${SECONDS_PER_PHASE}s")
phase list "${WRK[@]}" -c64 "${AUTH[@]}" "$URL/api/campaigns?limit=20"

for i in $(seq 1 10); do
  curl -fsS -o /dev/null -X POST "$URL/api/webhooks" "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d "{\"url\":\"$SANDBOX_URL/_sandbox/webhooks/sizing-$i\",\"events\":[\"campaign.created\"],\"secret\":\"whsec_c2l6aW5nLXNlY3JldC1zaXppbmctc2VjcmV0\"}"
done
phase create "${WRK[@]}" -c64 "${AUTH[@]}" -s "$KARGO_ROOT/bench/post_campaign.lua" "$URL/api/campaigns"

PSQL=("$(pg_bin psql)" "$DATABASE_URL" -v ON_ERROR_STOP=1 -qtA)
"${PSQL[@]}" >/dev/null <<SQL
INSERT INTO campaigns (id, name, advertiser_id, phase, viewability_phase, viewability_config, goal_kpi,
                       budget, currency, start_date, end_date, targeting, bidding, created_by, amazon_campaign_id)
SELECT 'camp_feed' || lpad(to_hex(i), 8, '0'), 'Sizing reported ' || i, 'adv-1001', c.phase,
       c.viewability_phase, c.viewability_config, c.goal_kpi, 1000000, c.currency, c.start_date,
       c.end_date, c.targeting, c.bidding, c.created_by, '589' || lpad(i::text, 15, '0')
FROM campaigns c, generate_series(0, 999) AS i WHERE c.id = '$CAMPAIGN_ID';
ANALYZE campaigns;
SQL
IDS=$(seq 0 999 | awk '{ printf "%s\"camp_feed%08x\"", (NR > 1 ? "," : ""), $1 }')
sheets() {  # 4 rounds of 4 at once
  local round i pids
  for round in 1 2 3 4; do
    pids=()
    for i in 1 2 3 4; do
      curl -fsS -o /dev/null -X POST "$URL/api/bulk/generate-sheet" "${AUTH[@]}" -H 'Content-Type: application/json' \
        -d "{\"campaign_ids\":[$IDS],\"format\":\"xlsx\"}" &
      pids+=("$!")
    done
    for i in "${pids[@]}"; do wait "$i" || return 1; done
  done
}
phase sheet sheets
echo "sheet    largest xlsx: $("${PSQL[@]}" -c "SELECT max(size) FROM generated_files") bytes for 1000 campaigns"

wait_job() {  # wait_job ID: until the job has finished; succeeds if it succeeded
  local status=""
  for _ in $(seq 1 2400); do
    sleep 0.25
    status=$("${PSQL[@]}" -c "SELECT status FROM jobs WHERE id = '$1'")
    case "$status" in succeeded | failed) break ;; esac
  done
  [ "$status" = succeeded ]
}
REPORT_JOB=""
report_serve() {  # enqueued by the API, which wakes its own job threads: `serve` runs it
  REPORT_JOB=$(curl -fsS -X POST "$URL/api/reports/refresh" "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d "{\"campaign_ids\":[$IDS],\"start_date\":\"$(date -u -d '-31 days' +%F)\",\"end_date\":\"$(date -u -d '-1 day' +%F)\"}" |
    grep -o 'job_[0-9a-f]\{12\}' | head -1)
  wait_job "$REPORT_JOB"
}
report_worker() {  # the same job again, inserted while `serve` is stopped: the worker runs it
  local job="job_$(openssl rand -hex 6)"
  kill -STOP "$SERVE_PID"
  "${PSQL[@]}" -c "INSERT INTO jobs (id, kind, payload, max_attempts, created_by)
                   SELECT '$job', kind, payload, max_attempts, created_by FROM jobs WHERE id = '$REPORT_JOB'" >/dev/null
  wait_job "$job" || { kill -CONT "$SERVE_PID"; return 1; }
  kill -CONT "$SERVE_PID"
}
phase report-s report_serve
phase report-w report_worker

cat >"$TMP/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"$ADMIN_USERNAME","password":"$ADMIN_PASSWORD"}'
LUA
phase login wrk -t2 --latency -d15s -c16 -s "$TMP/login.lua" "$URL/api/auth/token"

sleep 10
printf 'settled  10 s after the login phase: serve rss %s\n' \
  "$(awk '/^VmRSS:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$SERVE_PID/status")"
printf 'lifetime peak (VmHWM): serve %s, worker %s\n' \
  "$(awk '/^VmHWM:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$SERVE_PID/status")" \
  "$(awk '/^VmHWM:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$WORKER_PID/status")"
