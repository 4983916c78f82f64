#!/usr/bin/env bash
# Scale-out on one machine: N `kargo-dsp serve` and M `kargo-dsp worker` processes on one
# PostgreSQL and one Redis, behind nginx on one port, with the upstream sandbox. The shape of a
# production deployment, to watch load balancing, failover and the shared job queue locally.
#
#   scripts/cluster.sh [--serve N] [--workers M] [--port P] [--sandbox-port S] [--dir DIR]
#
#   --serve N         serve processes, 1-20 (default 3; or CLUSTER_SERVE)
#   --workers M       worker processes, 0-20 (default 2; or CLUSTER_WORKERS)
#   --port P          nginx's port (default 8080; or CLUSTER_PORT); serve i listens on P+i and
#                     worker j on P+N+j, all on 127.0.0.1
#   --sandbox-port S  the upstream sandbox's port (default 9100; or CLUSTER_SANDBOX_PORT)
#   --dir DIR         logs, nginx's files and the process list (default .local/cluster)
#
# PostgreSQL, Redis, the secrets and the admin are run.sh's (.local/, ports 5433 and 6380): the two
# share their data, so run one at a time. DATABASE_URL / REDIS_URL / AMAZON_DSP_BASE_URL set in
# the environment are used instead, as with run.sh. KARGO_BIN runs that binary instead of
# building build/kargo-dsp. DIR/processes lists what runs (role, index, pid, port, log) once
# everything answers. Ctrl-C stops everything this script started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KARGO_ROOT"

usage() {
  sed -n '6,13s/^# \{0,1\}//p' "$0" >&2
  exit "$1"
}

SERVE="${CLUSTER_SERVE:-3}"
WORKERS="${CLUSTER_WORKERS:-2}"
NGINX_PORT="${CLUSTER_PORT:-8080}"
SANDBOX_PORT="${CLUSTER_SANDBOX_PORT:-9100}"
DIR="${CLUSTER_DIR:-$KARGO_LOCAL/cluster}"
while [ $# -gt 0 ]; do
  case "$1" in
    --serve) SERVE="${2:-}"; shift 2 || usage 2 ;;
    --workers) WORKERS="${2:-}"; shift 2 || usage 2 ;;
    --port) NGINX_PORT="${2:-}"; shift 2 || usage 2 ;;
    --sandbox-port) SANDBOX_PORT="${2:-}"; shift 2 || usage 2 ;;
    --dir) DIR="${2:-}"; shift 2 || usage 2 ;;
    -h | --help) usage 0 ;;
    *) log "unknown argument: $1"; usage 2 ;;
  esac
done
[[ "$SERVE" =~ ^[0-9]+$ && "$SERVE" -ge 1 && "$SERVE" -le 20 ]] || die "--serve must be 1-20"
[[ "$WORKERS" =~ ^[0-9]+$ && "$WORKERS" -le 20 ]] || die "--workers must be 0-20"
[[ "$NGINX_PORT" =~ ^[0-9]+$ && "$NGINX_PORT" -ge 1 && $((NGINX_PORT + SERVE + WORKERS)) -le 65535 ]] ||
  die "--port must leave room for $((SERVE + WORKERS)) more ports below 65536"
[[ "$SANDBOX_PORT" =~ ^[0-9]+$ && "$SANDBOX_PORT" -ge 1 && "$SANDBOX_PORT" -le 65535 ]] ||
  die "--sandbox-port must be 1-65535"
[ -n "$DIR" ] || die "--dir must not be empty"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# Every port this start needs, checked before anything starts.
PORTS=()
for i in $(seq 0 $((SERVE + WORKERS))); do PORTS+=($((NGINX_PORT + i))); done
if [ -z "${AMAZON_DSP_BASE_URL:-}" ]; then PORTS+=("$SANDBOX_PORT"); fi
for p in "${PORTS[@]}"; do
  if ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then
    die "port $p is in use (ports ${PORTS[*]} are needed; is run.sh or another cluster.sh running?)"
  fi
done

