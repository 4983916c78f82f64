#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (AddressSanitizer + UBSan) and runs each for
# FUZZ_SECONDS (default 300) on a corpus seeded from the sample snippets. A crash, a leak, an IAS
# mention left in an output or a non-deterministic output stops the run with the reproducer
# saved as $DIR/<target>-crash-*; rerun one with: $DIR/fuzz/<target> $DIR/<target>-crash-<hash>.
# Options: FUZZ_SECONDS, KARGO_FUZZ_BUILD_DIR (default build-fuzz), FUZZ_TARGETS (default both).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KARGO_ROOT"

ensure_packages "${KARGO_FUZZ_PACKAGES[@]}"
DIR="${KARGO_FUZZ_BUILD_DIR:-$KARGO_ROOT/build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-300}"
TARGETS="${FUZZ_TARGETS:-creative_html_fuzz creative_vast_fuzz multipart_fuzz}"

cmake -S "$KARGO_ROOT" -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DKARGO_FUZZ=ON -DKARGO_BUILD_TESTS=OFF >/dev/null || die "cmake configure (clang) failed"
# shellcheck disable=SC2086
ninja -C "$DIR" $TARGETS >/dev/null || die "fuzz build failed"

RC=0
for target in $TARGETS; do
  corpus="$DIR/corpus/$target"
  mkdir -p "$corpus"
  case "$target" in
    *html*) cp -n fixtures/snippets/*.html tests/fixtures/creatives/*.html "$corpus"/ 2>/dev/null || true ;;
    *vast*) cp -n fixtures/snippets/*.xml tests/fixtures/creatives/*.xml "$corpus"/ 2>/dev/null || true ;;
    *multipart*) cp -n tests/fixtures/multipart/* "$corpus"/ 2>/dev/null || true ;;
  esac
  log "fuzzing $target for ${SECONDS_EACH}s"
  if ! "$DIR/fuzz/$target" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$DIR/$target-" -print_final_stats=1 "$corpus" >"$DIR/$target.log" 2>&1; then
    tail -40 "$DIR/$target.log" >&2
    log "error: $target failed (log: $DIR/$target.log)"
    RC=1
  else
    log "$target: $(grep -E '^stat::number_of_executed_units' "$DIR/$target.log" | awk '{print $2}') runs, no crash"
  fi
done
exit "$RC"
