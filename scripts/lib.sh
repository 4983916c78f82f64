# Shared shell functions for run.sh, cluster.sh, test.sh and bench.sh. Source it; do not run it.
# Every process started here is recorded so that the caller's trap can stop exactly those.

KARGO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KARGO_PG_USER="${KARGO_PG_USER:-kargopg}"
# What building and running kargo-dsp needs (run.sh installs only these).
KARGO_DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl jq openssl procps iproute2
  libboost1.81-dev libboost-url1.81-dev libboost-system1.81-dev libboost-json1.81-dev
  libssl-dev libpqxx-dev libhiredis-dev nlohmann-json3-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libsodium-dev libcli11-dev libyaml-cpp-dev zlib1g-dev
  libgumbo-dev libpugixml-dev libxlsxwriter-dev libzip-dev libexpat1-dev
  postgresql-15 postgresql-client-15 redis-server redis-tools
)
# What test.sh needs besides (KARGO_TEST_PACKAGES): GoogleTest, libxml2 (the VAST schema checks),
# clang and its sanitizer runtimes (KARGO_FUZZ_PACKAGES, for scripts/fuzz.sh), promtool (in
# prometheus) and yamllint for the deployment files, nginx and envsubst (gettext-base) for the
# local cluster, headless Chromium for the /docs test, PyYAML for the manifest tests.
KARGO_FUZZ_PACKAGES=(clang libclang-rt-14-dev)
KARGO_TEST_PACKAGES=(libgtest-dev libgmock-dev libxml2-dev "${KARGO_FUZZ_PACKAGES[@]}"
                     prometheus yamllint nginx gettext-base chromium chromium-driver python3-selenium python3-yaml)
# The load generator of scripts/bench.sh.
KARGO_BENCH_PACKAGES=(wrk)
# (pgbench, which bench.sh runs, is in postgresql-15: /usr/lib/postgresql/15/bin/pgbench.)

# ccache keys paths relative to the checkout's parent folder, so clones and worktrees side by side
# (CI's fresh clone, a developer's second checkout) share one cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$KARGO_ROOT")}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs the Debian packages that are missing (apt-get update once, only when needed): those
# to build and run, plus the arguments.
ensure_packages() {
  local missing=()
  for p in "${KARGO_DEB_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  _install_packages "${missing[@]}"
}

# ensure_test_packages: ensure_packages plus what test.sh needs. kubectl renders the Kubernetes
# overlays (kubectl kustomize); Debian's is kubernetes-client, installed only when no kubectl is on
# PATH (another packaging of it would own the same file).
ensure_test_packages() {
  ensure_packages "${KARGO_TEST_PACKAGES[@]}"
  command -v kubectl >/dev/null 2>&1 || _install_packages kubernetes-client
}

_install_packages() {
  local missing=("$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # No package may start its service (nginx, prometheus, PostgreSQL, Redis): ours are project-local.
  # Where no init system answers, invoke-rc.d would start them; policy-rc.d's 101 forbids it.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made_policy=1; fi
  local rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install failed"
  # The Debian packages start system services where systemd is present; ours are project-local.
  systemctl disable --now redis-server postgresql nginx prometheus >/dev/null 2>&1 || true
}

# Builds into $1 (default build) with the given CMake build type; further arguments go to CMake.
# KARGO_TARGETS (space-separated) builds only those targets (default: all).
build_project() {
  local dir="${1:-$KARGO_ROOT/build}" type="${2:-Release}"
  shift 2 || true
  cmake -S "$KARGO_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null || die "cmake configure failed"
  # shellcheck disable=SC2086
  ninja -C "$dir" ${KARGO_TARGETS:-} || die "build failed"
}

# Builds only build/kargo-dsp (run.sh, cluster.sh). A build directory configured here first has the
# tests off (GoogleTest is test.sh's package); one that test.sh configured keeps them.
build_server_binary() {
  local args=()
  [ -f "$KARGO_ROOT/build/CMakeCache.txt" ] || args=(-DKARGO_BUILD_TESTS=OFF)
  KARGO_TARGETS=kargo-dsp build_project "$KARGO_ROOT/build" Release "${args[@]}"
}

# A TCP port nobody listens on (checked with ss from iproute2), below the kernel's ephemeral
# range: a port chosen there can be taken as the local port of an outgoing connection (to
# PostgreSQL, Redis, ...) before the server that was meant to listen on it binds.
free_port() {
  local p low high=45000
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  [ "$low" -gt 21000 ] && high=$((low - 1))
  for _ in $(seq 1 200); do
    p=$(shuf -i "20000-$high" -n 1)
    ss -ltnH "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
  done
  die "no free port found"
}

pg_bin() { echo "/usr/lib/postgresql/15/bin/$1"; }

ensure_pg_user() {
  id "$KARGO_PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$KARGO_PG_USER"
}

# Runs a command as the unprivileged PostgreSQL user (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$KARGO_PG_USER" -- "$@"; else "$@"; fi
}