ensure_packages nginx gettext-base
if [ -n "${KARGO_BIN:-}" ]; then
  BIN="$KARGO_BIN"
  [ -x "$BIN" ] || die "KARGO_BIN=$BIN is not an executable"
else
  log "building kargo-dsp (Release)"
  build_server_binary
  BIN="$KARGO_ROOT/build/kargo-dsp"
fi

PIDS=()
# shellcheck disable=SC2034 # set by start_local_datastores, read by stop_started
PG_DATA=""
cleanup() {  # cleanup EXIT-STATUS
  trap - INT TERM EXIT
  log "stopping the cluster"
  rm -f "$DIR/processes"
  stop_started
  exit "$1"
}
trap 'cleanup 0' INT TERM
trap 'cleanup $?' EXIT

load_local_settings
start_local_datastores
"$BIN" migrate up
SANDBOX_PID=""
start_sandbox "$SANDBOX_PORT" "$DIR/sandbox.log"

# "role index pid port log" of every kargo-dsp process.
INSTANCES=()
start_instance() {  # start_instance serve|worker INDEX PORT
  local role="$1" index="$2" port="$3" out="$DIR/$1-$2.log"
  if [ "$role" = serve ]; then
    HOST=127.0.0.1 PORT="$port" "$BIN" serve >"$out" 2>&1 &
  else
    HOST=127.0.0.1 WORKER_PORT="$port" "$BIN" worker >"$out" 2>&1 &
  fi
  PIDS+=("$!")
  INSTANCES+=("$role $index $! $port $out")
}
log "starting $SERVE serve and $WORKERS worker processes (logs in ${DIR#"$KARGO_ROOT/"})"
for i in $(seq 1 "$SERVE"); do start_instance serve "$i" $((NGINX_PORT + i)); done
for j in $(seq 1 "$WORKERS"); do start_instance worker "$j" $((NGINX_PORT + SERVE + j)); done
for line in "${INSTANCES[@]}"; do
  read -r role index _ port out <<<"$line"
  wait_http "http://127.0.0.1:$port/health/live" 30 || die "$role $index did not start; see $out"
done

# nginx as a process of its own: its configuration, pid, logs and temporary files under DIR/nginx,
# never the system's (/etc/nginx, /var/log/nginx) and never the system service.
NGINX_DIR="$DIR/nginx"
mkdir -p "$NGINX_DIR/temp"
# As root, nginx's workers run as nobody: they must reach the temporary directories.
if [ "$(id -u)" -eq 0 ]; then allow_traverse "$NGINX_DIR/temp"; fi
SERVERS=""
for i in $(seq 1 "$SERVE"); do
  SERVERS+="${SERVERS:+$'\n    '}server 127.0.0.1:$((NGINX_PORT + i)) max_fails=2 fail_timeout=10s;"
done
MAX_BODY="${MAX_UPLOAD_BYTES:-$(dotenv_value MAX_UPLOAD_BYTES)}"
MAX_BODY="${MAX_BODY:-20971520}"
[[ "$MAX_BODY" =~ ^[0-9]+$ ]] || die "MAX_UPLOAD_BYTES must be a number of bytes (nginx's client_max_body_size)"
# envsubst replaces only the four names listed (single quotes: they are names, not expansions).
# shellcheck disable=SC2016
KARGO_NGINX_LISTEN="127.0.0.1:$NGINX_PORT" KARGO_UPSTREAM_SERVERS="$SERVERS" KARGO_MAX_BODY_SIZE="$MAX_BODY" \
  KARGO_NGINX_ACCESS_LOG="$NGINX_DIR/access.log" \
  envsubst '${KARGO_NGINX_LISTEN} ${KARGO_UPSTREAM_SERVERS} ${KARGO_MAX_BODY_SIZE} ${KARGO_NGINX_ACCESS_LOG}' \
  <"$KARGO_ROOT/deploy/nginx/kargo-dsp.conf.template" >"$NGINX_DIR/kargo-dsp.conf"
