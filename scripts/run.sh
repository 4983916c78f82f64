#!/usr/bin/env bash
# Brings up kargo-dsp locally: installs missing Debian packages, builds the binary (Release), starts a
# project-local PostgreSQL 15 and Redis 7 (data under .local/), migrates, starts the upstream
# sandbox, then serves on port 8000 in the foreground. Ctrl-C stops everything it started.
# With DATABASE_URL / REDIS_URL / AMAZON_DSP_BASE_URL set, those are used instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KARGO_ROOT"

ensure_packages
# Only the binary it runs (the tests and benchmarks are test.sh's and bench.sh's).
log "building kargo-dsp (Release)"
build_server_binary
BIN="$KARGO_ROOT/build/kargo-dsp"
mkdir -p "$KARGO_LOCAL"

PIDS=()
PG_DATA=""
cleanup() {
  trap - INT TERM EXIT
  log "stopping"
  stop_started
  exit 0
}
trap cleanup INT TERM EXIT

# The secrets and admin (.local/run.env), PostgreSQL and Redis, the schema, the upstream sandbox:
# scripts/lib.sh, shared with cluster.sh.
load_local_settings
start_local_datastores
"$BIN" migrate up
start_sandbox 9100 "$KARGO_LOCAL/sandbox.log"

PORT="${PORT:-8000}"
export PORT
"$BIN" serve &
PIDS+=("$!")
SERVE_PID=$!
READY=0
if wait_http "http://127.0.0.1:$PORT/health/live" 30; then
  wait_admin_login "http://127.0.0.1:$PORT" 30 && READY=1
fi
if [ "$READY" != 1 ]; then
  log "kargo-dsp did not become ready within 60 s (the admin cannot log in); its log is above"
else
  cat >&2 <<MSG

  kargo-dsp is ready on http://127.0.0.1:$PORT   (interactive API reference: http://127.0.0.1:$PORT/docs)

  Admin login:  username: $ADMIN_USERNAME
                password: $SHOWN_PASSWORD
  $PASSWORD_NOTE

  Next, in another shell in $(pwd) (README.md, "Quick tour", goes on from here):
    export TOKEN=\$(scripts/api login $ADMIN_USERNAME '$TOKEN_PASSWORD')
    scripts/api GET /api/campaigns | jq .data
    curl -s http://127.0.0.1:$PORT/health/ready | jq .status

  Ctrl-C stops everything this script started.

MSG
fi
wait "$SERVE_PID"
