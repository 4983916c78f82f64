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
KARGO_TARGETS=kargo-dsp build_project "$KARGO_ROOT/build" Release
BIN="$KARGO_ROOT/build/kargo-dsp"
LOCAL="$KARGO_ROOT/.local"
mkdir -p "$LOCAL"

PIDS=()
PG_DATA=""
cleanup() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$PG_DATA" ] && pg_stop "$PG_DATA"
  exit 0
}
trap cleanup INT TERM EXIT

# .local/run.env: the settings that must survive restarts (tokens stay valid, the admin keeps its
# password), generated once, and the database and Redis URLs of the last start, so that
# `kargo-dsp create-user` and `migrate status` run from this folder in another shell find them.
STATE="$LOCAL/run.env"
[ -f "$STATE" ] || printf '# Written by scripts/run.sh (the generated secrets and the URLs in use).\n' >"$STATE"
chmod 600 "$STATE"
state_value() { grep "^$1=" "$STATE" | head -1 | cut -d= -f2-; }
remember() {  # remember NAME VALUE: keep the first value ever used for NAME
  grep -q "^$1=" "$STATE" || echo "$1=$2" >>"$STATE"
}
record() {  # record NAME VALUE: the value of this start, replacing the last one
  local rest; rest="$(grep -v "^$1=" "$STATE" || true)"
  printf '%s\n%s=%s\n' "$rest" "$1" "$2" >"$STATE"
}
remember SECRET_KEY "$(openssl rand -hex 32)"
remember ADMIN_USERNAME "admin"
remember ADMIN_PASSWORD "$(openssl rand -base64 18 | tr -d '/+=')"
# dotenv_value NAME: NAME's value in .env as kargo-dsp reads it (parse_dotenv in
# src/core/config.cpp: last line wins, "export " allowed, quotes removed, " #" starts a comment).
dotenv_value() {
  [ -f "$KARGO_ROOT/.env" ] || return 0
  local line key value found=""
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line#export }"
    line="${line#"${line%%[![:space:]]*}"}"
    [[ "$line" == *=* ]] || continue
    key="${line%%=*}"
    key="${key%"${key##*[![:space:]]}"}"
    [ "$key" = "$1" ] || continue
    value="${line#*=}"
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    if [[ ${#value} -ge 2 && ( "$value" == \"*\" || "$value" == \'*\' ) ]]; then
      value="${value:1:${#value}-2}"
    elif [[ "$value" == *" #"* ]]; then
      value="${value%% #*}"
      value="${value%"${value##*[![:space:]]}"}"
    fi
    found="$value"
  done <"$KARGO_ROOT/.env"
  printf '%s' "$found"
}
# Values the user set (environment first, then .env, as kargo-dsp reads them) win over the
# remembered ones, which run.sh generated.
declare -A CHOSEN=()
for v in SECRET_KEY ADMIN_USERNAME ADMIN_PASSWORD; do
  CHOSEN[$v]="${!v:-}"
  [ -n "${CHOSEN[$v]}" ] || CHOSEN[$v]="$(dotenv_value "$v")"
done
for v in "${!CHOSEN[@]}"; do
  if [ -n "${CHOSEN[$v]}" ]; then export "$v=${CHOSEN[$v]}"; else export "$v=$(state_value "$v")"; fi
done
# The password is printed only when run.sh generated it: one the user chose stays off the screen.
if [ -n "${CHOSEN[ADMIN_PASSWORD]}" ]; then
  SHOWN_PASSWORD="the password you set in ADMIN_PASSWORD"
  TOKEN_PASSWORD="<your ADMIN_PASSWORD>"
  PASSWORD_NOTE="(ADMIN_PASSWORD from the environment or .env; unset it to get a generated one)"
else
  SHOWN_PASSWORD="$ADMIN_PASSWORD"
  TOKEN_PASSWORD="$ADMIN_PASSWORD"
  PASSWORD_NOTE="(kept in .local/run.env; set ADMIN_USERNAME / ADMIN_PASSWORD / SECRET_KEY to choose your own)"
fi

if [ -z "${DATABASE_URL:-}" ]; then
  PG_DATA="$LOCAL/pg"
  log "starting PostgreSQL 15 on 127.0.0.1:5433 (data in .local/pg)"
  pg_start "$PG_DATA" 5433
  export DATABASE_URL="postgresql://kargo:kargo@127.0.0.1:5433/kargo_dsp"
fi
if [ -z "${REDIS_URL:-}" ]; then
  log "starting Redis 7 on 127.0.0.1:6380"
  PIDS+=("$(redis_start "$LOCAL/redis" 6380)")
  export REDIS_URL="redis://127.0.0.1:6380/0"
fi

record DATABASE_URL "$DATABASE_URL"
record REDIS_URL "$REDIS_URL"
"$BIN" migrate up

# Real upstreams when AMAZON_DSP_BASE_URL is set in the environment; else the local sandbox
# (docs/UPSTREAMS.md), with its credentials unless others are set. Its settings are exported, so
# they win over the same lines of a .env file.
if [ -z "${AMAZON_DSP_BASE_URL:-}" ] && "$BIN" sandbox --help >/dev/null 2>&1; then
  log "starting the upstream sandbox on 127.0.0.1:9100 (log in .local/sandbox.log)"
  "$BIN" sandbox --host 127.0.0.1 --port 9100 >"$LOCAL/sandbox.log" 2>&1 &
  PIDS+=("$!")
  wait_http "http://127.0.0.1:9100/snippet/dm/81298" 15 || die "the sandbox did not start; see .local/sandbox.log"
  export AMAZON_DSP_BASE_URL="http://127.0.0.1:9100"
  export AMAZON_LWA_TOKEN_URL="${AMAZON_LWA_TOKEN_URL:-http://127.0.0.1:9100/auth/o2/token}"
  export AMAZON_CLIENT_ID="${AMAZON_CLIENT_ID:-sandbox-client}"
  export AMAZON_CLIENT_SECRET="${AMAZON_CLIENT_SECRET:-sandbox-secret}"
  export AMAZON_REFRESH_TOKEN="${AMAZON_REFRESH_TOKEN:-sandbox-refresh}"
  export AMAZON_PROFILE_ID="${AMAZON_PROFILE_ID:-1234567890}"
  export KARGO_API_BASE_URL="${KARGO_API_BASE_URL:-http://127.0.0.1:9100}"
  export KARGO_API_KEY="${KARGO_API_KEY:-sandbox-kargo-key}"
  export KARGO_SNIPPET_HOSTS="${KARGO_SNIPPET_HOSTS:-snippet.kargo.com,127.0.0.1:9100}"
  # The sandbox's webhook receiver is on loopback, which webhook URLs may name only when allowed.
  export WEBHOOK_ALLOW_PRIVATE="${WEBHOOK_ALLOW_PRIVATE:-true}"
fi

PORT="${PORT:-8000}"
export PORT
"$BIN" serve &
PIDS+=("$!")
SERVE_PID=$!
# The admin is created in the background once PostgreSQL answers: wait (quietly) until it can log in.
admin_ready() {
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/api/auth/token" -H 'Content-Type: application/json' \
    --data-binary @- <<JSON
{"username":"$ADMIN_USERNAME","password":"$ADMIN_PASSWORD"}
JSON
}
READY=0
if wait_http "http://127.0.0.1:$PORT/health/live" 30; then
  for _ in $(seq 1 60); do admin_ready && { READY=1; break; }; sleep 0.5; done
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
