#!/usr/bin/env bash
# The README's doc test: brings the stack up as a new user would (scripts/run.sh), then runs every
# ```sh block of README.md, in order, in one bash session, from the repository root, exactly as
# written; any failing command fails the test. A block right after the line
# `<!-- doc-test: skip -->` is not run (the two commands themselves, which this test stands for).
#
# Run by ctest under scripts/test.sh: run.sh gets a fresh database on the throw-away PostgreSQL
# (DATABASE_URL / THROWAWAY_PG_PORT from test.sh) and the throw-away Redis, and uses the ports a
# user's run.sh would (8000 for the API, 9100 for the sandbox): they must be free.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
: "${THROWAWAY_PG_PORT:?run me through scripts/test.sh}" "${REDIS_URL:?run me through scripts/test.sh}"

for port in 8000 9100; do
  if ss -ltnH "sport = :$port" | grep -q .; then
    echo "port $port is in use (is a ./scripts/run.sh running?): the README's commands need it" >&2
    exit 1
  fi
done

WORK="$(mktemp -d)"
# Files the README's commands save in the repository root (downloads) are removed afterwards.
ls -A "$ROOT" | sort >"$WORK/before"
DB="readme_$$"
PSQL=(psql -h 127.0.0.1 -p "$THROWAWAY_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA -d postgres)
RUN_PID=""
finish() {
  local rc=$?
  if [ -n "$RUN_PID" ]; then
    kill -TERM "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  ls -A "$ROOT" | sort | comm -13 "$WORK/before" - | while read -r f; do rm -f "${ROOT:?}/$f"; done
  if [ "$rc" -ne 0 ]; then
    echo "--- run.sh output ---" >&2
    tail -40 "$WORK/run.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap finish EXIT INT TERM

"${PSQL[@]}" -c "CREATE DATABASE $DB OWNER kargo" >/dev/null
# run.sh as the README says, in the background; the environment gives it our database and Redis.
env -u PORT -u SECRET_KEY -u AMAZON_DSP_BASE_URL \
  DATABASE_URL="postgresql://kargo:kargo@127.0.0.1:$THROWAWAY_PG_PORT/$DB" REDIS_URL="$REDIS_URL" \
  ./scripts/run.sh >"$WORK/run.log" 2>&1 &
RUN_PID=$!
# Its "ready" banner comes once the admin can log in.
for _ in $(seq 1 600); do
  grep -q "kargo-dsp is ready" "$WORK/run.log" && break
  kill -0 "$RUN_PID" 2>/dev/null || { echo "run.sh stopped before it was ready" >&2; exit 1; }
  sleep 0.2
done
grep -q "kargo-dsp is ready" "$WORK/run.log" || { echo "run.sh was not ready within 120 s" >&2; exit 1; }

# The blocks, each announced, run in one shell so variables carry over as in a terminal.
awk '
  /^<!-- doc-test: skip -->/ { skip = 1; next }
  /^```sh$/ { inblock = 1; n++; if (!skip) printf "echo \"--- README block %d (line %d)\" >&2\n", n, NR; next }
  /^```/ && inblock { inblock = 0; skip = 0; next }
  inblock && !skip { print }
' README.md >"$WORK/readme.sh"
BLOCKS=$(grep -c '^--- README block\|^echo "--- README block' "$WORK/readme.sh" || true)
[ "$BLOCKS" -ge 5 ] || { echo "found only $BLOCKS runnable blocks in README.md" >&2; exit 1; }
echo "running $BLOCKS README blocks" >&2
# A user's shell has none of test.sh's settings: what the commands need they must find themselves.
env -u DATABASE_URL -u REDIS_URL -u SECRET_KEY -u KARGO_TEST_RESTART_DATABASE_URL \
  timeout 600 bash -euo pipefail "$WORK/readme.sh"
echo "README: all $BLOCKS blocks ran" >&2
