#!/usr/bin/env bash
# Installs what is missing, builds, starts throw-away PostgreSQL and Redis on free ports, runs
# every test with ctest, stops them, and exits non-zero on any failure. .ci/run calls it.
#
# Environment for the tests (read by tests/support):
#   DATABASE_URL, REDIS_URL              the shared throw-away services
#   KARGO_TEST_RESTART_DATABASE_URL      a second PostgreSQL that tests may restart
#   KARGO_TEST_RESTART_PGDATA            its data directory (pg_ctl -D), run as KARGO_PG_USER
# Options: KARGO_BUILD_DIR (default build), CTEST_ARGS (extra ctest arguments), FUZZ_SECONDS
# (per fuzz target, default 12), KARGO_SKIP_FUZZ=1 (no fuzz run).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KARGO_ROOT"

START=$(date +%s)
ensure_test_packages
BUILD_DIR="${KARGO_BUILD_DIR:-$KARGO_ROOT/build}"
log "building ($BUILD_DIR, Release, -Werror)"
build_project "$BUILD_DIR" Release -DKARGO_WERROR=ON -DKARGO_BUILD_TESTS=ON

mkdir -p "$KARGO_ROOT/.local"
TMP="$(mktemp -d "$KARGO_ROOT/.local/test.XXXXXX")"
cleanup() {
  local rc=$?
  trap - INT TERM EXIT
  stop_throwaway_services "$TMP"
  pg_stop "$TMP/pg-restart"
  rm -rf "$TMP"
  exit $rc
}
trap cleanup INT TERM EXIT

# Tests trade durability for speed: nothing here must survive a crash.
start_throwaway_services "$TMP"
PG2_PORT=$(free_port)
pg_start "$TMP/pg-restart" "$PG2_PORT"
export KARGO_TEST_RESTART_DATABASE_URL="postgresql://kargo:kargo@127.0.0.1:$PG2_PORT/kargo_dsp"
export KARGO_TEST_RESTART_PGDATA="$TMP/pg-restart"
export KARGO_PG_USER
export SECRET_KEY="test-secret-key-0123456789abcdef-0123456789"

"$BUILD_DIR/kargo-dsp" migrate up >/dev/null
DATABASE_URL="$KARGO_TEST_RESTART_DATABASE_URL" "$BUILD_DIR/kargo-dsp" migrate up >/dev/null

log "running tests"
set +e
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 300 ${CTEST_ARGS:-} 2>&1 | tee "$TMP/ctest.log"
RC=${PIPESTATUS[0]}
# A short libFuzzer run of the creative transformer (scripts/fuzz.sh runs longer on demand).
if [ "${KARGO_SKIP_FUZZ:-0}" != "1" ]; then
  log "fuzzing the creative transformer (${FUZZ_SECONDS:-12}s per target)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-12}" KARGO_FUZZ_BUILD_DIR="$BUILD_DIR-fuzz" "$KARGO_ROOT/scripts/fuzz.sh" || RC=1
fi
set -e
log "test.sh finished in $(( $(date +%s) - START )) s"
# ctest's summary line last, so the number of tests run is visible at the end of the output.
grep -E "tests passed|tests failed" "$TMP/ctest.log" | tail -1
exit "$RC"