# allow_traverse DIR: lets every user pass through DIR and its parents (o+x), so that a process
# that dropped root (PostgreSQL's user, nginx's workers) reaches what root made below DIR.
allow_traverse() {
  local d="$1"
  while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
}

# pg_start DATADIR PORT: initialises (first time) and starts PostgreSQL 15 on 127.0.0.1:PORT
# with database kargo_dsp owned by role kargo/kargo.
pg_start() {
  local data="$1" port="$2"
  if [ "$(id -u)" -eq 0 ]; then
    ensure_pg_user
    mkdir -p "$data"
    chown "$KARGO_PG_USER" "$data"
    chmod 700 "$data"
    # The unprivileged user must be able to reach the data directory.
    allow_traverse "$(dirname "$data")"
  else
    mkdir -p "$data"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_pg "$(pg_bin initdb)" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
      || die "initdb failed"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = ${KARGO_PG_FSYNC:-on}
synchronous_commit = ${KARGO_PG_SYNC_COMMIT:-on}
full_page_writes = ${KARGO_PG_FSYNC:-on}
EOF
  fi
  as_pg "$(pg_bin pg_ctl)" -D "$data" -o "-p $port" -l "$data/server.log" -w -t 30 start >/dev/null \
    || { tail -20 "$data/server.log" >&2; die "PostgreSQL did not start"; }
  local psql=("$(pg_bin psql)" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='kargo'")" != "1" ]; then
    "${psql[@]}" -d postgres -c "CREATE ROLE kargo LOGIN PASSWORD 'kargo'" >/dev/null
  fi
  if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='kargo_dsp'")" != "1" ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE kargo_dsp OWNER kargo" >/dev/null
  fi
}

pg_stop() {
  local data="$1"
  [ -f "$data/postmaster.pid" ] || return 0
  as_pg "$(pg_bin pg_ctl)" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

# redis_start DIR PORT: starts redis-server 7 in the background, data in DIR; prints its PID.
redis_start() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize no --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && { echo "$pid"; return 0; }
    sleep 0.1
  done
  die "Redis did not start on port $port"
}

# start_throwaway_services DIR: PostgreSQL and Redis on free ports with data under DIR, tuned
# for speed (nothing there must survive a crash); exports DATABASE_URL, REDIS_URL,
# THROWAWAY_PG_PORT (superuser postgres, trust), THROWAWAY_REDIS_PID and THROWAWAY_REDIS_PORT.
# Stop them with stop_throwaway_services DIR.
start_throwaway_services() {
  local dir="$1" pg_port redis_port
  export KARGO_PG_FSYNC=off KARGO_PG_SYNC_COMMIT=off
  pg_port=$(free_port)
  pg_start "$dir/pg" "$pg_port"
  redis_port=$(free_port)
  THROWAWAY_REDIS_PID=$(redis_start "$dir/redis" "$redis_port")
  export THROWAWAY_REDIS_PID THROWAWAY_REDIS_PORT="$redis_port" THROWAWAY_PG_PORT="$pg_port"
  export DATABASE_URL="postgresql://kargo:kargo@127.0.0.1:$pg_port/kargo_dsp"
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
}

