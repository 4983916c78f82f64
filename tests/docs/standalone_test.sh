#!/usr/bin/env bash
# The docs stand on their own: README.md, .env.example and the .md and .yaml files under docs/
# and deploy/ name nothing a reader of this repository does not have (files outside it, issue or
# session numbers of the team that wrote it, "(#6)", "the contract" or "the specification" with
# no document named) and no "this build" hedges. Prints file:line of every offence.
#
# The pattern is checked first against sample lines, so that a broken pattern fails the test
# instead of passing every file.
set -euo pipefail
cd "$(dirname "$0")/../.."

PATTERN='\.\./shared|/work/shared|CONTRACT\.md|STYLE\.md|[Cc]ontract section|[Tt]he contract\b'
PATTERN+='|[Tt]he specification\b|\([Aa]s specified|[Ii]ssues? #?[0-9]|\(#[0-9]+\)|[Ll]ater issues|[Ss]essions? [0-9]|[Tt]his build'

# Each of these must be caught ...
must_match=(
  'see ../shared/CONTRACT.md'
  'the spec (/work/shared/CONTRACT.md)'
  'the layout of contract section 5'
  'Contract section 4 rules'
  'as STYLE.md asks'
  'the contract says 401'
  'The contract is silent here'
  'limits the specification does not give'
  'missing or empty (as specified: 401)'
  'issue 6 gives none'
  'Issue #7'
  'Known limit (#6): the bytes are kept'
  'the targets of issues 4-7'
  'Later issues add their own entries'
  'measured in session 3'
  'Sessions 2 and 3 differ'
  'null in this build'
  'This build has no upload'
)
# ... and none of these.
must_not=(
  'every issued access token expires now'
  'a writer thread swaps buffers and issues one write'
  'http::Server/Session, Session::write'
  'in a warm session: ~0.28 ms planning'
  'the API specification (docs/openapi.yaml)'
  "the Standard Webhooks specification's libraries"
  'loopback, private, unspecified, multicast'
  'build/kargo-dsp migrate up'
  'see [Conventions](#1-conventions)'
)
for line in "${must_match[@]}"; do
  if ! grep -qE "$PATTERN" <<<"$line"; then
    echo "self-check: the pattern misses: $line" >&2
    exit 2
  fi
done
for line in "${must_not[@]}"; do
  if grep -qE "$PATTERN" <<<"$line"; then
    echo "self-check: the pattern wrongly matches: $line" >&2
    exit 2
  fi
done

FILES=(README.md .env.example)
while IFS= read -r f; do FILES+=("$f"); done < <(find docs deploy -type f \( -name '*.md' -o -name '*.yaml' \) | sort)
for f in README.md .env.example docs/ARCHITECTURE.md docs/openapi.yaml deploy/README.md; do
  [[ -f $f ]] || { echo "$f is missing: not the repository's root?" >&2; exit 2; }
done
# grep: 0 = offences found, 1 = none, 2 = an unreadable file (a failure too).
status=0
grep -nE "$PATTERN" "${FILES[@]}" || status=$?
if ((status == 0)); then
  echo "the lines above refer to things outside this repository (or hedge with 'this build')" >&2
  exit 1
fi
((status == 1)) || { echo "grep failed (status $status)" >&2; exit 2; }
echo "checked ${#FILES[@]} files: they stand on their own"