cat >"$NGINX_DIR/nginx.conf" <<CONF
# Written by scripts/cluster.sh: nginx as a project-local process.
worker_processes 2;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    client_body_temp_path $NGINX_DIR/temp/body;
    proxy_temp_path $NGINX_DIR/temp/proxy;
    fastcgi_temp_path $NGINX_DIR/temp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/temp/uwsgi;
    scgi_temp_path $NGINX_DIR/temp/scgi;
    include $NGINX_DIR/kargo-dsp.conf;
}
CONF
# TZ=UTC: nginx's own error answers carry a UTC timestamp, like the service's.
NGINX=(env TZ=UTC nginx -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log")
"${NGINX[@]}" -t -q || die "nginx rejected $NGINX_DIR/nginx.conf"
log "starting nginx on 127.0.0.1:$NGINX_PORT (logs in ${NGINX_DIR#"$KARGO_ROOT/"})"
"${NGINX[@]}" -g 'daemon off;' &
PIDS+=("$!")
NGINX_PID=$!
URL="http://127.0.0.1:$NGINX_PORT"
wait_http "$URL/health/live" 15 || die "nginx did not answer; see $NGINX_DIR/error.log"
wait_admin_login "$URL" 60 || die "the admin cannot log in through nginx; see the serve logs in $DIR"

{
  printf '# role index pid port log (written by scripts/cluster.sh)\n'
  printf 'nginx 0 %s %s %s\n' "$NGINX_PID" "$NGINX_PORT" "$NGINX_DIR/access.log"
  printf '%s\n' "${INSTANCES[@]}"
  if [ -n "$SANDBOX_PID" ]; then printf 'sandbox 0 %s %s %s\n' "$SANDBOX_PID" "$SANDBOX_PORT" "$DIR/sandbox.log"; fi
} >"$DIR/processes.tmp"
mv "$DIR/processes.tmp" "$DIR/processes"

REL="${DIR#"$KARGO_ROOT/"}"
{
  printf '\n  kargo-dsp cluster is ready on %s   (nginx in front of %s serve; %s worker)\n\n' "$URL" "$SERVE" "$WORKERS"
  printf '    %-9s %-8s %-24s %s\n' "process" "pid" "address" "log"
  printf '    %-9s %-8s %-24s %s\n' "nginx" "$NGINX_PID" "$URL" "$REL/nginx/access.log"
  for line in "${INSTANCES[@]}"; do
    read -r role index pid port out <<<"$line"
    printf '    %-9s %-8s %-24s %s\n' "$role $index" "$pid" "127.0.0.1:$port" "${out#"$KARGO_ROOT/"}"
  done
  if [ -n "$SANDBOX_PID" ]; then
    printf '    %-9s %-8s %-24s %s\n' "sandbox" "$SANDBOX_PID" "127.0.0.1:$SANDBOX_PORT" "$REL/sandbox.log"
  fi
  printf '    PostgreSQL %s   Redis %s\n' "${DATABASE_URL##*@}" "${REDIS_URL#redis://}"
  cat <<MSG

  Admin login:  username: $ADMIN_USERNAME
                password: $SHOWN_PASSWORD
  $PASSWORD_NOTE

  Next, in another shell in $(pwd):
    export KARGO_URL=$URL
    export TOKEN=\$(scripts/api login $ADMIN_USERNAME '$TOKEN_PASSWORD')
    scripts/api GET /api/campaigns | jq .data.total
    tail -f $REL/nginx/access.log      # upstream=127.0.0.1:<port> shows which instance answered
    kill -9 <a serve pid>              # nginx routes around it; its jobs are taken over by the others

  Ctrl-C stops everything this script started.

MSG
} >&2

# Stay in the foreground; report processes that end (a killed instance is not restarted).
declare -A GONE=()
while true; do
  sleep 1 &
  wait $! || true
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited; see $NGINX_DIR/error.log"
  for line in "${INSTANCES[@]}"; do
    read -r role index pid port out <<<"$line"
    if [ -z "${GONE[$pid]:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
      GONE[$pid]=1
      log "$role $index (pid $pid, port $port) exited; the others carry on (its log: $out)"
    fi
  done
done