stop_throwaway_services() {
  local dir="$1"
  if [ -n "${THROWAWAY_REDIS_PID:-}" ]; then kill "$THROWAWAY_REDIS_PID" 2>/dev/null || true; fi
  pg_stop "$dir/pg"
}

# wait_http URL [SECONDS]: waits until URL answers 2xx.
wait_http() {
  local url="$1" secs="${2:-30}"
  for _ in $(seq 1 $((secs * 10))); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# --- The local stack of run.sh and cluster.sh ------------------------------------------------------
# Both keep their state under .local/ and share it: the same PostgreSQL data, Redis, generated
# secrets and admin, so data and tokens carry over from one to the other (run one at a time).
# Their functions use the caller's BIN (the kargo-dsp binary), PIDS (an array: what the caller's
# trap stops) and PG_DATA (set when a PostgreSQL was started here: the trap's pg_stop).
KARGO_LOCAL="$KARGO_ROOT/.local"
# .local/run.env: the settings that must survive restarts (tokens stay valid, the admin keeps its
# password), generated once, and the database and Redis URLs of the last start, so that
# `kargo-dsp create-user` and `migrate status` run from the checkout in another shell find them.
# KARGO_STATE names another file (tests, so that they leave a developer's file alone).
KARGO_STATE="${KARGO_STATE:-$KARGO_LOCAL/run.env}"

state_value() { grep "^$1=" "$KARGO_STATE" | head -1 | cut -d= -f2-; }
remember() {  # remember NAME VALUE: keep the first value ever used for NAME
  grep -q "^$1=" "$KARGO_STATE" || echo "$1=$2" >>"$KARGO_STATE"
}
record() {  # record NAME VALUE: the value of this start, replacing the last one
  local rest; rest="$(grep -v "^$1=" "$KARGO_STATE" || true)"
  printf '%s\n%s=%s\n' "$rest" "$1" "$2" >"$KARGO_STATE"
}

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

# load_local_settings: exports SECRET_KEY, ADMIN_USERNAME and ADMIN_PASSWORD: the values the user
# set (environment first, then .env, as kargo-dsp reads them), else the ones generated once into
# .local/run.env. Sets SHOWN_PASSWORD, TOKEN_PASSWORD and PASSWORD_NOTE for the ready banner: the
# password is printed only when it was generated here, one the user chose stays off the screen.
load_local_settings() {
  mkdir -p "$(dirname "$KARGO_STATE")"
  [ -f "$KARGO_STATE" ] ||
    printf '# Written by scripts/run.sh and cluster.sh (the generated secrets and the URLs in use).\n' >"$KARGO_STATE"
  chmod 600 "$KARGO_STATE"
  remember SECRET_KEY "$(openssl rand -hex 32)"
  remember ADMIN_USERNAME "admin"
  remember ADMIN_PASSWORD "$(openssl rand -base64 18 | tr -d '/+=')"
  local v chosen password_chosen=""
  for v in SECRET_KEY ADMIN_USERNAME ADMIN_PASSWORD; do
    chosen="${!v:-}"
    [ -n "$chosen" ] || chosen="$(dotenv_value "$v")"
    [ "$v" = ADMIN_PASSWORD ] && password_chosen="$chosen"
    if [ -n "$chosen" ]; then export "$v=$chosen"; else export "$v=$(state_value "$v")"; fi
  done
  if [ -n "$password_chosen" ]; then
    SHOWN_PASSWORD="the password you set in ADMIN_PASSWORD"
    TOKEN_PASSWORD="<your ADMIN_PASSWORD>"
    PASSWORD_NOTE="(ADMIN_PASSWORD from the environment or .env; unset it to get a generated one)"
  else
    SHOWN_PASSWORD="$ADMIN_PASSWORD"
    TOKEN_PASSWORD="$ADMIN_PASSWORD"
    PASSWORD_NOTE="(kept in .local/run.env; set ADMIN_USERNAME / ADMIN_PASSWORD / SECRET_KEY to choose your own)"
  fi
}

# stop_started: what the callers' traps do: SIGTERM to every process in PIDS (kargo-dsp drains its
# in-flight requests first), wait for them, stop the PostgreSQL of PG_DATA.
stop_started() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DATA" ]; then pg_stop "$PG_DATA"; fi
}

# start_local_datastores: unless DATABASE_URL / REDIS_URL are set in the environment, starts the
# project-local PostgreSQL 15 on 127.0.0.1:5433 (data in .local/pg) and Redis 7 on 127.0.0.1:6380
# and exports their URLs; records the URLs in use in .local/run.env.
start_local_datastores() {
  if [ -z "${DATABASE_URL:-}" ]; then
    PG_DATA="$KARGO_LOCAL/pg"
    log "starting PostgreSQL 15 on 127.0.0.1:5433 (data in .local/pg)"
    pg_start "$PG_DATA" 5433
    export DATABASE_URL="postgresql://kargo:kargo@127.0.0.1:5433/kargo_dsp"
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    log "starting Redis 7 on 127.0.0.1:6380"
    PIDS+=("$(redis_start "$KARGO_LOCAL/redis" 6380)")
    export REDIS_URL="redis://127.0.0.1:6380/0"
  fi
  record DATABASE_URL "$DATABASE_URL"
  record REDIS_URL "$REDIS_URL"
}

# start_sandbox PORT LOG: real upstreams when AMAZON_DSP_BASE_URL is set in the environment; else
# starts the local sandbox (docs/UPSTREAMS.md) on 127.0.0.1:PORT, its output in LOG, its PID in
# SANDBOX_PID, and exports its settings, with its credentials unless others are set. They are
# exported, so they win over the same lines of a .env file.
start_sandbox() {
  local port="$1" out="$2"
  [ -z "${AMAZON_DSP_BASE_URL:-}" ] && "$BIN" sandbox --help >/dev/null 2>&1 || return 0
  log "starting the upstream sandbox on 127.0.0.1:$port (log in ${out#"$KARGO_ROOT/"})"
  "$BIN" sandbox --host 127.0.0.1 --port "$port" >"$out" 2>&1 &
  SANDBOX_PID=$!
  PIDS+=("$SANDBOX_PID")
  wait_http "http://127.0.0.1:$port/snippet/dm/81298" 15 || die "the sandbox did not start; see $out"
  export AMAZON_DSP_BASE_URL="http://127.0.0.1:$port"
  export AMAZON_LWA_TOKEN_URL="${AMAZON_LWA_TOKEN_URL:-http://127.0.0.1:$port/auth/o2/token}"
  export AMAZON_CLIENT_ID="${AMAZON_CLIENT_ID:-sandbox-client}"
  export AMAZON_CLIENT_SECRET="${AMAZON_CLIENT_SECRET:-sandbox-secret}"
  export AMAZON_REFRESH_TOKEN="${AMAZON_REFRESH_TOKEN:-sandbox-refresh}"
  export AMAZON_PROFILE_ID="${AMAZON_PROFILE_ID:-1234567890}"
  export KARGO_API_BASE_URL="${KARGO_API_BASE_URL:-http://127.0.0.1:$port}"
  export KARGO_API_KEY="${KARGO_API_KEY:-sandbox-kargo-key}"
  export KARGO_SNIPPET_HOSTS="${KARGO_SNIPPET_HOSTS:-snippet.kargo.com,127.0.0.1:$port}"
  # The sandbox's webhook receiver is on loopback, which webhook URLs may name only when allowed.
  export WEBHOOK_ALLOW_PRIVATE="${WEBHOOK_ALLOW_PRIVATE:-true}"
}

# wait_admin_login URL [SECONDS]: the admin is created in the background once PostgreSQL answers:
# waits (quietly) until it can log in at URL (default 30 s).
wait_admin_login() {
  local url="$1" secs="${2:-30}"
  for _ in $(seq 1 $((secs * 2))); do
    curl -fs -o /dev/null -X POST "$url/api/auth/token" -H 'Content-Type: application/json' \
      --data-binary @- <<JSON && return 0
{"username":"$ADMIN_USERNAME","password":"$ADMIN_PASSWORD"}
JSON
    sleep 0.5
  done
  return 1
}
